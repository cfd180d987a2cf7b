# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""oslo.messaging's own options, registered up front.

oslo.messaging registers ``[DEFAULT] transport_url`` and friends only when a
transport is made, and ``[oslo_messaging_notifications]`` only when a
Notifier is; Fenix reads and overrides some of them before that (the
notifier's driver choice, the all-in-one, tests). They are documented by
the ``oslo.messaging`` namespace of the sample config, not by Fenix's.
"""
from oslo_messaging import opts as messaging_opts

# list_opts() names [DEFAULT] None.
GROUPS = (None, 'oslo_messaging_notifications')


def register_opts(conf):
    for group, opts in messaging_opts.list_opts():
        if group in GROUPS:
            conf.register_opts(opts, group=group)
