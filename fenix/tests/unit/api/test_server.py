# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The threaded API server, the fenix-api command and the WSGI module."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading

from fenix.api import app
from fenix.api import server
from fenix.tests.unit.api import base
from fenix.tests.unit.api import fakes


def _http(url, method='GET', path='/', body=None, headers=None):
    host, port = url.rsplit('//', 1)[1].rsplit(':', 1)
    conn = http.client.HTTPConnection(host.strip('[]'), int(port),
                                      timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return resp.status, headers, resp.read()
    finally:
        conn.close()


class TestAPIServer(base.APITestCase):

    def make_server(self, host='127.0.0.1'):
        api = server.APIServer(host, 0, app=app.setup_app(
            engine_api=self.engine, auth_strategy='noauth'))
        api.start()
        self.addCleanup(api.stop)
        return api

    def test_serves_over_http_and_stops(self):
        api = self.make_server()
        self.assertNotEqual(0, api.port)
        self.assertEqual('http://127.0.0.1:%d' % api.port, api.url)
        status, headers, body = _http(api.url, path='/v1/maintenance')
        self.assertEqual(200, status)
        self.assertEqual({'sessions': []}, json.loads(body))
        self.assertIn('x-openstack-request-id', headers)
        status, _, body = _http(
            api.url, 'POST', '/v1/maintenance',
            body=json.dumps({'hosts': ['c0']}),
            headers={'Content-Type': 'application/json'})
        self.assertEqual(200, status, body)
        port = api.port
        api.stop()
        self.assertRaises(OSError, socket.create_connection,
                          ('127.0.0.1', port), 5)
        api.stop()  # a second stop does nothing

    def test_serves_requests_in_parallel(self):
        # The first request blocks in the engine until the second one has
        # been answered: a server with one thread would deadlock.
        release = threading.Event()
        blocked = threading.Event()
        real_list = self.engine.list_sessions

        def slow_list(context):
            blocked.set()
            self.assertTrue(release.wait(30))
            return real_list(context)

        self.engine.list_sessions = slow_list
        api = self.make_server()
        results = []
        slow = threading.Thread(target=lambda: results.append(
            _http(api.url, path='/v1/maintenance')[0]))
        slow.start()
        self.assertTrue(blocked.wait(30))
        self.assertEqual(200, _http(api.url, path='/v1')[0])
        release.set()
        slow.join(30)
        self.assertEqual([200], results)

    def test_wait_returns_after_stop(self):
        api = self.make_server()
        stopper = threading.Thread(target=api.stop)
        stopper.start()
        api.wait()
        stopper.join(30)
        self.assertFalse(stopper.is_alive())

    def test_start_twice_is_an_error(self):
        api = self.make_server()
        self.assertRaises(RuntimeError, api.start)

    def test_ipv6_loopback(self):
        if not socket.has_ipv6:
            self.skipTest('no IPv6')
        try:
            api = self.make_server('::1')
        except OSError:
            self.skipTest('IPv6 loopback not available')
        self.assertEqual('http://[::1]:%d' % api.port, api.url)
        self.assertEqual(200, _http(api.url)[0])

    def test_defaults_come_from_config(self):
        self.config(group='api', host='127.0.0.2', port=4242)
        api = server.APIServer()
        self.assertEqual('127.0.0.2', api.host)
        self.assertEqual(4242, api.port)

    def test_builds_the_app_with_the_engine_client(self):
        api = server.APIServer('127.0.0.1', 0)
        self.config(group='api', auth_strategy='noauth')
        api.start()
        self.addCleanup(api.stop)
        self.assertIsNotNone(api.app)
        self.assertEqual(200, _http(api.url, path='/v1')[0])


class TestNoAuthBinding(base.APITestCase):

    def test_loopback_addresses(self):
        for host in ('127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost'):
            self.assertTrue(server.is_loopback(host), host)
        for host in ('0.0.0.0', '::', '10.0.0.5', 'fenix.example', ''):
            self.assertFalse(server.is_loopback(host), host)

    def test_noauth_refuses_public_address(self):
        self.config(group='api', auth_strategy='noauth')
        api = server.APIServer('0.0.0.0', 0)
        e = self.assertRaises(server.UnsafeBindAddress, api.start)
        self.assertIn('noauth_allow_remote', str(e))
        self.assertIsNone(api._server)

    def test_allowed_when_configured_or_keystone(self):
        self.config(group='api', auth_strategy='noauth',
                    noauth_allow_remote=True)
        server.check_bind_address('0.0.0.0')
        self.config(group='api', auth_strategy='keystone',
                    noauth_allow_remote=False)
        server.check_bind_address('0.0.0.0')
        self.config(group='api', auth_strategy='noauth')
        server.check_bind_address('127.0.0.1')


class TestCommand(base.APITestCase):
    """fenix-api as a process (port 0: the kernel picks a free one)."""

    def write_config(self, host, **extra):
        path = os.path.join(self.tmpdir, 'fenix.conf')
        lines = ['[api]', 'host = %s' % host, 'port = 0',
                 'auth_strategy = noauth']
        lines += ['%s = %s' % kv for kv in extra.items()]
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def spawn(self, config):
        proc = subprocess.Popen(
            [sys.executable, '-c',
             'import sys; from fenix.cmd import api; sys.exit(api.main())',
             '--config-file', config],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    def test_refuses_noauth_on_a_public_address(self):
        proc = self.spawn(self.write_config('0.0.0.0'))
        output, _ = proc.communicate(timeout=60)
        self.assertEqual(2, proc.returncode, output)
        self.assertIn("Refusing to listen on '0.0.0.0'", output)
        self.assertIn('noauth_allow_remote', output)

    def test_serves_and_stops_on_sigterm(self):
        proc = self.spawn(self.write_config('127.0.0.1'))
        url = None
        for line in proc.stdout:
            if 'Fenix API listening on ' in line:
                url = line.split('listening on ')[1].strip()
                break
        self.assertIsNotNone(url, 'fenix-api exited: %s' % proc.poll())
        status, _, body = _http(url, path='/')
        self.assertEqual(200, status)
        self.assertEqual('v1', json.loads(body)['versions'][0]['id'])
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
        self.assertEqual(0, proc.returncode, rest)
        self.assertIn('Fenix API stopped', rest)


class TestWSGIModule(base.APITestCase):

    def test_application_from_config_file(self):
        path = os.path.join(self.tmpdir, 'fenix.conf')
        with open(path, 'w') as f:
            f.write(textwrap.dedent('''\
                [api]
                auth_strategy = noauth
                public_endpoint = https://fenix.example
                '''))
        code = textwrap.dedent('''\
            import json, webob
            from fenix.api import wsgi
            resp = webob.Request.blank('/').get_response(wsgi.application)
            print(resp.status_int, json.loads(resp.body)
                  ['versions'][0]['links'][0]['href'])
            ''')
        env = dict(os.environ, FENIX_CONFIG_FILE=path)
        out = subprocess.run([sys.executable, '-c', code], env=env,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(0, out.returncode, out.stderr)
        self.assertEqual('200 https://fenix.example/v1/',
                         out.stdout.strip().splitlines()[-1])

    def test_named_config_file_must_exist(self):
        env = dict(os.environ, FENIX_CONFIG_FILE=os.path.join(
            self.tmpdir, 'nope.conf'))
        out = subprocess.run([sys.executable, '-c',
                              'import fenix.api.wsgi'], env=env,
                             capture_output=True, text=True, timeout=60)
        self.assertNotEqual(0, out.returncode)
        self.assertIn('FENIX_CONFIG_FILE=%s: no such file'
                      % env['FENIX_CONFIG_FILE'], out.stderr)


class TestFake(base.APITestCase):
    """The fake engine must stay a stand-in for the real client."""

    def test_same_methods_and_arguments(self):
        import inspect

        from fenix.engine import rpcapi
        public = [n for n, f in inspect.getmembers(rpcapi.EngineAPI,
                                                   inspect.isfunction)
                  if not n.startswith('_')]
        self.assertIn('create_session', public)
        for name in public:
            real = inspect.signature(getattr(rpcapi.EngineAPI, name))
            fake = inspect.signature(getattr(fakes.FakeEngineAPI, name))
            self.assertEqual(real, fake, name)
