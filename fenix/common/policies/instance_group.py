# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Policies of the instance group constraint API (/v1/instance_group).

The target's ``project_id`` is the project that owns the constraint (for
a PUT: the project named in the body, and also the current owner when the
constraint already exists).
"""
from fenix.common.policies import base

rules, _names = base.constraint_rules(
    'instance_group', '/v1/instance_group/{group_id}', 'instance group')
LIST = _names['list']
LIST_ALL = _names['list_all']
GET = _names['get']
PUT = _names['put']
DELETE = _names['delete']


def list_rules():
    return rules
