# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Policies of the instance constraint API (/v1/instance).

The target's ``project_id`` is the project that owns the constraint (for
a PUT: the project named in the body, and also the current owner when the
constraint already exists).
"""
from fenix.common.policies import base

rules, _names = base.constraint_rules(
    'instance', '/v1/instance/{instance_id}', 'instance')
LIST = _names['list']
LIST_ALL = _names['list_all']
GET = _names['get']
PUT = _names['put']
DELETE = _names['delete']


def list_rules():
    return rules
