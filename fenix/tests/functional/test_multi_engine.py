# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Several engines and API workers (issue 14): one engine SIGKILLed, one
SIGSTOPped past the takeover time and let go again, six sessions at once.

Three ``fenix-engine`` processes and two ``fenix-api`` processes (two API
workers, on ports of their own) over the machine's RabbitMQ (RPC and
notifications, an exchange and topics of the test's own), a fresh MariaDB
database and Redis (``[coordination] backend_url``, a namespace of the
test's own), in front of the simulated cloud of ``replies_scenario``: six
cells of three computes, each with its tenant and its sample VNFM
answering every event. One session per cell, all at once, three of the
``default`` workflow and three ``nfv``, each with the ``chaos_probe``
action plug-in (pre, host, post: every start reaches an agent here, which
reports DONE through the API).

While the sessions run, the engine owning most of them is SIGKILLed; its
sessions must go on on another engine within the takeover time (the
'took over' history entry; the figure is printed). Then another engine
owning sessions is SIGSTOPped until its sessions were taken over and past
``takeover_after``, and SIGCONTed: it wakes up with runners that believe
they still own their sessions. Afterwards, from the cloud's own record and
the agent's: every session ``MAINTENANCE_DONE``; every step done exactly
once (no server moved twice from the same host, no compute disabled twice,
no host announced IN_MAINTENANCE or MAINTENANCE_COMPLETE twice with
two message ids, no plug-in run started twice); nothing lost; the
takeovers within 10 s; and the resumed engine's late writes refused and
logged (its log says so: 'fenced' or 'generation'; assertion
``FENCING``). A notification received again with the same message id
(the outbox's at-least-once delivery) is counted and printed, not a
failure. On a failure the logs of every process are kept (the directory
is printed; ``FENIX_MULTI_ENGINE_KEEP_LOGS=1`` keeps them after a pass).

Needs RabbitMQ (5672), MariaDB with the ``openstack_citest`` user (3306)
and Redis (6379) on 127.0.0.1: skipped without them, failed under
``FENIX_REQUIRE_OPPORTUNISTIC_DB=1`` (CI).
"""
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import fixtures
from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session
from novaclient import client as nova_client
from oslo_config import cfg
import oslo_messaging
import requests
import sqlalchemy as sa
import testtools
from testtools import content
from testtools import matchers

from fenix.tests.functional import base
from fenix.tests.functional import cloud_fixture as cf
from fenix.tests.functional import databases
from fenix.tests.functional import replies_scenario as scenario

from fenix_tools.chaos import probe
from fenix_tools.chaos import tally
from fenix_tools.simcloud import listener as listener_mod
from fenix_tools.simcloud import SimCloud
from fenix_tools.simcloud import util
from fenix_tools.vnfm import app as app_mod

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))
RABBIT = 'rabbit://guest:guest@127.0.0.1:5672/'
REDIS_PORT = 6379
ENGINES = ('engine-a', 'engine-b', 'engine-c')
APIS = 2
CELLS = 6
DONE = 'MAINTENANCE_DONE'
FINAL_STATES_SQL = ("'MAINTENANCE_DONE', 'MAINTENANCE_FAILED'")
# Engine liveness: a heartbeat every second, taken over after 4 s without
# one. The takeover is judged within TAKEOVER_AFTER + TAKEOVER_SLACK, 10 s
# (issue 14's bound): two heartbeats (the dead engine's last one may be
# almost a beat old, the survivor looks once per beat) and a margin for a
# loaded machine (at a load of 22-28 on two cores, 8.05 and 8.81 s were
# seen; quiet, 3-6 s).
HEARTBEAT_INTERVAL = 1
TAKEOVER_AFTER = 4
TAKEOVER_SLACK = 2 * HEARTBEAT_INTERVAL + 4
# Seconds (bounds of the waits).
START_TIMEOUT = 90
FIRST_MOVE_TIMEOUT = 90
TAKEOVER_TIMEOUT = 30
SESSIONS_TIMEOUT = 150
FENCING_LOG_TIMEOUT = 20
POLL = 0.05
# Seconds each manager waits before it answers, and how long it retries a
# reply that met an engine away (an RPC that reached the stopped engine
# times out in rpc_timeout and is a 503).
REPLY_DELAY = 0.3
REPLY_RETRIES = 120
RETRY_INTERVAL = 0.25
RPC_TIMEOUT = 4
# Seconds a create answered 503 is tried again (after a second each).
CREATE_RETRY_BOUND = 60
# The stale engine's late writes refused and logged: its log says so.
FENCING_LOG = re.compile(r'fenc|generation', re.IGNORECASE)
WARNING = re.compile(r' (?:WARNING|ERROR|CRITICAL) ')
ENGINE_STARTED = re.compile(r'Engine (\S+) started')
TOOK_OVER = 'took over'
API_REQUEST = re.compile(r'fenix\.api\.server .* "(?:GET|PUT|POST|DELETE) ')


def _services_missing():
    return [name for name, port in (('RabbitMQ', 5672), ('MariaDB', 3306),
                                    ('Redis', REDIS_PORT))
            if not base.port_open(port)]


class MultiEngineCloud(cf.FenixCloud):
    """The simulated cloud of ``replies_scenario`` in front of three
    engines and two API processes over RabbitMQ, MariaDB and Redis.

    The engines name different API processes as their public endpoint
    (the URL their events' ``reply_url`` carries), the catalog names the
    first one and the probe's agent reports to the second: both API
    workers serve managers.
    """

    def __init__(self, cells, db_url, engines=ENGINES, max_sessions=CELLS):
        super().__init__(scenario.topology(cells),
                         reply_window=scenario.REPLY_WINDOW,
                         workflow={'migration_retries':
                                   scenario.MIGRATION_RETRIES})
        self.db_url = db_url
        self.engine_names = engines
        self.max_sessions = max_sessions
        tag = uuid.uuid4().hex[:8]
        self.exchange = 'fenix-ft-me-%s' % tag
        self.engine_topic = 'fenix-ft-me-engine-%s' % tag
        self.notify_topic = 'fenix-ft-me-notify-%s' % tag
        self.redis_namespace = 'fenix-ft-me-%s' % tag
        self.engines = {}
        self.apis = []
        self.api_urls = []
        self.configs = {}

    def _setUp(self):
        self.workdir = self.useFixture(fixtures.TempDir()).path
        self.sim = SimCloud(topology=self.topology)
        self.sim.start()
        self.addCleanup(self.sim.stop)
        self._listen()
        self.addCleanup(self._stop_fenix)
        self.ports = [base.free_port() for _ in range(APIS)]
        self.api_urls = ['http://127.0.0.1:%d' % p for p in self.ports]
        self.port, self.url = self.ports[0], self.api_urls[0]
        self._write_configs()
        self._manage('db', 'upgrade')
        for name in self.engine_names:
            self.start_engine(name)
        for index in range(APIS):
            self.start_api(index)
        self.sim.set_maintenance_url(self.url + '/v1')
        self.client = base.FenixClient(self.url)
        admin = ks_session.Session(auth=v3.Password(
            **self.sim.auth_args('admin')), timeout=30)
        self.nova = nova_client.Client('2.53', session=admin)

    # --- configuration -------------------------------------------------------

    def _listen(self):
        conf = cfg.ConfigOpts()
        conf([], project='fenix-ft-me', default_config_files=[],
             default_config_dirs=[])
        transport = oslo_messaging.get_notification_transport(conf,
                                                              url=RABBIT)
        self.addCleanup(transport.cleanup)
        listener = listener_mod.NotificationListener(
            self.sim, transport=transport, topics=(self.notify_topic,),
            exchange=self.exchange)
        listener.start()
        self.addCleanup(listener.stop)

    def _sections(self, api_index, engine=None):
        wf = {'nova_poll_interval': 0.05, 'migration_timeout': 30,
              'own_action_timeout': 30,
              'migration_retries': scenario.MIGRATION_RETRIES}
        for event in ('maintenance', 'scale_in', 'prepare_maintenance',
                      'planned_maintenance', 'maintenance_complete'):
            wf['reply_window_%s' % event] = self.reply_window
        return {
            'DEFAULT': {'debug': 'false', 'transport_url': RABBIT,
                        'control_exchange': self.exchange},
            'api': {'host': '127.0.0.1', 'port': self.ports[api_index],
                    'auth_strategy': 'noauth',
                    'public_endpoint': self.api_urls[api_index],
                    'rpc_timeout': RPC_TIMEOUT},
            'engine': {'host': engine or 'api-%d' % api_index,
                       'topic': self.engine_topic,
                       'heartbeat_interval': HEARTBEAT_INTERVAL,
                       'takeover_after': TAKEOVER_AFTER,
                       'max_sessions': self.max_sessions},
            # Read by an engine that coordinates with tooz (issue 14);
            # an unknown group is ignored by one that does not.
            'coordination': {'backend_url': 'redis://127.0.0.1:%d'
                             '?namespace=%s' % (REDIS_PORT,
                                                self.redis_namespace)},
            'service_user': {
                'auth_type': 'password', 'auth_url': self.sim.auth_url,
                'username': 'fenix', 'password': 'fenixpass',
                'project_name': 'service', 'user_domain_name': 'Default',
                'project_domain_name': 'Default'},
            'database': {'connection': self.db_url},
            'oslo_messaging_notifications': {'driver': 'messagingv2',
                                             'topics': self.notify_topic},
            'workflow': wf,
            'download': {'directory': os.path.join(self.workdir,
                                                   'downloads')},
        }

    def _write_configs(self):
        for index in range(APIS):
            self.configs['api-%d' % index] = base.write_config(
                os.path.join(self.workdir, 'api-%d.conf' % index),
                self._sections(index))
        for n, name in enumerate(self.engine_names):
            self.configs[name] = base.write_config(
                os.path.join(self.workdir, '%s.conf' % name),
                self._sections(n % APIS, engine=name))

    def _env(self):
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            [p for p in [ROOT] + probe.probe_path(ROOT, self.workdir) +
             [env.get('PYTHONPATH')] if p])
        return env

    def _manage(self, *argv):
        subprocess.run([sys.executable, '-m', 'fenix.cmd.manage',
                        '--config-file', self.configs['api-0']] +
                       list(argv), check=True, capture_output=True,
                       timeout=120, env=self._env())

    # --- processes -----------------------------------------------------------

    def _popen(self, module, name):
        path = os.path.join(self.workdir, name + '.log')
        with open(path, 'ab') as log:
            return subprocess.Popen(
                [sys.executable, '-m', module, '--config-file',
                 self.configs[name]], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=self._env())

    def log_path_of(self, name):
        return os.path.join(self.workdir, name + '.log')

    def log_size(self, name):
        try:
            return os.path.getsize(self.log_path_of(name))
        except OSError:
            return 0

    def log_since(self, name, offset=0):
        try:
            with open(self.log_path_of(name), errors='replace') as f:
                f.seek(offset)
                return f.read()
        except OSError:
            return ''

    def start_engine(self, name):
        offset = self.log_size(name)
        proc = self.engines[name] = self._popen('fenix.cmd.engine', name)

        def started():
            if proc.poll() is not None:
                raise AssertionError('%s exited with %s:\n%s' % (
                    name, proc.returncode, self.log_since(name)[-3000:]))
            return ENGINE_STARTED.search(self.log_since(name, offset))
        base.wait_for(started, START_TIMEOUT, interval=POLL,
                      what='%s to start' % name)
        return proc

    def start_api(self, index):
        name = 'api-%d' % index
        proc = self._popen('fenix.cmd.api', name)
        self.apis.append(proc)
        health = self.api_urls[index] + '/healthcheck'

        def up():
            if proc.poll() is not None:
                raise AssertionError('%s exited with %s:\n%s' % (
                    name, proc.returncode, self.log_since(name)[-3000:]))
            try:
                return requests.get(health, timeout=2).status_code == 200
            except requests.RequestException:
                return False
        base.wait_for(up, START_TIMEOUT, interval=POLL,
                      what='%s on port %d' % (name, self.ports[index]))

    def _stop_fenix(self):
        procs = list(self.engines.values()) + list(self.apis)
        for proc in procs:
            if proc.poll() is None:
                # A stopped process would not act on SIGTERM.
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(15)

    def log_tail(self, lines=150):
        out = []
        for name in list(self.engine_names) + ['api-%d' % i
                                               for i in range(APIS)]:
            text = self.log_since(name).splitlines()[-lines:]
            out.append('--- %s ---\n%s' % (name, '\n'.join(text)))
        return '\n'.join(out)


class FenixDB(object):
    """The test's look into Fenix's database (owners and history)."""

    def __init__(self, url):
        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)

    def _rows(self, query, **params):
        with self.engine.connect() as conn:
            return conn.execute(sa.text(query), params).fetchall()

    def owners(self, session_ids):
        """{session_id: engine} of the unfinished ones."""
        rows = self._rows('SELECT session_id, engine FROM sessions WHERE '
                          'state NOT IN (%s)' % FINAL_STATES_SQL)
        return {r.session_id: r.engine for r in rows
                if r.session_id in session_ids}

    def took_over(self, session_id, victim):
        """The 'took over' history entries of the session naming
        ``victim`` (any wording containing both)."""
        rows = self._rows('SELECT message FROM session_events WHERE '
                          'session_id = :sid', sid=session_id)
        return [r.message for r in rows
                if victim in (r.message or '').lower().partition(
                    TOOK_OVER)[2]]

    def dispose(self):
        self.engine.dispose()


def _redeliveries(notes, sessions):
    """The notifications of ``sessions`` received more than once with
    the same message id: what they were and when each copy arrived."""
    copies = collections.defaultdict(list)
    for note in notes:
        p = note['payload'] or {}
        if p.get('session_id') in sessions and note['message_id']:
            copies[note['message_id']].append(note)
    out = []
    for message_id, found in sorted(copies.items()):
        if len(found) > 1:
            p = found[0]['payload'] or {}
            out.append('%s %s %s %s %s at %s' % (
                message_id[:8], found[0]['event_type'],
                p.get('session_id', '')[:8], p.get('host') or
                p.get('project_id') or '', p.get('state') or '',
                ', '.join(str(n['time']) for n in found)))
    return out


def _require_services(test):
    """Skip ``test`` (fail it where the databases are required) unless
    RabbitMQ, MariaDB and Redis run on localhost."""
    missing = _services_missing()
    if missing:
        msg = '%s not running on localhost' % ', '.join(missing)
        if os.environ.get('FENIX_REQUIRE_OPPORTUNISTIC_DB') == '1':
            test.fail(msg)
        test.skipTest(msg)


class MultiEngineTestCase(databases.MariaDBMixin, testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(330, gentle=True))
        _require_services(self)
        self.figures = {}
        self.cloud = self.useFixture(MultiEngineCloud(
            CELLS, self.database_url()))
        self.db = FenixDB(self.cloud.db_url)
        self.addCleanup(self.db.dispose)
        self.addOnException(self._attach)
        # Before the work directory goes: after a failed expectation
        # (reported once the cleanups ran) or with
        # FENIX_MULTI_ENGINE_KEEP_LOGS=1 (a pass too). An error raised by
        # the test keeps them at once (_attach).
        self.addCleanup(self._keep_logs_if_failed)
        self.agent = probe.ProbeAgent(self.cloud.api_urls[1], 0.3, 0,
                                      time.monotonic() + 600).start()
        self.addCleanup(self.agent.stop)

    def _warnings(self, lines=60):
        out = []
        for name in list(ENGINES) + ['api-%d' % i for i in range(APIS)]:
            found = [line for line in self.cloud.log_since(
                name).splitlines() if WARNING.search(line)]
            out.append('--- %s ---\n%s' % (name, '\n'.join(found[-lines:])))
        return '\n'.join(out)

    def _attach(self, exc_info):
        self.addDetail('figures', content.text_content(json.dumps(
            self.figures, indent=1, default=str, sort_keys=True)))
        self._keep_logs()

    def _keep_logs_if_failed(self):
        if getattr(self, 'force_failure', False) or \
                os.environ.get('FENIX_MULTI_ENGINE_KEEP_LOGS') == '1':
            self._keep_logs()

    def _keep_logs(self):
        if getattr(self, '_kept', None):
            return
        # The whole work directory (every engine's and API worker's log,
        # their configurations) outlives the test: a failure is judged
        # from what all the engines did, not from the last lines.
        kept = tempfile.mkdtemp(prefix='fenix-multi-engine-')
        try:
            shutil.copytree(self.cloud.workdir, kept, dirs_exist_ok=True)
        except (OSError, shutil.Error) as e:
            kept = '%s (incomplete: %s)' % (kept, e)
        self._kept = kept
        print('multi-engine logs kept in %s' % kept)
        self.addDetail('kept-logs', content.text_content(kept))
        self.addDetail('fenix-logs', content.text_content(
            self.cloud.log_tail(120)))

    # --- the steps -----------------------------------------------------------

    def _behaviour(self):
        return app_mod.Behaviour(reply_delay=REPLY_DELAY,
                                 reply_retries=REPLY_RETRIES,
                                 retry_interval=RETRY_INTERVAL)

    def _create_sessions(self):
        sessions = {}
        for cell in range(CELLS):
            workflow = scenario.WORKFLOWS[cell % 2]
            client = base.FenixClient(self.cloud.api_urls[cell % APIS])
            body = {'workflow': workflow,
                    'hosts': scenario.cell_hosts(cell),
                    'actions': probe.actions(self.agent.url)}
            key = uuid.uuid4().hex
            answers = []

            def create():
                # As a client does: the same create again (its
                # Idempotency-Key: one session whatever the number of
                # tries) while the answer is 503 (an engine busy past
                # rpc_timeout on a loaded machine), bounded.
                answers.append(client.post(
                    '/v1/maintenance', body,
                    headers={'Idempotency-Key': key}))
                return answers[-1].status_code != 503
            base.wait_for(create, CREATE_RETRY_BOUND, interval=1.0,
                          what='the create of the session of cell %d'
                          % cell)
            resp = answers[-1]
            self.assertEqual(200, resp.status_code, resp.text)
            sessions[resp.json()['session_id']] = workflow
        return sessions

    def _victim(self, sessions, exclude=()):
        """The live engine owning most unfinished sessions, and those."""
        owned = collections.defaultdict(list)
        for sid, engine in self.db.owners(sessions).items():
            if engine not in exclude:
                owned[engine].append(sid)
        self.assertTrue(owned, 'no unfinished session on an engine other '
                               'than %s' % (exclude,))
        engine = max(sorted(owned), key=lambda e: len(owned[e]))
        return engine, owned[engine]

    def _wait_takeover(self, victim, sids, since):
        """Seconds from ``since`` until each session of ``victim`` has
        another owner and its 'took over' history entry; None for one
        that ended first, 'not within N s' for one not taken over within
        :data:`TAKEOVER_TIMEOUT` (the test goes on, to count the rest)."""
        seconds = {}

        def taken():
            owners = self.db.owners(sids)
            for sid in sids:
                if sid in seconds:
                    continue
                if sid not in owners:
                    # Ended meanwhile (on its new owner).
                    seconds[sid] = None
                elif owners[sid] != victim and \
                        self.db.took_over(sid, victim):
                    seconds[sid] = round(time.monotonic() - since, 2)
            return len(seconds) == len(sids)
        try:
            base.wait_for(taken, TAKEOVER_TIMEOUT, interval=POLL,
                          what='the sessions of %s taken over' % victim)
        except AssertionError:
            for sid in sids:
                seconds.setdefault(sid, 'not within %d s'
                                   % TAKEOVER_TIMEOUT)
        return seconds

    def _wait_final(self, sessions):
        deadline = time.monotonic() + SESSIONS_TIMEOUT
        states = {}
        for sid in sessions:
            left = max(1, deadline - time.monotonic())
            states[sid] = self.cloud.wait_final(sid, timeout=left,
                                                interval=0.2)
        return states

    def _fencing_lines(self, engine, offset):
        def found():
            return [line for line in self.cloud.log_since(
                engine, offset).splitlines() if FENCING_LOG.search(line)]
        try:
            return base.wait_for(found, FENCING_LOG_TIMEOUT, interval=0.2,
                                 what='a fencing line in the log of %s'
                                 % engine)
        except AssertionError:
            return []

    # --- what the cloud recorded ---------------------------------------------

    def _count(self, sessions, since, servers_before, storm):
        cloud = self.cloud
        notes = [{'event_type': e.get('event_type'),
                  'message_id': e.get('message_id'),
                  'payload': e.get('payload'), 'time': e.get('time')}
                 for e in cloud.sim.get_events(kind='notification.receive')]
        starts = self.agent.starts()
        f = self.figures
        # A server moved off the same host twice: a move done again (a
        # host is maintained once, and a maintained host is not emptied
        # again).
        moves = collections.Counter(
            (m['server'], m['source']) for m in cloud.migrations(since)
            if m['ok'])
        f['duplicate_migrations'] = {'%s from %s' % k: n - 1
                                     for k, n in moves.items() if n > 1}
        f['migrations'] = sum(moves.values())
        disables = collections.Counter(
            e.get('host') for e in cloud.service_changes(since=since)
            if e.get('disabled'))
        f['duplicate_host_disables'] = {h: n - 1 for h, n in
                                        disables.items() if n > 1}
        host_events = collections.defaultdict(set)
        for event in notes:
            p = event['payload'] or {}
            if event['event_type'] == tally.HOST_EVENT and \
                    p.get('session_id') in sessions:
                host_events[(p.get('host'), p.get('state'))].add(
                    event['message_id'])
        f['duplicate_host_events'] = {'%s %s' % k: len(ids) - 1 for k, ids
                                      in host_events.items() if len(ids) > 1}
        f['host_starts'] = sum(1 for h, s in host_events
                               if s == tally.IN_MAINTENANCE)
        f['duplicate_plugin_starts'] = {}
        for sid in sessions:
            for key, n in tally.duplicate_plugin_starts(starts, sid).items():
                f['duplicate_plugin_starts']['%s %s/%s@%s' % (
                    (sid[:8],) + key)] = n
        f['plugin_starts'] = len(starts)
        # The same message received again (same message id): the
        # outbox's at-least-once delivery (a row sent and not yet marked
        # sent when its engine was killed or stopped is sent again by the
        # new owner; a consumer drops it by its id). Counted and shown,
        # not a failure; a step done twice is a new message (a new id),
        # which the duplicate_* figures count.
        f['redelivered_same_id'] = sum(
            tally.redelivered(notes, sid) for sid in sessions)
        f['redeliveries'] = _redeliveries(notes, sessions)
        f['unannounced_or_lost_final_states'] = {
            sid: tally.final_state_figures(notes, sid, f['states'][sid])
            for sid in sessions
            if any(tally.final_state_figures(notes, sid,
                                             f['states'][sid]))}
        after = {s.id: {'name': s.name, 'status': s.status,
                        'task_state': getattr(s, 'OS-EXT-STS:task_state',
                                              None)}
                 for s in cloud.servers().values()}
        f['instances_lost'] = tally.lost_instances(servers_before, after)
        f['hosts_left_disabled'] = sorted(
            set(cloud.sim.history.disabled_hosts()))
        f['app_violations'] = [
            '%s: %s %s' % (v.name, x.get('kind'), x.get('detail') or '')
            for v in storm.vnfms for x in v.violations()]

    # --- the test ------------------------------------------------------------

    def test_kill_and_stop_engines_during_six_sessions(self):
        cloud = self.cloud
        began = time.monotonic()
        storm = scenario.ReplyStorm(cloud, CELLS,
                                    behaviour_factory=self._behaviour)
        storm.start()
        servers_before = {s.id: s.name for s in cloud.servers().values()}
        since = cloud.sim.events.last_seq
        sessions = self._create_sessions()
        f = self.figures
        f['sessions'] = sessions
        f['setup_seconds'] = round(time.monotonic() - began, 1)

        # SIGKILL, once the sessions are moving servers.
        first = cloud.sim.events.wait_for(
            lambda e: e['kind'] == 'migration.start', FIRST_MOVE_TIMEOUT,
            since=since)
        self.assertIsNotNone(first, 'no migration within %s s'
                             % FIRST_MOVE_TIMEOUT)
        killed, killed_sids = self._victim(sessions)
        cloud.engines[killed].send_signal(signal.SIGKILL)
        kill_at = time.monotonic()
        cloud.engines[killed].wait(30)
        f['killed'] = {'engine': killed, 'sessions': killed_sids}
        f['takeover_seconds_after_sigkill'] = self._wait_takeover(
            killed, killed_sids, kill_at)

        # SIGSTOP another engine owning sessions, past the takeover time.
        stopped, stopped_sids = self._victim(sessions, exclude=(killed,))
        proc = cloud.engines[stopped]
        proc.send_signal(signal.SIGSTOP)
        stop_at = time.monotonic()
        f['stopped'] = {'engine': stopped, 'sessions': stopped_sids}
        f['takeover_seconds_after_sigstop'] = self._wait_takeover(
            stopped, stopped_sids, stop_at)
        # At least takeover_after and a beat past it, whatever the wait
        # above took (a bounded wait on the clock, not on an event: the
        # point is the stall itself).
        hold = TAKEOVER_AFTER + HEARTBEAT_INTERVAL - (time.monotonic() -
                                                      stop_at)
        if hold > 0:
            time.sleep(hold)
        offset = cloud.log_size(stopped)
        proc.send_signal(signal.SIGCONT)
        f['stopped']['seconds'] = round(time.monotonic() - stop_at, 2)
        f['stopped']['resumed_at'] = util.wall_clock()

        f['states'] = self._wait_final(sessions)
        f['errors'] = {sid: cloud.summary(sid).get('error')
                       for sid, state in f['states'].items()
                       if state != DONE}
        f['sessions_seconds'] = round(time.monotonic() - began, 1)
        storm.settle()
        try:
            f['hosts_enabled'] = base.wait_for(
                lambda: not cloud.sim.history.disabled_hosts(), 30,
                interval=0.2, what='every compute enabled again')
        except AssertionError:
            f['hosts_enabled'] = False
        fencing = self._fencing_lines(stopped, offset)
        f['fencing_log_lines'] = fencing[:5]
        self._count(sessions, since, servers_before, storm)
        # Both API workers served requests.
        f['api_requests'] = {
            'api-%d' % i: len(API_REQUEST.findall(
                cloud.log_since('api-%d' % i))) for i in range(APIS)}
        f['seconds'] = round(time.monotonic() - began, 1)
        print('multi-engine figures: %s' % json.dumps(
            f, default=str, sort_keys=True))
        self.addDetail('figures', content.text_content(json.dumps(
            f, indent=1, default=str, sort_keys=True)))
        # The logs go with the work directory: what a failure needs of
        # them is kept now.
        self.addDetail('fenix-warnings', content.text_content(
            self._warnings()))

        # Every session done, every step once, nothing lost.
        self.expectThat(
            {sid: s for sid, s in f['states'].items() if s != DONE},
            matchers.Equals({}), 'sessions not MAINTENANCE_DONE')
        for name in ('duplicate_migrations', 'duplicate_host_disables',
                     'duplicate_host_events', 'duplicate_plugin_starts',
                     'unannounced_or_lost_final_states', 'instances_lost',
                     'hosts_left_disabled', 'app_violations'):
            self.expectThat(f[name], matchers.HasLength(0), name)
        self.expectThat(f['host_starts'],
                        matchers.Equals(CELLS * scenario.HOSTS_PER_CELL),
                        'hosts that went into maintenance')
        self.expectThat(min(f['api_requests'].values()),
                        matchers.GreaterThan(0),
                        'requests served by each API worker')
        # Takeover within the configured time.
        bound = TAKEOVER_AFTER + TAKEOVER_SLACK
        for key in ('takeover_seconds_after_sigkill',
                    'takeover_seconds_after_sigstop'):
            late = {sid: s for sid, s in f[key].items()
                    if s is not None and not (isinstance(s, float) and
                                              s <= bound)}
            self.expectThat(late, matchers.Equals({}),
                            '%s beyond %s s' % (key, bound))
        # FENCING: the resumed engine's late writes refused and logged.
        self.expectThat(
            fencing, matchers.Not(matchers.HasLength(0)),
            'FENCING: engine %s, SIGCONTed after its sessions were taken '
            'over, logged no refused write (no log line matching %s)'
            % (stopped, FENCING_LOG.pattern))


class FullEngineTestCase(databases.MariaDBMixin, testtools.TestCase):
    """Two engines with ``[engine] max_sessions`` 1 (tooz over Redis,
    RabbitMQ, MariaDB): a create sent to the engine that runs a session
    already is made and run by the other one (issue 14); with both full,
    a create is 409."""

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(180, gentle=True))
        _require_services(self)
        self.cloud = self.useFixture(MultiEngineCloud(
            1, self.database_url(), engines=ENGINES[:2], max_sessions=1))
        self.db = FenixDB(self.cloud.db_url)
        self.addCleanup(self.db.dispose)
        self.addOnException(lambda exc_info: self.addDetail(
            'logs', content.text_content(self.cloud.log_tail())))

    def _to_engine_a(self):
        """An RPC client of the test to engine-a alone (the API's creates
        go to any engine)."""
        # The global configuration: oslo.messaging registers the options
        # its client reads there (tracing).
        transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=RABBIT)
        self.addCleanup(transport.cleanup)
        return oslo_messaging.get_rpc_client(
            transport, oslo_messaging.Target(
                exchange=self.cloud.exchange, topic=self.cloud.engine_topic,
                server='engine-a', version='1.2'), timeout=RPC_TIMEOUT)

    def test_a_full_engine_forwards_the_create(self):
        # engine-a sees engine-b as a member of the group (its beat).
        base.wait_for(lambda: re.search(
            r'live engines now engine-a, engine-b',
            self.cloud.log_since('engine-a')), 30, interval=POLL,
            what='engine-a to see engine-b')
        client = self._to_engine_a()
        ctx = {'project_id': 'admin', 'user_id': 'admin',
               'roles': ['admin']}
        later = time.strftime('%Y-%m-%d %H:%M:%S',
                              time.gmtime(time.time() + 3600))

        def create(key):
            # Waits for maintenance_at an hour on: stays active.
            return client.call(ctx, 'create_session', values={
                'workflow': 'default', 'maintenance_at': later,
                'hosts': scenario.cell_hosts(0)[:1]},
                idempotency_key=key)['session_id']

        first, second = create('k1'), create('k2')
        self.assertEqual({first: 'engine-a', second: 'engine-b'},
                         self.db.owners({first, second}))
        self.assertIn('the create goes to engine engine-b',
                      self.cloud.log_since('engine-a'))
        # Sent again with its key: the same session.
        self.assertEqual(second, create('k2'))
        # Both full: 409 through the API, whichever engine takes it.
        resp = self.cloud.client.post('/v1/maintenance', {
            'workflow': 'default', 'maintenance_at': later,
            'hosts': scenario.cell_hosts(0)[:1]})
        self.assertEqual(409, resp.status_code, resp.text)
        self.assertIn('max_sessions', resp.text)
        self.assertEqual(2, self.db._rows(
            'SELECT count(*) AS n FROM sessions')[0].n)
