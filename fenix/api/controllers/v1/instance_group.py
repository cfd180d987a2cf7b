# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``/v1/instance_group``: instance group constraints (SPEC 3.3)."""
from fenix.api.controllers.v1 import constraint
from fenix.api import validation as v
from fenix.common.policies import instance_group as pol

SCHEMA = {
    'type': 'object',
    'properties': {
        'group_id': v.string(36),
        'project_id': v.string(constraint.PROJECT_ID_LENGTH),
        'group_name': {'anyOf': [v.string(255, min_length=0),
                                 {'type': 'null'}]},
        'anti_affinity_group': v.BOOLEAN,
        # 0 = no limit.
        'max_instances_per_host': v.integer(0),
        # 0 = no member may ever be out of service (see the API reference).
        'max_impacted_members': v.integer(0),
        'recovery_time': v.integer(0),
        'resource_mitigation': v.BOOLEAN,
    },
    'additionalProperties': False,
}

KIND = constraint.Kind(
    name='instance_group', id_field='group_id', id_length=36,
    collection_key='instance_groups', schema=SCHEMA, policies=pol,
    methods=('list_instance_group_constraints',
             'get_instance_group_constraint',
             'put_instance_group_constraint',
             'delete_instance_group_constraint'))

CONTROLLER = constraint.ConstraintCollection(KIND)
