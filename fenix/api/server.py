# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Serve the API in a thread: used by ``fenix-api`` and the all-in-one.

The HTTP server is cheroot (pure Python, maintained, the server of
CherryPy): HTTP/1.1 with keep-alive and chunked request bodies, a listen
backlog, a bounded pool of worker threads, and timeouts. On top of it this
module adds a deadline for a request's headers and one for its body (a
client that sends a byte now and then is cut off too), and answers every
error the server itself emits (400, 408, 413, 414, 431, 5xx) in the API's
JSON error shape. Options: ``[api] backlog``, ``min_threads``,
``max_threads``, ``header_timeout``, ``body_timeout``, ``client_timeout``,
``max_request_header_size``. Production deployments may run
:mod:`fenix.api.wsgi` under uWSGI, gunicorn or mod_wsgi instead.

Usage::

    server = APIServer(host, port)   # defaults: [api] host and port
    server.start()                   # returns once it listens
    server.port                      # the bound port (port 0: any free)
    server.stop()                    # stops listening, joins the thread
"""
import socket
import threading
import time
import uuid

from cheroot import errors as cheroot_errors
from cheroot import makefile as cheroot_makefile
from cheroot import server as cheroot_server
from cheroot import wsgi as cheroot_wsgi
from oslo_config import cfg
from oslo_log import log as logging
from oslo_serialization import jsonutils

from fenix.api import app as api_app
from fenix.api import errors
from fenix.api.middleware import noauth

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# Seconds stop() gives requests in progress to finish.
SHUTDOWN_TIMEOUT = 5


class UnsafeBindAddress(Exception):
    """The API would listen on a public address without authentication."""


is_loopback = noauth.is_loopback


def check_pool_size(conf=None):
    """Warn when the database pool holds fewer connections than the
    server's threads (``[database] max_pool_size`` < ``[api]
    min_threads``): requests beyond the pool each open a connection and
    close it when they end, a cost of every such request (about 28 ms of
    CPU per connection with PyMySQL). Returns the warning, or None.
    SQLite's pool is Fenix's own (:mod:`fenix.db.api`)."""
    conf = conf or CONF
    connection = conf.database.connection or ''
    pool, threads = conf.database.max_pool_size, conf.api.min_threads
    if connection.startswith('sqlite') or pool is None or pool <= 0 \
            or pool >= threads:
        return None
    message = ('[database] max_pool_size (%d) is smaller than [api] '
               'min_threads (%d): requests beyond %d at once open and close '
               'a database connection each; raise max_pool_size to at '
               'least %d' % (pool, threads, pool, threads))
    LOG.warning(message)
    return message


def check_bind_address(host, conf=None):
    """Raise UnsafeBindAddress for no-auth on a non-loopback address.

    Allowed anyway when ``[api] noauth_allow_remote`` is set.
    """
    conf = conf or CONF
    if (conf.api.auth_strategy == 'noauth' and not is_loopback(host)
            and not conf.api.noauth_allow_remote):
        raise UnsafeBindAddress(
            "Refusing to listen on %r with [api] auth_strategy = noauth: "
            "anyone who can reach it would be an admin. Listen on a "
            "loopback address (127.0.0.1, ::1), use auth_strategy = "
            "keystone, or set [api] noauth_allow_remote = true if you "
            "really mean it." % host)


def listen(host, port, conf=None):
    """A listening TCP socket on ``host``:``port`` (port 0: any free
    one), for workers to share (:mod:`fenix.api.workers`); inheritable by
    forked children. Raises UnsafeBindAddress or OSError."""
    conf = conf or CONF
    check_bind_address(host, conf)
    host = host.strip('[]')
    family, socktype, proto, _name, addr = socket.getaddrinfo(
        host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
        socket.AI_PASSIVE)[0]
    sock = socket.socket(family, socktype, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and ':' in host:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(addr)
        sock.listen(conf.api.backlog)
    except OSError:
        sock.close()
        raise
    return sock


class _ReadDeadline(object):
    """The socket a connection reads from, with a deadline.

    cheroot's own timeout is per ``recv``: a client sending one byte now
    and then would never time out. Here every read also respects the
    deadline of the request part being read (headers, then body); past it
    the read raises :class:`~fenix.api.errors.ClientTimeout`, which
    cheroot (while reading headers) and the API (while reading a body)
    answer with 408.
    """

    def __init__(self, sock, idle_timeout):
        self._sock = sock
        self._idle_timeout = idle_timeout
        self.deadline = None
        self.expired = False

    def start(self, seconds):
        self.deadline = time.monotonic() + seconds

    def recv_into(self, buf, nbytes=0, flags=0):
        deadline = self.deadline
        timeout = self._idle_timeout
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.expired = True
                raise errors.ClientTimeout('timed out')
            timeout = min(timeout, remaining)
        self._sock.settimeout(timeout)
        try:
            return self._sock.recv_into(buf, nbytes, flags)
        except socket.timeout:
            self.expired = True
            raise errors.ClientTimeout('timed out')

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _Request(cheroot_server.HTTPRequest):
    """cheroot's request, with deadlines, 431 and JSON errors."""

    def parse_request(self):
        reader = self.conn.deadline_reader
        reader.start(self.server.header_timeout)
        self.rfile = cheroot_server.SizeCheckWrapper(
            self.conn.rfile, self.server.max_request_header_size)
        limit = self.server.max_request_header_size
        try:
            if not self.read_request_line():
                return
        except cheroot_errors.MaxSizeExceeded:
            self.simple_response(
                '414 Request-URI Too Long',
                'The request line is longer than %d bytes ([api] '
                'max_request_header_size).' % limit)
            return
        try:
            if not self.read_request_headers():
                return
        except cheroot_errors.MaxSizeExceeded:
            self.simple_response(
                '431 Request Header Fields Too Large',
                'The request line and headers are longer than %d bytes '
                '([api] max_request_header_size).' % limit)
            return
        self.ready = True
        reader.start(self.server.body_timeout)

    def send_headers(self):
        # A body the application did not read to its end (an error
        # answered early, a body that timed out) is not drained (it could
        # be of any size): the connection is closed after the answer.
        rfile = self.rfile
        if (self.conn.deadline_reader.expired
                or getattr(rfile, 'remaining', 0) > 0
                or (self.chunked_read and not getattr(rfile, 'closed',
                                                      True))):
            self.close_connection = True
        super().send_headers()

    def simple_response(self, status, msg=''):
        """An error the server answers itself, in the API's shape.

        The connection is closed after it.
        """
        code = int(str(status)[:3])
        if code < 400:
            return super().simple_response(status, msg)
        if isinstance(msg, bytes):
            msg = msg.decode('latin-1')
        if code == 408:
            msg = ('The request did not arrive in time ([api] '
                   'header_timeout, body_timeout, client_timeout).')
        request_id = 'req-%s' % uuid.uuid4()
        body = jsonutils.dump_as_bytes(
            errors.error_body(code, msg or errors.title(code)))
        head = ''.join([
            '%s %d %s\r\n' % (self.server.protocol, code, errors.title(code)),
            'Content-Type: application/json\r\n',
            'Content-Length: %d\r\n' % len(body),
            'X-OpenStack-Request-Id: %s\r\n' % request_id,
            'Connection: close\r\n',
            '\r\n'])
        self.close_connection = True
        LOG.info('%s: %d %s (%s)', self.conn.remote_addr, code,
                 msg or errors.title(code), request_id)
        try:
            self.conn.wfile.write(head.encode('latin-1') + body)
        except socket.error as ex:
            if ex.args[0] not in cheroot_errors.socket_errors_to_ignore:
                raise


class _Connection(cheroot_server.HTTPConnection):
    RequestHandlerClass = _Request

    def __init__(self, server, sock, makefile=cheroot_makefile.MakeFile):
        self.deadline_reader = _ReadDeadline(sock, server.timeout)

        def make(sock_, mode='r', bufsize=None):
            if 'r' in mode:
                return cheroot_makefile.StreamReader(
                    self.deadline_reader, mode, bufsize)
            return makefile(sock_, mode, bufsize)

        super().__init__(server, sock, make)


class _Server(cheroot_wsgi.Server):
    ConnectionClass = _Connection

    def __init__(self, bind_addr, app, conf, sock=None):
        api = conf.api
        self._inherited = sock
        super().__init__(
            bind_addr, app, numthreads=api.min_threads,
            max=max(api.max_threads, api.min_threads),
            server_name='fenix-api', request_queue_size=api.backlog,
            timeout=api.client_timeout, shutdown_timeout=SHUTDOWN_TIMEOUT)
        self.header_timeout = api.header_timeout
        self.body_timeout = api.body_timeout
        self.max_request_header_size = api.max_request_header_size
        # The API's own middleware limits bodies (413 in its shape, chunked
        # bodies included); cheroot's limit would fail inside the app.
        self.max_request_body_size = 0
        self.keep_alive_conn_limit = max(api.max_threads, 10)

    def bind(self, family, type, proto=0):
        if self._inherited is None:
            return super().bind(family, type, proto)
        # A worker of fenix-api: the supervisor's listening socket.
        self.socket = self._inherited
        self.bind_addr = self.resolve_real_bind_addr(self.socket)
        return self.socket

    def prepare(self):
        super().prepare()
        if self._inherited is not None:
            # Workers accept on one socket: a worker that loses the race
            # for a connection gets EAGAIN at once (cheroot ignores it)
            # instead of blocking its selector loop in accept() for the
            # socket's 1 s timeout.
            self.socket.settimeout(0)

    def error_log(self, msg='', level=20, traceback=False):
        LOG.log(level, 'HTTP server: %s', msg, exc_info=traceback)


class _AccessLog(object):
    """One log line per request: client, method, path, status."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        def logged(status, headers, exc_info=None):
            LOG.info('%s "%s %s" %s', environ.get('REMOTE_ADDR', '-'),
                     environ.get('REQUEST_METHOD'),
                     environ.get('PATH_INFO'), status.split(' ', 1)[0])
            return start_response(status, headers, exc_info)
        return self.app(environ, logged)


class APIServer(object):
    """The Fenix API served by a thread of this process.

    :param host: address to listen on (default ``[api] host``).
    :param port: port (default ``[api] port``; 0 picks a free one).
    :param app: the WSGI application (default
        :func:`fenix.api.app.setup_app`, built at :meth:`start`).
    :param conf: the configuration (default: the global CONF).
    :param sock: a listening socket to serve (a worker of ``fenix-api``
        gets its supervisor's, :func:`listen`); ``host`` and ``port`` are
        then only its name.
    """

    def __init__(self, host=None, port=None, app=None, conf=None,
                 sock=None):
        self.conf = conf or CONF
        self.sock = sock
        self.host = host if host is not None else self.conf.api.host
        self._port = port if port is not None else self.conf.api.port
        self.app = app
        self._server = None
        self._thread = None

    @property
    def port(self):
        """The port it listens on (the requested one before start)."""
        if self._server is not None:
            return self._server.bind_addr[1]
        return self._port

    @property
    def url(self):
        host = self.host
        if ':' in host:
            host = '[%s]' % host
        return 'http://%s:%s' % (host, self.port)

    def start(self):
        """Listen and serve in a daemon thread; returns ``self``.

        Raises UnsafeBindAddress (nothing is opened then) or OSError.
        """
        if self._server is not None:
            raise RuntimeError('The API server is already running')
        check_bind_address(self.host, self.conf)
        check_pool_size(self.conf)
        if self.app is None:
            self.app = api_app.setup_app(conf=self.conf)
        server = _Server((self.host.strip('[]'), self._port),
                         _AccessLog(self.app), self.conf, sock=self.sock)
        server.prepare()
        self._server = server
        self._thread = threading.Thread(target=server.serve,
                                        name='fenix-api', daemon=True)
        self._thread.start()
        LOG.info('Fenix API listening on %s', self.url)
        return self

    def stop(self):
        """Stop listening and wait for the serving thread to end."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.stop()
        thread.join()
        self._server = self._thread = None
        LOG.info('Fenix API stopped')

    def wait(self):
        """Block until :meth:`stop` is called (from another thread)."""
        thread = self._thread
        if thread is not None:
            thread.join()
