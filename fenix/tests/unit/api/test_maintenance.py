# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""/v1/maintenance: the admin session API."""
from fenix.common import exception
from fenix.common import states
from fenix.tests.unit.api import base

# The body Doctor's admin client sends (upstream shape).
UPSTREAM_BODY = {
    'state': 'MAINTENANCE',
    'maintenance_at': '2030-02-28 06:06:03',
    'metadata': {'openstack_version': 'Train'},
    'workflow': 'default',
    'hosts': [],
}

FULL_BODY = {
    'hosts': ['compute-0', 'compute-1'],
    'state': 'MAINTENANCE',
    'maintenance_at': '2030-02-28T08:06:03+02:00',
    'metadata': {'openstack_release': 'Queens'},
    'workflow': 'vnf',
    'actions': [
        {'plugin': 'prepare', 'type': 'pre'},
        {'plugin': 'esw_upgrade', 'type': 'host',
         'metadata': {'upgrade': 'ESW1'}},
        {'plugin': 'finalize', 'type': 'post', 'metadata': {}},
    ],
    'download': [
        'https://repo.example/os_upgrade.tgz',
        {'url': 'https://repo.example/workflow.tgz',
         'sha256': 'a' * 64, 'size': 1024},
    ],
    'dry_run': True,
    'max_parallel_hosts': 2,
    'max_concurrent_migrations': 4,
    'nack_policy': 'skip_host',
    'reply_window': 60,
    'estimates': {'cold_migration': 0.5, 'host_maintenance': 1200},
}


class TestCreate(base.APITestCase):

    def test_create_upstream_body(self):
        doc = self.post('/v1/maintenance', UPSTREAM_BODY, status=200).json
        self.assertIn(doc['session_id'], self.engine.sessions)
        _, kwargs = self.engine.last_call('create_session')
        self.assertEqual(UPSTREAM_BODY, kwargs['values'])

    def test_create_full_body_normalizes_time(self):
        self.post('/v1/maintenance', FULL_BODY, status=200)
        _, kwargs = self.engine.last_call('create_session')
        want = dict(FULL_BODY, maintenance_at='2030-02-28 06:06:03')
        self.assertEqual(want, kwargs['values'])

    def test_create_empty_body(self):
        for raw in (None, b'', b'{}', b'  '):
            self.request('POST', '/v1/maintenance', raw=raw, status=200)
            _, kwargs = self.engine.last_call('create_session')
            self.assertEqual({}, kwargs['values'])

    def test_create_answers_engine_extras(self):
        def create(context, values):
            return {'session_id': 'abc', 'state': 'MAINTENANCE'}
        self.engine.create_session = create
        doc = self.post('/v1/maintenance', {}, status=200).json
        self.assertEqual({'session_id': 'abc', 'state': 'MAINTENANCE'}, doc)

    def test_create_bad_bodies_name_the_field(self):
        cases = [
            ({'hostz': ['a']}, "Unknown field(s) in request body: 'hostz'"),
            ({'hosts': 'compute-0'}, 'hosts: "compute-0" is not of type '
                                     'array'),
            ({'hosts': ['a', 'a']}, 'hosts: has duplicate items'),
            ({'hosts': ['']}, 'hosts[0]: must not be empty'),
            ({'hosts': ['x' * 256]}, 'hosts[0]: '),
            ({'hosts': [3]}, 'hosts[0]: 3 is not of type string'),
            ({'state': 'SCALE_IN'}, "state: \"SCALE_IN\" is not one of "
                                    "MAINTENANCE"),
            ({'maintenance_at': 'tomorrow'},
             "maintenance_at 'tomorrow' is not a time"),
            ({'maintenance_at': '2030-02-30 00:00:00'},
             "maintenance_at '2030-02-30 00:00:00' is not a time"),
            ({'maintenance_at': '0001-01-01T00:00:00+01:00'},
             'maintenance_at'),
            ({'maintenance_at': 5}, 'maintenance_at: 5 is not of type'),
            ({'metadata': []}, 'metadata: [] is not of type object'),
            ({'workflow': ''}, 'workflow: must not be empty'),
            ({'workflow': 'a b'}, 'workflow: "a b" does not match'),
            ({'workflow': '../etc'}, 'workflow: "../etc" does not match'),
            ({'workflow': 'w' * 256}, 'workflow: '),
            ({'actions': {}}, 'actions: {} is not of type array'),
            ({'actions': [{'plugin': 'x'}]},
             "Missing required field(s) in actions[0]: 'type'"),
            ({'actions': [{'type': 'pre'}]},
             "Missing required field(s) in actions[0]: 'plugin'"),
            ({'actions': [{'plugin': 'x', 'type': 'sideways'}]},
             'actions[0].type: "sideways" is not one of pre, host'),
            ({'actions': [{'plugin': 'x', 'type': 'pre', 'extra': 1}]},
             "Unknown field(s) in actions[0]: 'extra'"),
            ({'actions': [{'plugin': 'x', 'type': 'pre', 'metadata': 1}]},
             'actions[0].metadata: 1 is not of type object'),
            ({'download': ['not a url']}, 'download[0]: '),
            ({'download': [5]}, 'download[0]: '),
            ({'download': [{'sha256': 'a' * 64}]},
             "Missing required field(s) in download[0]: 'url'"),
            ({'download': [{'url': 'http://x/y', 'md5': 'a'}]},
             "Unknown field(s) in download[0]: 'md5'"),
            ({'download': [{'url': 'http://x/y', 'sha256': 'zz'}]},
             'download[0].sha256: '),
            ({'download': [{'url': 'http://x/y', 'size': -1}]},
             'download[0].size: -1 is less than the minimum of 0'),
            ({'dry_run': 'yes'}, 'dry_run: "yes" is not of type boolean'),
            ({'max_parallel_hosts': 0},
             'max_parallel_hosts: 0 is less than the minimum of 1'),
            ({'max_parallel_hosts': 1.5}, 'max_parallel_hosts: 1.5 is not '
                                          'of type integer'),
            ({'max_parallel_hosts': True}, 'max_parallel_hosts: true is '
                                           'not of type integer'),
            ({'max_parallel_hosts': 2 ** 40}, 'max_parallel_hosts: '
                                              '1099511627776 is greater'),
            ({'max_concurrent_migrations': 0},
             'max_concurrent_migrations: 0 is less than the minimum of 1'),
            ({'nack_policy': 'retry'}, 'nack_policy: "retry" is not one of '
                                       'fail, skip_host'),
            ({'reply_window': 0}, 'reply_window: 0 is less than'),
            ({'reply_window': None}, 'reply_window: null is not of type'),
            ({'estimates': {'cold_migration': -1}},
             'estimates.cold_migration: -1 is less than the minimum of 0'),
            ({'estimates': {'warp': 1}}, "estimates: 'warp'"),
            ({'estimates': {'host_maintenance': '9'}},
             'estimates.host_maintenance: "9" is not of type number'),
            ({'estimates': []}, 'estimates: [] is not of type object'),
        ]
        for body, fragment in cases:
            resp = self.post('/v1/maintenance', body)
            self.assertError(resp, 400, fragment)
        self.assertEqual([], self.engine.calls)

    def test_download_policy_checked_at_create(self):
        # The operator's [download] policy (defaults: https to public
        # addresses only) answers 400 naming the item, before the engine.
        cases = [
            (['http://repo.example/a.tgz'],
             'download[0]: Download of http://repo.example/a.tgz refused '
             'by the download policy (scheme)'),
            (['https://repo.example/a', {'url': 'https://127.0.0.1:8080/b'}],
             'download[1].url: Download of https://127.0.0.1:8080/b '
             'refused by the download policy (host): host 127.0.0.1 has '
             'a loopback address'),
            (['https://169.254.169.254/latest/meta-data'], '(host)'),
            (['file:///etc/shadow'], '(scheme)'),
            (['https://admin:secret@10.1.1.1/x'],
             'https://***@10.1.1.1/x refused'),
        ]
        for download, fragment in cases:
            resp = self.post('/v1/maintenance', {'download': download})
            self.assertError(resp, 400, fragment)
            self.assertNotIn('secret', resp.text)
        self.assertEqual([], self.engine.calls)
        self.config(group='download', allow_plugin_code=True)
        resp = self.post('/v1/maintenance',
                         {'download': ['https://repo.example/mine.py']})
        self.assertError(resp, 400, 'download[0]: ')
        self.assertIn('(plug-in code)', resp.text)
        self.config(group='download', allowed_schemes=['https', 'http'],
                    allowed_networks=['10.0.0.0/8'])
        self.post('/v1/maintenance', {'download': ['http://10.1.1.1/x']},
                  status=200)

    def test_unknown_fields_all_named_sorted(self):
        resp = self.post('/v1/maintenance', {'zz': 1, 'aa': 2, 'hosts': []})
        self.assertError(resp, 400, "request body: 'aa', 'zz'")

    def test_too_many_sessions_is_409(self):
        self.engine.fail_with = exception.TooManySessions(count=100)
        self.assertError(self.post('/v1/maintenance', {}), 409, '100')

    def test_unknown_plugin_from_engine_is_400(self):
        self.engine.fail_with = exception.UnknownPlugin(kind='workflow',
                                                        name='nope')
        self.assertError(self.post('/v1/maintenance', {'workflow': 'nope'}),
                         400, "Unknown workflow plug-in 'nope'")


class TestSession(base.APITestCase):

    def setUp(self):
        super().setUp()
        self.sid = self.engine.add_session(projects={base.PROJECT: ['i1']})
        self.url = '/v1/maintenance/%s' % self.sid

    def test_list(self):
        other = self.engine.add_session(state=states.MAINTENANCE_DONE)
        doc = self.get('/v1/maintenance', status=200).json
        self.assertEqual({self.sid: 'MAINTENANCE', other: 'MAINTENANCE_DONE'},
                         {s['session_id']: s['state']
                          for s in doc['sessions']})

    def test_list_wraps_a_plain_list_and_keeps_a_dict(self):
        self.engine.list_sessions = lambda ctx: ['a', 'b']
        self.assertEqual({'sessions': ['a', 'b']},
                         self.get('/v1/maintenance', status=200).json)
        self.engine.list_sessions = lambda ctx: {'sessions': [], 'x': 1}
        self.assertEqual({'sessions': [], 'x': 1},
                         self.get('/v1/maintenance', status=200).json)

    def test_list_refuses_unknown_query(self):
        self.assertError(self.get('/v1/maintenance?status=x'), 400,
                         "Unknown query parameter(s): 'status'")

    def test_get(self):
        doc = self.get(self.url, status=200).json
        self.assertEqual(self.sid, doc['session_id'])
        self.assertEqual('MAINTENANCE', doc['state'])

    def test_get_unknown_is_404(self):
        resp = self.get('/v1/maintenance/nope')
        self.assertError(resp, 404, 'Maintenance session nope not found.')

    def test_detail(self):
        doc = self.get(self.url + '/detail', status=200).json
        self.assertEqual(self.sid, doc['session']['session_id'])
        self.assertEqual([base.PROJECT], doc['projects'])
        self.assertError(self.get('/v1/maintenance/nope/detail'), 404,
                         'nope')

    def test_detail_page_goes_to_the_reader(self):
        self.get(self.url + '/detail?limit=5&marker=i9', status=200)
        _, kwargs = self.engine.last_call('get_session_detail_page')
        self.assertEqual((self.sid, 5, 'i9'), (
            kwargs['session_id'], kwargs['limit'], kwargs['marker']))
        # A marker alone: the longest page.
        self.get(self.url + '/detail?marker=i9', status=200)
        _, kwargs = self.engine.last_call('get_session_detail_page')
        self.assertEqual(1000, kwargs['limit'])
        # Without them: the whole detail, as before.
        self.get(self.url + '/detail', status=200)
        self.assertEqual('get_session_detail', self.engine.calls[-1][0])

    def test_update_continues_a_failed_session(self):
        self.engine.sessions[self.sid]['state'] = states.MAINTENANCE_FAILED
        doc = self.put(self.url, {'state': 'START_MAINTENANCE'},
                       status=200).json
        self.assertEqual('START_MAINTENANCE', doc['state'])
        _, kwargs = self.engine.last_call('update_session')
        self.assertEqual({'state': 'START_MAINTENANCE'}, kwargs['values'])

    def test_update_without_state(self):
        self.engine.sessions[self.sid]['state'] = states.MAINTENANCE_FAILED
        self.request('PUT', self.url, raw=b'', status=200)
        _, kwargs = self.engine.last_call('update_session')
        self.assertEqual({}, kwargs['values'])

    def test_update_running_session_is_409(self):
        resp = self.put(self.url, {})
        self.assertError(resp, 409, 'MAINTENANCE', 'cannot be continued')

    def test_update_bad_bodies(self):
        for body, fragment in [
                ({'state': 'MAINTENANCE_DONE'},
                 'state: "MAINTENANCE_DONE" is not one of'),
                ({'state': 'FOO'}, 'state: "FOO" is not one of'),
                ({'stat': 'MAINTENANCE'},
                 "Unknown field(s) in request body: 'stat'")]:
            self.assertError(self.put(self.url, body), 400, fragment)
        self.assertError(self.put('/v1/maintenance/nope', {}), 404, 'nope')

    def test_delete(self):
        resp = self.delete(self.url, status=200)
        self.assertEqual({}, resp.json)
        self.assertNotIn(self.sid, self.engine.sessions)
        self.assertError(self.delete(self.url), 404, self.sid)

    def test_delete_ignores_a_body(self):
        self.request('DELETE', self.url, raw=b'not json', status=200)
        self.assertNotIn(self.sid, self.engine.sessions)

    def test_get_ignores_a_body(self):
        self.request('GET', self.url, raw=b'{"x": 1}', status=200)


class TestSessionControl(base.APITestCase):
    """POST /v1/maintenance/{id} {"action": ...}: pause, resume, skip a
    host, retry."""

    def setUp(self):
        super().setUp()
        self.sid = self.engine.add_session(projects={base.PROJECT: ['i1']})
        self.url = '/v1/maintenance/%s' % self.sid

    def test_each_action_reaches_its_engine_call(self):
        cases = [
            ({'action': 'pause'}, 'pause_session',
             {'session_id': self.sid, 'reason': None}),
            ({'action': 'pause', 'reason': 'rack power work'},
             'pause_session',
             {'session_id': self.sid, 'reason': 'rack power work'}),
            ({'action': 'resume'}, 'resume_session',
             {'session_id': self.sid}),
            ({'action': 'skip_host', 'host': 'compute-1'}, 'skip_host',
             {'session_id': self.sid, 'hostname': 'compute-1',
              'reason': None}),
            ({'action': 'skip_host', 'host': 'compute-1', 'reason': 'RMA'},
             'skip_host', {'session_id': self.sid, 'hostname': 'compute-1',
                           'reason': 'RMA'}),
            ({'action': 'retry'}, 'retry_step', {'session_id': self.sid}),
        ]
        for body, method, kwargs in cases:
            doc = self.post(self.url, body, status=200).json
            self.assertEqual(self.sid, doc['session_id'])
            _, got = self.engine.last_call(method)
            self.assertEqual(kwargs, got, body)

    def test_bad_bodies_name_the_field(self):
        for body, fragment in [
                ({}, "Missing required field(s) in request body: 'action'"),
                ({'action': 'stop'}, 'action: "stop" is not one of pause, '
                                     'resume, skip_host, retry'),
                ({'action': 3}, 'action: 3 is not of type string'),
                ({'action': 'skip_host'},
                 "Missing required field(s) in request body: 'host'"),
                ({'action': 'skip_host', 'host': ''},
                 'host: must not be empty'),
                ({'action': 'skip_host', 'host': 'h' * 256}, 'host: '),
                ({'action': 'resume', 'reason': 'x'},
                 "Unknown field(s) in request body: 'reason'"),
                ({'action': 'pause', 'host': 'compute-0'},
                 "Unknown field(s) in request body: 'host'"),
                ({'action': 'pause', 'reason': 'r' * 256}, 'reason: ')]:
            self.assertError(self.post(self.url, body), 400, fragment)
        self.assertEqual([], self.engine.calls)

    def test_engine_answers_keep_their_status(self):
        for error, code in [
                (exception.SessionNotFound(session_id=self.sid), 404),
                (exception.NotFound('Host h9 is not in maintenance session '
                                    '%s.' % self.sid), 404),
                (exception.SessionStateConflict(
                    state='MAINTENANCE_DONE', action='paused',
                    allowed='MAINTENANCE'), 409),
                (exception.EngineUnavailable(reason='timeout'), 503)]:
            self.engine.fail_with = error
            self.assertError(self.post(self.url, {'action': 'pause'}),
                             code, str(error))

    def test_project_named_like_an_action_is_still_a_project(self):
        # The control is a body on the session, not a path segment: a
        # project called "pause" keeps its routes.
        self.engine.sessions[self.sid]['projects']['pause'] = {
            'instance_ids': ['i9'], 'reply': None, 'instances': {'i9': None}}
        doc = self.get(self.url + '/pause', status=200).json
        self.assertEqual(['i9'], doc['instance_ids'])
        self.put(self.url + '/pause', {'state': 'ACK_MAINTENANCE'},
                 status=200)
        self.assertRaises(AssertionError, self.engine.last_call,
                          'pause_session')

    def test_post_on_the_collection_is_still_create(self):
        self.post('/v1/maintenance', {'action': 'pause'}, status=400)
        self.assertEqual([], self.engine.calls)

    def test_allow_header_lists_post(self):
        resp = self.request('PATCH', self.url)
        self.assertEqual(405, resp.status_int)
        self.assertIn('POST', resp.headers['Allow'])
