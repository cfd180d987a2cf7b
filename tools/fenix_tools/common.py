# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Helpers shared by the tools (sample VNFM, admin tool, demo).

Nothing here imports ``fenix``: the tools reach Fenix only over its REST
API (:class:`FenixClient`) and the cloud only through the OpenStack clients
(a keystoneauth session made by :func:`make_session`).
"""
import collections
import contextlib
import http.server
import json
import logging
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import requests

LOG = logging.getLogger(__name__)

MAINTENANCE_SERVICE_TYPE = 'maintenance'
DEFAULT_FENIX_URL = 'http://127.0.0.1:12347'


# --- waiting ----------------------------------------------------------------

class WaitTimeout(Exception):
    """A condition did not come true within its time limit."""


def wait_until(predicate, timeout, interval=0.1, what='condition',
               stop_event=None):
    """Re-evaluate ``predicate`` until it returns a true value; return it.

    Bounded by ``timeout`` seconds; raises :class:`WaitTimeout` naming
    ``what`` otherwise. ``stop_event`` (a threading.Event) ends the wait
    early, also with WaitTimeout. The pause between evaluations is an
    Event wait, so a set ``stop_event`` is honoured at once.
    """
    stop_event = stop_event or threading.Event()
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0 or stop_event.is_set():
            raise WaitTimeout('%s not reached within %.1f s'
                              % (what, timeout))
        if stop_event.wait(min(interval, remaining)):
            raise WaitTimeout('stopped while waiting for %s' % what)


# --- networking -------------------------------------------------------------

def write_ini(path, sections):
    """Write ``{section: {key: value}}`` as an INI file (a Fenix or
    service configuration); returns ``path``."""
    with open(path, 'w') as f:
        for section, values in sections.items():
            f.write('[%s]\n' % section)
            for key, value in values.items():
                f.write('%s = %s\n' % (key, value))
            f.write('\n')
    return path


def free_port(host='127.0.0.1'):
    """A TCP port that was free on ``host`` a moment ago."""
    with contextlib.closing(socket.socket(socket.AF_INET,
                                          socket.SOCK_STREAM)) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def parse_listen(text, default_host='127.0.0.1', default_port=0):
    """'host:port', 'host' or ':port' → (host, port)."""
    text = (text or '').strip()
    if not text:
        return default_host, default_port
    host, sep, port = text.rpartition(':')
    if not sep:
        return text, default_port
    if not port.isdigit():
        raise ValueError('bad listen address %r (want HOST:PORT)' % text)
    return host or default_host, int(port)


class JsonRequest(object):
    """One request as seen by a :class:`JsonHTTPServer` route."""

    def __init__(self, method, path, query, headers, raw_body, match):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.raw_body = raw_body
        self.match = match

    def json(self):
        if not self.raw_body:
            return None
        return json.loads(self.raw_body.decode('utf-8'))


class _ThreadingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: a burst of new connections
    # (the simulated AODH opens one per webhook, eight at once) overflows
    # it on a busy machine, and each dropped SYN costs the client a second
    # before it tries again (seen as 1.02 s deliveries in the benchmarks).
    request_queue_size = 128


class JsonHTTPServer(object):
    """A small threaded HTTP server that routes to Python callables.

    ``add_route(method, pattern, func)``: ``pattern`` is a regular
    expression matched against the whole path; ``func(request)`` returns
    ``(status, body)`` where ``body`` is JSON-serialisable (or None for an
    empty answer). Used by the sample VNFM (its webhook and /status) and by
    the tests' fake Fenix.
    """

    def __init__(self, host='127.0.0.1', port=0, name='http'):
        self._routes = []
        self.name = name
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, fmt, *args):
                LOG.debug('%s: ' + fmt, owner.name, *args)

            def _serve(self):
                owner._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self._httpd = _ThreadingServer((host, port), Handler)
        self._thread = None

    @property
    def address(self):
        return self._httpd.server_address[:2]

    @property
    def url(self):
        host, port = self.address
        return 'http://%s:%d' % (host, port)

    def add_route(self, method, pattern, func):
        self._routes.append((method.upper(), re.compile(pattern + r'\Z'),
                             func))

    def _dispatch(self, handler):
        parsed = urllib.parse.urlsplit(handler.path)
        length = int(handler.headers.get('Content-Length') or 0)
        raw = handler.rfile.read(length) if length else b''
        status, body = 404, {'error': 'no route for %s %s'
                                      % (handler.command, parsed.path)}
        allowed = False
        for method, regex, func in self._routes:
            match = regex.match(parsed.path)
            if not match:
                continue
            allowed = True
            if method != handler.command:
                continue
            request = JsonRequest(handler.command, parsed.path,
                                  urllib.parse.parse_qs(parsed.query),
                                  handler.headers, raw, match)
            try:
                status, body = func(request)
            except ValueError as e:
                status, body = 400, {'error': str(e)}
            except Exception as e:  # a route bug must not kill the server
                LOG.exception('%s: %s %s failed', self.name,
                              handler.command, parsed.path)
                status, body = 500, {'error': str(e)}
            break
        else:
            if allowed:
                status, body = 405, {'error': 'method not allowed'}
        data = b'' if body is None else json.dumps(body).encode('utf-8')
        handler.send_response(status)
        if data:
            handler.send_header('Content-Type', 'application/json')
        handler.send_header('Content-Length', str(len(data)))
        handler.end_headers()
        if data:
            handler.wfile.write(data)

    def start(self):
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={'poll_interval': 0.1},
            name='%s-server' % self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()


# --- Keystone ---------------------------------------------------------------

def add_keystone_args(parser):
    """The usual --os-* options, defaulting to the OS_* environment."""
    env = os.environ.get
    group = parser.add_argument_group('Keystone authentication')
    group.add_argument('--os-auth-url', default=env('OS_AUTH_URL'),
                       help='Keystone v3 URL (env OS_AUTH_URL).')
    group.add_argument('--os-username', default=env('OS_USERNAME'),
                       help='User name (env OS_USERNAME).')
    group.add_argument('--os-password', default=env('OS_PASSWORD'),
                       help='Password (env OS_PASSWORD).')
    group.add_argument('--os-project-name',
                       default=env('OS_PROJECT_NAME',
                                   env('OS_TENANT_NAME')),
                       help='Project name (env OS_PROJECT_NAME).')
    group.add_argument('--os-user-domain-name',
                       default=env('OS_USER_DOMAIN_NAME', 'Default'),
                       help='User domain (env OS_USER_DOMAIN_NAME).')
    group.add_argument('--os-project-domain-name',
                       default=env('OS_PROJECT_DOMAIN_NAME', 'Default'),
                       help='Project domain (env OS_PROJECT_DOMAIN_NAME).')
    group.add_argument('--os-region-name', default=env('OS_REGION_NAME'),
                       help='Region (env OS_REGION_NAME).')
    group.add_argument('--os-interface',
                       default=env('OS_INTERFACE', 'public'),
                       help='Endpoint interface (env OS_INTERFACE).')
    return group


def make_session(auth_url, username, password, project_name,
                 user_domain_name='Default', project_domain_name='Default',
                 timeout=30):
    """A keystoneauth1 session with Keystone v3 password auth."""
    from keystoneauth1.identity import v3
    from keystoneauth1 import session as ks_session
    auth = v3.Password(auth_url=auth_url, username=username,
                       password=password, project_name=project_name,
                       user_domain_name=user_domain_name,
                       project_domain_name=project_domain_name)
    return ks_session.Session(auth=auth, timeout=timeout)


def session_from_args(args):
    """A session from parsed --os-* options, or None without --os-auth-url.
    """
    if not getattr(args, 'os_auth_url', None):
        return None
    missing = [name for name in ('os_username', 'os_password',
                                 'os_project_name')
               if not getattr(args, name, None)]
    if missing:
        raise ValueError('Keystone authentication needs %s'
                         % ', '.join('--' + m.replace('_', '-')
                                     for m in missing))
    return make_session(args.os_auth_url, args.os_username,
                        args.os_password, args.os_project_name,
                        args.os_user_domain_name,
                        args.os_project_domain_name)


# --- Fenix REST client ------------------------------------------------------

class FenixError(Exception):
    """Fenix answered with an error status (or could not be reached)."""

    def __init__(self, message, status=None, body=None):
        super().__init__(message)
        self.status = status
        self.body = body


def _error_message(body, text):
    if isinstance(body, dict):
        for key in ('error_message', 'message', 'error', 'faultstring',
                    'description'):
            value = body.get(key)
            if isinstance(value, dict):
                value = (value.get('message') or value.get('faultstring')
                         or value)
            if value:
                return str(value)
    return (text or '').strip()[:500]


def base_url(url):
    """A Fenix endpoint without trailing '/' and '/v1'."""
    url = (url or '').rstrip('/')
    if url.endswith('/v1'):
        url = url[:-3]
    return url


class FenixClient(object):
    """Fenix's REST API (SPEC 3).

    ``url``: the endpoint (with or without /v1); without it the catalog of
    ``session`` is asked for service type ``maintenance``. ``session``: a
    keystoneauth session; its token is sent with every request (also to
    absolute URLs such as ``reply_url``). ``headers``: extra headers, e.g.
    the identity headers of the noauth mode (:func:`noauth_headers`).
    """

    def __init__(self, url=None, session=None, headers=None, timeout=30,
                 interface='public', region_name=None):
        self.session = session
        self.timeout = timeout
        self.headers = dict(headers or {})
        if not url:
            if session is None:
                url = DEFAULT_FENIX_URL
            else:
                url = session.get_endpoint(
                    service_type=MAINTENANCE_SERVICE_TYPE,
                    interface=interface, region_name=region_name)
                if not url:
                    raise FenixError('no %r endpoint in the catalog'
                                     % MAINTENANCE_SERVICE_TYPE)
        self.url = base_url(url)

    def absolute(self, path_or_url):
        if '://' in path_or_url:
            return path_or_url
        return self.url + '/' + path_or_url.lstrip('/')

    def request(self, method, path_or_url, body=None, ok=None):
        url = self.absolute(path_or_url)
        headers = {'Accept': 'application/json'}
        headers.update(self.headers)
        try:
            if self.session is not None:
                resp = self.session.request(
                    url, method, json=body, headers=headers,
                    raise_exc=False, timeout=self.timeout)
            else:
                resp = requests.request(method, url, json=body,
                                        headers=headers,
                                        timeout=self.timeout)
        except Exception as e:  # requests and keystoneauth errors alike
            raise FenixError('%s %s: %s' % (method, url, e))
        data = None
        if resp.content:
            try:
                data = resp.json()
            except ValueError:
                data = None
        good = ok if ok is not None else (lambda s: 200 <= s < 300)
        if not good(resp.status_code):
            raise FenixError('%s %s: HTTP %s: %s'
                             % (method, url, resp.status_code,
                                _error_message(data, resp.text)),
                             status=resp.status_code, body=data)
        return data

    def get(self, path_or_url):
        return self.request('GET', path_or_url)

    def put(self, path_or_url, body):
        return self.request('PUT', path_or_url, body)

    def delete(self, path_or_url):
        return self.request('DELETE', path_or_url)

    # sessions (admin)
    def create_session(self, body):
        return self.request('POST', '/v1/maintenance', body)

    def list_sessions(self):
        data = self.get('/v1/maintenance') or {}
        if isinstance(data, list):
            return data
        return data.get('sessions', [])

    def get_session(self, session_id):
        return self.get('/v1/maintenance/%s' % session_id)

    def get_session_detail(self, session_id):
        return self.get('/v1/maintenance/%s/detail' % session_id)

    def update_session(self, session_id, body):
        return self.put('/v1/maintenance/%s' % session_id, body)

    def control_session(self, session_id, action, **fields):
        """Pause, resume, skip a host or retry: POST {"action": ...}."""
        return self.request('POST', '/v1/maintenance/%s' % session_id,
                            dict(fields, action=action))

    def delete_session(self, session_id):
        return self.delete('/v1/maintenance/%s' % session_id)

    # constraints (project)
    def put_instance_group(self, body):
        return self.put('/v1/instance_group/%s' % body['group_id'], body)

    def delete_instance_group(self, group_id):
        return self.delete('/v1/instance_group/%s' % group_id)

    def put_instance(self, body):
        return self.put('/v1/instance/%s' % body['instance_id'], body)

    def delete_instance(self, instance_id):
        return self.delete('/v1/instance/%s' % instance_id)


def noauth_headers(project_id, user_id=None, roles=('member', 'reader')):
    """The identity headers Fenix's noauth mode reads (what auth_token
    would have set): act as ``project_id`` rather than as an admin."""
    headers = {'X-Project-Id': project_id,
               'X-Roles': ','.join(roles)}
    if user_id:
        headers['X-User-Id'] = user_id
    return headers


# --- processes and cleanup --------------------------------------------------

class ManagedProcess(object):
    """A child process in its own process group, logging to a file.

    ``stop()`` ends exactly that group (by its id): SIGTERM, then SIGKILL
    after ``grace`` seconds.
    """

    def __init__(self, name, argv, log_path, env=None, cwd=None):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.proc = None
        self._log = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        self._log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen(
            self.argv, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=self.env, cwd=self.cwd,
            start_new_session=True)
        LOG.debug('started %s (pid %s): %s', self.name, self.proc.pid,
                  ' '.join(self.argv))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def returncode(self):
        return None if self.proc is None else self.proc.poll()

    def _signal_group(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            self.proc.send_signal(sig)

    def stop(self, grace=10):
        if self.proc is None:
            return None
        # Only while the leader is not reaped is its group id surely ours.
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(timeout=grace)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def tail(self, lines=40):
        return tail_file(self.log_path, lines)


def tail_file(path, lines=40):
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            data = f.read().decode('utf-8', 'replace')
    except OSError:
        return ''
    return '\n'.join(data.splitlines()[-lines:])


@contextlib.contextmanager
def terminate_on_signals(signals=(signal.SIGTERM, signal.SIGHUP)):
    """Turn SIGTERM (and SIGHUP) into SystemExit in the main thread so that
    ``finally`` blocks and context managers clean up, as on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise SystemExit(128 + signum)

    previous = {}
    for sig in signals:
        previous[sig] = signal.signal(sig, _raise)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class EventLog(object):
    """A thread-safe, bounded list of timestamped records."""

    def __init__(self, maxlen=10000):
        self._items = collections.deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)

    def add(self, **record):
        record.setdefault('time', utc_iso())
        with self._cond:
            self._items.append(record)
            self._cond.notify_all()
        return record

    def list(self):
        with self._lock:
            return list(self._items)

    def __len__(self):
        with self._lock:
            return len(self._items)

    def wait_for(self, predicate, timeout):
        """Wait until ``predicate(records)`` is true; return its value or
        None after ``timeout`` seconds."""
        with self._cond:
            result = self._cond.wait_for(
                lambda: predicate(list(self._items)), timeout)
        return result


def utc_iso(ts=None):
    """A naive-UTC ISO time with milliseconds (what the tools record)."""
    ts = time.time() if ts is None else ts
    return (time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(ts))
            + '.%03d' % int((ts % 1) * 1000))
