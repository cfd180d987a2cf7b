# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Policies of the admin session API (/v1/maintenance).

The control of a running session (SPEC 3.7: pause, resume, skip a host,
retry) is ``POST /v1/maintenance/{session_id}`` with an ``action`` in the
body; each action has a rule of its own, ``fenix:maintenance:session:*``.
"""
from oslo_policy import policy

from fenix.common.policies import base

PREFIX = 'fenix:maintenance:%s'
CREATE = PREFIX % 'create'
LIST = PREFIX % 'list'
GET = PREFIX % 'get'
GET_DETAIL = PREFIX % 'get_detail'
UPDATE = PREFIX % 'update'
DELETE = PREFIX % 'delete'
PAUSE = PREFIX % 'session:pause'
RESUME = PREFIX % 'session:resume'
SKIP_HOST = PREFIX % 'session:skip_host'
RETRY = PREFIX % 'session:retry'

_CONTROL = [{'path': '/v1/maintenance/{session_id}', 'method': 'POST'}]

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
    policy.DocumentedRuleDefault(
        name=PAUSE, check_str=base.ADMIN, scope_types=base.SCOPES,
        description='Pause a running maintenance session (body {"action": '
                    '"pause"}): the steps in flight finish, no new one '
                    'starts.',
        operations=_CONTROL),
    policy.DocumentedRuleDefault(
        name=RESUME, check_str=base.ADMIN, scope_types=base.SCOPES,
        description='Resume a paused (or pausing) maintenance session '
                    '(body {"action": "resume"}).',
        operations=_CONTROL),
    policy.DocumentedRuleDefault(
        name=SKIP_HOST, check_str=base.ADMIN, scope_types=base.SCOPES,
        description='Skip a host of a maintenance session (body '
                    '{"action": "skip_host", "host": ...}): it is left '
                    'unmaintained and in service.',
        operations=_CONTROL),
    policy.DocumentedRuleDefault(
        name=RETRY, check_str=base.ADMIN, scope_types=base.SCOPES,
        description='Retry the failed step of a failed maintenance session '
                    '(body {"action": "retry"}), keeping the answers '
                    'projects gave.',
        operations=_CONTROL),
]


def list_rules():
    return rules
