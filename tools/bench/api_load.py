# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""HTTP load on the Fenix API: fenix-api workers beside the all-in-one.

In one run, one after the other on the same machine:

* ``all_in_one``: ``fenix-all-in-one`` (one process: API threads and the
  engine, SQLite, in-process RPC);
* ``workers``: ``fenix-api`` with ``--workers`` worker processes (default
  2) and one ``fenix-engine``, over the machine's RabbitMQ
  (127.0.0.1:5672) and a fresh MariaDB database on 127.0.0.1:3306 (root,
  no password; dropped at the end). SQLite is no database for several
  processes writing.

Each gets a ``wait_reply`` session that runs while it is loaded: it sent
MAINTENANCE to 17 projects and waits (16 answered, one never does, so the
session keeps waiting). Loaded, each for ``--duration`` seconds with
``--connections`` keep-alive connections:

* ``session``: ``GET /v1/maintenance/{id}``;
* ``session_list``: ``GET /v1/maintenance``;
* ``project``: ``GET /v1/maintenance/{id}/{project}`` (the project's
  instance list), the 16 projects in turn;
* ``reply``: ``PUT /v1/maintenance/{id}/{project}`` of an answered
  project's reply again, the 16 projects in turn (as many managers answer
  for their own projects): the whole reply path (API, RPC to the engine,
  the project's row read under a lock in a transaction) answered 409
  "already answered" (a byte-identical retry is refused, SPEC 3.7);
* ``reply_event``: the same reply to the event's ``reply_url`` (naming
  the answered event, ``?event_id=``): a retry the API refuses itself
  from the database, with the same 409, without asking the engine.

The load generator is ``wrk`` (Debian package ``wrk``; installed with
``apt-get install -y wrk`` when missing and running as root), or, when it
cannot be had (or with ``--generator python``), an asyncio HTTP/1.1
keep-alive client in this process (it costs more CPU than wrk: its
figures are lower bounds). Reported per target and endpoint: requests per
second, p50 and p99 latency (ms), answers by status, the load average
before each target, and the CPU time per request answered of the
target's processes (``api``: the all-in-one, or fenix-api with its
workers; ``engine``) and of wrk (``load``), from ``/proc``.
``--json``: one JSON object as the last line.

``--server`` serves the ``workers`` target's API with ``fenix-api``
(default: cheroot in each worker), or with ``fenix.api.wsgi:application``
under uWSGI (``--processes`` = ``--workers``, 8 threads each, one
request per connection: see :func:`server_command`; the ``uwsgi`` on
``PATH`` or ``--uwsgi``) or gunicorn
(``gthread`` workers, 8 threads each): the same application, other HTTP
servers.

Usage: python tools/bench/api_load.py [--workers 2] [--duration 10]
       [--connections 16] [--generator wrk|python]
       [--only all_in_one|workers] [--driver pymysql|mysqldb]
       [--server fenix-api|uwsgi|gunicorn] [--uwsgi PATH] [--json]
"""
import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pymysql
import requests

from fenix_tools import common

RABBIT = 'rabbit://guest:guest@127.0.0.1:5672/'
MYSQL = ('127.0.0.1', 3306, 'root')
HEADERS = {'X-User-Id': 'bench', 'X-Project-Id': 'admin',
           'X-Roles': 'admin', 'Content-Type': 'application/json'}
# Projects of the session that answered its event (the reply PUTs go to
# them in turn, as many managers answer for their own projects), and one
# that never answers (the session keeps waiting).
ANSWERING = 16
ANSWERED = ['bench-project-%02d' % n for n in range(ANSWERING)]
SILENT = 'bench-project-silent'
START_TIMEOUT = 120
ENDPOINTS = ('session', 'session_list', 'project', 'reply', 'reply_event')


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError('timed out waiting for %s' % what)
        time.sleep(0.2)


class Target(object):
    """Fenix processes serving one port, with a waiting session."""

    def __init__(self, name, workdir):
        self.name = name
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir)
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.procs = []
        self.kinds = []
        self.cleanups = []

    def spawn(self, module, conf, log, kind):
        return self.spawn_command(
            [sys.executable, '-m', module, '--config-file', conf], log,
            kind)

    def spawn_command(self, command, log, kind, env=None):
        with open(os.path.join(self.dir, log), 'ab') as out:
            proc = subprocess.Popen(command, stdout=out,
                                    stderr=subprocess.STDOUT, env=env)
        self.procs.append(proc)
        self.kinds.append(kind)
        return proc

    def sections(self, database):
        return {
            'api': {'port': self.port, 'auth_strategy': 'noauth'},
            'database': {'connection': database},
            'download': {'directory': os.path.join(self.dir, 'downloads')},
            'workflow': {'reply_window_maintenance': 3600,
                         'reply_window_maintenance_complete': 3600},
        }

    def start_session(self):
        def create():
            try:
                r = requests.post(self.url + '/v1/maintenance', json={
                    'workflow': 'wait_reply', 'hosts': ['h1'],
                    'metadata': {'projects': ANSWERED + [SILENT]}},
                    headers=HEADERS, timeout=10)
            except requests.RequestException:
                return None
            return r.json()['session_id'] if r.status_code == 200 else None
        self.session_id = wait_for(create, START_TIMEOUT,
                                   '%s to create a session' % self.name)
        self.event_ids = {}
        for name in ANSWERED:
            project = '%s/v1/maintenance/%s/%s' % (
                self.url, self.session_id, name)

            def event_sent():
                r = requests.get(project, headers=HEADERS, timeout=10)
                return r.status_code == 200 and \
                    r.json().get('state') == 'MAINTENANCE'
            wait_for(event_sent, START_TIMEOUT, 'the MAINTENANCE event')
            self.event_ids[name] = requests.get(
                project, headers=HEADERS, timeout=10).json()['event_id']
            r = requests.put(project, json={'state': 'ACK_MAINTENANCE'},
                             headers=HEADERS, timeout=30)
            if r.status_code != 200:
                raise RuntimeError('first reply: %s %s' % (r.status_code,
                                                           r.text))

    def requests(self):
        base = '/v1/maintenance'
        one = '%s/%s' % (base, self.session_id)
        return {
            'session': ('GET', [one], None),
            'session_list': ('GET', [base], None),
            'project': ('GET', ['%s/%s' % (one, p) for p in ANSWERED],
                        None),
            'reply': ('PUT', ['%s/%s' % (one, p) for p in ANSWERED],
                      json.dumps({'state': 'ACK_MAINTENANCE'})),
            'reply_event': ('PUT', ['%s/%s?event_id=%s' % (
                one, p, self.event_ids[p]) for p in ANSWERED],
                json.dumps({'state': 'ACK_MAINTENANCE'})),
        }

    def check_answers(self):
        """Each endpoint answers what it should (200, or 409 for a
        repeated reply), also on a reused keep-alive connection as wrk
        sends them: a load of error answers would measure nothing."""
        expected = {'GET': 200, 'PUT': 409}
        with requests.Session() as http:
            for name, (method, paths, body) in self.requests().items():
                for _ in range(2):
                    try:
                        r = http.request(method, self.url + paths[0],
                                         data=body, headers=HEADERS,
                                         timeout=30)
                    except requests.ConnectionError:
                        # A server that closes every connection (uWSGI's
                        # --http-socket): a new one, as wrk would.
                        r = http.request(method, self.url + paths[0],
                                         data=body, headers=HEADERS,
                                         timeout=30)
                    if r.status_code != expected[method]:
                        raise RuntimeError('%s %s: %s %s' % (
                            self.name, name, r.status_code, r.text[:300]))

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for cleanup in reversed(self.cleanups):
            cleanup()


def all_in_one(workdir):
    target = Target('all_in_one', workdir)
    conf = common.write_ini(os.path.join(target.dir, 'fenix.conf'),
                            target.sections('sqlite:///%s/fenix.sqlite'
                                            % target.dir))
    target.spawn('fenix.cmd.all_in_one', conf, 'all-in-one.log', 'api')
    return target


# Threads of each process of another WSGI server (fenix-api's workers
# serve with [api] min_threads, 8 by default).
SERVER_THREADS = 8


def server_command(server, port, workers, uwsgi=None):
    """The command serving ``fenix.api.wsgi:application`` with another
    WSGI server (its configuration file: ``FENIX_CONFIG_FILE``)."""
    app = 'fenix.api.wsgi:application'
    if server == 'uwsgi':
        binary = uwsgi or shutil.which('uwsgi')
        if not binary:
            raise RuntimeError('uwsgi not found (pip install uwsgi, or '
                               '--uwsgi PATH)')
        # --http-socket: one request per connection (wrk connects again).
        # uWSGI 2.0's --http11-socket keeps connections alive but gives
        # a request on a reused connection REMOTE_ADDR 0.0.0.0, which
        # the noauth loopback check refuses (403).
        return [binary, '--http-socket', '127.0.0.1:%d' % port,
                '--processes', str(workers),
                '--threads', str(SERVER_THREADS), '--enable-threads',
                '--lazy-apps', '--master', '--die-on-term', '--need-app',
                '--disable-logging', '--virtualenv', sys.prefix,
                '--module', app]
    if server == 'gunicorn':
        return [sys.executable, '-m', 'gunicorn', '--workers', str(workers),
                '--worker-class', 'gthread', '--threads',
                str(SERVER_THREADS), '--keep-alive', '30',
                '--bind', '127.0.0.1:%d' % port, app]
    raise ValueError(server)


def with_workers(workdir, workers, driver='pymysql', server='fenix-api',
                 uwsgi=None):
    target = Target('workers_%d' % workers, workdir)
    name = 'fenix_bench_%s' % uuid.uuid4().hex[:10]
    host, port, user = MYSQL
    admin = pymysql.connect(host=host, port=port, user=user,
                            autocommit=True)
    with admin.cursor() as cur:
        cur.execute('CREATE DATABASE %s CHARACTER SET utf8mb4' % name)

    def drop():
        with admin.cursor() as cur:
            cur.execute('DROP DATABASE IF EXISTS %s' % name)
        admin.close()
    target.cleanups.append(drop)
    sections = target.sections(
        'mysql+%s://%s@%s:%d/%s?charset=utf8mb4'
        % (driver, user, host, port, name))
    sections['DEFAULT'] = {'transport_url': RABBIT,
                           'control_exchange': name}
    sections['api']['workers'] = workers
    sections['engine'] = {'topic': name, 'host': name}
    conf = common.write_ini(os.path.join(target.dir, 'fenix.conf'), sections)
    subprocess.run([sys.executable, '-m', 'fenix.cmd.manage',
                    '--config-file', conf, 'db', 'upgrade'], check=True,
                   capture_output=True, timeout=300)
    target.spawn('fenix.cmd.engine', conf, 'engine.log', 'engine')
    if server == 'fenix-api':
        target.spawn('fenix.cmd.api', conf, 'api.log', 'api')
    else:
        target.name = '%s_%d' % (server, workers)
        target.spawn_command(
            server_command(server, target.port, workers, uwsgi), 'api.log',
            'api', env=dict(os.environ, FENIX_CONFIG_FILE=conf))
    return target


# --- CPU time ---------------------------------------------------------------
_TICK = os.sysconf('SC_CLK_TCK')


def _cpu_s(pid):
    """User + system CPU seconds of a process (0 once it is gone)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def cpu_sample(target):
    """CPU seconds so far: ``{'api': ..., 'engine': ...}`` of the target's
    processes (the API's workers counted with the API), and ``load``:
    this process's children that ended (wrk)."""
    spent = {}
    for proc, kind in zip(target.procs, target.kinds):
        pids = [proc.pid] + _children(proc.pid)
        spent[kind] = spent.get(kind, 0.0) + sum(_cpu_s(p) for p in pids)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent['load'] = usage.ru_utime + usage.ru_stime
    return spent


# --- load generators -------------------------------------------------------
_UNITS = {'us': 0.001, 'ms': 1.0, 's': 1000.0}


def _ms(text):
    m = re.match(r'([\d.]+)(us|ms|s)$', text)
    return round(float(m.group(1)) * _UNITS[m.group(2)], 2)


def find_wrk():
    wrk = shutil.which('wrk')
    if wrk is None and os.geteuid() == 0 and shutil.which('apt-get'):
        subprocess.run(['apt-get', 'install', '-y', 'wrk'],
                       capture_output=True, timeout=600)
        wrk = shutil.which('wrk')
    return wrk


def run_wrk(wrk, url, method, paths, body, connections, duration, workdir):
    script = os.path.join(workdir, 'request.lua')
    with open(script, 'w') as f:
        # Each connection takes the paths in turn.
        f.write('local method = %s\n' % json.dumps(method))
        f.write('local body = %s\n' % (
            'nil' if body is None else json.dumps(body)))
        listed = ', '.join(json.dumps(p) for p in paths)
        f.write('local paths = {%s}\n' % listed)
        f.write('local n = 0\n'
                'request = function()\n'
                '  n = n % #paths + 1\n'
                '  return wrk.format(method, paths[n], nil, body)\n'
                'end\n')
    cmd = [wrk, '-t', '2', '-c', str(connections), '-d', '%ds' % duration,
           '--latency', '-s', script]
    for key, value in HEADERS.items():
        cmd += ['-H', '%s: %s' % (key, value)]
    done = subprocess.run(cmd + [url + paths[0]], capture_output=True,
                          text=True, timeout=duration + 60)
    out = done.stdout
    if done.returncode != 0 or done.stderr.strip():
        # A script wrk cannot run: it would load the URL with GET.
        raise RuntimeError('wrk: %s %s' % (done.stderr, out))
    result = {'rps': float(re.search(r'Requests/sec:\s+([\d.]+)',
                                     out).group(1))}
    for pct in ('50', '99'):
        m = re.search(r'^\s+%s%%\s+(\S+)' % pct, out, re.M)
        result['p%s_ms' % pct] = _ms(m.group(1))
    total = int(re.search(r'(\d+) requests in', out).group(1))
    m = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    result['requests'] = total
    result['non_2xx'] = int(m.group(1)) if m else 0
    errors = re.search(r'Socket errors: (.*)', out)
    result['socket_errors'] = errors.group(1) if errors else None
    return result


async def _client(host, port, requests_, deadline, latencies, statuses):
    reader, writer = await asyncio.open_connection(host, port)
    n = 0
    try:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            writer.write(requests_[n % len(requests_)])
            n += 1
            head = await reader.readuntil(b'\r\n\r\n')
            status = int(head.split(b' ', 2)[1])
            length = int(re.search(rb'(?i)content-length:\s*(\d+)',
                                   head).group(1))
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000.0)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def run_python(url, method, paths, body, connections, duration):
    host, port = url.split('//')[1].split(':')
    data = (body or '').encode()
    request = []
    for path in paths:
        head = ['%s %s HTTP/1.1' % (method, path),
                'Host: %s:%s' % (host, port),
                'Content-Length: %d' % len(data)]
        head += ['%s: %s' % kv for kv in HEADERS.items()]
        request.append(('\r\n'.join(head) + '\r\n\r\n').encode() + data)
    latencies, statuses = [], {}

    async def load():
        deadline = time.monotonic() + duration
        await asyncio.gather(*[
            _client(host, int(port), request, deadline, latencies,
                    statuses) for _ in range(connections)])
    started = time.monotonic()
    asyncio.run(load())
    took = time.monotonic() - started
    latencies.sort()

    def pct(p):
        return round(latencies[min(len(latencies) - 1,
                                   int(len(latencies) * p))], 2)
    return {'rps': round(len(latencies) / took, 1), 'p50_ms': pct(0.50),
            'p99_ms': pct(0.99), 'requests': len(latencies),
            'non_2xx': sum(n for s, n in statuses.items() if s >= 400)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--duration', type=int, default=10)
    parser.add_argument('--connections', type=int, default=16)
    parser.add_argument('--generator', choices=('wrk', 'python'),
                        default='wrk')
    parser.add_argument('--only', choices=('all_in_one', 'workers'))
    parser.add_argument('--driver', choices=('pymysql', 'mysqldb'),
                        default='pymysql',
                        help='MySQL driver of the workers target: PyMySQL '
                             '(pure Python, the default) or mysqlclient '
                             '(C, needs the MariaDB client headers to '
                             'build)')
    parser.add_argument('--server', choices=('fenix-api', 'uwsgi',
                                             'gunicorn'),
                        default='fenix-api',
                        help='HTTP server of the workers target: fenix-api '
                             '(cheroot), or the WSGI application under '
                             'uWSGI or gunicorn')
    parser.add_argument('--uwsgi', help='the uwsgi program (default: the '
                                        'one on PATH)')
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args(argv)

    wrk = find_wrk() if args.generator == 'wrk' else None
    generator = 'wrk' if wrk else 'python'
    workdir = tempfile.mkdtemp(prefix='fenix-api-load-')
    makers = [('all_in_one', lambda: all_in_one(workdir)),
              ('workers', lambda: with_workers(workdir, args.workers,
                                               args.driver, args.server,
                                               args.uwsgi))]
    result = {'generator': generator, 'connections': args.connections,
              'duration_s': args.duration, 'workers': args.workers,
              'driver': args.driver, 'server': args.server,
              'targets': {}}
    try:
        for kind, make in makers:
            if args.only and args.only != kind:
                continue
            target = make()
            try:
                target.start_session()
                target.check_answers()
                figures = {'loadavg_before': os.getloadavg()[0]}
                for name, (method, paths, body) in sorted(
                        target.requests().items(),
                        key=lambda kv: ENDPOINTS.index(kv[0])):
                    before = cpu_sample(target)
                    if wrk:
                        figures[name] = run_wrk(
                            wrk, target.url, method, paths, body,
                            args.connections, args.duration, workdir)
                    else:
                        figures[name] = run_python(
                            target.url, method, paths, body,
                            args.connections, args.duration)
                    figures[name]['loadavg'] = os.getloadavg()[0]
                    after = cpu_sample(target)
                    answered = max(1, figures[name]['requests'])
                    figures[name]['cpu_ms_per_request'] = {
                        kind: round((after[kind] - before[kind]) * 1000.0 /
                                    answered, 3) for kind in after}
                state = requests.get(target.url + '/v1/maintenance/' +
                                     target.session_id, headers=HEADERS,
                                     timeout=10).json().get('state')
                figures['session_state_after'] = state
                result['targets'][target.name] = figures
            finally:
                target.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print('generator %s, %d connections, %d s per endpoint'
          % (generator, args.connections, args.duration))
    for name, figures in result['targets'].items():
        print('%s (load average %.1f before; session %s after):'
              % (name, figures['loadavg_before'],
                 figures['session_state_after']))
        for endpoint in ENDPOINTS:
            f = figures[endpoint]
            cpu = f['cpu_ms_per_request']
            print('  %-13s %8.1f req/s   p50 %7.2f ms   p99 %7.2f ms   '
                  '%d requests, %d non-2xx, load %.1f; CPU ms per '
                  'request: %s'
                  % (endpoint, f['rps'], f['p50_ms'], f['p99_ms'],
                     f['requests'], f['non_2xx'], f['loadavg'],
                     ', '.join('%s %.2f' % kv for kv in sorted(
                         cpu.items()))))
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
