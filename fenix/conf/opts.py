# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Options for oslo-config-generator (entry point oslo.config.opts)."""
from fenix.conf import action_plugins
from fenix.conf import api
from fenix.conf import coordination
from fenix.conf import download
from fenix.conf import engine
from fenix.conf import fault_injection
from fenix.conf import notifications
from fenix.conf import outbox
from fenix.conf import service_user
from fenix.conf import workflow


def list_opts():
    return [
        (action_plugins.GROUP, action_plugins.OPTS),
        (api.GROUP, api.OPTS),
        (coordination.GROUP, coordination.OPTS),
        (download.GROUP, download.OPTS),
        (engine.GROUP, engine.OPTS),
        (fault_injection.GROUP, fault_injection.OPTS),
    ] + notifications.list_opts() + [
        (outbox.GROUP, outbox.OPTS),
        (service_user.GROUP, service_user.list_opts()),
        (workflow.GROUP, workflow.OPTS),
    ]
