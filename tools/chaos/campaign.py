# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Crash campaign: SIGKILL Fenix's engine at chosen moments, count harm.

Each session runs on a fresh simulated cloud (seed-004 shape: computes of
two slots, filled by the sample VNFM's active/standby pair and four
non-redundant servers, which it scales in and back out) with a fresh Fenix:

* ``all-in-one``: one ``fenix-all-in-one`` process (SQLite, in-process
  RPC, notifications over HTTP to the cloud); the kill takes the API down
  with the engine;
* ``split``: ``fenix-api`` and ``fenix-engine`` over the local RabbitMQ
  (RPC and notifications) with a fresh MariaDB database; only the engine
  is killed, the API stays up.

The session maintains every compute with the ``chaos_probe`` action
plug-in (``pre``, ``host`` and ``post``; ``tools/chaos/chaos_probe.py``),
whose every start reaches an agent here that reports DONE through the API
a moment later. The campaign waits for a planned moment (a random time,
right after a migration starts, while a host is IN_MAINTENANCE, right after
the final state reached the database...: ``fenix_tools.chaos.plan``),
SIGKILLs the engine, starts it again at once, and so on; then waits for the
session to end (bounded) and counts, from the cloud's own record and the
agent's: sessions not MAINTENANCE_DONE, instances lost, migrations beyond
a crash-free run of the same cloud, hosts left disabled, host and plug-in
starts repeated, final states not announced (or announced and not kept),
and the VNFM checker's violations (``fenix_tools.chaos.tally``).

Usage::

    python tools/chaos/campaign.py --kills 100 --workflow default,nfv \\
        --mode all-in-one,split --seed 1 [--json] [--report-only]
    python tools/chaos/campaign.py --quick      # CI: 8 kills, all-in-one
    python tools/chaos/campaign.py --engines 3 \\
        --coordination redis://127.0.0.1:6379 --quick   # CI: 3 engines

Exit status: 0 when every failing figure is zero, every crash-free
reference run was clean and the kills asked for were made; 1 otherwise
(0 with ``--report-only``); 2 when the campaign could not run at all.
See ``tools/chaos/README.rst``.
"""
import argparse
import collections
import json
import logging
import math
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from urllib import parse as urlparse
import uuid

import requests
import sqlalchemy as sa

from fenix import cmd as fenix_cmd

from fenix_tools.chaos import plan as plan_mod
from fenix_tools.chaos import probe
from fenix_tools.chaos import tally
from fenix_tools import common
from fenix_tools import demo_cloud
from fenix_tools.simcloud import listener as listener_mod
from fenix_tools.vnfm import app as app_mod
from fenix_tools.vnfm import manager as vnfm_mod

LOG = logging.getLogger('chaos')

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))

ALL_IN_ONE = 'all-in-one'
SPLIT = 'split'
MODES = (ALL_IN_ONE, SPLIT)
# --engines N (N > 1): N fenix-engine processes and one fenix-api over
# RabbitMQ and MariaDB (and Redis with --coordination), engines killed or
# stopped at random.
MULTI = 'multi-engine'
SIGSTOP = plan_mod.STOP
# Default ports of the coordination backends, to check one is there.
COORDINATION_PORTS = {'redis': 6379, 'etcd3+http': 2379, 'zookeeper': 2181}
WORKFLOWS = ('default', 'nfv')

ENGINE_HOST = 'chaos-engine'
ENGINE_STARTED = re.compile(rb'Engine \S+ started')
PROJECT_EVENT_TYPES = ('maintenance.planned', 'maintenance.scheduled')
VNFM_EVENT_TYPE = 'maintenance.planned'

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_SETUP = 2

# Seconds a (re)started Fenix process may take to answer.
START_TIMEOUT = 90
# Seconds between looks at the session's row in the database.
DB_POLL = 0.01
# Seconds of one wait for a cloud event (the waits are woken at once by
# the event; this only bounds how late a deadline is noticed).
EVENT_WAIT = 0.05
# Seconds the sample VNFM keeps trying to read an event's instance list
# while Fenix restarts (a real manager retries a 503 or a refused
# connection; the sample one would NACK at once).
VNFM_PATIENCE = 30
# VNFM error messages kept per session in the report.
VNFM_ERRORS_KEPT = 10
# Starts tried before an engine that does not come back after a kill
# is given up (each bounded by START_TIMEOUT).
RESTART_ATTEMPTS = 3
# --max-time of --quick (seconds), one engine and --engines N.
QUICK_MAX_TIME = 600
QUICK_MAX_TIME_MULTI = 900
# Consecutive sessions that may fail to set up before the campaign gives
# up.
MAX_SETUP_ERRORS = 3

DEFAULT_MYSQL = 'mysql+pymysql://openstack_citest:openstack_citest@' \
                '127.0.0.1/'
DEFAULT_RABBIT = 'rabbit://guest:guest@127.0.0.1:5672/'


class SetupError(Exception):
    """A session's cloud, Fenix or VNFM could not be started."""


# --- helpers around the sample VNFM ----------------------------------------

class PatientVNFM(vnfm_mod.SampleVNFM):
    """The sample VNFM, retrying the read of an event's instance list
    while Fenix restarts instead of NACKing the event at once.

    A refused connection or a 5xx is retried for :data:`VNFM_PATIENCE`
    seconds; any other answer is final, as before.
    """

    def _affected(self, event):
        deadline = time.monotonic() + VNFM_PATIENCE
        while True:
            try:
                return super()._affected(event)
            except common.FenixError as e:
                transient = e.status is None or e.status >= 500
                if not transient or time.monotonic() > deadline:
                    raise
            if self._stop.wait(0.25):
                raise vnfm_mod.VNFMError('stopped')


# --- Fenix processes --------------------------------------------------------

class FenixDeployment(object):
    """Fenix in one of the two shapes, with the engine to kill.

    ``all-in-one``: one process; ``split``: fenix-api and fenix-engine
    over RabbitMQ with a MariaDB database of its own (created here,
    dropped by :meth:`stop`).
    """

    def __init__(self, mode, workdir, cloud, args, names):
        self.mode = mode
        self.workdir = workdir
        self.cloud = cloud
        self.args = args
        self.names = names
        self.port = None
        self.url = None
        self.engine = None
        self.api = None
        self.db_url = None
        self._db_name = None
        self._db_admin = None
        self.starts = 0
        self.unexpected_exits = []
        self.restart_failures = []

    # configuration

    def _env(self):
        env = dict(os.environ)
        # The checkout's fenix first: the code under test is this tree's.
        env['PYTHONPATH'] = os.pathsep.join(
            [p for p in [ROOT] + probe.probe_path(ROOT, self.workdir) +
             [env.get('PYTHONPATH')] if p])
        env['XDG_CACHE_HOME'] = os.path.join(self.workdir, 'cache')
        return env

    def _config(self):
        return self._write_config('fenix.conf', self._sections())

    def _write_config(self, name, sections):
        return common.write_ini(os.path.join(self.workdir, name), sections)

    def _sections(self):
        args = self.args
        svc = self.cloud.service_credentials()
        workflow = {
            'nova_poll_interval': 0.05,
            'migration_timeout': 60,
            'own_action_timeout': 60,
            'migration_retries': 1,
        }
        for event in ('maintenance', 'scale_in', 'prepare_maintenance',
                      'planned_maintenance', 'maintenance_complete'):
            workflow['reply_window_%s' % event] = args.reply_window
        sections = {
            'DEFAULT': {'debug': 'true' if args.verbose else 'false'},
            'api': {'host': '127.0.0.1', 'port': self.port,
                    'auth_strategy': 'noauth', 'public_endpoint': self.url},
            'service_user': {
                'auth_type': 'password', 'auth_url': svc['auth_url'],
                'username': svc['username'], 'password': svc['password'],
                'project_name': svc['project_name'],
                'user_domain_name': 'Default',
                'project_domain_name': 'Default'},
            'engine': {'host': ENGINE_HOST, 'heartbeat_interval': 1},
            'workflow': workflow,
            'download': {'directory': os.path.join(self.workdir,
                                                   'downloads')},
        }
        if self.mode == ALL_IN_ONE:
            self.db_url = 'sqlite:///%s' % os.path.join(
                self.workdir, 'fenix.sqlite')
            sections['oslo_messaging_notifications'] = {
                'driver': 'fenix-http'}
            sections['notification_http'] = {
                'url': self.cloud.notification_url}
        else:
            sections['DEFAULT'].update({
                'transport_url': args.rabbit_url,
                'control_exchange': self.names['exchange']})
            sections['api']['rpc_timeout'] = 5
            sections['engine']['topic'] = self.names['engine_topic']
            sections['oslo_messaging_notifications'] = {
                'driver': 'messagingv2',
                'topics': self.names['notify_topic']}
        sections['database'] = {'connection': self.db_url}
        return sections

    def _create_db(self):
        self._db_name = 'fenix_chaos_%s' % uuid.uuid4().hex[:10]
        base = self.args.mysql_url.rstrip('/')
        self._db_admin = sa.create_engine(base + '/openstack_citest',
                                          poolclass=sa.pool.NullPool)
        with self._db_admin.connect() as conn:
            conn.execute(sa.text('CREATE DATABASE %s' % self._db_name))
        self.db_url = '%s/%s' % (base, self._db_name)

    # processes

    def _process(self, name, module, conf=None):
        log = os.path.join(self.workdir, name + '.log')
        return common.ManagedProcess(
            name, [sys.executable, '-m', module, '--config-file',
                   conf or self.conf],
            log, env=self.env, cwd=self.workdir)

    def start(self):
        self.env = self._env()
        self.port = common.free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        if self.mode != ALL_IN_ONE:
            self._create_db()
        self.conf = self._config()
        if self.mode != ALL_IN_ONE:
            manage = self._process('manage', 'fenix.cmd.manage')
            manage.argv += ['db', 'upgrade']
            manage.start()
            try:
                code = manage.proc.wait(120)
            finally:
                manage.stop()
            if code != 0:
                raise SetupError('fenix-manage db upgrade exited %s: %s'
                                 % (code, manage.tail(20)))
            self.api = self._process('api', 'fenix.cmd.api').start()
            self._start_engines()
            self._wait_api()
        else:
            self._start_engine('fenix.cmd.all_in_one', 'all-in-one')
        return self

    def _start_engines(self):
        self._start_engine('fenix.cmd.engine', 'engine')

    def _start_engine(self, module, name, conf=None):
        proc = self._process(name, module, conf)
        self.starts += 1
        with open(proc.log_path, 'ab') as f:
            f.write(b'=== chaos: start %d ===\n' % self.starts)
            offset = f.tell()
        self.engine = proc.start()
        self._wait_engine(offset)
        return self.engine

    def _wait_api(self):
        health = self.url + '/healthcheck'

        def up():
            for proc in (self.api, self.engine):
                if proc is not None and not proc.alive():
                    raise SetupError('%s exited with %s:\n%s' % (
                        proc.name, proc.returncode(), proc.tail(30)))
            try:
                return requests.get(health, timeout=2).status_code == 200
            except requests.RequestException:
                return False
        try:
            common.wait_until(up, START_TIMEOUT, interval=0.05,
                              what='Fenix API on port %d' % self.port)
        except common.WaitTimeout as e:
            raise SetupError(str(e))

    def _wait_engine(self, offset):
        """Until the engine resumed its sessions: the all-in-one's API
        answers only then; the split engine says so in its log."""
        if self.mode == ALL_IN_ONE:
            return self._wait_api()
        proc = self.engine

        def started():
            if not proc.alive():
                raise SetupError('fenix-engine exited with %s:\n%s' % (
                    proc.returncode(), proc.tail(30)))
            with open(proc.log_path, 'rb') as f:
                f.seek(offset)
                return bool(ENGINE_STARTED.search(f.read()))
        try:
            common.wait_until(started, START_TIMEOUT, interval=0.05,
                              what='fenix-engine to start')
        except common.WaitTimeout as e:
            raise SetupError(str(e))

    def engine_alive(self):
        return self.engine is not None and self.engine.alive()

    def kill_and_restart(self):
        """SIGKILL the engine, reap it, start it again at once.

        Returns the seconds the engine was away. An engine found dead
        (not by our hand) is recorded in ``unexpected_exits``.
        """
        began = time.monotonic()
        proc = self.engine
        if proc.alive():
            proc.proc.send_signal(signal.SIGKILL)
            proc.proc.wait(30)
        else:
            self.unexpected_exits.append(proc.returncode())
        proc.stop()
        module = ('fenix.cmd.all_in_one' if self.mode == ALL_IN_ONE
                  else 'fenix.cmd.engine')
        for attempt in range(1, RESTART_ATTEMPTS + 1):
            try:
                self._start_engine(module, proc.name)
                break
            except SetupError as e:
                self.restart_failures.append(str(e)[:2000])
                if self.engine is not None:
                    self.engine.stop(grace=3)
                if attempt == RESTART_ATTEMPTS:
                    raise
        return time.monotonic() - began

    def engine_logs(self):
        """The text of the engines' logs (every start of each)."""
        if self.mode == ALL_IN_ONE:
            names = ['all-in-one']
        elif self.mode == MULTI:
            names = [MultiEngineDeployment.host(n)
                     for n in range(self.args.engines)]
        else:
            names = ['engine']
        text = []
        for name in names:
            path = os.path.join(self.workdir, name + '.log')
            try:
                with open(path, 'rb') as f:
                    text.append(f.read().decode('utf-8', 'replace'))
            except OSError:
                pass
        return '\n'.join(text)

    def check_exits(self):
        """Record an engine or API that died by itself."""
        for proc in (self.engine, self.api):
            if proc is not None and not proc.alive():
                self.unexpected_exits.append(proc.returncode())
                return proc.name
        return None

    def stop(self):
        for proc in (self.engine, self.api):
            if proc is not None:
                proc.stop(grace=3)
        if self._db_admin is not None:
            try:
                with self._db_admin.connect() as conn:
                    conn.execute(sa.text('DROP DATABASE IF EXISTS %s'
                                         % self._db_name))
            except Exception as e:  # noqa - cleanup is best effort
                LOG.warning('could not drop %s: %s', self._db_name, e)
            self._db_admin.dispose()
            self._db_admin = None

    def tails(self, lines=60):
        out = []
        for proc in (self.engine, self.api):
            if proc is not None:
                out.append('--- %s (%s) ---\n%s' % (proc.name, proc.log_path,
                                                    proc.tail(lines)))
        return '\n'.join(out)


class MultiEngineDeployment(FenixDeployment):
    """``--engines N``: one fenix-api and N fenix-engine processes
    (``chaos-engine-0``...) over RabbitMQ and a MariaDB database of their
    own, coordinating over ``--coordination`` when given.

    :meth:`disrupt` SIGKILLs an engine (started again after a random
    delay, so that its sessions are sometimes resumed by itself and
    sometimes taken over by another) or SIGSTOPs it past the takeover
    time and SIGCONTs it (it wakes up believing it still owns its
    sessions: what fencing must stop).
    """

    def __init__(self, mode, workdir, cloud, args, names):
        super().__init__(mode, workdir, cloud, args, names)
        self.engines = collections.OrderedDict()
        self.confs = {}

    @staticmethod
    def host(index):
        return '%s-%d' % (ENGINE_HOST, index)

    def _sections(self):
        sections = super()._sections()
        sections['engine'].update({
            'heartbeat_interval': self.args.heartbeat_interval,
            'takeover_after': self.args.takeover_after,
            'max_sessions': 10})
        if self.args.coordination:
            sections['coordination'] = {
                'backend_url': coordination_url(self.args.coordination,
                                                self.names['exchange'])}
        return sections

    def _config(self):
        sections = self._sections()
        for index in range(self.args.engines):
            sections['engine']['host'] = self.host(index)
            self.confs[self.host(index)] = self._write_config(
                '%s.conf' % self.host(index), sections)
        sections['engine']['host'] = 'chaos-api'
        return self._write_config('fenix.conf', sections)

    def _start_engines(self):
        for index in range(self.args.engines):
            self._start_one(self.host(index))

    def _start_one(self, name):
        proc = self._start_engine('fenix.cmd.engine', name,
                                  self.confs[name])
        self.engines[name] = proc
        return proc

    def _procs(self):
        return list(self.engines.values()) + [self.api]

    def disrupt(self, rng, owner):
        """SIGKILL or SIGSTOP one engine (the session's ``owner`` three
        times in four, when known; another live one otherwise), as
        :func:`fenix_tools.chaos.plan.disruption` decides; returns what
        was done (action, engine, seconds away)."""
        action, name, hold = plan_mod.disruption(
            rng, list(self.engines), owner, self.args.stop_share,
            self.args.takeover_after, self.args.hold_extra)
        proc = self.engines[name]
        began = time.monotonic()
        done = {'action': action, 'engine': name,
                'owner': name == owner}
        if not proc.alive():
            self.unexpected_exits.append(proc.returncode())
        elif action == SIGSTOP:
            proc.proc.send_signal(signal.SIGSTOP)
            try:
                pause = threading.Event()
                pause.wait(hold)
            finally:
                proc.proc.send_signal(signal.SIGCONT)
            done['down'] = round(time.monotonic() - began, 2)
            return done
        else:
            proc.proc.send_signal(signal.SIGKILL)
            proc.proc.wait(30)
        proc.stop()
        if hold:
            threading.Event().wait(hold)
        for attempt in range(1, RESTART_ATTEMPTS + 1):
            try:
                self._start_one(name)
                break
            except SetupError as e:
                self.restart_failures.append(str(e)[:2000])
                self.engines[name].stop(grace=3)
                if attempt == RESTART_ATTEMPTS:
                    raise
        done['down'] = round(time.monotonic() - began, 2)
        return done

    def check_exits(self):
        for proc in self._procs():
            if proc is not None and not proc.alive():
                self.unexpected_exits.append(proc.returncode())
                return proc.name
        return None

    def stop(self):
        for proc in self._procs():
            if proc is not None and proc.alive():
                # A stopped process would not act on SIGTERM.
                proc.proc.send_signal(signal.SIGCONT)
        for proc in self._procs():
            if proc is not None:
                proc.stop(grace=3)
        self.engine = self.api = None
        self.engines.clear()
        super().stop()

    def tails(self, lines=60):
        return '\n'.join('--- %s (%s) ---\n%s' % (
            proc.name, proc.log_path, proc.tail(lines))
            for proc in self._procs() if proc is not None)


def coordination_url(url, tag):
    """``url`` with a tooz ``namespace`` of the campaign's own (unless it
    names one), so that engines of other runs sharing the backend are not
    taken for members of this one's group."""
    if 'namespace=' in url:
        return url
    return '%s%snamespace=%s' % (url, '&' if '?' in url else '?', tag)


class StateWatcher(object):
    """Reads the session's state from Fenix's database every
    :data:`DB_POLL` seconds, to catch the moment its final state is
    committed (before Fenix announces it)."""

    def __init__(self, db_url, session_id):
        self.engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
        self.session_id = session_id
        self.state = None
        self.owner = None
        self.final = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run,
                                        name='chaos-db-watch', daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self.engine.dispose()

    def _run(self):
        query = sa.text('SELECT state, engine FROM sessions '
                        'WHERE session_id = :s')
        conn = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = self.engine.connect()
                row = conn.execute(query, {'s': self.session_id}).first()
                conn.rollback()
                if row is not None:
                    self.state, self.owner = row[0], row[1]
                    if self.state in tally.FINAL_STATES:
                        self.final.set()
                        return
            except Exception:  # noqa - locked/busy: look again
                if conn is not None:
                    conn.close()
                    conn = None
            self._stop.wait(DB_POLL)
        if conn is not None:
            conn.close()


# --- one session -------------------------------------------------------------

def _topology(args):
    topo = demo_cloud.seed004_topology(computes=args.computes)
    topo['name'] = 'chaos'
    topo['timing'] = {'cold_migration': args.migration_time,
                      'live_migration': args.migration_time,
                      'confirm_resize': 0.0, 'boot': 0.05}
    return topo


def _is_project_event(sid):
    def match(e):
        return (e['kind'] == 'notification.receive' and
                e.get('event_type') in PROJECT_EVENT_TYPES and
                (e.get('payload') or {}).get('session_id') == sid)
    return match


def _is_host_event(sid, state):
    def match(e):
        p = e.get('payload') or {}
        return (e['kind'] == 'notification.receive' and
                e.get('event_type') == tally.HOST_EVENT and
                p.get('session_id') == sid and p.get('state') == state)
    return match


def _describe(event):
    """A few words about a cloud event, for the report."""
    payload = event.get('payload') or {}
    words = [event.get('event_type') or event['kind'],
             payload.get('host') or event.get('name') or event.get('host'),
             payload.get('state') or event.get('type')]
    return ' '.join(str(w) for w in words if w)


def _is_kind(kind, **fields):
    def match(e):
        return e['kind'] == kind and all(e.get(k) == v
                                         for k, v in fields.items())
    return match


class SessionRun(object):
    """One session on a fresh cloud and Fenix, with its kills."""

    def __init__(self, args, workflow, mode, names, workdir, kill_plan,
                 triggers=(), reference=None):
        self.args = args
        self.workflow = workflow
        self.mode = mode
        self.names = names
        self.workdir = workdir
        self.kill_plan = kill_plan
        self.triggers = list(triggers)
        self.reference = reference
        self.deadline = None
        self.cloud = None
        self.fenix = None
        self.vnfm = None
        self.agent = None
        self.listener = None
        self.watcher = None
        self.session_id = None
        self.kills = []
        self.skipped = []

    # setup and teardown

    def _start_listener(self):
        from oslo_config import cfg
        import oslo_messaging
        conf = cfg.ConfigOpts()
        conf([], project='fenix-chaos', default_config_files=[],
             default_config_dirs=[])
        oslo_messaging.set_transport_defaults(self.names['exchange'])
        transport = oslo_messaging.get_notification_transport(
            conf, url=self.args.rabbit_url)
        self.listener = listener_mod.NotificationListener(
            self.cloud.sim, transport=transport,
            topics=(self.names['notify_topic'],))
        self.listener.start()
        self._transport = transport

    def setup(self):
        os.makedirs(self.workdir, exist_ok=True)
        self.cloud = demo_cloud.DemoCloud(topology=_topology(self.args))
        self.cloud.start()
        if self.mode != ALL_IN_ONE:
            self._start_listener()
        deployment = (MultiEngineDeployment if self.mode == MULTI
                      else FenixDeployment)
        self.fenix = deployment(self.mode, self.workdir, self.cloud,
                                self.args, self.names)
        self.fenix.start()
        self.cloud.set_fenix_url(self.fenix.url + '/v1')
        # The deadline is set again when the session is created.
        self.agent = probe.ProbeAgent(
            self.fenix.url, self.args.plugin_time,
            self.args.plugin_after_restart,
            time.monotonic() + START_TIMEOUT).start()
        creds = self.cloud.tenant_credentials()
        session = common.make_session(creds['auth_url'], creds['username'],
                                      creds['password'],
                                      creds['project_name'])
        app = app_mod.get_app('seed004').updated(
            flavor=self.cloud.flavor, lead_time=1, ha_recovery_time=1,
            nonha_recovery_time=1)
        behaviour = app_mod.Behaviour(reply_retries=120,
                                      retry_interval=0.25)
        self.vnfm = PatientVNFM(session=session, app=app,
                                behaviour=behaviour,
                                event_types=(VNFM_EVENT_TYPE,),
                                check_interval=0.05, name='chaos-vnfm')
        try:
            self.vnfm.start()
        except vnfm_mod.VNFMError as e:
            raise SetupError('sample VNFM: %s' % e)

    def teardown(self):
        for what, stop in (('watcher', self.watcher),
                           ('vnfm', self.vnfm), ('agent', self.agent),
                           ('fenix', self.fenix),
                           ('listener', self.listener),
                           ('cloud', self.cloud)):
            if stop is None:
                continue
            began = time.monotonic()
            try:
                stop.stop()
            except Exception as e:  # noqa - cleanup is best effort
                LOG.warning('stopping the %s: %s', what, e)
            LOG.debug('stopped the %s in %.1f s', what,
                      time.monotonic() - began)
        if self.listener is not None:
            self._transport.cleanup()

    # the session

    def _servers(self):
        sim = self.cloud.sim
        with sim.lock:
            return {sid: {'name': s.name, 'status': s.status,
                          'task_state': s.task_state}
                    for sid, s in sim.cloud.servers.items()}

    def _create_session(self):
        body = {'hosts': [], 'workflow': self.workflow,
                'metadata': {'openstack_version': 'Train'},
                'actions': probe.actions(self.agent.url)}
        client = common.FenixClient(url=self.fenix.url)
        self.session_id = client.create_session(body)['session_id']
        self.deadline = time.monotonic() + self.args.session_timeout
        self.agent.deadline = self.deadline + self.args.settle
        self.watcher = StateWatcher(self.fenix.db_url,
                                    self.session_id).start()

    def _over(self):
        return (self.watcher.final.is_set() or
                time.monotonic() >= self.deadline)

    def _wait_cloud(self, match, since):
        events = self.cloud.sim.events
        while not self._over():
            seen = events.last_seq
            found = events.wait_for(match, EVENT_WAIT, since=since)
            if found is not None:
                return found
            since = seen
        return None

    def wait_trigger(self, trigger):
        """Wait for the trigger's next moment after now; a description
        of it, or None when the session ended (or its time ran out)
        first."""
        sid = self.session_id
        since = self.cloud.sim.events.last_seq
        if trigger == plan_mod.RANDOM:
            delay = self.kill_plan.delay(self.args.random_max)
            end = time.monotonic() + delay
            while not self._over():
                left = end - time.monotonic()
                if left <= 0:
                    return 'after %.2f s' % delay
                self.watcher.final.wait(min(left, EVENT_WAIT))
            return None
        if trigger == plan_mod.FINAL_STATE:
            left = self.deadline - time.monotonic()
            if self.watcher.final.wait(max(0.0, left)):
                return self.watcher.state
            return None
        if trigger == plan_mod.PLUGIN_START:
            count = self.agent.count()
            while not self._over():
                start = self.agent.wait_start(count, EVENT_WAIT)
                if start is not None:
                    return '%s %s on %s' % (start['type'], start['plugin'],
                                            start['host'] or 'session')
            return None
        match = {
            plan_mod.PROJECT_EVENT: _is_project_event(sid),
            plan_mod.MIGRATION_START: _is_kind('migration.start'),
            plan_mod.MIGRATION_FINISH: _is_kind('migration.finish'),
            plan_mod.HOST_DISABLED: _is_kind('service.update',
                                             binary='nova-compute',
                                             disabled=True),
            plan_mod.IN_MAINTENANCE: _is_host_event(sid,
                                                    tally.IN_MAINTENANCE),
            plan_mod.HOST_COMPLETE: _is_host_event(
                sid, 'MAINTENANCE_COMPLETE'),
        }[trigger]
        found = self._wait_cloud(match, since)
        return None if found is None else _describe(found)

    def wait_final(self):
        left = self.deadline - time.monotonic()
        self.watcher.final.wait(max(0.0, left))
        return self.watcher.state

    def settle(self, final_state):
        """Let the aftermath happen, within ``--settle`` seconds: the
        VNFM handles what it got, the cloud finishes what is in flight,
        Fenix re-enables hosts and announces the final state."""
        end = time.monotonic() + self.args.settle
        sim = self.cloud.sim
        computes = set(self.cloud.compute_names())
        sid = self.session_id

        def settled():
            if not self.vnfm.wait_idle(0):
                return False
            if set(sim.history.disabled_hosts()) & computes:
                return False
            if tally.unsettled_instances(self._servers()):
                return False
            if final_state in tally.FINAL_STATES and final_state not in \
                    tally.announced_states(self._notifications(), sid):
                return False
            return sim.wait_idle(0)
        pause = threading.Event()
        while time.monotonic() < end and not settled():
            pause.wait(0.1)
        self.vnfm.wait_idle(max(0.0, end - time.monotonic()))
        if self.vnfm.checker is not None:
            self.vnfm.checker.wait_checks(2, timeout=5)

    def _notifications(self):
        return [{'event_type': e.get('event_type'),
                 'message_id': e.get('message_id'),
                 'payload': e.get('payload')}
                for e in self.cloud.sim.get_events(
                    kind='notification.receive')]

    def _api_state(self):
        client = common.FenixClient(url=self.fenix.url, timeout=10)
        try:
            data = client.get_session(self.session_id) or {}
            return data.get('state'), data.get('error'), 'api'
        except common.FenixError as e:
            return self.watcher.state, 'API unreachable: %s' % e, 'db'

    def collect(self, before, hung):
        sim = self.cloud.sim
        computes = set(self.cloud.compute_names())
        created = {e['server'] for e in sim.get_events(
            kind='server.create')}
        state, error, source = self._api_state()
        owner_deleted = set()
        for action in self.vnfm.actions.list():
            if action.get('action') == 'delete':
                owner_deleted.update(action.get('servers') or ())
        names = self.cloud.server_names()
        data = {
            'session_id': self.session_id, 'state': state, 'error': error,
            'hung': hung, 'kills': len(self.kills),
            'kills_skipped': len(self.skipped),
            'notifications': self._notifications(),
            'starts': self.agent.starts(),
            'before': before, 'after': self._servers(),
            'owner_deleted': owner_deleted,
            'migrations': len(sim.get_events(kind='migration.start')),
            'migration_records': sim.get_events(kind='migration.start'),
            'service_updates': sim.get_events(kind='service.update'),
            'reference_migrations': self.reference,
            'disabled_hosts': sorted(set(sim.history.disabled_hosts()) &
                                     computes),
            'violations': self.vnfm.violations(),
            'restart_failures': len(self.fenix.restart_failures),
            'overlaps': [(names.get(s, s), h) for s, h, _a, _b in
                         sim.history.maintenance_violations(created)],
            'vnfm_errors': len(self.vnfm.errors.list()),
        }
        data['takeovers'], data['fenced'] = tally.engine_log_figures(
            self.fenix.engine_logs(), self.session_id)
        result = tally.evaluate(data)
        exits = self.fenix.unexpected_exits
        result.update({
            'workflow': self.workflow, 'mode': self.mode,
            'session_id': self.session_id, 'state': state,
            'state_from': source,
            'kills': self.kills, 'skipped': self.skipped,
            'engine_starts': self.fenix.starts,
            'unexpected_exits': exits,
            'restart_failures': self.fenix.restart_failures,
            'vnfm_errors': [e['message'][:300] for e in
                            self.vnfm.errors.list()][:VNFM_ERRORS_KEPT],
            'agent_errors': list(self.agent.errors)})
        return result

    def _kill(self):
        """Make the planned kills; True when the engine did not come
        back after one (the session cannot go on)."""
        for index, trigger in enumerate(self.triggers):
            moment = self.wait_trigger(trigger)
            if moment is None:
                self.skipped.extend(self.triggers[index:])
                return False
            kill = {'trigger': trigger, 'moment': moment}
            self.kills.append(kill)
            if self.mode == MULTI:
                # The API and the other engines stay up: no report is
                # held back.
                try:
                    kill.update(self.fenix.disrupt(self.kill_plan.rng,
                                                   self.watcher.owner))
                except SetupError:
                    self.skipped.extend(self.triggers[index + 1:])
                    return True
                continue
            self.agent.engine_down()
            try:
                kill['down'] = round(self.fenix.kill_and_restart(), 2)
            except SetupError:
                self.skipped.extend(self.triggers[index + 1:])
                return True
            finally:
                self.agent.engine_up()
        return False

    def run(self):
        """Returns the session's result (see :func:`tally.evaluate`)."""
        times = self.times = {}
        result = None
        began = time.monotonic()
        try:
            self.setup()
            before = {sid: s['name'] for sid, s in self._servers().items()}
            self._create_session()
            created = time.monotonic()
            times['setup'] = created - began
            broken = self._kill()
            state = self.watcher.state if broken else self.wait_final()
            ended = time.monotonic()
            times['session'] = ended - created
            hung = state not in tally.FINAL_STATES
            if not broken:
                self.settle(state)
            times['settle'] = time.monotonic() - ended
            self.fenix.check_exits()
            result = self.collect(before, hung)
            if not self.args.json and result['details']:
                LOG.debug('%s', self.fenix.tails(40))
            return result
        finally:
            stopping = time.monotonic()
            self.teardown()
            times['teardown'] = time.monotonic() - stopping
            times['total'] = time.monotonic() - began
            if result is not None:
                result['seconds'] = {k: round(v, 1)
                                     for k, v in times.items()}


# --- the campaign ------------------------------------------------------------

def _rabbit_cleanup(url, names, engines=1):
    """Delete the campaign's queues and exchange (best effort)."""
    try:
        import kombu
    except ImportError:
        return
    queues = ['%s.%s' % (names['notify_topic'], p)
              for p in listener_mod.PRIORITIES]
    hosts = [ENGINE_HOST, 'chaos-api'] + [
        MultiEngineDeployment.host(n) for n in range(engines)]
    queues += [names['engine_topic']] + [
        '%s.%s' % (names['engine_topic'], host) for host in hosts]
    try:
        with kombu.Connection(url.replace('rabbit://', 'amqp://'),
                              connect_timeout=5) as conn:
            channel = conn.channel()
            for queue in queues:
                try:
                    channel.queue_delete(queue=queue)
                except Exception:  # noqa
                    channel = conn.channel()
            for exchange in (names['exchange'],
                             '%s_fanout' % names['engine_topic']):
                try:
                    channel.exchange_delete(exchange=exchange)
                except Exception:  # noqa
                    channel = conn.channel()
    except Exception as e:  # noqa - cleanup is best effort
        LOG.warning('RabbitMQ cleanup: %s', e)


def _check_split_services(args):
    problems = []
    services = [('RabbitMQ', '127.0.0.1', 5672),
                ('MariaDB', '127.0.0.1', 3306)]
    if args.coordination:
        parsed = urlparse.urlsplit(args.coordination)
        services.append((parsed.scheme, parsed.hostname or '127.0.0.1',
                         parsed.port or COORDINATION_PORTS.get(
                             parsed.scheme, 6379)))
    for name, host, port in services:
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex((host, port)) != 0:
                problems.append('%s not running on %s:%d'
                                % (name, host, port))
    return problems


class Campaign(object):

    def __init__(self, args, out=None):
        self.args = args
        self.out = out or sys.stdout
        self.plan = plan_mod.KillPlan(args.seed, args.triggers,
                                      args.kills_per_session)
        self.groups = [(w, m) for m in args.mode for w in args.workflow]
        self.results = []
        self.references = {}
        self.setup_errors = []
        self.stopped = None
        self.started = time.monotonic()
        tag = uuid.uuid4().hex[:8]
        self.names = {'exchange': 'fenix-chaos-%s' % tag,
                      'engine_topic': 'fenix-chaos-engine-%s' % tag,
                      'notify_topic': 'fenix-chaos-notify-%s' % tag}
        self.workdir = None

    def say(self, text):
        self.out.write(text + '\n')
        self.out.flush()

    def _elapsed(self):
        return time.monotonic() - self.started

    def _run_one(self, workflow, mode, triggers, reference):
        index = len(self.results) + sum(
            len(r) for r in self.references.values()) + 1
        workdir = os.path.join(self.workdir, 's%03d-%s-%s'
                               % (index, workflow, mode))
        run = SessionRun(self.args, workflow, mode, self.names, workdir,
                         self.plan, triggers, reference)
        return run.run()

    def _reference(self, workflow, mode):
        """The crash-free run(s) of this group; their migrations are what
        a session with kills is compared with (the largest of them)."""
        key = (workflow, mode)
        runs = []
        for _ in range(self.args.reference_runs):
            result = self._run_one(workflow, mode, (), None)
            problems = tally.failures(result['figures'])
            runs.append({'session_id': result['session_id'],
                         'state': result['state'],
                         'migrations': result['figures'][tally.MIGRATIONS],
                         'problems': problems,
                         'details': result['details']})
            self.say('reference %-7s %-10s %s %s, %d migrations%s' % (
                workflow, mode, result['state'], _seconds(result),
                result['figures'][tally.MIGRATIONS],
                ('; PROBLEMS %s' % problems) if problems else ''))
        self.references[key] = runs
        return max(r['migrations'] for r in runs)

    def run(self):
        args = self.args
        self.workdir = tempfile.mkdtemp(prefix='fenix-chaos-')
        quotas = {}
        share, extra = divmod(args.kills, len(self.groups))
        for n, group in enumerate(self.groups):
            quotas[group] = share + (1 if n < extra else 0)
        made = dict.fromkeys(self.groups, 0)
        sessions = dict.fromkeys(self.groups, 0)
        refs = {}
        # Bounded: a group whose kills keep being skipped stops after
        # this many sessions.
        limit = {g: 3 * math.ceil(max(1, quotas[g]) /
                                  args.kills_per_session) + 2
                 for g in self.groups}
        failures_in_row = 0
        try:
            while True:
                todo = [g for g in self.groups
                        if made[g] < quotas[g] and sessions[g] < limit[g]]
                if not todo:
                    break
                for group in todo:
                    if self._elapsed() > args.max_time:
                        self.stopped = ('time limit of %d s reached'
                                        % args.max_time)
                        return
                    workflow, mode = group
                    try:
                        if group not in refs:
                            refs[group] = self._reference(workflow, mode)
                        count = min(args.kills_per_session,
                                    quotas[group] - made[group])
                        triggers = self.plan.deal(count)
                        sessions[group] += 1
                        result = self._run_one(workflow, mode, triggers,
                                               refs[group])
                    except Exception as e:  # noqa - reported, not fatal
                        LOG.debug('session setup failed', exc_info=True)
                        failures_in_row += 1
                        self.setup_errors.append('%s/%s: %s'
                                                 % (workflow, mode, e))
                        self.say('setup error (%s/%s): %s'
                                 % (workflow, mode, e))
                        if failures_in_row >= MAX_SETUP_ERRORS:
                            self.stopped = ('%d setup errors in a row'
                                            % failures_in_row)
                            return
                        continue
                    failures_in_row = 0
                    fired = [k['trigger'] for k in result['kills']]
                    self.plan.again(result['skipped'])
                    made[group] += len(fired)
                    self.results.append(result)
                    self._print_session(result)
        finally:
            if set(args.mode) - {ALL_IN_ONE}:
                _rabbit_cleanup(args.rabbit_url, self.names,
                                args.engines)
            if args.keep:
                self.say('kept %s' % self.workdir)
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def _print_session(self, result):
        f = result['figures']
        problems = tally.failures(f)
        kills = ', '.join('%s (%s)%s' % (
            k['trigger'], k['moment'],
            ' %s %s%s %.1f s' % (k['action'], k['engine'],
                                 ' (owner)' if k.get('owner') else '',
                                 k.get('down') or 0)
            if k.get('action') else '')
            for k in result['kills']) or 'none'
        self.say('session %s %-7s %-10s %-18s %s; kills %d: %s%s' % (
            result['session_id'][:8], result['workflow'], result['mode'],
            result['state'], _seconds(result), len(result['kills']), kills,
            ('; skipped %s' % ', '.join(result['skipped']))
            if result['skipped'] else ''))
        if result['unexpected_exits']:
            self.say('  Fenix processes that exited by themselves (exit '
                     'codes): %s' % result['unexpected_exits'])
        if problems:
            self.say('  problems: %s' % ', '.join(
                '%s=%d' % kv for kv in sorted(problems.items())))
            for key, value in sorted(result['details'].items()):
                self.say('    %s: %s' % (key, json.dumps(value,
                                                         default=str)))

    def report(self):
        groups, total = tally.aggregate(self.results)
        ref_problems = {'%s/%s' % k: [r['problems'] for r in runs
                                      if r['problems']]
                        for k, runs in self.references.items()}
        ref_problems = {k: v for k, v in ref_problems.items() if v}
        failing = tally.failures(total)
        target_reached = total[tally.KILLS] >= self.args.kills
        ok = (not failing and not ref_problems and target_reached and
              not self.setup_errors)
        return {
            'ok': ok,
            'seed': self.args.seed,
            'kills_asked': self.args.kills,
            'target_reached': target_reached,
            'stopped': self.stopped,
            'duration': round(self._elapsed(), 1),
            'workflows': list(self.args.workflow),
            'modes': list(self.args.mode),
            'triggers': list(self.args.triggers),
            'groups': groups,
            'total': total,
            'failing': failing,
            'references': {'%s/%s' % k: v
                           for k, v in self.references.items()},
            'reference_problems': ref_problems,
            'setup_errors': self.setup_errors,
            'kills_by_trigger': _kills_by_trigger(self.results),
            'kills_by_action': _kills_by_action(self.results),
            'engines': self.args.engines,
            'coordination': self.args.coordination,
            'sessions': [{k: v for k, v in r.items()}
                         for r in self.results],
        }


def _seconds(result):
    times = result.get('seconds') or {}
    return '%.0f s (setup %.0f, session %.0f, settle %.0f)' % tuple(
        times.get(k, 0) for k in ('total', 'setup', 'session', 'settle'))


def _kills_by_action(results):
    """``{'SIGKILL': n, 'SIGSTOP': n, 'SIGKILL of the owner': n...}``
    with ``--engines`` (empty otherwise)."""
    out = collections.Counter()
    for result in results:
        for kill in result['kills']:
            if kill.get('action'):
                out[kill['action']] += 1
                if kill.get('owner'):
                    out['%s of the owner' % kill['action']] += 1
    return dict(out)


def _kills_by_trigger(results):
    out = {}
    for result in results:
        for kill in result['kills']:
            out[kill['trigger']] = out.get(kill['trigger'], 0) + 1
    return out


def render_report(report):
    lines = ['', '=== crash campaign: %d kills in %d sessions, %.0f s, '
             'seed %s ===' % (report['total'][tally.KILLS],
                              report['total'][tally.SESSIONS],
                              report['duration'], report['seed'])]
    lines.append(tally.render(report['groups'], report['total']))
    lines.append('')
    lines.append('kills by moment: %s' % (', '.join(
        '%s %d' % kv for kv in sorted(report['kills_by_trigger'].items()))
        or 'none'))
    if report['kills_by_action']:
        lines.append('%d engines%s; disruptions: %s' % (
            report['engines'], (' coordinated over %s'
                                % report['coordination'])
            if report['coordination'] else '',
            ', '.join('%s %d' % kv for kv in sorted(
                report['kills_by_action'].items()))))
    for name, runs in sorted(report['references'].items()):
        lines.append('crash-free reference %s: %s' % (name, ', '.join(
            '%s with %d migrations' % (r['state'], r['migrations'])
            for r in runs)))
    for name, problems in sorted(report['reference_problems'].items()):
        lines.append('problems WITHOUT kills in %s: %s' % (name, problems))
    for error in report['setup_errors']:
        lines.append('setup error: %s' % error)
    if report['stopped']:
        lines.append('stopped early: %s' % report['stopped'])
    if not report['target_reached']:
        lines.append('only %d of the %d kills asked for were made'
                     % (report['total'][tally.KILLS], report['kills_asked']))
    lines.append('result: %s' % ('PASS' if report['ok'] else 'FAIL'))
    return '\n'.join(lines)


# --- command line ------------------------------------------------------------

def _csv(choices):
    def parse(text):
        values = tuple(v.strip() for v in text.split(',') if v.strip())
        bad = [v for v in values if v not in choices]
        if bad or not values:
            raise argparse.ArgumentTypeError(
                'expected a comma-separated list of %s, got %r'
                % ('/'.join(choices), text))
        return values
    return parse


def _triggers(text):
    try:
        return plan_mod.parse_triggers(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def build_parser():
    p = argparse.ArgumentParser(
        prog='campaign.py',
        description='SIGKILL the Fenix engine at chosen moments of '
                    'maintenance sessions on a simulated cloud and count '
                    'the harm (tools/chaos/README.rst).')
    p.add_argument('--kills', type=int, default=100,
                   help='kills to make in all (default 100)')
    p.add_argument('--workflow', type=_csv(WORKFLOWS),
                   default=WORKFLOWS,
                   help='workflows, comma-separated (default default,nfv)')
    p.add_argument('--mode', type=_csv(MODES), default=MODES,
                   help='all-in-one and/or split (default both)')
    p.add_argument('--seed', type=int, default=1,
                   help='seed of the kill plan (default 1)')
    p.add_argument('--kills-per-session', type=int, default=3,
                   help='kills planned per session (default 3)')
    p.add_argument('--triggers', type=_triggers, default=plan_mod.TRIGGERS,
                   help='moments to kill at, comma-separated, or all '
                        '(default): %s' % ', '.join(plan_mod.TRIGGERS))
    p.add_argument('--computes', type=int, default=3,
                   help='computes of the cloud (default 3)')
    p.add_argument('--session-timeout', type=float, default=240,
                   help='seconds a session may take, kills included, '
                        'before it counts as hung (default 240)')
    p.add_argument('--settle', type=float, default=15,
                   help='seconds the aftermath of a session may take '
                        '(default 15)')
    p.add_argument('--random-max', type=float, default=6,
                   help='longest wait of a random kill (default 6 s)')
    p.add_argument('--plugin-time', type=float, default=0.3,
                   help='seconds the agent takes before reporting a '
                        'plug-in run DONE (default 0.3)')
    p.add_argument('--plugin-after-restart', type=float, default=5,
                   help='seconds after an engine restart before the agent '
                        'reports a run that fell due while the engine was '
                        'down (default 5)')
    p.add_argument('--migration-time', type=float, default=0.5,
                   help='seconds a migration takes (default 0.5)')
    p.add_argument('--reply-window', type=int, default=10,
                   help='seconds projects have to answer (default 10)')
    p.add_argument('--reference-runs', type=int, default=1,
                   help='crash-free runs per workflow and mode '
                        '(default 1)')
    p.add_argument('--max-time', type=float, default=3600,
                   help='no session starts after this many seconds '
                        '(default 3600)')
    p.add_argument('--mysql-url', default=DEFAULT_MYSQL,
                   help='MariaDB server URL for split mode, without a '
                        'database; its user creates and drops one '
                        'database per session, connected to its '
                        'openstack_citest database (default %s)'
                        % DEFAULT_MYSQL)
    p.add_argument('--rabbit-url', default=DEFAULT_RABBIT,
                   help='RabbitMQ URL for split mode (default %s)'
                        % DEFAULT_RABBIT)
    p.add_argument('--engines', type=int, default=1,
                   help='fenix-engine processes (default 1). With more '
                        'than one, every session runs on one fenix-api '
                        'and N engines over RabbitMQ and MariaDB (mode '
                        '%s, whatever --mode says), and each kill is a '
                        'SIGKILL or a SIGSTOP of a random engine' % MULTI)
    p.add_argument('--coordination', default=None,
                   help='[coordination] backend_url of the engines with '
                        '--engines, e.g. redis://127.0.0.1:6379 (a tooz '
                        'namespace of the campaign\'s own is added); '
                        'default: none (coordination through the '
                        'database)')
    p.add_argument('--heartbeat-interval', type=int, default=1,
                   help='[engine] heartbeat_interval with --engines '
                        '(default 1)')
    p.add_argument('--takeover-after', type=int, default=4,
                   help='[engine] takeover_after with --engines '
                        '(default 4)')
    p.add_argument('--stop-share', type=float, default=0.5,
                   help='share of the disruptions with --engines that are '
                        'a SIGSTOP (then SIGCONT) rather than a SIGKILL '
                        '(default 0.5)')
    p.add_argument('--hold-extra', type=float, default=3,
                   help='a SIGSTOP (and a delayed restart after a '
                        'SIGKILL) lasts --takeover-after plus 1 to '
                        '1 + this many seconds (default 3)')
    p.add_argument('--quick', action='store_true',
                   help='the CI run: 8 kills, both workflows, all-in-one '
                        '(with --engines: 8 SIGKILLs and SIGSTOPs of the '
                        'engines, multi-engine), 4 kills per session')
    p.add_argument('--json', action='store_true',
                   help='also print the report as one JSON object on the '
                        'last line')
    p.add_argument('--report-only', action='store_true',
                   help='exit 0 whatever the figures (still 2 when the '
                        'campaign could not run)')
    p.add_argument('--keep', action='store_true',
                   help='keep the work directory (configs, logs, SQLite)')
    p.add_argument('--verbose', '-v', action='store_true',
                   help='debug logging here and in Fenix')
    return p


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.kills = 8
        args.mode = (ALL_IN_ONE,)
        args.kills_per_session = 4
        # A multi-engine session starts four processes (three engines
        # and the API): longer to set up on a loaded machine.
        args.max_time = min(args.max_time,
                            QUICK_MAX_TIME_MULTI if args.engines > 1
                            else QUICK_MAX_TIME)
    if args.engines > 1:
        args.mode = (MULTI,)
    elif args.coordination:
        parser.error('--coordination needs --engines 2 or more')
    if not 0 <= args.stop_share <= 1:
        parser.error('--stop-share must be between 0 and 1')
    for name in ('kills', 'kills_per_session', 'computes',
                 'reference_runs', 'engines'):
        if getattr(args, name) < 1:
            parser.error('--%s must be at least 1' % name.replace('_', '-'))
    if args.computes < 2:
        parser.error('--computes must be at least 2')
    return args


def main(argv=None):
    args = parse_args(argv)
    # oslo.messaging's listener (split mode) imports eventlet, which warns
    # that it is deprecated: nothing this campaign can act on.
    fenix_cmd.quiet_warnings()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format='%(asctime)s %(levelname)s %(name)s %(message)s')
    if set(args.mode) - {ALL_IN_ONE}:
        problems = _check_split_services(args)
        if problems:
            sys.stderr.write('campaign: split mode needs %s\n'
                             % '; '.join(problems))
            return EXIT_SETUP
    campaign = Campaign(args)
    with common.terminate_on_signals():
        try:
            campaign.run()
        except KeyboardInterrupt:
            campaign.stopped = 'interrupted'
    report = campaign.report()
    print(render_report(report))
    if args.json:
        print(json.dumps(report, sort_keys=True, default=str))
    if not campaign.results:
        return EXIT_SETUP
    if report['ok'] or args.report_only:
        return EXIT_OK
    return EXIT_FAILED


if __name__ == '__main__':
    sys.exit(main())
