# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
import os
import sys
import threading

import fixtures
import requests

from fenix.tests.unit.tools import base
from fenix_tools import common


class TestWaitUntil(base.TestCase):

    def test_returns_value(self):
        values = iter([0, None, 'yes'])
        self.assertEqual('yes', common.wait_until(lambda: next(values), 5,
                                                  interval=0.01))

    def test_times_out(self):
        e = self.assertRaises(common.WaitTimeout, common.wait_until,
                              lambda: False, 0.05, 0.01, 'the thing')
        self.assertIn('the thing not reached within 0.1 s', str(e))

    def test_stop_event(self):
        stop = threading.Event()
        stop.set()
        self.assertRaises(common.WaitTimeout, common.wait_until,
                          lambda: False, 30, 5, 'x', stop)


class TestSmallHelpers(base.TestCase):

    def test_parse_listen(self):
        self.assertEqual(('127.0.0.1', 0), common.parse_listen(''))
        self.assertEqual(('0.0.0.0', 12348),
                         common.parse_listen('0.0.0.0:12348'))
        self.assertEqual(('127.0.0.1', 80), common.parse_listen(':80'))
        self.assertEqual(('h', 0), common.parse_listen('h'))
        self.assertRaises(ValueError, common.parse_listen, 'h:x')

    def test_noauth_headers(self):
        self.assertEqual({'X-Project-Id': 'p', 'X-User-Id': 'u',
                          'X-Roles': 'member,reader'},
                         common.noauth_headers('p', 'u'))

    def test_event_log(self):
        log = common.EventLog()
        record = log.add(kind='x')
        self.assertTrue(record['time'])
        self.assertEqual(1, len(log))
        self.assertTrue(log.wait_for(lambda items: len(items) == 1, 1))
        self.assertFalse(log.wait_for(lambda items: len(items) == 2, 0.01))

    def test_utc_iso(self):
        self.assertEqual('1970-01-01T00:00:01.500', common.utc_iso(1.5))


class TestJsonHTTPServer(base.TestCase):

    def setUp(self):
        super().setUp()
        self.server = common.JsonHTTPServer(name='t').start()
        self.addCleanup(self.server.stop)

        def boom(request):
            raise RuntimeError('bug')

        def bad(request):
            raise ValueError('bad input')
        self.server.add_route('GET', r'/x/(?P<id>\w+)',
                              lambda r: (200, {'id': r.match.group('id'),
                                               'q': r.query}))
        self.server.add_route('POST', r'/echo', lambda r: (201, r.json()))
        self.server.add_route('GET', r'/boom', boom)
        self.server.add_route('GET', r'/bad', bad)
        self.server.add_route('DELETE', r'/empty', lambda r: (204, None))

    def call(self, method, path, **kw):
        return requests.request(method, self.server.url + path, timeout=5,
                                **kw)

    def test_routes(self):
        resp = self.call('GET', '/x/abc?k=v')
        self.assertEqual({'id': 'abc', 'q': {'k': ['v']}}, resp.json())
        resp = self.call('POST', '/echo', json={'a': 1})
        self.assertEqual((201, {'a': 1}), (resp.status_code, resp.json()))
        self.assertEqual(204, self.call('DELETE', '/empty').status_code)

    def test_errors(self):
        self.assertEqual(404, self.call('GET', '/nowhere').status_code)
        self.assertEqual(405, self.call('PUT', '/echo').status_code)
        resp = self.call('GET', '/boom')
        self.assertEqual((500, {'error': 'bug'}),
                         (resp.status_code, resp.json()))
        self.assertEqual(400, self.call('GET', '/bad').status_code)
        self.assertEqual(400, self.call('POST', '/echo',
                                        data=b'{nope').status_code)

    def test_listen_backlog_holds_a_burst(self):
        """Not socketserver's backlog of 5: a burst of new connections
        (the simulated AODH's webhooks) would see SYNs dropped, each
        costing its client a second."""
        from fenix_tools.simcloud import wsgi
        self.assertGreaterEqual(self.server._httpd.request_queue_size, 64)
        self.assertGreaterEqual(wsgi.HTTPServer.request_queue_size, 64)


class TestFenixClientErrors(base.TestCase):

    def test_error_message_from_body(self):
        server = common.JsonHTTPServer().start()
        self.addCleanup(server.stop)
        server.add_route('GET', r'/v1/maintenance/(\w+)', lambda r: (
            404, {'error_message': 'Session X not found'}))
        client = common.FenixClient(url=server.url)
        e = self.assertRaises(common.FenixError, client.get_session, 'X')
        self.assertEqual(404, e.status)
        self.assertIn('HTTP 404: Session X not found', str(e))

    def test_unreachable(self):
        client = common.FenixClient(
            url='http://127.0.0.1:%d' % common.free_port())
        e = self.assertRaises(common.FenixError, client.list_sessions)
        self.assertIsNone(e.status)


class TestManagedProcess(base.TestCase):

    def test_start_tail_stop(self):
        log = os.path.join(self.useFixture(fixtures.TempDir()).path,
                           'p.log')
        code = 'import signal; print("hello", flush=True); signal.pause()'
        proc = common.ManagedProcess('t', [sys.executable, '-c', code],
                                     log).start()
        self.addCleanup(proc.stop)
        common.wait_until(lambda: 'hello' in proc.tail(), 10, 0.02,
                          'output')
        self.assertTrue(proc.alive())
        self.assertEqual(-15, proc.stop(grace=5))
        self.assertFalse(proc.alive())
        self.assertEqual('hello', proc.tail())

    def test_sigkill_after_grace(self):
        log = os.path.join(self.useFixture(fixtures.TempDir()).path,
                           'p.log')
        code = ('import signal; signal.signal(signal.SIGTERM, '
                'signal.SIG_IGN); print("up", flush=True); signal.pause()')
        proc = common.ManagedProcess('t', [sys.executable, '-c', code],
                                     log).start()
        common.wait_until(lambda: 'up' in proc.tail(), 10, 0.02, 'output')
        self.assertEqual(-9, proc.stop(grace=0.2))

    def test_tail_missing_file(self):
        self.assertEqual('', common.tail_file('/nonexistent/file'))
