# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The threaded API server, the fenix-api command and the WSGI module."""
import http.client
import json
import os
import select
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
            engine_api=self.engine, auth_strategy='noauth',
            reader=self.engine))
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

    def test_servers_share_a_listening_socket(self):
        # As the workers of fenix-api do: one socket, several servers.
        sock = server.listen('127.0.0.1', 0)
        self.addCleanup(sock.close)
        port = sock.getsockname()[1]
        apis = []
        for _ in range(2):
            # A descriptor of its own, as a forked worker has.
            api = server.APIServer('127.0.0.1', port, sock=sock.dup(),
                                   app=app.setup_app(
                                       engine_api=self.engine,
                                       auth_strategy='noauth',
                                       reader=self.engine)).start()
            self.addCleanup(api.stop)
            self.assertEqual(port, api.port)
            apis.append(api)
        for _ in range(10):
            status, _, body = _http(apis[0].url, path='/v1/maintenance')
            self.assertEqual(200, status, body)
        # One server stopping leaves the other serving the socket.
        apis[0].stop()
        status, _, _ = _http(apis[1].url, path='/v1/maintenance')
        self.assertEqual(200, status)

    def test_listen_refuses_noauth_on_a_public_address(self):
        self.config(group='api', auth_strategy='noauth')
        self.assertRaises(server.UnsafeBindAddress, server.listen,
                          '0.0.0.0', 0)

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


def _raw(port, data, timeout=30):
    """Send raw bytes; the whole answer until the server closes."""
    with socket.create_connection(('127.0.0.1', port), timeout) as sock:
        sock.sendall(data)
        return _read_to_end(sock)


def _read_to_end(sock):
    """What the server sends until it closes the connection."""
    out = b''
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out
        out += chunk


def _parse(answer):
    head, _, body = answer.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    status = int(lines[0].split(' ')[1])
    headers = {k.lower(): v.strip() for k, v in
               (line.split(':', 1) for line in lines[1:])}
    return status, headers, body


class TestHTTPServer(base.APITestCase):
    """What the HTTP server (cheroot) does for the API."""

    def make_server(self, **options):
        for name, value in options.items():
            self.config(group='api', **{name: value})
        api = server.APIServer('127.0.0.1', 0, app=app.setup_app(
            engine_api=self.engine, auth_strategy='noauth',
            reader=self.engine))
        api.start()
        self.addCleanup(api.stop)
        return api

    def test_chunked_body_is_read(self):
        # A chunked dry run of one host is that dry run, not {} (which
        # would be a real session of every host).
        api = self.make_server()
        body = json.dumps({'hosts': ['c0'], 'dry_run': True}).encode()
        pieces = [body[:7], body[7:]]
        request = (b'POST /v1/maintenance HTTP/1.1\r\nHost: fenix\r\n'
                   b'Content-Type: application/json\r\n'
                   b'Transfer-Encoding: chunked\r\nConnection: close'
                   b'\r\n\r\n')
        for piece in pieces:
            request += b'%x\r\n%s\r\n' % (len(piece), piece)
        request += b'0\r\n\r\n'
        status, _, answer = _parse(_raw(api.port, request))
        self.assertEqual(200, status, answer)
        _, kwargs = self.engine.last_call('create_session')
        self.assertEqual({'hosts': ['c0'], 'dry_run': True},
                         kwargs['values'])

    def test_chunked_body_over_the_limit_is_413(self):
        api = self.make_server(max_request_body_size=1024)
        piece = b'{"metadata": {"x": "' + b'a' * 2000 + b'"}}'
        request = (b'POST /v1/maintenance HTTP/1.1\r\nHost: fenix\r\n'
                   b'Transfer-Encoding: chunked\r\nConnection: close'
                   b'\r\n\r\n%x\r\n%s\r\n0\r\n\r\n'
                   % (len(piece), piece))
        status, headers, answer = _parse(_raw(api.port, request))
        self.assertEqual(413, status, answer)
        self.assertEqual(413, json.loads(answer)['error']['code'])
        self.assertNotIn('create_session', [c[0] for c in self.engine.calls])

    def test_body_without_content_type_is_json(self):
        api = self.make_server()
        body = json.dumps({'hosts': ['c1'], 'dry_run': True}).encode()
        status, _, answer = _parse(_raw(api.port, (
            b'POST /v1/maintenance HTTP/1.1\r\nHost: fenix\r\n'
            b'Content-Length: %d\r\nConnection: close\r\n\r\n%s'
            % (len(body), body))))
        self.assertEqual(200, status, answer)
        _, kwargs = self.engine.last_call('create_session')
        self.assertEqual(['c1'], kwargs['values']['hosts'])

    def test_keep_alive(self):
        api = self.make_server()
        conn = http.client.HTTPConnection('127.0.0.1', api.port, timeout=30)
        self.addCleanup(conn.close)
        sockets = set()
        for _ in range(3):
            conn.request('GET', '/v1')
            resp = conn.getresponse()
            self.assertEqual(200, resp.status)
            resp.read()
            sockets.add(id(conn.sock))
        self.assertEqual(1, len(sockets))

    def test_burst_of_connections_is_served(self):
        # 150 clients connect at once: none is reset (the old server's
        # listen backlog of 5 reset 44-75 % of them).
        api = self.make_server()
        clients = 150
        barrier = threading.Barrier(clients)
        results = []
        lock = threading.Lock()

        def client():
            try:
                barrier.wait(60)
                status = _http(api.url, path='/v1')[0]
            except Exception as e:
                status = repr(e)
            with lock:
                results.append(status)

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual([200] * clients, results)

    def test_slow_client_is_cut_off(self):
        # A client that sends a byte every 0.1 s, well within the silence
        # allowed (client_timeout 30 s), is cut off by header_timeout: it
        # gets 408 long before its 200 bytes are sent.
        api = self.make_server(header_timeout=1, client_timeout=30)
        sock = socket.create_connection(('127.0.0.1', api.port), 30)
        self.addCleanup(sock.close)
        sock.sendall(b'GET /v1 HTTP/1.1\r\nHost: fenix\r\nX-Slow: ')
        answer = b''
        for _ in range(200):
            try:
                sock.sendall(b'a')
            except OSError:
                break
            readable, _, _ = select.select([sock], [], [], 0.1)
            if readable:
                answer = _read_to_end(sock)
                break
        status, headers, body = _parse(answer)
        self.assertEqual(408, status)
        self.assertEqual('application/json', headers['content-type'])
        self.assertEqual(408, json.loads(body)['error']['code'])
        self.assertIn('header_timeout', json.loads(body)['error']['message'])

    def test_slow_body_is_cut_off(self):
        api = self.make_server(body_timeout=1, client_timeout=30)
        sock = socket.create_connection(('127.0.0.1', api.port), 30)
        self.addCleanup(sock.close)
        sock.sendall(b'POST /v1/maintenance HTTP/1.1\r\nHost: fenix\r\n'
                     b'Content-Type: application/json\r\n'
                     b'Content-Length: 100000\r\n\r\n{"hosts": [')
        answer = b''
        for _ in range(200):
            try:
                sock.sendall(b' ')
            except OSError:
                break
            readable, _, _ = select.select([sock], [], [], 0.1)
            if readable:
                answer = _read_to_end(sock)
                break
        status, headers, body = _parse(answer)
        self.assertEqual(408, status, answer)
        self.assertEqual(408, json.loads(body)['error']['code'])
        self.assertNotIn('create_session', [c[0] for c in self.engine.calls])

    def test_silent_client_is_cut_off(self):
        api = self.make_server(client_timeout=1)
        status, headers, body = _parse(_raw(
            api.port, b'GET /v1 HTTP/1.1\r\nHost: fenix\r\n'))
        self.assertEqual(408, status)
        self.assertEqual(408, json.loads(body)['error']['code'])

    def test_server_errors_are_json(self):
        api = self.make_server(max_request_header_size=4096)
        cases = [
            (414, b'GET /' + b'a' * 5000 + b' HTTP/1.1\r\nHost: x\r\n\r\n'),
            (431, b'GET /v1 HTTP/1.1\r\nHost: x\r\nX-Big: '
             + b'b' * 5000 + b'\r\n\r\n'),
            (400, b'NOT HTTP AT ALL\r\n\r\n'),
            (400, b'POST /v1/maintenance HTTP/1.1\r\nHost: x\r\n'
             b'Content-Length: x\r\n\r\n'),
        ]
        for code, request in cases:
            status, headers, body = _parse(_raw(api.port, request))
            self.assertEqual(code, status, body)
            self.assertEqual('application/json', headers['content-type'])
            error = json.loads(body)['error']
            self.assertEqual(code, error['code'])
            self.assertTrue(error['message'])
            self.assertIn('x-openstack-request-id', headers)
            self.assertEqual('close', headers['connection'])

    def test_server_options_are_used(self):
        api = self.make_server(backlog=333, min_threads=2, max_threads=7,
                               client_timeout=11)
        self.assertEqual(333, api._server.request_queue_size)
        self.assertEqual(2, api._server.requests.min)
        self.assertEqual(7, api._server.requests.max)
        self.assertEqual(11, api._server.timeout)


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


class TestPoolSize(base.APITestCase):
    """The database pool holds a connection for every server thread."""

    def test_default_pool_covers_the_default_threads(self):
        # oslo.db's default (5) is below [api] min_threads (8): requests
        # beyond 5 at once opened and closed a connection each.
        from oslo_config import cfg
        from oslo_db import options as db_options

        from fenix import conf
        from fenix.conf import api as api_opts
        fresh = cfg.ConfigOpts()
        db_options.set_defaults(fresh)
        api_opts.register_opts(fresh)
        fresh([], default_config_files=[])
        self.assertEqual(5, fresh.database.max_pool_size)
        conf.set_database_defaults(fresh)
        self.assertEqual(10, fresh.database.max_pool_size)
        self.assertGreaterEqual(fresh.database.max_pool_size,
                                fresh.api.min_threads)

    def test_small_pool_is_warned_of(self):
        self.config(group='database', max_pool_size=5,
                    connection='mysql+pymysql://u@127.0.0.1/fenix')
        self.config(group='api', min_threads=8)
        with self.assertLogs('fenix.api.server', 'WARNING') as logs:
            message = server.check_pool_size()
        self.assertIn('max_pool_size (5) is smaller than [api] '
                      'min_threads (8)', message)
        self.assertEqual(1, len(logs.output))
        # SQLite's pool is Fenix's own.
        self.config(group='database', connection='sqlite:///x.sqlite')
        self.assertIsNone(server.check_pool_size())


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
            resp = webob.Request.blank(
                '/', remote_addr='127.0.0.1').get_response(wsgi.application)
            print(resp.status_int, json.loads(resp.body)
                  ['versions'][0]['links'][0]['href'])
            for peer in ('10.0.0.5', None, '::1'):
                req = webob.Request.blank('/v1')
                if peer:
                    req.remote_addr = peer
                resp = req.get_response(wsgi.application)
                print(peer, resp.status_int, resp.content_type)
            ''')
        env = dict(os.environ, FENIX_CONFIG_FILE=path)
        out = subprocess.run([sys.executable, '-c', code], env=env,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(0, out.returncode, out.stderr)
        # (log lines may be among the printed ones)
        lines = [line for line in out.stdout.strip().splitlines()
                 if not line[:4].isdigit()][-4:]
        self.assertEqual('200 https://fenix.example/v1/', lines[0])
        # noauth under another server: loopback clients only, as
        # fenix-api (a peer that is not, or not known, is 403).
        self.assertEqual(['10.0.0.5 403 application/json',
                          'None 403 application/json',
                          '::1 200 application/json'], lines[1:])

    def test_noauth_allow_remote_lifts_the_guard(self):
        path = os.path.join(self.tmpdir, 'fenix.conf')
        with open(path, 'w') as f:
            f.write('[api]\nauth_strategy = noauth\n'
                    'noauth_allow_remote = true\n')
        code = textwrap.dedent('''\
            import webob
            from fenix.api import wsgi
            resp = webob.Request.blank(
                '/', remote_addr='10.0.0.5').get_response(wsgi.application)
            print(resp.status_int)
            ''')
        env = dict(os.environ, FENIX_CONFIG_FILE=path)
        out = subprocess.run([sys.executable, '-c', code], env=env,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(0, out.returncode, out.stderr)
        self.assertEqual('200', out.stdout.strip().splitlines()[-1])

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
        """It stands in for the engine client (writes) and for the
        database reader (reads): the reader's signature wins."""
        import inspect

        from fenix.api import reads
        from fenix.engine import rpcapi

        def public(cls):
            return {n: inspect.signature(f) for n, f in
                    inspect.getmembers(cls, inspect.isfunction)
                    if not n.startswith('_')}
        real = public(rpcapi.EngineAPI)
        real.update(public(reads.DatabaseReader))
        self.assertIn('create_session', real)
        self.assertIn('list_sessions', public(reads.DatabaseReader))
        for name, signature in real.items():
            fake = inspect.signature(getattr(fakes.FakeEngineAPI, name))
            self.assertEqual(signature, fake, name)

    def test_every_read_is_a_call_of_the_engine_client(self):
        """What the reader answers, an engine of an earlier version
        answered over RPC (the same names)."""
        import inspect

        from fenix.api import reads
        from fenix.engine import rpcapi
        for name, _f in inspect.getmembers(reads.DatabaseReader,
                                           inspect.isfunction):
            if not name.startswith('_') and name not in reads.API_ONLY:
                self.assertTrue(hasattr(rpcapi.EngineAPI, name), name)
