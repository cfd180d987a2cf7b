# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Policies of the action plug-in run API (/v1/action_plugin_run)."""
from oslo_policy import policy

from fenix.common.policies import base

PREFIX = 'fenix:action_plugin_run:%s'
LIST = PREFIX % 'list'
REPORT = PREFIX % 'report'

_PATH = '/v1/action_plugin_run/{session_id}'

rules = [
    policy.DocumentedRuleDefault(
        name=LIST,
        check_str='%s or %s' % (base.ADMIN_OR_SYSTEM_READER,
                                base.RULE_SERVICE),
        scope_types=base.SCOPES,
        description='List the action plug-in runs of a maintenance '
                    'session.',
        operations=[{'path': _PATH, 'method': 'GET'}]),
    policy.DocumentedRuleDefault(
        name=REPORT, check_str=base.ADMIN_OR_SERVICE,
        scope_types=base.SCOPES,
        description='Report the result of an out-of-process action '
                    'plug-in run, on one host or session-wide.',
        operations=[{'path': _PATH + '/{plugin}/{hostname}',
                     'method': 'PUT'},
                    {'path': _PATH + '/{plugin}', 'method': 'PUT'}]),
]


def list_rules():
    return rules
