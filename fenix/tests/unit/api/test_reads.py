# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The API reads the database itself: its reads work with no engine,
its writes still need one, and the policy checks are those of before."""
from unittest import mock

from oslo_db import exception as db_exc
import webtest

from fenix.api import app
from fenix.common import exception
from fenix.common import states as st
from fenix.db import api as db_api
from fenix.db import reads
from fenix.tests import base as test_base
from fenix.tests import db_fixture
from fenix.tests.unit.api import base
from fenix.tests.unit.db import reads_cases


class TestReadsWithoutEngine(base.APITestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        # No engine answers: every RPC call is 503.
        self.engine.fail_with = exception.EngineUnavailable(
            reason='MessagingTimeout')
        self.app = webtest.TestApp(app.setup_app(
            engine_api=self.engine, auth_strategy='noauth'))
        self.sid = reads_cases.ReadsTests._full_session(self)
        db_api.instance_constraint_put('i1', {'project_id': base.PROJECT})

    def test_reads_need_no_engine(self):
        s = '/v1/maintenance/%s' % self.sid
        for url, key in (('/v1/maintenance', 'sessions'),
                         (s, 'session_id'), (s + '/detail', 'instances'),
                         ('/v1/action_plugin_run/%s' % self.sid,
                          'action_plugin_runs'),
                         ('/v1/instance?project_id=%s' % base.PROJECT,
                          'instances'),
                         ('/v1/instance/i1', 'instance_id'),
                         ('/v1/instance_group', 'instance_groups')):
            doc = self.get(url, headers=base.ADMIN, status=200).json
            self.assertIn(key, doc, url)
        doc = self.get(s + '/p1', headers=base.ADMIN, status=200).json
        self.assertEqual(reads.project(self.sid, 'p1'), doc)
        doc = self.get(s + '/p1/i1', headers=base.ADMIN, status=200).json
        self.assertEqual('c1', doc['host'])
        self.assertEqual([], self.engine.calls)

    def test_answers_are_those_of_the_engine(self):
        with mock.patch('fenix.common.timeutils.utcnow',
                        return_value=reads_cases.NOW):
            detail = self.get('/v1/maintenance/%s/detail' % self.sid,
                              headers=base.ADMIN, status=200).json
        self.assertEqual(reads_cases.legacy_detail(self.sid,
                                                   reads_cases.NOW),
                         detail)
        self.assertEqual(reads.session_detail(self.sid, now=reads_cases.NOW),
                         detail)

    def test_writes_are_503_without_engine(self):
        for resp in (
                self.post('/v1/maintenance', {'hosts': ['h1']},
                          headers=base.ADMIN),
                self.post('/v1/maintenance/%s' % self.sid,
                          {'action': 'pause'}, headers=base.ADMIN),
                self.delete('/v1/instance/i1', headers=base.ADMIN)):
            self.assertError(resp, 503)

    def test_replies_are_recorded_without_engine(self):
        # The API judges and records a reply itself (the engine's rules
        # and words: fenix.tests.unit.engine.test_replies runs them
        # through the same code), then wakes the owner with a cast that
        # no engine takes here.
        eid = reads.project(self.sid, 'p1')['event_id']
        url = '/v1/maintenance/%s/p1' % self.sid
        ack = {'state': 'ACK_PLANNED_MAINTENANCE'}
        doc = self.put(url + '?event_id=' + eid.upper(), ack,
                       headers=base.ADMIN, status=200).json
        self.assertEqual((eid, 'ACK_PLANNED_MAINTENANCE'),
                         (doc['event_id'], doc['state']))
        self.assertEqual('ACK_PLANNED_MAINTENANCE',
                         db_api.project_get(self.sid, 'p1')['reply'])
        self.assertEqual([('wake_session', {
            'session_id': self.sid, 'engine': None, 'topic': st.WAKE_REPLY,
            'subject': None})], [(c[0], c[2]) for c in self.engine.calls])
        history = [e for e in db_api.events_get(self.sid)
                   if e['kind'] == st.EVENT_REPLY]
        self.assertEqual([eid], [e['data']['event_id'] for e in history])
        # Its retries (with or without the event's id) are a 409 that
        # changes nothing and wakes nobody.
        self.engine.calls[:] = []
        self.assertError(self.put(url + '?event_id=' + eid, ack,
                                  headers=base.ADMIN), 409,
                         'already answered', eid)
        self.assertError(self.put(url, ack, headers=base.ADMIN), 409,
                         'already answered')
        self.assertEqual([], self.engine.calls)
        self.assertEqual(1, len([e for e in db_api.events_get(self.sid)
                                 if e['kind'] == st.EVENT_REPLY]))
        # Still authorized first.
        self.assertError(self.put(url + '?event_id=' + eid, ack,
                                  headers=base.OTHER_MEMBER), 403)
        # The same for an instance's event.
        db_api.session_update(self.sid, {'engine': 'e7'})
        db_api.instance_update(self.sid, 'i1', {
            'event': st.PLANNED_MAINTENANCE, 'event_id': eid})
        body = {'state': 'ACK_PLANNED_MAINTENANCE',
                'instance_action': 'MIGRATE'}
        doc = self.put(url + '/i1?event_id=' + eid, body,
                       headers=base.ADMIN, status=200).json
        self.assertEqual('MIGRATE', doc['instance_action'])
        self.assertEqual([('wake_session', {
            'session_id': self.sid, 'engine': 'e7', 'topic': st.WAKE_REPLY,
            'subject': 'i1'})], [(c[0], c[2]) for c in self.engine.calls])
        self.engine.calls[:] = []
        self.assertError(self.put(url + '/i1?event_id=' + eid, body,
                                  headers=base.ADMIN), 409,
                         'already answered')
        self.assertEqual([], self.engine.calls)
        # Informational answers: accepted, nobody woken.
        self.put(url + '/i1', {'state': 'ACK_INSTANCE_ACTION_DONE'},
                 headers=base.ADMIN, status=200)
        self.assertEqual([], self.engine.calls)
        self.assertError(self.put(url + '/nope',
                                  {'state': 'ACK_INSTANCE_ACTION_DONE'},
                                  headers=base.ADMIN), 404)

    def test_reply_with_database_down_is_503(self):
        url = '/v1/maintenance/%s/p1' % self.sid
        with mock.patch('fenix.db.replies.record_project_reply',
                        side_effect=db_exc.DBConnectionError('gone')):
            resp = self.put(url, {'state': 'ACK_PLANNED_MAINTENANCE'},
                            headers=base.ADMIN)
        self.assertError(resp, 503)
        self.assertEqual([], self.engine.calls)

    def test_project_scoping_is_unchanged(self):
        s = '/v1/maintenance/%s' % self.sid
        for url in ('/v1/maintenance', s, s + '/detail'):
            self.assertError(self.get(url, headers=base.OWNER_READER), 403)
        # A project reader sees its own project only.
        self.get(s + '/%s' % 'p1', headers=base.OWNER_READER, status=403)
        db_api.project_create_or_update(self.sid, base.PROJECT, {})
        self.get(s + '/%s' % base.PROJECT, headers=base.OWNER_READER,
                 status=200)
        self.assertError(self.get(s + '/%s' % base.PROJECT,
                                  headers=base.OTHER_MEMBER), 403)
        self.get('/v1/instance', headers=base.OWNER_READER, status=200)
        self.assertError(self.get('/v1/instance/i1',
                                  headers=base.OTHER_MEMBER), 403)

    def test_not_found_is_404(self):
        self.assertError(self.get('/v1/maintenance/missing',
                                  headers=base.ADMIN), 404)
        self.assertError(self.get('/v1/maintenance/%s/p9' % self.sid,
                                  headers=base.ADMIN), 404)

    def test_database_down_is_503(self):
        self.config(group='api', retry_after=7)
        with mock.patch('fenix.db.reads.session_list',
                        side_effect=db_exc.DBConnectionError('gone')), \
                mock.patch('fenix.db.reads.session_summary',
                           side_effect=db_exc.DBConnectionError('gone')):
            for url in ('/v1/maintenance',
                        '/v1/maintenance/%s' % self.sid):
                resp = self.get(url, headers=base.ADMIN)
                self.assertError(resp, 503)
                self.assertEqual('7', resp.headers['Retry-After'])
                self.assertNotIn('Traceback', resp.text)

    def test_list_filters_and_pages(self):
        other = db_api.session_create({'workflow': 'nfv',
                                       'state': st.MAINTENANCE_DONE})
        url = '/v1/maintenance'
        every = [s['session_id'] for s in self.get(
            url, headers=base.ADMIN, status=200).json['sessions']]
        self.assertEqual({self.sid, other['session_id']}, set(every))
        first = self.get(url + '?limit=1', headers=base.ADMIN,
                         status=200).json['sessions']
        rest = self.get(url + '?limit=5&marker=%s'
                        % first[0]['session_id'], headers=base.ADMIN,
                        status=200).json['sessions']
        self.assertEqual(every, [s['session_id'] for s in first + rest])
        done = self.get(url + '?state=MAINTENANCE_DONE&workflow=nfv',
                        headers=base.ADMIN, status=200).json['sessions']
        self.assertEqual([other['session_id']],
                         [s['session_id'] for s in done])

    def test_bad_list_parameters_are_400(self):
        for query, name in (('limit=0', 'limit'), ('limit=1001', 'limit'),
                            ('limit=x', 'limit'), ('limit=-1', 'limit'),
                            ('state=BOGUS', 'state'),
                            ('workflow=a%20b', 'workflow'),
                            ('workflow=', 'workflow'),
                            ('marker=', 'marker'),
                            ('marker=%s' % ('x' * 37), 'marker'),
                            ('marker=no-such-session', 'marker'),
                            ('limit=1&limit=2', 'limit')):
            self.assertError(self.get('/v1/maintenance?' + query,
                                      headers=base.ADMIN), 400, name)

    def test_detail_pages_follow_their_links(self):
        url = '/v1/maintenance/%s/detail' % self.sid
        with mock.patch('fenix.common.timeutils.utcnow',
                        return_value=reads_cases.NOW):
            whole = self.get(url, headers=base.ADMIN, status=200)
            # Without parameters: the upstream document, byte for byte.
            self.assertEqual(reads.session_detail_json(
                self.sid, now=reads_cases.NOW).encode(), whole.body)
            whole = whole.json
            self.assertNotIn('instances_links', whole)
            seen, page_url, pages = [], url + '?limit=2', 0
            while page_url:
                doc = self.get(page_url, headers=base.ADMIN,
                               status=200).json
                pages += 1
                seen += doc.pop('instances')
                links = doc.pop('instances_links', [])
                self.assertEqual({k: v for k, v in whole.items()
                                  if k != 'instances'}, doc)
                page_url = None
                if links:
                    self.assertEqual('next', links[0]['rel'])
                    href = links[0]['href']
                    self.assertTrue(href.startswith('http://localhost' +
                                                    url + '?'), href)
                    page_url = href[len('http://localhost'):]
        self.assertEqual(2, pages)
        self.assertEqual(whole['instances'], seen)
        # A marker alone: the rest, up to the longest page.
        doc = self.get(url + '?marker=i1', headers=base.ADMIN,
                       status=200).json
        self.assertEqual(['i2', 'i3'],
                         [i['instance_id'] for i in doc['instances']])
        self.assertNotIn('instances_links', doc)
        self.assertEqual([], self.engine.calls)

    def test_detail_next_link_uses_the_public_endpoint(self):
        self.config(public_endpoint='https://fenix.example.com:8443/',
                    group='api')
        doc = self.get('/v1/maintenance/%s/detail?limit=1&marker=i1'
                       % self.sid, headers=base.ADMIN, status=200).json
        self.assertEqual(
            [{'rel': 'next', 'href': 'https://fenix.example.com:8443/v1/'
              'maintenance/%s/detail?limit=1&marker=i2' % self.sid}],
            doc['instances_links'])

    def test_bad_detail_parameters_are_400(self):
        url = '/v1/maintenance/%s/detail?' % self.sid
        for query, name in (('limit=0', 'limit'), ('limit=1001', 'limit'),
                            ('limit=x', 'limit'), ('limit=-1', 'limit'),
                            ('limit=', 'limit'),
                            ('marker=', 'marker'),
                            ('marker=%s' % ('x' * 37), 'marker'),
                            ('marker=no-such-instance', 'marker'),
                            ('limit=1&limit=2', 'limit'),
                            ('state=MAINTENANCE', 'state')):
            self.assertError(self.get(url + query, headers=base.ADMIN),
                             400, name)
        # An unknown session is still 404, a page or not.
        self.assertError(self.get('/v1/maintenance/nope/detail?limit=1',
                                  headers=base.ADMIN), 404, 'nope')
        # As the whole detail: the admin's.
        self.assertError(self.get(url + 'limit=1',
                                  headers=base.OWNER_MEMBER), 403)


class TestImportDirection(base.APITestCase):

    def test_api_imports_no_workflow_and_no_cloud_client(self):
        """Data flows one way: the API reads the database and calls the
        engine; it never loads the workflows or the cloud clients."""
        out = test_base.modules_loaded_by(
            'fenix.api.app', 'fenix.api.server', 'fenix.api.reads',
            'fenix.cmd.api')
        self.assertIn('fenix.db.reads', out)
        self.assertEqual([], [m for m in out if m.startswith((
            'fenix.workflow', 'fenix.common.cloud', 'novaclient',
            'fenix.engine.manager', 'fenix.engine.runner'))])

    def test_database_layer_imports_no_engine(self):
        """The database layer is below the engine: it loads nothing of
        fenix.engine (nor of the workflows)."""
        out = test_base.modules_loaded_by('fenix.db.api', 'fenix.db.reads')
        self.assertEqual([], [m for m in out if m.startswith((
            'fenix.engine', 'fenix.workflow'))])
