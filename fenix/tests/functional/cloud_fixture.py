# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A simulated cloud with a real Fenix in front of it, for functional tests.

:class:`FenixCloud` starts, in this order:

* a :class:`fenix_tools.simcloud.SimCloud` in-process (Keystone, Nova and
  AODH over HTTP on a loopback port of its own);
* ``fenix-all-in-one`` as a child process, configured like the demo
  (``[service_user]`` is the cloud's ``fenix`` user, notifications go with
  the ``fenix-http`` driver to the cloud's ``/sim/notifications``, short
  reply windows, fast Nova polling, SQLite in a temporary directory), and
  registers it as the catalog's ``maintenance`` endpoint;
* on demand, sample VNFMs (:meth:`FenixCloud.add_vnfm`) that reach Fenix
  through the catalog, as a real manager does.

Everything is torn down by the fixture's cleanups. Fenix and the managers
only ever talk to the cloud over HTTP with the OpenStack clients; the
Python access here is the test looking at the cloud's own record (where
every server was, every migration, every service change, every
notification).
"""
import collections
import os
import signal
import subprocess
import sys

import fixtures
from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session
from novaclient import client as nova_client
import requests

from fenix.tests.functional import base

from fenix_tools import common
from fenix_tools.simcloud import SimCloud
from fenix_tools.vnfm import app as app_mod
from fenix_tools.vnfm import manager as vnfm_mod

PROJECT_EVENT_TYPES = ('maintenance.planned', 'maintenance.scheduled')
FINAL_STATES = ('MAINTENANCE_DONE', 'MAINTENANCE_FAILED')
# Seconds a whole session may take in these tests.
SESSION_TIMEOUT = 120

ADMIN_USERS = [
    {'name': 'admin', 'password': 'adminpass',
     'roles': {'admin': ['admin']}},
    {'name': 'fenix', 'password': 'fenixpass',
     'roles': {'service': ['admin']}},
]


def topology(computes=3, vcpus=2, memory_mb=4096, disk_gb=40, servers=(),
             tenants=('tenant1', 'tenant2'), groups=(), timing=None,
             name='ft-cloud'):
    """A small cloud: ``computes`` hosts and a controller, flavor
    ``m1.small`` (1 vCPU, 2 GB, 20 GB: two per default compute), one
    member user ``vnfm-<tenant>`` / ``<tenant>pass`` per tenant.

    ``servers``: topology server entries (``name``, ``project``,
    ``host``...; the flavor defaults to m1.small).
    """
    users = list(ADMIN_USERS)
    for tenant in tenants:
        users.append({'name': 'vnfm-%s' % tenant,
                      'password': '%spass' % tenant,
                      'roles': {tenant: ['member']}})
    return {
        'name': name,
        'projects': [{'name': p} for p in ('admin', 'service') + tuple(
            tenants)],
        'users': users,
        'hosts': [
            {'name': 'controller-0', 'type': 'controller'},
            {'name': 'compute-{n}', 'count': computes, 'type': 'compute',
             'vcpus': vcpus, 'memory_mb': memory_mb, 'disk_gb': disk_gb},
        ],
        'flavors': [{'id': '1', 'name': 'm1.small', 'vcpus': 1,
                     'ram': 2048, 'disk': 20}],
        'server_groups': list(groups),
        'servers': [dict({'flavor': 'm1.small'}, **s) for s in servers],
        'timing': dict({'cold_migration': 0.1, 'live_migration': 0.1,
                        'confirm_resize': 0.0, 'boot': 0.05},
                       **(timing or {})),
    }


def vnfm_topology(computes=3, timing=None):
    """The seed-004 demo cloud: ``computes`` hosts of two slots of flavor
    ``demo.half`` and a tenant ``demo`` whose manager boots its own
    servers (user ``vnfm`` / ``vnfmpass``)."""
    users = list(ADMIN_USERS) + [
        {'name': 'vnfm', 'password': 'vnfmpass',
         'roles': {'demo': ['member']}}]
    return {
        'name': 'ft-seed004',
        'projects': [{'name': 'admin'}, {'name': 'service'},
                     {'name': 'demo'}],
        'users': users,
        'hosts': [
            {'name': 'controller-0', 'type': 'controller'},
            {'name': 'compute-{n}', 'count': computes, 'type': 'compute',
             'vcpus': 4, 'memory_mb': 8192, 'disk_gb': 80},
        ],
        'flavors': [{'name': 'demo.half', 'vcpus': 2, 'ram': 4096,
                     'disk': 40}],
        'timing': dict({'cold_migration': 0.1, 'live_migration': 0.1,
                        'confirm_resize': 0.0, 'boot': 0.05},
                       **(timing or {})),
    }


class FenixCloud(fixtures.Fixture):
    """SimCloud + fenix-all-in-one (+ sample VNFMs).

    :param topology: a topology mapping or file path for the cloud.
    :param reply_window: seconds projects get for every event.
    :param workflow: extra ``[workflow]`` options.
    :param extra_config: extra sections ``{section: {key: value}}``.
    """

    def __init__(self, topology, reply_window=3, workflow=None,
                 extra_config=None):
        super().__init__()
        self.topology = topology
        self.reply_window = reply_window
        self.workflow_options = dict(workflow or {})
        self.extra_config = extra_config or {}
        self.vnfms = []
        self.fenix = None

    # --- setup ---------------------------------------------------------------

    def _setUp(self):
        self.workdir = self.useFixture(fixtures.TempDir()).path
        self.sim = SimCloud(topology=self.topology)
        self.sim.start()
        self.addCleanup(self.sim.stop)
        self.addCleanup(self._stop_fenix)
        for attempt in range(3):
            # free_port() only says the port was free: another program
            # may take it before Fenix binds it.
            self.port = base.free_port()
            self.url = 'http://127.0.0.1:%d' % self.port
            self.config_file = self._write_config()
            try:
                self.start_fenix()
                break
            except AssertionError:
                if attempt == 2 or 'Address already in use' not in \
                        self.log_tail(20):
                    raise
        self.sim.set_maintenance_url(self.url + '/v1')
        self.client = base.FenixClient(self.url)
        admin = ks_session.Session(auth=v3.Password(
            **self.sim.auth_args('admin')), timeout=30)
        self.nova = nova_client.Client('2.53', session=admin)

    def _write_config(self):
        wf = {
            'nova_poll_interval': 0.05,
            'migration_timeout': 30,
            'own_action_timeout': 30,
            'migration_retries': 1,
        }
        for event in ('maintenance', 'scale_in', 'prepare_maintenance',
                      'planned_maintenance', 'maintenance_complete'):
            wf['reply_window_%s' % event] = self.reply_window
        wf.update(self.workflow_options)
        sections = {
            'DEFAULT': {'debug': 'false'},
            'api': {'host': '127.0.0.1', 'port': self.port,
                    'auth_strategy': 'noauth',
                    'public_endpoint': self.url},
            'service_user': {
                'auth_type': 'password', 'auth_url': self.sim.auth_url,
                'username': 'fenix', 'password': 'fenixpass',
                'project_name': 'service',
                'user_domain_name': 'Default',
                'project_domain_name': 'Default'},
            'database': {'connection': 'sqlite:///%s' % os.path.join(
                self.workdir, 'fenix.sqlite')},
            'oslo_messaging_notifications': {'driver': 'fenix-http'},
            # The simulated cloud takes notifications sent together as
            # one array.
            'notification_http': {'url': self.sim.control_url +
                                  '/notifications', 'batch': True},
            'workflow': wf,
            'download': {'directory': os.path.join(self.workdir,
                                                   'downloads')},
        }
        for section, values in self.extra_config.items():
            sections.setdefault(section, {}).update(values)
        return base.write_config(os.path.join(self.workdir, 'fenix.conf'),
                                 sections)

    # --- the Fenix process ---------------------------------------------------

    @property
    def log_path(self):
        return os.path.join(self.workdir, 'fenix.log')

    def start_fenix(self, timeout=60):
        """Start fenix-all-in-one and wait until its API answers."""
        log = open(self.log_path, 'ab')
        try:
            self.fenix = subprocess.Popen(
                [sys.executable, '-m', 'fenix.cmd.all_in_one',
                 '--config-file', self.config_file],
                stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        finally:
            log.close()
        health = self.url + '/healthcheck'

        def up():
            if self.fenix.poll() is not None:
                raise AssertionError('fenix-all-in-one exited with %s:\n%s'
                                     % (self.fenix.returncode,
                                        self.log_tail()))
            try:
                return requests.get(health, timeout=2).status_code == 200
            except requests.RequestException:
                return False
        base.wait_for(up, timeout, interval=0.05,
                      what='fenix-all-in-one on port %d' % self.port)

    def kill_fenix(self):
        """SIGKILL the all-in-one (an engine crash) and reap it."""
        self.fenix.send_signal(signal.SIGKILL)
        self.fenix.wait(30)

    def restart_fenix(self):
        self.kill_fenix()
        self.start_fenix()

    def reconfigure(self, extra_config):
        """Replace the extra config sections (used from the next start)."""
        self.extra_config = extra_config
        self._write_config()

    def _stop_fenix(self):
        if self.fenix is not None and self.fenix.poll() is None:
            self.fenix.send_signal(signal.SIGTERM)
            try:
                self.fenix.wait(15)
            except subprocess.TimeoutExpired:
                self.fenix.kill()
                self.fenix.wait(15)

    def log_tail(self, lines=150):
        return common.tail_file(self.log_path, lines)

    # --- sample VNFMs --------------------------------------------------------

    def add_vnfm(self, username='vnfm', password='vnfmpass',
                 project='demo', app=None, behaviour=None, flavor=None):
        """Start a sample VNFM for ``project``; it deploys its servers,
        registers its constraints and subscribes to maintenance.planned
        (it finds Fenix in the catalog)."""
        session = common.make_session(self.sim.auth_url, username,
                                      password, project)
        app = (app or app_mod.get_app('seed004')).updated(
            flavor=flavor or 'demo.half')
        vnfm = vnfm_mod.SampleVNFM(
            session=session, app=app,
            behaviour=behaviour or app_mod.Behaviour(),
            check_interval=0.05, name='vnfm-%s' % project)
        vnfm.start()
        self.addCleanup(vnfm.stop)
        self.vnfms.append(vnfm)
        return vnfm

    # --- sessions ------------------------------------------------------------

    def create_session(self, **body):
        body.setdefault('hosts', [])
        resp = self.client.post('/v1/maintenance', body)
        if resp.status_code != 200:
            raise AssertionError('create failed: %s %s'
                                 % (resp.status_code, resp.text))
        return resp.json()['session_id']

    def state(self, session_id):
        try:
            return self.client.session_state(session_id)
        except requests.RequestException:
            return None

    def wait_state(self, session_id, states, timeout=SESSION_TIMEOUT,
                   interval=0.05):
        states = (states,) if isinstance(states, str) else tuple(states)
        seen = []

        def reached():
            state = self.state(session_id)
            if state and (not seen or seen[-1] != state):
                seen.append(state)
            return state in states and state
        try:
            return base.wait_for(reached, timeout, interval=interval,
                                 what='session to reach %s' % (states,))
        except AssertionError as e:
            raise AssertionError('%s; states seen: %s' % (e, seen))

    def wait_final(self, session_id, timeout=SESSION_TIMEOUT,
                   interval=0.05):
        """Wait until the session ended and its end was announced.

        Fenix announces a state (maintenance.session) once it is committed,
        from its outbox: the cloud's record of a finished session is
        complete only once the announcement arrived.
        """
        state = self.wait_state(session_id, FINAL_STATES, timeout,
                                interval=interval)
        self.wait_announced(session_id, state, timeout)
        return state

    def wait_announced(self, session_id, state, timeout=SESSION_TIMEOUT):
        """Wait for maintenance.session ``state`` of the session."""
        def announced():
            return any(p.get('session_id') == session_id and
                       p.get('state') == state
                       for p in self.notifications('maintenance.session'))
        base.wait_for(announced, timeout, interval=0.05,
                      what='maintenance.session %s of %s'
                      % (state, session_id))

    def summary(self, session_id):
        resp = self.client.get('/v1/maintenance/%s' % session_id)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def detail(self, session_id):
        resp = self.client.get('/v1/maintenance/%s/detail' % session_id)
        assert resp.status_code == 200, resp.text
        return resp.json()

    # --- the cloud's record --------------------------------------------------

    def nova_disabled(self):
        """{host: disabled_reason} of disabled nova-compute services, as
        novaclient shows them."""
        return {s.host: s.disabled_reason
                for s in self.nova.services.list(binary='nova-compute')
                if s.status == 'disabled'}

    def nova_service(self, host):
        for svc in self.nova.services.list(binary='nova-compute',
                                           host=host):
            return svc
        return None

    def disable_compute(self, host, reason):
        """Disable a compute as an operator would, with novaclient."""
        svc = self.nova_service(host)
        self.nova.services.disable_log_reason(svc.id, reason)

    def servers(self):
        """{id: server} of every server, as the admin sees them."""
        return {s.id: s for s in self.nova.servers.list(
            search_opts={'all_tenants': True}, limit=-1)}

    def server_names(self):
        """{id: name} of every server the cloud ever had."""
        return {e['server']: e.get('name')
                for e in self.sim.get_events(kind='server.create')}

    def created(self):
        return [e['server'] for e in self.sim.get_events(
            kind='server.create')]

    def deleted(self):
        return [e['server'] for e in self.sim.get_events(
            kind='server.delete')]

    def migrations(self, since=0):
        """Every migration: server, name, type, source, dest, state, ok."""
        names = self.server_names()
        moves = {}
        for event in self.sim.get_events(since=since, kind='migration.'):
            mid = event.get('migration')
            kind = event['kind']
            if kind == 'migration.start':
                moves[mid] = {'migration': mid, 'server': event['server'],
                              'name': names.get(event['server']),
                              'type': event.get('type'),
                              'source': event.get('source'),
                              'dest': event.get('dest'),
                              'state': 'started', 'ok': False,
                              'seq': event['seq']}
            elif mid in moves:
                move = moves[mid]
                move['state'] = kind.split('.', 1)[1]
                if kind == 'migration.finish':
                    move['ok'] = move['type'] != 'cold'
                    move['dest'] = event.get('dest') or move['dest']
                elif kind == 'migration.confirm':
                    move['ok'] = True
                else:
                    move['ok'] = False
        return sorted(moves.values(), key=lambda m: m['seq'])

    def notifications(self, event_type, since=0, repeats=False):
        """Payloads of the notifications of ``event_type`` the cloud got
        (what Fenix sent, whoever listens).

        A message Fenix sent again after a crash (the same
        ``message_id``) is left out, as a consumer drops it, unless
        ``repeats``.
        """
        seen = set()
        out = []
        for e in self.sim.get_events(since=since,
                                     kind='notification.receive',
                                     event_type=event_type):
            if not repeats and e.get('message_id'):
                if e['message_id'] in seen:
                    continue
                seen.add(e['message_id'])
            out.append(e.get('payload') or {})
        return out

    def repeated_notifications(self):
        """Message ids the cloud got more than once."""
        counts = collections.Counter(
            e.get('message_id') for e in self.sim.get_events(
                kind='notification.receive'))
        return sorted(m for m, n in counts.items() if n > 1)

    def host_events(self, session_id=None):
        """[(host, state)] of maintenance.host, in order."""
        return [(p.get('host'), p.get('state'))
                for p in self.notifications('maintenance.host')
                if session_id is None or p.get('session_id') == session_id]

    def project_events(self, since=0):
        out = []
        for event_type in PROJECT_EVENT_TYPES:
            out += self.notifications(event_type, since=since)
        return out

    def service_changes(self, host=None, since=0):
        """service.update events of nova-compute (optionally of one host).
        """
        return [e for e in self.sim.get_events(since=since,
                                               kind='service.update')
                if e.get('binary') == 'nova-compute' and
                (host is None or e.get('host') == host)]

    def wait_idle(self, timeout=30):
        """The cloud and the managers have nothing left in flight."""
        for vnfm in self.vnfms:
            vnfm.wait_idle(timeout)
        return self.sim.wait_idle(timeout)
