# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Policies of the project (VNFM) API.

The target's ``project_id`` is the project named in the URL, so a project
may only read and answer for itself.
"""
from oslo_policy import policy

from fenix.common.policies import base

PREFIX = 'fenix:project:%s'
GET = PREFIX % 'get'
REPLY = PREFIX % 'reply'
INSTANCE_GET = PREFIX % 'instance:get'
INSTANCE_REPLY = PREFIX % 'instance:reply'

_PROJECT_PATH = '/v1/maintenance/{session_id}/{project_id}'
_INSTANCE_PATH = _PROJECT_PATH + '/{instance_id}'

rules = [
    policy.DocumentedRuleDefault(
        name=GET, check_str=base.READER_OF_PROJECT, scope_types=base.SCOPES,
        description='List the instances of a project that the current '
                    'step of a maintenance session affects.',
        operations=[{'path': _PROJECT_PATH, 'method': 'GET'}]),
    policy.DocumentedRuleDefault(
        name=REPLY, check_str=base.MEMBER_OF_PROJECT,
        scope_types=base.SCOPES,
        description='Answer a project event of a maintenance session.',
        operations=[{'path': _PROJECT_PATH, 'method': 'PUT'}]),
    policy.DocumentedRuleDefault(
        name=INSTANCE_GET, check_str=base.READER_OF_PROJECT,
        scope_types=base.SCOPES,
        description='Show one instance of a project in a maintenance '
                    'session.',
        operations=[{'path': _INSTANCE_PATH, 'method': 'GET'}]),
    policy.DocumentedRuleDefault(
        name=INSTANCE_REPLY, check_str=base.MEMBER_OF_PROJECT,
        scope_types=base.SCOPES,
        description='Answer an event about one instance of a project.',
        operations=[{'path': _INSTANCE_PATH, 'method': 'PUT'}]),
]


def list_rules():
    return rules
