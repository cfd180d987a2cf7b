# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""HTTP plumbing: a tiny router over WebOb and a threaded HTTP/1.1 server.

The server is the stdlib ``ThreadingHTTPServer`` with a handler that turns
each request into a WSGI call, so keep-alive connections (which
keystoneauth's requests session uses) are served without a new TCP
connection per call. Every open connection is tracked so ``stop()`` can
close them and no handler thread outlives the server.
"""
import collections
import http.server
import io
import json
import logging
import re
import socket
import sys
import threading
from urllib import parse

import webob

from fenix_tools.simcloud import util

LOG = logging.getLogger(__name__)

# A path segment that names one resource (a UUID, a number, a hex id).
_ID = re.compile(r'^([0-9a-fA-F-]{16,}|\d+)$')


def json_response(body, status=200, headers=None):
    """A WebOb response with a JSON body (``None`` gives an empty body)."""
    resp = webob.Response(status=status)
    if body is not None:
        resp.content_type = 'application/json'
        resp.charset = None
        resp.body = json.dumps(body, separators=(',', ':')).encode('utf-8')
    else:
        resp.content_type = None
        resp.body = b''
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def json_body(req, required=True):
    """The request's JSON body as a Python object (400 when malformed)."""
    if not req.body:
        if required:
            raise util.BadRequest('The request body is empty; a JSON '
                                  'document is required.')
        return None
    try:
        return json.loads(req.body.decode('utf-8'))
    except (ValueError, UnicodeDecodeError) as exc:
        raise util.BadRequest('Malformed request body: %s' % exc)


class Router:
    """Method + path-template routing: ``/servers/{server_id}/action``."""

    def __init__(self):
        self._routes = []

    def add(self, method, template, handler):
        pattern = '^' + re.sub(r'\{(\w+)\}', r'(?P<\1>[^/]+)',
                               template.rstrip('/')) + '/?$'
        self._routes.append((method, re.compile(pattern), handler))

    def match(self, method, path):
        """Return ``(handler, kwargs)``; raise 404 or 405."""
        allowed = False
        for route_method, regex, handler in self._routes:
            found = regex.match(path)
            if not found:
                continue
            if route_method == method or (method == 'HEAD' and
                                          route_method == 'GET'):
                return handler, {k: parse.unquote(v) for k, v in
                                 found.groupdict().items()}
            allowed = True
        if allowed:
            raise util.MethodNotAllowed(
                'The method %s is not allowed for %s.' % (method, path))
        raise util.NotFound('The resource could not be found.')


class PrefixDispatcher:
    """The one WSGI application: picks a service by its URL prefix.

    ``apps`` maps a prefix (``/compute``) to a callable
    ``app(req, subpath) -> webob.Response``.
    """

    def __init__(self, apps, root=None):
        self._apps = sorted(apps.items(), key=lambda kv: -len(kv[0]))
        self._root = root
        # (prefix, method, path under the prefix with its ids as {id})
        # -> requests served: what a client asked of each service.
        self.requests = collections.Counter()
        self._count_lock = threading.Lock()

    def requests_to(self, prefix):
        """Requests served under ``prefix`` (e.g. ``/compute``) so far,
        as ``{'METHOD /path': count}``."""
        with self._count_lock:
            return {'%s %s' % (method, path): n for (p, method, path),
                    n in self.requests.items() if p == prefix}

    def __call__(self, environ, start_response):
        req = webob.Request(environ)
        path = req.path_info or '/'
        for prefix, app in self._apps:
            if path == prefix or path.startswith(prefix + '/'):
                sub = path[len(prefix):] or '/'
                segments = [p for p in sub.split('/') if p]
                # Skip a version segment (/v2.1/servers -> /servers).
                if segments and re.match(r'^v\d', segments[0]):
                    segments = segments[1:]
                key = (prefix, req.method, '/' + '/'.join(
                    '{id}' if _ID.match(p) else p for p in segments))
                with self._count_lock:
                    self.requests[key] += 1
                resp = app(req, sub)
                break
        else:
            if self._root is not None and path in ('', '/'):
                resp = self._root(req)
            else:
                resp = json_response(
                    {'error': {'code': 404, 'message': 'No service at %s'
                               % path}}, status=404)
        if req.method == 'HEAD':
            resp.body = b''
        return resp(environ, start_response)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'simcloud/1.0'
    # Idle keep-alive connections are dropped after this many seconds.
    timeout = 120
    # Headers and body are separate writes: without TCP_NODELAY, Nagle
    # plus the client's delayed ACK stall every answer by ~40 ms.
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.server.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, fmt, *args):
        LOG.debug('%s %s', self.address_string(), fmt % args)

    def _read_body(self):
        if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b';')[0].strip()
                           or b'0', 16)
                if size == 0:
                    # trailers end with an empty line
                    while self.rfile.readline().strip():
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b''.join(chunks)
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length > 0 else b''

    def _serve(self):
        body = self._read_body()
        path, _, query = self.path.partition('?')
        if path.startswith(('http://', 'https://')):
            path = parse.urlsplit(path).path
        host, port = self.server.server_address[:2]
        environ = {
            'REQUEST_METHOD': self.command,
            'SCRIPT_NAME': '',
            'PATH_INFO': parse.unquote(path, 'latin-1'),
            'QUERY_STRING': query,
            'SERVER_NAME': str(host),
            'SERVER_PORT': str(port),
            'SERVER_PROTOCOL': self.request_version,
            'REMOTE_ADDR': self.client_address[0],
            'REMOTE_PORT': str(self.client_address[1]),
            'CONTENT_TYPE': self.headers.get('Content-Type', ''),
            'CONTENT_LENGTH': str(len(body)),
            'wsgi.input': io.BytesIO(body),
            'wsgi.errors': sys.stderr,
            'wsgi.version': (1, 0),
            'wsgi.url_scheme': 'http',
            'wsgi.multithread': True,
            'wsgi.multiprocess': False,
            'wsgi.run_once': False,
        }
        for key in set(self.headers.keys()):
            name = 'HTTP_' + key.upper().replace('-', '_')
            if name in ('HTTP_CONTENT_TYPE', 'HTTP_CONTENT_LENGTH'):
                continue
            environ[name] = ','.join(self.headers.get_all(key))
        state = {}

        def start_response(status, headers, exc_info=None):
            state['status'] = status
            state['headers'] = headers
            return lambda data: None

        try:
            result = self.server.app(environ, start_response)
            try:
                payload = b''.join(result)
            finally:
                if hasattr(result, 'close'):
                    result.close()
        except Exception:  # a bug in a handler: answer 500, keep serving
            LOG.exception('Unhandled error serving %s %s', self.command,
                          self.path)
            state = {'status': '500 Internal Server Error',
                     'headers': [('Content-Type', 'application/json')]}
            payload = b'{"error": {"code": 500, "message": "internal"}}'
        code, _, reason = state['status'].partition(' ')
        self.send_response(int(code), reason)
        for key, value in state['headers']:
            if key.lower() in ('content-length', 'connection'):
                continue
            self.send_header(key, value)
        if self.command == 'HEAD':
            self.send_header('Content-Length', '0')
        else:
            self.send_header('Content-Length', str(len(payload)))
        if self.close_connection:
            self.send_header('Connection', 'close')
        self.end_headers()
        if self.command != 'HEAD' and payload:
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve
    do_OPTIONS = _serve


class HTTPServer(http.server.ThreadingHTTPServer):
    """Threaded server that can close its keep-alive connections on stop."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    # Not socketserver's 5: a burst of new connections (Fenix's move
    # workers, notification POSTs) would overflow it on a busy machine and
    # each dropped SYN costs its client a second.
    request_queue_size = 128

    def __init__(self, address, app):
        self.app = app
        self._conns = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn, add):
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def close_connections(self):
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        # Clients that go away mid-request are normal; log quietly.
        LOG.debug('connection error from %s', client_address, exc_info=True)
