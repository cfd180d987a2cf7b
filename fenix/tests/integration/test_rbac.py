# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""RBAC with real Keystone tokens through keystonemiddleware.

admin (admin of project admin), vnfm1 (member of vnfm1), vnfm2 (member of
vnfm2), reader1 (reader of vnfm1) and no token, against the session,
project and constraint routes; every answer as Fenix's default policy
says (fenix/common/policies).
"""
import uuid

import requests

from fenix.tests.integration import base

NO_TOKEN = 'none'


class TestRBAC(base.IntegrationTestCase):

    fenix_overrides = {'workflow': {'reply_window_maintenance': 600}}

    def call(self, user, method, path, body=None):
        headers = {}
        if user != NO_TOKEN:
            headers['X-Auth-Token'] = self.cloud.token(user)
        return requests.request(method, self.fenix.url + path, json=body,
                                headers=headers, timeout=60)

    def expect(self, matrix, method, path, body=None):
        got = {user: self.call(user, method, path, body).status_code
               for user in matrix}
        self.assertEqual(matrix, got, '%s %s' % (method, path))

    def test_matrix(self):
        p1 = self.cloud.project_id('vnfm1')
        # Sessions: admin only (version documents stay public).
        self.expect({'admin': 200, 'vnfm1': 200, NO_TOKEN: 200}, 'GET', '/')
        self.expect({'admin': 200, 'vnfm1': 403, 'reader1': 403,
                     NO_TOKEN: 401}, 'GET', '/v1/maintenance')
        body = {'hosts': [self.cloud.data['computes'][0]],
                'workflow': 'default', 'maintenance_at': '2099-01-01 '
                '00:00:00'}
        self.expect({'vnfm1': 403, 'reader1': 403, NO_TOKEN: 401},
                    'POST', '/v1/maintenance', body)
        resp = self.call('admin', 'POST', '/v1/maintenance', body)
        self.assertEqual(200, resp.status_code, resp.text)
        sid = resp.json()['session_id']
        self.addCleanup(self.call, 'admin', 'DELETE',
                        '/v1/maintenance/%s' % sid)
        self.expect({'admin': 200, 'vnfm1': 403, 'vnfm2': 403,
                     'reader1': 403, NO_TOKEN: 401}, 'GET',
                    '/v1/maintenance/%s' % sid)
        self.expect({'vnfm1': 403, NO_TOKEN: 401}, 'DELETE',
                    '/v1/maintenance/%s' % sid)

        # Project routes: the project itself (reader reads, member
        # answers), never another project. vnfm1 has no instance in this
        # session: policy lets it through and the answer is 404; another
        # project is refused before that (403, nothing learnt).
        path = '/v1/maintenance/%s/%s' % (sid, p1)
        self.expect({'admin': 404, 'vnfm1': 404, 'reader1': 404,
                     'vnfm2': 403, NO_TOKEN: 401}, 'GET', path)
        reply = {'state': 'ACK_MAINTENANCE', 'instance_actions': {}}
        self.expect({'vnfm2': 403, 'reader1': 403, NO_TOKEN: 401}, 'PUT',
                    path, reply)

        # Constraints: members of the owning project write, its readers
        # read, others get 403.
        gid = str(uuid.uuid4())
        group = {'group_id': gid, 'project_id': p1, 'group_name': 'g',
                 'anti_affinity_group': True, 'max_instances_per_host': 1,
                 'max_impacted_members': 1, 'recovery_time': 2,
                 'resource_mitigation': True}
        gpath = '/v1/instance_group/%s' % gid
        self.expect({'vnfm2': 403, 'reader1': 403, NO_TOKEN: 401}, 'PUT',
                    gpath, group)
        resp = self.call('vnfm1', 'PUT', gpath, group)
        self.assertEqual(200, resp.status_code, resp.text)
        self.expect({'admin': 200, 'vnfm1': 200, 'reader1': 200,
                     'vnfm2': 403, NO_TOKEN: 401}, 'GET', gpath)
        iid = str(uuid.uuid4())
        inst = {'instance_id': iid, 'project_id': p1, 'group_id': gid,
                'instance_name': 'i', 'max_interruption_time': 60,
                'migration_type': 'MIGRATE', 'resource_mitigation': True,
                'lead_time': 10}
        ipath = '/v1/instance/%s' % iid
        self.expect({'vnfm2': 403, 'reader1': 403, NO_TOKEN: 401}, 'PUT',
                    ipath, inst)
        resp = self.call('vnfm1', 'PUT', ipath, inst)
        self.assertEqual(200, resp.status_code, resp.text)
        self.expect({'admin': 200, 'vnfm1': 200, 'reader1': 200,
                     'vnfm2': 403, NO_TOKEN: 401}, 'GET', ipath)
        self.expect({'vnfm2': 403, 'reader1': 403, NO_TOKEN: 401},
                    'DELETE', ipath)
        self.assertIn(self.call('vnfm1', 'DELETE', ipath).status_code,
                      (200, 204))
        self.assertIn(self.call('vnfm1', 'DELETE', gpath).status_code,
                      (200, 204))
        # A forged token is refused by keystonemiddleware.
        resp = requests.get(self.fenix.url + '/v1/maintenance', timeout=30,
                            headers={'X-Auth-Token': 'forged'})
        self.assertEqual(401, resp.status_code)
