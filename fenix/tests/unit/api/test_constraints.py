# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""/v1/instance and /v1/instance_group: constraints of a VNF."""
import testscenarios

from fenix.tests.unit.api import base

load_tests = testscenarios.load_tests_apply_scenarios

ID = '5b1e2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e'

# Bodies as Doctor's VNFM sends them.
INSTANCE_BODY = {
    'instance_id': ID,
    'project_id': base.PROJECT,
    'group_id': '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
    'instance_name': 'doctor_ha_app_0',
    'max_interruption_time': 120,
    'migration_type': 'MIGRATE',
    'resource_mitigation': True,
    'lead_time': 40,
}
GROUP_BODY = {
    'group_id': ID,
    'project_id': base.PROJECT,
    'group_name': 'doctor_ha_app_group',
    'anti_affinity_group': True,
    'max_instances_per_host': 1,
    'max_impacted_members': 1,
    'recovery_time': 4,
    'resource_mitigation': True,
}

INSTANCE_BAD = [
    ({'instance_id': 'other'}, "instance_id: 'other' in the body differs "
                               "from '%s' in the URL" % ID),
    ({'max_interruption_time': -1},
     'max_interruption_time: -1 is less than the minimum of 0'),
    ({'max_interruption_time': '120'},
     'max_interruption_time: "120" is not of type integer'),
    ({'lead_time': -5}, 'lead_time: -5 is less than the minimum of 0'),
    ({'lead_time': 2 ** 31}, 'lead_time: 2147483648 is greater'),
    ({'migration_type': 'MIGRATION'},
     'migration_type: "MIGRATION" is not one of MIGRATE, LIVE_MIGRATE, '
     'OWN_ACTION'),
    ({'resource_mitigation': 'true'},
     'resource_mitigation: "true" is not of type boolean'),
    ({'group_id': 'g' * 37}, 'group_id'),
    ({'project_id': ''}, 'project_id: must not be empty'),
    ({'instance_name': 5}, 'instance_name'),
    ({'max_instances_per_host': 1},
     "Unknown field(s) in request body: 'max_instances_per_host'"),
]
GROUP_BAD = [
    ({'group_id': 'other'}, "group_id: 'other' in the body differs "
                            "from '%s' in the URL" % ID),
    ({'max_instances_per_host': -1},
     'max_instances_per_host: -1 is less than the minimum of 0'),
    ({'max_impacted_members': -1},
     'max_impacted_members: -1 is less than the minimum of 0'),
    ({'max_impacted_members': 1.5},
     'max_impacted_members: 1.5 is not of type integer'),
    ({'recovery_time': -1}, 'recovery_time: -1 is less than'),
    ({'anti_affinity_group': 1},
     'anti_affinity_group: 1 is not of type boolean'),
    ({'group_name': 'n' * 256}, 'group_name'),
    ({'lead_time': 1}, "Unknown field(s) in request body: 'lead_time'"),
]


class TestConstraints(base.APITestCase):

    scenarios = [
        ('instance', {'prefix': '/v1/instance', 'id_field': 'instance_id',
                      'table': 'instances', 'key': 'instances',
                      'full_body': INSTANCE_BODY, 'bad': INSTANCE_BAD,
                      'missing': 'No constraints registered for instance'}),
        ('instance_group', {'prefix': '/v1/instance_group',
                            'id_field': 'group_id', 'table': 'groups',
                            'key': 'instance_groups',
                            'full_body': GROUP_BODY, 'bad': GROUP_BAD,
                            'missing': 'No constraints registered for '
                                       'instance group'}),
    ]

    def setUp(self):
        super().setUp()
        self.url = '%s/%s' % (self.prefix, ID)

    def store(self, cid, project_id):
        getattr(self.engine, self.table)[cid] = {self.id_field: cid,
                                                 'project_id': project_id}

    def test_put_full_body(self):
        doc = self.put(self.url, self.full_body, headers=base.OWNER_MEMBER,
                       status=200).json
        self.assertEqual(self.full_body, doc)
        self.assertEqual(self.full_body,
                         getattr(self.engine, self.table)[ID])

    def test_put_defaults_id_and_project(self):
        self.put(self.url, {}, headers=base.OWNER_MEMBER, status=200)
        self.assertEqual({self.id_field: ID, 'project_id': base.PROJECT},
                         getattr(self.engine, self.table)[ID])

    def test_put_without_project_needs_one(self):
        resp = self.put(self.url, {}, headers=base.SYSTEM_READER)
        self.assertError(resp, 400, 'project_id: required')

    def test_put_bad_bodies(self):
        for body, fragment in self.bad:
            resp = self.put(self.url, body, headers=base.OWNER_MEMBER)
            self.assertError(resp, 400, fragment)
        self.assertEqual({}, getattr(self.engine, self.table))

    def test_put_id_too_long_for_storage(self):
        resp = self.put('%s/%s' % (self.prefix, 'x' * 37), {},
                        headers=base.OWNER_MEMBER)
        self.assertError(resp, 400, self.id_field)

    def test_put_zero_values_allowed(self):
        zero = {k: 0 for k, v in self.full_body.items()
                if isinstance(v, int) and not isinstance(v, bool)}
        self.put(self.url, zero, headers=base.OWNER_MEMBER, status=200)

    def test_get(self):
        self.store(ID, base.PROJECT)
        doc = self.get(self.url, headers=base.OWNER_READER, status=200).json
        self.assertEqual(base.PROJECT, doc['project_id'])
        self.assertError(self.get(self.prefix + '/nope',
                                  headers=base.OWNER_READER),
                         404, self.missing, 'nope')

    def test_delete(self):
        self.store(ID, base.PROJECT)
        self.assertEqual({}, self.delete(self.url, headers=base.OWNER_MEMBER,
                                         status=200).json)
        self.assertEqual({}, getattr(self.engine, self.table))
        self.assertError(self.delete(self.url, headers=base.OWNER_MEMBER),
                         404, self.missing)

    def test_list_is_filtered_to_the_callers_project(self):
        self.store('mine', base.PROJECT)
        self.store('theirs', base.OTHER_PROJECT)
        doc = self.get(self.prefix, headers=base.OWNER_READER,
                       status=200).json
        self.assertEqual(['mine'], [c[self.id_field] for c in doc[self.key]])
        doc = self.get(self.prefix + '?project_id=' + base.PROJECT,
                       headers=base.OWNER_MEMBER, status=200).json
        self.assertEqual(['mine'], [c[self.id_field] for c in doc[self.key]])
        resp = self.get(self.prefix + '?project_id=' + base.OTHER_PROJECT,
                        headers=base.OWNER_MEMBER)
        self.assertError(resp, 403, 'list_all')

    def test_admin_lists_every_project_or_one(self):
        self.store('mine', base.PROJECT)
        self.store('theirs', base.OTHER_PROJECT)
        for headers in (base.ADMIN, base.SYSTEM_READER):
            doc = self.get(self.prefix, headers=headers, status=200).json
            self.assertEqual({'mine', 'theirs'},
                             {c[self.id_field] for c in doc[self.key]})
            doc = self.get(self.prefix + '?project_id=' + base.OTHER_PROJECT,
                           headers=headers, status=200).json
            self.assertEqual(['theirs'],
                             [c[self.id_field] for c in doc[self.key]])

    def test_list_bad_queries(self):
        self.assertError(self.get(self.prefix + '?project=x'), 400,
                         "Unknown query parameter(s): 'project'")
        self.assertError(self.get(self.prefix + '?project_id='), 400,
                         'project_id: must not be empty')
        self.assertError(self.get(self.prefix + '?project_id=a&project_id=b'),
                         400, "'project_id' is given more than once")

    def test_list_project_id_longer_than_stored_is_400(self):
        # Found by schemathesis: a project id no constraint can have
        # (longer than the column) was answered an empty 200 list.
        self.assertError(self.get(self.prefix + '?project_id=' + 'p' * 65),
                         400, 'project_id: longer than 64 characters')
        self.assertEqual([], self.engine.calls)

    def test_member_cannot_take_over_another_projects_constraint(self):
        self.store(ID, base.PROJECT)
        # The body names the caller's own project; the constraint is not.
        resp = self.put(self.url, {'project_id': base.OTHER_PROJECT},
                        headers=base.OTHER_MEMBER)
        self.assertError(resp, 403, 'fenix:%s:put' % self.prefix[4:])
        self.assertEqual(base.PROJECT,
                         getattr(self.engine, self.table)[ID]['project_id'])

    def test_member_cannot_write_for_another_project(self):
        resp = self.put(self.url, {'project_id': base.PROJECT},
                        headers=base.OTHER_MEMBER)
        self.assertError(resp, 403, 'put')
        self.assertEqual({}, getattr(self.engine, self.table))

    def test_admin_moves_a_constraint(self):
        self.store(ID, base.PROJECT)
        self.put(self.url, {'project_id': base.OTHER_PROJECT},
                 headers=base.ADMIN, status=200)
        self.assertEqual(base.OTHER_PROJECT,
                         getattr(self.engine, self.table)[ID]['project_id'])
