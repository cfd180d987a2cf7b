# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The all-in-one over HTTP: one process, no broker, SQLite, noauth."""
import contextlib
import os
import sqlite3
import uuid

import requests

from fenix.tests.functional import base

PROJECT = uuid.uuid4().hex


class TestAllInOne(base.FunctionalTestCase):

    def setUp(self):
        super().setUp()
        self.port = base.free_port()
        self.conf = base.write_config(
            os.path.join(self.workdir, 'fenix.conf'), {
                'api': {'port': self.port},
                'database': {'connection': 'sqlite:///%s/fenix.sqlite'
                             % self.workdir},
                'download': {'directory': self.workdir + '/downloads'},
                'workflow': {'reply_window_maintenance': 30,
                             'reply_window_maintenance_complete': 30},
            })
        self.proc = self.start_process('fenix.cmd.all_in_one', self.conf,
                                       'all-in-one')
        self.wait_api(self.port, self.proc)
        self.client = base.FenixClient('http://127.0.0.1:%s' % self.port)

    def _create(self, **extra):
        body = {'workflow': 'wait_reply', 'hosts': ['host-1', 'host-2'],
                'metadata': {'projects': [PROJECT]},
                'actions': [{'plugin': 'dummy', 'type': 'host'},
                            {'plugin': 'dummy', 'type': 'pre'},
                            {'plugin': 'dummy', 'type': 'post'}]}
        body.update(extra)
        resp = self.client.post('/v1/maintenance', body)
        self.assertEqual(200, resp.status_code, resp.text)
        return resp.json()['session_id']

    def _reply(self, sid, state, **headers):
        return self.client.put('/v1/maintenance/%s/%s' % (sid, PROJECT),
                               {'state': state, 'session_id': sid,
                                'instance_ids': []}, headers=headers)

    def test_version_document_and_healthcheck(self):
        resp = self.client.get('/')
        self.assertEqual(200, resp.status_code)
        self.assertIn('v1', resp.text)

    def test_session_runs_to_done_with_replies(self):
        sid = self._create()
        self.client.wait_project_event(sid, PROJECT, 'MAINTENANCE')
        member = {'X-Project-Id': PROJECT, 'X-User-Id': 'vnfm',
                  'X-Roles': 'member'}
        resp = self._reply(sid, 'ACK_MAINTENANCE', **member)
        self.assertEqual(200, resp.status_code, resp.text)
        self.client.wait_project_event(sid, PROJECT, 'MAINTENANCE_COMPLETE')
        self.assertEqual(200, self._reply(
            sid, 'ACK_MAINTENANCE_COMPLETE', **member).status_code)
        self.client.wait_state(sid, 'MAINTENANCE_DONE')

        detail = self.client.get('/v1/maintenance/%s/detail' % sid).json()
        self.assertEqual(100, detail['percent_done'])
        self.assertEqual(['host-1', 'host-2'],
                         sorted(h['hostname'] for h in detail['hosts']))
        runs = {(r['plugin'], r['type'], r['hostname']): r['state']
                for r in detail['action_plugin_runs']}
        self.assertEqual({('dummy', 'pre', ''): 'DONE',
                          ('dummy', 'host', 'host-1'): 'DONE',
                          ('dummy', 'host', 'host-2'): 'DONE',
                          ('dummy', 'post', ''): 'DONE'}, runs)
        kinds = [e['kind'] for e in detail['history']]
        self.assertIn('reply', kinds)
        states = [e['state'] for e in detail['history']
                  if e['kind'] == 'state']
        self.assertEqual(['MAINTENANCE', 'START_MAINTENANCE',
                          'MAINTENANCE_COMPLETE', 'MAINTENANCE_DONE'],
                         states)

        self.assertEqual(200, self.client.delete(
            '/v1/maintenance/%s' % sid).status_code)
        self.assertEqual(404, self.client.get(
            '/v1/maintenance/%s' % sid).status_code)

    def test_detail_pages_over_http(self):
        sid = self._create()
        # Instances recorded as the engine records them (this workflow
        # has no cloud to find them in), into the all-in-one's database.
        ids = ['inst-%d' % i for i in range(5)]
        with contextlib.closing(sqlite3.connect(
                os.path.join(self.workdir, 'fenix.sqlite'),
                timeout=30)) as db, db:
            db.executemany(
                'INSERT INTO instances (created_at, session_id, '
                'instance_id, project_id, host, action_attempts, details) '
                "VALUES ('2030-01-01 00:00:00', ?, ?, ?, 'host-1', 0, "
                "'{}')", [(sid, i, PROJECT) for i in ids])
        url = '/v1/maintenance/%s/detail' % sid
        whole = self.client.get(url)
        self.assertEqual(200, whole.status_code, whole.text)
        whole = whole.json()
        self.assertEqual(ids, [i['instance_id'] for i in whole['instances']])
        self.assertNotIn('instances_links', whole)
        # Each page's next link, as the API gives it, to the end.
        seen, pages = [], 0
        resp = self.client.get(url + '?limit=2')
        while True:
            self.assertEqual(200, resp.status_code, resp.text)
            doc = resp.json()
            pages += 1
            seen += [i['instance_id'] for i in doc['instances']]
            self.assertEqual(sid, doc['session_id'])
            self.assertIn('history', doc)
            links = doc.get('instances_links')
            if not links:
                break
            self.assertEqual('next', links[0]['rel'])
            self.assertTrue(links[0]['href'].startswith(
                self.client.base_url + url + '?'), links[0]['href'])
            resp = requests.get(links[0]['href'], timeout=60)
        self.assertEqual((3, ids), (pages, seen))
        for query, name in (('limit=0', 'limit'), ('marker=nope', 'marker'),
                            ('limit=2&marker=', 'marker')):
            resp = self.client.get(url + '?' + query)
            self.assertEqual(400, resp.status_code, resp.text)
            self.assertIn(name, resp.json()['error']['message'])

    def test_says_how_to_configure_service_user(self):
        # This all-in-one has no [service_user]: it said so at start, with
        # an example and how to use the simulated cloud.
        log = self.proc.log_tail(200)
        self.assertIn('[service_user] is not configured', log)
        self.assertIn('auth_type = password', log)
        self.assertIn('fenix-simcloud', log)

    def test_nack_fails_and_put_continues(self):
        sid = self._create()
        self.client.wait_project_event(sid, PROJECT, 'MAINTENANCE')
        self.assertEqual(200, self._reply(sid, 'NACK_MAINTENANCE')
                         .status_code)
        self.client.wait_state(sid, 'MAINTENANCE_FAILED')
        session = self.client.get('/v1/maintenance/%s' % sid).json()
        self.assertIn(PROJECT, session['error'])
        # A stale reply to an event that is over is a conflict.
        self.assertEqual(409, self._reply(sid, 'ACK_SCALE_IN').status_code)
        # Continue: the session starts over from MAINTENANCE.
        resp = self.client.put('/v1/maintenance/%s' % sid, {})
        self.assertEqual(200, resp.status_code, resp.text)
        self.client.wait_project_event(sid, PROJECT, 'MAINTENANCE')
        self.assertEqual(200, self._reply(sid, 'ACK_MAINTENANCE')
                         .status_code)
        self.client.wait_project_event(sid, PROJECT, 'MAINTENANCE_COMPLETE')
        self._reply(sid, 'ACK_MAINTENANCE_COMPLETE')
        self.client.wait_state(sid, 'MAINTENANCE_DONE')
        # A finished session cannot be continued.
        self.assertEqual(409, self.client.put('/v1/maintenance/%s' % sid,
                                              {}).status_code)

    def test_bad_input_gets_4xx(self):
        cases = [
            ('POST', '/v1/maintenance', {'workflow': 'no-such-workflow'},
             400, 'no-such-workflow'),
            ('POST', '/v1/maintenance', {'hostz': []}, 400, 'hostz'),
            ('POST', '/v1/maintenance', {'maintenance_at': 'tomorrow'},
             400, 'maintenance_at'),
            ('POST', '/v1/maintenance',
             {'workflow': 'wait_reply',
              'actions': [{'plugin': 'nope', 'type': 'host'}]}, 400,
             'nope'),
            ('GET', '/v1/maintenance/%s' % uuid.uuid4(), None, 404, ''),
            ('GET', '/v1/maintenance/%s/detail' % uuid.uuid4(), None, 404,
             ''),
            ('DELETE', '/v1/maintenance/%s' % uuid.uuid4(), None, 404, ''),
            ('GET', '/v1/instance/%s' % uuid.uuid4(), None, 404, ''),
            ('GET', '/v1/no-such-route', None, 404, ''),
        ]
        for method, path, body, code, word in cases:
            resp = self.client.request(method, path, body)
            self.assertEqual(code, resp.status_code,
                             '%s %s: %s' % (method, path, resp.text))
            self.assertIn(word, resp.text)

    def test_sigterm_stops_cleanly(self):
        self.assertEqual(0, self.proc.terminate())
