# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Policies of the instance constraint API (/v1/instance).

The target's ``project_id`` is the project that owns the constraint (for
a PUT: the project named in the body, and also the current owner when the
constraint already exists).
"""
from oslo_policy import policy

from fenix.common.policies import base

PREFIX = 'fenix:instance:%s'
LIST = PREFIX % 'list'
LIST_ALL = PREFIX % 'list_all'
GET = PREFIX % 'get'
PUT = PREFIX % 'put'
DELETE = PREFIX % 'delete'

_PATH = '/v1/instance/{instance_id}'

rules = [
    policy.DocumentedRuleDefault(
        name=LIST, check_str=base.READER_OF_PROJECT, scope_types=base.SCOPES,
        description='List the instance constraints of the caller\'s '
                    'project.',
        operations=[{'path': '/v1/instance', 'method': 'GET'}]),
    policy.DocumentedRuleDefault(
        name=LIST_ALL, check_str=base.ADMIN_OR_SYSTEM_READER,
        scope_types=base.SCOPES,
        description='List the instance constraints of every project, or '
                    'of a project given with ?project_id=.',
        operations=[{'path': '/v1/instance', 'method': 'GET'}]),
    policy.DocumentedRuleDefault(
        name=GET, check_str=base.READER_OF_PROJECT, scope_types=base.SCOPES,
        description='Show the constraints of an instance.',
        operations=[{'path': _PATH, 'method': 'GET'}]),
    policy.DocumentedRuleDefault(
        name=PUT, check_str=base.MEMBER_OF_PROJECT, scope_types=base.SCOPES,
        description='Create or replace the constraints of an instance.',
        operations=[{'path': _PATH, 'method': 'PUT'}]),
    policy.DocumentedRuleDefault(
        name=DELETE, check_str=base.MEMBER_OF_PROJECT,
        scope_types=base.SCOPES,
        description='Remove the constraints of an instance.',
        operations=[{'path': _PATH, 'method': 'DELETE'}]),
]


def list_rules():
    return rules
