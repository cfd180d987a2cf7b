# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Policy of the metrics endpoint (/metrics)."""
from oslo_policy import policy

from fenix.common.policies import base

GET = 'fenix:metrics:get'

rules = [
    policy.DocumentedRuleDefault(
        name=GET, check_str=base.ADMIN, scope_types=base.SCOPES,
        description='Read the Prometheus metrics of Fenix (sessions and '
                    'hosts by state, migrations, reply latency, '
                    'notifications, engine heartbeats). Addresses in '
                    '[api] metrics_allowed_source_ranges need no token.',
        operations=[{'path': '/metrics', 'method': 'GET'}]),
]


def list_rules():
    return rules
