# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``/v1/instance``: instance constraints (SPEC 3.3)."""
from fenix.api.controllers.v1 import constraint
from fenix.api import validation as v
from fenix.common.policies import instance as pol
from fenix.common import states

SCHEMA = {
    'type': 'object',
    'properties': {
        'instance_id': v.string(36),
        'project_id': v.string(constraint.PROJECT_ID_LENGTH),
        'group_id': {'anyOf': [v.string(36), {'type': 'null'}]},
        'instance_name': {'anyOf': [v.string(255, min_length=0),
                                    {'type': 'null'}]},
        'max_interruption_time': v.integer(0),
        'migration_type': v.enum(states.INSTANCE_ACTIONS),
        'resource_mitigation': v.BOOLEAN,
        'lead_time': v.integer(0),
    },
    'additionalProperties': False,
}

KIND = constraint.Kind(
    name='instance', id_field='instance_id', id_length=36,
    collection_key='instances', schema=SCHEMA, policies=pol,
    methods=('list_instance_constraints', 'get_instance_constraint',
             'put_instance_constraint', 'delete_instance_constraint'))

CONTROLLER = constraint.ConstraintCollection(KIND)
