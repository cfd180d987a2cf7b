# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Every Fenix policy rule, defined in code (one module per resource)."""
import itertools

from fenix.common.policies import action_plugin_run
from fenix.common.policies import base
from fenix.common.policies import dashboard
from fenix.common.policies import instance
from fenix.common.policies import instance_group
from fenix.common.policies import maintenance
from fenix.common.policies import metrics
from fenix.common.policies import project


def list_rules():
    """All rules; the oslo.policy.policies entry point."""
    return list(itertools.chain(
        base.list_rules(),
        maintenance.list_rules(),
        project.list_rules(),
        instance.list_rules(),
        instance_group.list_rules(),
        action_plugin_run.list_rules(),
        dashboard.list_rules(),
        metrics.list_rules(),
    ))
