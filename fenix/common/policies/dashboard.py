# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Policy of the web dashboard (/dashboard/, doc/source/dashboard.rst).

The rule guards the dashboard's own files (its HTML, JavaScript and
styles). What the page shows comes from the API, under the API's rules
(``fenix:maintenance:list``, ``get``, ``get_detail``).
"""
from oslo_policy import policy

from fenix.common.policies import base

GET = 'fenix:dashboard:get'

rules = [
    policy.DocumentedRuleDefault(
        name=GET, check_str=base.ADMIN_OR_SYSTEM_READER,
        scope_types=base.SCOPES,
        description='Load the web dashboard (its application and styles; '
                    'behind Keystone the login page and its loader are '
                    'public: they hold no data).',
        operations=[{'path': '/dashboard/{file}', 'method': 'GET'}]),
]


def list_rules():
    return rules
