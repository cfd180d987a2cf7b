# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix-host-agent: runs a command once per attempt and reports it.

The reports go over HTTP to a small local server of the test's that
records each PUT and answers as told.
"""
import http.server
import io
import json
import os
import threading

from fenix.tests import base

from fenix_tools import host_agent


class Recorder(http.server.BaseHTTPRequestHandler):

    def do_PUT(self):
        length = int(self.headers.get('Content-Length') or 0)
        server = self.server
        server.bodies.append({
            'path': self.path,
            'token': self.headers.get('X-Auth-Token'),
            'body': json.loads(self.rfile.read(length))})
        status, text = server.answers.pop(0) if server.answers else \
            (200, '{}')
        data = text.encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class TestHostAgent(base.TestCase):

    def setUp(self):
        super().setUp()
        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                      Recorder)
        self.server.bodies, self.server.answers = [], []
        thread = threading.Thread(target=self.server.serve_forever,
                                  daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(self.server.shutdown)
        self.url = 'http://127.0.0.1:%d/v1/action_plugin_run/s1/agent/c1' \
            % self.server.server_port
        self.state = os.path.join(self.tmpdir, 'state')
        self.runs = os.path.join(self.tmpdir, 'runs')

    def agent(self, attempt, *command, **kw):
        out = io.StringIO()
        argv = ['--report-url', self.url, '--attempt', str(attempt),
                '--state-dir', self.state, '--report-retries', '1']
        if kw.get('token'):
            argv += ['--token', kw['token']]
        if kw.get('timeout'):
            argv += ['--timeout', str(kw['timeout'])]
        code = host_agent.main(argv + ['--'] + list(command or (
            'sh', '-c', 'echo "run $FENIX_ATTEMPT" >> %s; echo upgraded'
            % self.runs)), out=out)
        return code, out.getvalue()

    def ran(self):
        if not os.path.exists(self.runs):
            return []
        with open(self.runs) as f:
            return f.read().splitlines()

    def test_runs_the_command_and_reports_its_attempt(self):
        code, _ = self.agent(2, token='tok')
        self.assertEqual(host_agent.EXIT_OK, code)
        self.assertEqual(['run 2'], self.ran())
        self.assertEqual([{'path': '/v1/action_plugin_run/s1/agent/c1',
                           'token': 'tok',
                           'body': {'state': 'DONE', 'message': 'upgraded',
                                    'attempt': 2}}], self.server.bodies)

    def test_failure_is_reported_with_the_last_line(self):
        code, _ = self.agent(1, 'sh', '-c', 'echo disk full; exit 4')
        self.assertEqual(host_agent.EXIT_OK, code)
        self.assertEqual({'state': 'FAILED', 'message': 'exit 4: disk full',
                          'attempt': 1}, self.server.bodies[0]['body'])

    def test_time_out_is_a_failure(self):
        code, _ = self.agent(1, 'sleep', '30', timeout=0.2)
        self.assertEqual({'state': 'FAILED',
                          'message': 'timed out after 0.2 seconds',
                          'attempt': 1}, self.server.bodies[0]['body'])

    def test_repeated_hand_over_of_a_done_attempt_reports_again(self):
        self.agent(1)
        code, out = self.agent(1)
        self.assertEqual(host_agent.EXIT_OK, code)
        self.assertIn('attempt 1 already ran', out)
        # Run once, reported twice (the same report).
        self.assertEqual(['run 1'], self.ran())
        self.assertEqual(2, len(self.server.bodies))
        self.assertEqual(self.server.bodies[0]['body'],
                         self.server.bodies[1]['body'])

    def test_attempt_taken_by_another_agent_is_not_run(self):
        os.makedirs(self.state)
        key = host_agent.job_key(self.url, 1)
        open(os.path.join(self.state, key + '.taken'), 'w').close()
        code, out = self.agent(1)
        self.assertEqual(host_agent.EXIT_TAKEN, code)
        self.assertIn('already being run', out)
        self.assertEqual([], self.ran())
        self.assertEqual([], self.server.bodies)

    def test_a_new_attempt_runs_again(self):
        self.agent(1)
        self.agent(2)
        self.assertEqual(['run 1', 'run 2'], self.ran())

    def test_refused_report(self):
        self.server.answers = [(409, '{"error": "Attempt 1 ... is not the '
                                     'current one"}')]
        code, out = self.agent(1)
        self.assertEqual(host_agent.EXIT_REFUSED, code)
        self.assertIn('refused', out)

    def test_report_tried_again_while_fenix_does_not_answer(self):
        self.server.answers = [(503, '{}'), (503, '{}')]
        pauses = []
        code, _ = host_agent.send_report(self.url, {'state': 'DONE'},
                                         retries=5, pause=pauses.append)
        self.assertEqual(host_agent.EXIT_OK, code)
        self.assertEqual(3, len(self.server.bodies))
        self.assertEqual([1, 2], pauses)
