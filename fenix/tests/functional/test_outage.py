# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The outage tier: fenix-api and fenix-engine (separate processes) over a
RabbitMQ node and a MariaDB (or PostgreSQL) server the test starts itself,
on their own ports, with the simulated cloud and the sample VNFM. The
database (MariaDB; PostgreSQL in another test), then (another test) the
broker, is stopped for ``FENIX_OUTAGE_SECONDS`` (default
30) twice in one session: while the session moves instances, and during a
reply window (the VNFM answers while it is down). Then:

* the session ends MAINTENANCE_DONE, and the engine is the process that
  started (no restart);
* every API answer while a service was down (the test polls the API all
  along) is 2xx or 503, within ``rpc_timeout`` + 2 s;
* every VNFM reply made during an outage is applied exactly once (one
  ``reply`` entry of the session's history for its event); during the
  broker's outage a reply is recorded at once (the API records it in the
  database, its wake-up of the engine waits for the broker): its first
  try is a 200;
* a create answered 503 during the outage made no session, and its retry
  with the same Idempotency-Key made exactly one;
* no compute is left disabled;
* fewer than 20 ERROR lines in the Fenix logs per outage.

The figures (outage lengths, answers by status, slowest answer, ERROR
lines) are attached to the test's result as ``outage-figures`` and, when
FENIX_OUTAGE_REPORT names a file, appended to it as JSON lines.

Needs the Debian ``rabbitmq-server``, ``mariadb-server`` and
``postgresql`` packages (the PostgreSQL server runs as the ``postgres``
system user when the tests run as root: postgres refuses root); skipped
without them unless FENIX_REQUIRE_OPPORTUNISTIC_DB=1 (CI).
"""
import collections
import json
import os
import subprocess
import sys
import threading
import time
import uuid

import fixtures
import requests
import testtools
from testtools import content

from fenix.tests.functional import base
from fenix.tests.functional import cloud_fixture as cf
from fenix.tests.functional import services
from fenix_tools.vnfm import app as app_mod

OUTAGE_SECONDS = float(os.environ.get('FENIX_OUTAGE_SECONDS', '30'))
RPC_TIMEOUT = 5
# The slowest answer allowed while a service is down.
ANSWER_BOUND = RPC_TIMEOUT + 2
# Seconds a client goes on retrying, after Retry-After, a create answered
# 503 once every service is back.
RETRY_BOUND = 60
MAX_ERROR_LINES = 20
# Seconds the VNFM waits before it answers an event: the reply-window
# outage starts when the event arrives, so the answer is made during it.
REPLY_DELAY = 8.0
# Every reply window outlasts an outage and the restart of the service.
REPLY_WINDOW = int(OUTAGE_SECONDS) + 150
SESSION_TIMEOUT = 600 + 4 * int(OUTAGE_SECONDS)
POLL_INTERVAL = 0.5
DONE = 'MAINTENANCE_DONE'


class SplitFenixCloud(cf.FenixCloud):
    """The simulated cloud with fenix-engine and fenix-api as separate
    processes over the given RabbitMQ and MariaDB."""

    def __init__(self, topology, transport_url, connection, **kwargs):
        extra = {
            'DEFAULT': {'transport_url': transport_url},
            'database': {'connection': connection},
            'api': {'rpc_timeout': RPC_TIMEOUT},
            'engine': {'topic': 'fenix-outage-%s' % uuid.uuid4().hex[:8],
                       'host': 'engine-outage',
                       'heartbeat_interval': 2},
        }
        super().__init__(topology, extra_config=extra, **kwargs)
        self.engine = None
        self.api = None
        self._migrated = False

    def _log(self, name):
        return os.path.join(self.workdir, '%s.log' % name)

    @property
    def log_path(self):
        return self._log('engine')

    def log_paths(self):
        return [self._log('engine'), self._log('api')]

    def _spawn(self, module, name):
        with open(self._log(name), 'ab') as log:
            return subprocess.Popen(
                [sys.executable, '-m', module, '--config-file',
                 self.config_file], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)

    def start_fenix(self, timeout=120):
        if not self._migrated:
            subprocess.run([sys.executable, '-m', 'fenix.cmd.manage',
                            '--config-file', self.config_file, 'db',
                            'upgrade'], check=True, capture_output=True,
                           timeout=120)
            self._migrated = True
        self.engine = self._spawn('fenix.cmd.engine', 'engine')
        self.api = self._spawn('fenix.cmd.api', 'api')
        client = base.FenixClient(self.url)

        def up():
            for proc, name in ((self.engine, 'engine'), (self.api, 'api')):
                if proc.poll() is not None:
                    raise AssertionError('fenix-%s exited with %s:\n%s' % (
                        name, proc.returncode, self.log_tail()))
            try:
                # The engine answers through the API.
                return client.get('/v1/maintenance').status_code == 200
            except requests.RequestException:
                return False
        base.wait_for(up, timeout, interval=0.2,
                      what='fenix-api and fenix-engine on port %d'
                      % self.port)

    def _stop_fenix(self):
        for proc in (self.api, self.engine):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(30)

    def log_tail(self, lines=150):
        out = []
        for path in self.log_paths():
            try:
                with open(path, errors='replace') as f:
                    out.append('== %s ==\n%s' % (
                        path, ''.join(f.readlines()[-lines:])))
            except OSError:
                pass
        return '\n'.join(out)

    def log_offsets(self):
        out = {}
        for path in self.log_paths():
            try:
                out[path] = os.path.getsize(path)
            except OSError:
                out[path] = 0
        return out

    def error_lines(self, since, until=None):
        """ERROR lines written between two :meth:`log_offsets`."""
        lines = []
        for path, start in since.items():
            end = (until or {}).get(path)
            with open(path, 'rb') as f:
                f.seek(start)
                data = f.read() if end is None else f.read(end - start)
            lines += [line for line in data.decode(
                'utf-8', 'replace').splitlines() if ' ERROR ' in line]
        return lines


class APIPoller(object):
    """Asks the API about the session all along; records (start, seconds,
    status or error) of every answer."""

    def __init__(self, client, session_id):
        self.client = client
        self.session_id = session_id
        self.answers = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(ANSWER_BOUND * 4)

    def _run(self):
        paths = ['/v1/maintenance/%s' % self.session_id, '/v1/maintenance']
        n = 0
        while not self._stop.is_set():
            path = paths[n % len(paths)]
            n += 1
            started = time.monotonic()
            try:
                status = self.client.get(path).status_code
            except requests.RequestException as e:
                status = 'error: %s' % type(e).__name__
            self.answers.append((started, time.monotonic() - started,
                                 status))
            self._stop.wait(POLL_INTERVAL)

    def during(self, start, end):
        return [a for a in self.answers if start <= a[0] <= end]


class OutageMixin(object):
    """The scenario, on the database server of :attr:`DATABASE` (a
    fixture class of :mod:`services` taking the work directory, with
    ``url``, ``stop()`` and ``start()``), named :attr:`DATABASE_NAME`, and
    a RabbitMQ node of the test's own."""

    DATABASE = None
    DATABASE_NAME = None
    # The binaries the database server needs (services.MARIADB...).
    DATABASE_BINARIES = ()

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(SESSION_TIMEOUT + 600, gentle=True))
        missing = services.missing(services.RABBITMQ +
                                   self.DATABASE_BINARIES)
        if missing:
            msg = 'not installed: %s' % ', '.join(missing)
            if os.environ.get('FENIX_REQUIRE_OPPORTUNISTIC_DB') == '1':
                self.fail(msg)
            self.skipTest(msg)
        self.workdir = self.useFixture(fixtures.TempDir()).path
        self.rabbit = self.useFixture(services.RabbitNode(
            self.workdir, 'fenix-outage-%s' % uuid.uuid4().hex[:8]))
        self.database = self.useFixture(self.DATABASE(self.workdir))
        self.cloud = self.useFixture(SplitFenixCloud(
            cf.vnfm_topology(timing={'cold_migration': 1.0}),
            self.rabbit.url, self.database.url, reply_window=REPLY_WINDOW))
        self.addOnException(lambda exc_info: self.addDetail(
            'fenix-logs', content.text_content(self.cloud.log_tail(300))))
        self.addOnException(lambda exc_info: self.addDetail(
            'fenix-error-lines', content.text_content('\n'.join(
                self.cloud.error_lines({p: 0 for p in
                                        self.cloud.log_paths()})))))
        # The answer to MAINTENANCE_COMPLETE is held until the second
        # outage has begun, so that it meets the outage however long the
        # service takes to stop.
        self.release_complete = threading.Event()
        self.vnfm = self.cloud.add_vnfm(behaviour=app_mod.Behaviour(
            reply_delay=REPLY_DELAY, retry_interval=0.5,
            hold_replies={'MAINTENANCE_COMPLETE': self.release_complete}))
        self.addOnException(self._attach_vnfm)
        self.figures = {'service': None, 'outage_seconds': OUTAGE_SECONDS,
                        'outages': []}

    def _attach_vnfm(self, exc_info):
        status = self.vnfm.status()
        self.addDetail('vnfm-status', content.text_content(json.dumps(
            {k: status[k] for k in ('events', 'replies', 'actions',
                                    'errors')}, default=str, indent=1)))

    # --- an outage -------------------------------------------------------

    def _outage(self, service, name, during=None):
        """Stop ``service`` for OUTAGE_SECONDS (``during()`` runs while it
        is down), start it again; returns the outage's record."""
        offsets = self.cloud.log_offsets()
        down_at = time.monotonic()
        service.stop()
        stopped = time.monotonic()
        result = during() if during is not None else None
        # The fault's length, not a wait for an event.
        left = OUTAGE_SECONDS - (time.monotonic() - stopped)
        if left > 0:
            threading.Event().wait(left)
        up_from = time.monotonic()
        service.start()
        up_at = time.monotonic()
        return {'name': name, 'down_at': down_at, 'up_at': up_at,
                'down_seconds': round(up_at - stopped, 1),
                'restart_seconds': round(up_at - up_from, 1),
                'offsets': offsets, 'during': result}

    def _create_during_outage(self):
        """A dry-run create while the service is down: 503 (or, for a
        database outage of the engine alone, possibly... never 200)."""
        key = 'outage-%s' % uuid.uuid4().hex
        body = {'hosts': ['compute-0'], 'dry_run': True}
        started = time.monotonic()
        resp = self.cloud.client.post('/v1/maintenance', body,
                                      headers={'Idempotency-Key': key})
        return {'key': key, 'body': body, 'status': resp.status_code,
                'seconds': round(time.monotonic() - started, 2),
                'retry_after': resp.headers.get('Retry-After'),
                'message': resp.text[:300]}

    # --- the scenario ----------------------------------------------------

    def _run(self, service, name, replies_wait=True):
        """``replies_wait``: the outage makes replies wait (503 until it
        ends); False: replies are recorded through it (the broker's)."""
        self.figures['service'] = name
        engine_pid = self.cloud.engine.pid
        before = {s['session_id'] for s in
                  self.cloud.client.get('/v1/maintenance').json()[
                      'sessions']}
        sid = self.cloud.create_session(
            metadata={'openstack_version': 'Train'})
        poller = APIPoller(self.cloud.client, sid).start()
        self.addCleanup(poller.stop)

        # 1. While instances move: the first PLANNED_MAINTENANCE answered,
        # its moves start.
        self.assertTrue(self.vnfm.replies.wait_for(
            lambda items: any(r['state'] == 'ACK_PLANNED_MAINTENANCE'
                              and r['ok'] for r in items),
            SESSION_TIMEOUT), 'no PLANNED_MAINTENANCE answered')
        moves = self._outage(service, 'during moves',
                             during=self._create_during_outage)
        # 2. During a reply window: the VNFM got MAINTENANCE_COMPLETE and
        # scaled out (its constraints registered); its answer, held until
        # then, goes while the service is down.
        scaled_out = self.vnfm.actions.wait_for(
            lambda items: any(a.get('action') == 'scale_out'
                              for a in items), SESSION_TIMEOUT)
        self.assertTrue(scaled_out, 'no scale-out after MAINTENANCE_COMPLETE')
        replies = self._outage(service, 'during a reply window',
                               during=self.release_complete.set)

        state = self.cloud.wait_final(sid, timeout=SESSION_TIMEOUT)
        end_offsets = self.cloud.log_offsets()
        poller.stop()
        summary = self.cloud.summary(sid)
        self.assertEqual(DONE, state, summary.get('error'))

        # No engine restart.
        self.assertIsNone(self.cloud.engine.poll())
        self.assertEqual(engine_pid, self.cloud.engine.pid)
        with open(self.cloud.log_paths()[0], errors='replace') as f:
            self.assertEqual(1, sum(1 for line in f
                                    if 'Engine engine-outage started'
                                    in line))

        # Every answer while a service was down: 2xx or 503, in time.
        outages = [moves, replies]
        for outage in outages:
            answers = poller.during(outage['down_at'], outage['up_at'])
            self.assertTrue(answers, 'no API answers during %s'
                            % outage['name'])
            statuses = collections.Counter(str(a[2]) for a in answers)
            outage['answers'] = dict(statuses)
            outage['slowest_answer'] = round(max(a[1] for a in answers), 2)
            self.assertEqual([], [a for a in answers
                                  if not (isinstance(a[2], int) and
                                          (200 <= a[2] < 300 or
                                           a[2] == 503))],
                             outage['name'])
            self.assertLessEqual(outage['slowest_answer'], ANSWER_BOUND,
                                 outage['name'])

        # The create answered 503 made nothing; its retry one session.
        attempt = moves['during']
        self.assertIn(attempt['status'], (200, 503), attempt)
        self.assertLessEqual(attempt['seconds'], ANSWER_BOUND, attempt)
        if attempt['status'] == 503:
            self.assertTrue(attempt['retry_after'], attempt)
        # Retried as a client does: again after Retry-After while the
        # answer is 503 (the RPC connections come back a moment after the
        # service: a call in that moment times out), bounded.
        answers = []

        def create_again():
            resp = self.cloud.client.post(
                '/v1/maintenance', attempt['body'],
                headers={'Idempotency-Key': attempt['key']})
            answers.append(resp)
            return resp.status_code != 503

        base.wait_for(create_again, RETRY_BOUND, interval=1.0,
                      what='the create retried after the outage')
        retried = answers[-1]
        self.assertEqual(200, retried.status_code, retried.text)
        self.assertTrue(all(a.headers.get('Retry-After')
                            for a in answers[:-1]), 'a 503 without '
                        'Retry-After')
        again = self.cloud.client.post(
            '/v1/maintenance', attempt['body'],
            headers={'Idempotency-Key': attempt['key']})
        self.assertEqual(retried.json()['session_id'],
                         again.json()['session_id'])
        after = {s['session_id'] for s in
                 self.cloud.client.get('/v1/maintenance').json()[
                     'sessions']}
        self.assertEqual({sid, retried.json()['session_id']},
                         after - before)

        # Every reply the VNFM made while a service was down: applied
        # exactly once.
        history = self.cloud.detail(sid)['history']
        made_during = [r for r in self.vnfm.replies.list()
                       if r.get('outage')]
        if not replies_wait:
            # None met it; the answer released during the reply window's
            # outage went through at its first try.
            self.assertEqual([], made_during)
            made_during = [r for r in self.vnfm.replies.list()
                           if r['session_id'] == sid and
                           r['state'] == 'ACK_MAINTENANCE_COMPLETE']
            self.assertEqual([(True, 200, 1)] * len(made_during),
                             [(r['ok'], r['status'], r['attempts'])
                              for r in made_during])
        self.assertTrue(made_during, 'no VNFM reply met an outage')
        for reply in made_during:
            self.assertTrue(reply['ok'], reply)
            applied = [e for e in history if e['kind'] == 'reply' and
                       reply['event_id'] and
                       reply['event_id'] in (e['message'] or '') and
                       reply['state'] in (e['message'] or '')]
            self.assertEqual(1, len(applied), (reply, applied))
        replies['vnfm_replies_during_outages'] = len(made_during)

        # No compute left disabled.
        base.wait_for(lambda: not self.cloud.nova_disabled(), 60,
                      what='every compute enabled')
        self.assertEqual([], self.vnfm.violations())

        # Few ERROR lines per outage (from its start to the next one's).
        for outage, until in ((moves, replies['offsets']),
                              (replies, end_offsets)):
            errors = self.cloud.error_lines(outage['offsets'], until)
            outage['error_lines'] = len(errors)
            self.addDetail('error-lines-%s' % outage['name'].replace(
                ' ', '-'), content.text_content('\n'.join(errors)))
            self.assertLess(len(errors), MAX_ERROR_LINES, outage['name'])
        self._report(outages)

    def _report(self, outages):
        for outage in outages:
            for key in ('offsets', 'down_at', 'up_at'):
                outage.pop(key, None)
        self.figures['outages'] = outages
        text = json.dumps(self.figures, default=str, sort_keys=True)
        self.addDetail('outage-figures', content.text_content(text))
        path = os.environ.get('FENIX_OUTAGE_REPORT')
        if path:
            with open(path, 'a') as f:
                f.write(text + '\n')

    def test_database_outage(self):
        self._run(self.database, self.DATABASE_NAME)


class OutageTestCase(OutageMixin, testtools.TestCase):
    """On MariaDB; the broker's outage too (it does not depend on the
    database server)."""

    DATABASE = services.MariaDBServer
    DATABASE_NAME = 'mariadb'
    DATABASE_BINARIES = services.MARIADB

    def test_broker_outage(self):
        self._run(self.rabbit, 'rabbitmq', replies_wait=False)


class PostgreSQLOutageTestCase(OutageMixin, testtools.TestCase):
    """The database outage on PostgreSQL (a server of the test's own,
    stopped with a fast shutdown: its connections end)."""

    DATABASE = services.PostgreSQLServer
    DATABASE_NAME = 'postgresql'
    DATABASE_BINARIES = services.POSTGRESQL
