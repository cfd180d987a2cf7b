# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Personas every Fenix policy is built from.

Each persona is a named rule of its own, so an operator can redefine, for
example, what "admin" means in one place of the policy file and every API
rule follows. Keystone's default role inference (admin implies member,
member implies reader) is assumed; the no-auth middleware applies the same
inference.
"""
from oslo_policy import policy

RULE_ADMIN = 'rule:admin_api'
RULE_SYSTEM_READER = 'rule:system_reader'
RULE_SERVICE = 'rule:service_role'
RULE_PROJECT_MEMBER = 'rule:project_member'
RULE_PROJECT_READER = 'rule:project_reader'

# Check strings the API rules are written in.
ADMIN = RULE_ADMIN
ADMIN_OR_SYSTEM_READER = '%s or %s' % (RULE_ADMIN, RULE_SYSTEM_READER)
ADMIN_OR_SERVICE = '%s or %s' % (RULE_ADMIN, RULE_SERVICE)
READER_OF_PROJECT = '%s or %s or %s' % (RULE_ADMIN, RULE_SYSTEM_READER,
                                        RULE_PROJECT_READER)
MEMBER_OF_PROJECT = '%s or %s' % (RULE_ADMIN, RULE_PROJECT_MEMBER)

# Tokens of every scope Fenix callers hold: cloud admins and services use
# project-scoped tokens, auditors may use system-scoped ones.
SCOPES = ['system', 'project']

rules = [
    policy.RuleDefault(
        'admin_api', 'role:admin',
        description='An infrastructure administrator.'),
    policy.RuleDefault(
        'system_reader', 'role:reader and system_scope:all',
        description='A read-only auditor of the whole cloud, holding a '
                    'system-scoped token.'),
    policy.RuleDefault(
        'service_role', 'role:service',
        description='A service user, such as an agent of an action plug-in '
                    'that reports its result.'),
    policy.RuleDefault(
        'project_member', 'role:member and project_id:%(project_id)s',
        description='A member of the project that owns the target: may '
                    'change it.'),
    policy.RuleDefault(
        'project_reader', 'role:reader and project_id:%(project_id)s',
        description='A reader of the project that owns the target: may '
                    'read it.'),
]


def list_rules():
    return rules


def constraint_rules(resource, path, noun):
    """The five rules of a constraint API (/v1/instance, /v1/instance_group).

    ``resource``: the rule name part and the collection path; ``path``:
    the item path; ``noun``: what the constraints are of, for the docs.
    Returns (rules, names) with names keyed list, list_all, get, put,
    delete.
    """
    names = {k: 'fenix:%s:%s' % (resource, k)
             for k in ('list', 'list_all', 'get', 'put', 'delete')}
    collection = '/v1/%s' % resource
    rules = [
        policy.DocumentedRuleDefault(
            name=names['list'], check_str=READER_OF_PROJECT,
            scope_types=SCOPES,
            description='List the %s constraints of the caller\'s project.'
                        % noun,
            operations=[{'path': collection, 'method': 'GET'}]),
        policy.DocumentedRuleDefault(
            name=names['list_all'], check_str=ADMIN_OR_SYSTEM_READER,
            scope_types=SCOPES,
            description='List the %s constraints of every project, or of a '
                        'project given with ?project_id=.' % noun,
            operations=[{'path': collection, 'method': 'GET'}]),
        policy.DocumentedRuleDefault(
            name=names['get'], check_str=READER_OF_PROJECT,
            scope_types=SCOPES,
            description='Show the constraints of an %s.' % noun,
            operations=[{'path': path, 'method': 'GET'}]),
        policy.DocumentedRuleDefault(
            name=names['put'], check_str=MEMBER_OF_PROJECT,
            scope_types=SCOPES,
            description='Create or replace the constraints of an %s.' % noun,
            operations=[{'path': path, 'method': 'PUT'}]),
        policy.DocumentedRuleDefault(
            name=names['delete'], check_str=MEMBER_OF_PROJECT,
            scope_types=SCOPES,
            description='Remove the constraints of an %s.' % noun,
            operations=[{'path': path, 'method': 'DELETE'}]),
    ]
    return rules, names
