# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""JSON schemas and the messages of validation errors."""
from fenix.api.controllers.v1 import action_plugin_run
from fenix.api.controllers.v1 import instance
from fenix.api.controllers.v1 import instance_group
from fenix.api.controllers.v1 import maintenance
from fenix.api.controllers.v1 import project
from fenix.api import validation
from fenix.common import exception
from fenix.tests import base

SCHEMAS = [maintenance.CREATE_SCHEMA, maintenance.UPDATE_SCHEMA,
           project.REPLY_SCHEMA, project.INSTANCE_REPLY_SCHEMA,
           instance.SCHEMA, instance_group.SCHEMA,
           action_plugin_run.REPORT_SCHEMA]


class TestValidation(base.TestCase):

    def test_schemas_are_valid(self):
        for schema in SCHEMAS:
            validation.check_schema(schema)

    def test_admin_and_constraint_bodies_refuse_unknown_fields(self):
        for schema in (maintenance.CREATE_SCHEMA, maintenance.UPDATE_SCHEMA,
                       instance.SCHEMA, instance_group.SCHEMA,
                       action_plugin_run.REPORT_SCHEMA):
            self.assertIs(False, schema['additionalProperties'])
        # Replies of managers tolerate keys of their own.
        for schema in (project.REPLY_SCHEMA, project.INSTANCE_REPLY_SCHEMA):
            self.assertNotIn('additionalProperties', schema)

    def message(self, schema, body):
        e = self.assertRaises(exception.Invalid, validation.validate,
                              schema, body)
        self.assertEqual(400, e.code)
        return str(e)

    def test_messages(self):
        schema = {'type': 'object',
                  'properties': {'a': validation.integer(1, 5),
                                 'b': {'type': 'array',
                                       'items': validation.string(3)},
                                 'c': validation.enum(['X', 'Y'])},
                  'required': ['a'], 'additionalProperties': False}
        cases = [
            ({}, "Missing required field(s) in request body: 'a'"),
            ({'a': 1, 'z': 1, 'y': 2},
             "Unknown field(s) in request body: 'y', 'z'"),
            ({'a': 0}, 'a: 0 is less than the minimum of 1'),
            ({'a': 6}, 'a: 6 is greater than the maximum of 5'),
            ({'a': 1.0}, 'a: 1.0 is not of type integer'),
            ({'a': 1, 'b': ['abcd']},
             'b[0]: "abcd" is longer than 3 characters'),
            ({'a': 1, 'c': 'Z'}, 'c: "Z" is not one of X, Y'),
        ]
        for body, want in cases:
            self.assertEqual('Invalid request: ' + want,
                             self.message(schema, body))

    def test_long_values_are_shortened(self):
        msg = self.message({'properties': {'a': validation.string(3)}},
                           {'a': 'x' * 1000})
        self.assertLess(len(msg), 150)

    def test_valid_bodies_pass(self):
        validation.validate(maintenance.CREATE_SCHEMA, {})
        validation.validate(project.REPLY_SCHEMA,
                            {'state': 'NACK_SCALE_IN', 'extra': [1]})
