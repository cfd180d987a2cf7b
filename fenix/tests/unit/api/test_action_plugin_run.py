# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""/v1/action_plugin_run: reports of out-of-process action plug-ins."""
from fenix.tests.unit.api import base

RUNS = [
    {'plugin': 'upgrade_agent', 'type': 'host', 'hostname': 'compute-0',
     'state': 'RUNNING'},
    {'plugin': 'prepare_agent', 'type': 'pre', 'hostname': '',
     'state': 'RUNNING'},
]


class TestActionPluginRun(base.APITestCase):

    def setUp(self):
        super().setUp()
        self.sid = self.engine.add_session(runs=RUNS)
        self.url = '/v1/action_plugin_run/%s' % self.sid

    def test_list(self):
        doc = self.get(self.url, headers=base.SERVICE, status=200).json
        self.assertEqual(RUNS, doc['action_plugin_runs'])
        self.assertError(self.get('/v1/action_plugin_run/nope'), 404,
                         'nope')

    def test_report_host_run(self):
        body = {'state': 'DONE', 'message': 'upgraded to 2.1'}
        doc = self.put(self.url + '/upgrade_agent/compute-0', body,
                       headers=base.SERVICE, status=200).json
        self.assertEqual('DONE', doc['state'])
        _, kwargs = self.engine.last_call('report_action_run')
        self.assertEqual({'session_id': self.sid, 'plugin': 'upgrade_agent',
                          'hostname': 'compute-0', 'report': body,
                          'attempt': None}, kwargs)

    def test_report_names_its_attempt(self):
        body = {'state': 'DONE', 'message': 'upgraded', 'attempt': 1}
        self.put(self.url + '/upgrade_agent/compute-0', body,
                 headers=base.SERVICE, status=200)
        _, kwargs = self.engine.last_call('report_action_run')
        # The attempt goes to the engine beside the report, not in it.
        self.assertEqual(1, kwargs['attempt'])
        self.assertEqual({'state': 'DONE', 'message': 'upgraded'},
                         kwargs['report'])

    def test_report_of_another_attempt_is_a_conflict(self):
        resp = self.put(self.url + '/upgrade_agent/compute-0',
                        {'state': 'DONE', 'attempt': 2},
                        headers=base.SERVICE)
        self.assertError(resp, 409, 'Attempt 2 of action plug-in '
                                    'upgrade_agent on compute-0 is not the '
                                    'current one: the current attempt is 1')

    def test_report_session_wide_run(self):
        self.put(self.url + '/prepare_agent', {'state': 'FAILED'},
                 headers=base.SERVICE, status=200)
        _, kwargs = self.engine.last_call('report_action_run')
        self.assertEqual('', kwargs['hostname'])
        self.assertEqual({'state': 'FAILED'}, kwargs['report'])

    def test_report_unknown_run(self):
        resp = self.put(self.url + '/upgrade_agent/compute-9',
                        {'state': 'DONE'}, headers=base.SERVICE)
        self.assertError(resp, 404, 'upgrade_agent', 'compute-9')

    def test_report_bad_bodies(self):
        url = self.url + '/upgrade_agent/compute-0'
        for body, fragment in [
                ({}, "Missing required field(s) in request body: 'state'"),
                ({'state': 'RUNNING'}, 'state: "RUNNING" is not one of '
                                       'DONE, FAILED'),
                ({'state': 'DONE', 'message': 5},
                 'message: 5 is not of type string'),
                ({'state': 'DONE', 'details': {}},
                 "Unknown field(s) in request body: 'details'"),
                ({'state': 'DONE', 'attempt': 0},
                 'attempt: 0 is less than the minimum of 1'),
                ({'state': 'DONE', 'attempt': '1'},
                 'attempt: "1" is not of type integer'),
                ({'state': 'DONE', 'attempt': True},
                 'attempt: true is not of type integer')]:
            self.assertError(self.put(url, body, headers=base.SERVICE),
                             400, fragment)
        resp = self.put(self.url + '/upgrade_agent/' + 'h' * 256,
                        {'state': 'DONE'}, headers=base.SERVICE)
        self.assertError(resp, 400, 'hostname')
        self.assertEqual([], self.engine.calls)
