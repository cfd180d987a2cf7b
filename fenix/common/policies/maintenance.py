# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Policies of the admin session API (/v1/maintenance)."""
from oslo_policy import policy

from fenix.common.policies import base

PREFIX = 'fenix:maintenance:%s'
CREATE = PREFIX % 'create'
LIST = PREFIX % 'list'
GET = PREFIX % 'get'
GET_DETAIL = PREFIX % 'get_detail'
UPDATE = PREFIX % 'update'
DELETE = PREFIX % 'delete'

rules = [
    policy.DocumentedRuleDefault(
        name=CREATE, check_str=base.ADMIN, scope_types=base.SCOPES,
        description='Create a maintenance session.',
        operations=[{'path': '/v1/maintenance', 'method': 'POST'}]),
    policy.DocumentedRuleDefault(
        name=LIST, check_str=base.ADMIN_OR_SYSTEM_READER,
        scope_types=base.SCOPES,
        description='List maintenance sessions.',
        operations=[{'path': '/v1/maintenance', 'method': 'GET'}]),
    policy.DocumentedRuleDefault(
        name=GET, check_str=base.ADMIN_OR_SYSTEM_READER,
        scope_types=base.SCOPES,
        description='Show the state and progress of a maintenance session.',
        operations=[{'path': '/v1/maintenance/{session_id}',
                     'method': 'GET'}]),
    policy.DocumentedRuleDefault(
        name=GET_DETAIL, check_str=base.ADMIN_OR_SYSTEM_READER,
        scope_types=base.SCOPES,
        description='Show everything about a maintenance session: hosts, '
                    'projects, instances, action plug-in runs, history.',
        operations=[{'path': '/v1/maintenance/{session_id}/detail',
                     'method': 'GET'}]),
    policy.DocumentedRuleDefault(
        name=UPDATE, check_str=base.ADMIN, scope_types=base.SCOPES,
        description='Continue a failed maintenance session.',
        operations=[{'path': '/v1/maintenance/{session_id}',
                     'method': 'PUT'}]),
    policy.DocumentedRuleDefault(
        name=DELETE, check_str=base.ADMIN, scope_types=base.SCOPES,
        description='Stop and remove a maintenance session.',
        operations=[{'path': '/v1/maintenance/{session_id}',
                     'method': 'DELETE'}]),
]


def list_rules():
    return rules
