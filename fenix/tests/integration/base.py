# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Integration tier: Fenix against real Keystone, Nova, AODH, Ceilometer.

The stack is brought up by ``tools/integration/stack.sh start``, which
writes ``$FENIX_INTEGRATION_DIR/cloud.json`` (users, project ids, image,
flavor, computes) and ``etc/fenix/fenix.conf``. These tests are skipped
unless ``FENIX_INTEGRATION=1``; with it set a missing stack is a failure,
not a skip.

Each test class gets fresh ``fenix-api`` and ``fenix-engine`` processes
(keystone auth, RabbitMQ, MariaDB) on the port the catalog's
``maintenance`` endpoint names, and leaves the cloud as it found it
(servers, server groups and alarms of the tenant projects deleted,
computes enabled).
"""
import datetime
import json
import os
import subprocess
import sys
import time

import fixtures
import requests
import sqlalchemy as sa
import testtools

ENABLED = os.environ.get('FENIX_INTEGRATION') == '1'
DIR = os.environ.get('FENIX_INTEGRATION_DIR', '/tmp/fenix-integration')
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))
STACK = os.path.join(REPO, 'tools', 'integration', 'stack.sh')
TENANTS = ('vnfm1', 'vnfm2')


def load_cloud():
    path = os.environ.get('FENIX_INTEGRATION_CLOUD',
                          os.path.join(DIR, 'cloud.json'))
    with open(path) as f:
        return json.load(f)


def utcnow():
    """Naive UTC now, as Nova's timestamps are."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def parse_time(value):
    """A Nova timestamp ('2026-01-01T10:00:00.000000', maybe with an
    offset or 'Z') as naive UTC."""
    value = value.replace('Z', '+00:00')
    parsed = datetime.datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(
            tzinfo=None)
    return parsed


def wait_for(predicate, timeout, interval=0.5, what='condition'):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except AssertionError:
            raise
        except Exception as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %ss waiting for %s%s'
                                 % (timeout, what,
                                    ' (last error: %s)' % last
                                    if last else ''))
        time.sleep(interval)


class Cloud(object):
    """Clients of the integration stack, per user."""

    def __init__(self, data):
        self.data = data
        self._sessions = {}

    @property
    def auth_url(self):
        return self.data['auth_url']

    def project_id(self, name):
        return self.data['projects'][name]

    def session(self, user):
        if user not in self._sessions:
            from keystoneauth1.identity import v3
            from keystoneauth1 import session as ks_session
            u = self.data['users'][user]
            self._sessions[user] = ks_session.Session(auth=v3.Password(
                auth_url=self.auth_url, username=user,
                password=u['password'], project_name=u['project'],
                user_domain_name='Default', project_domain_name='Default'),
                timeout=30)
        return self._sessions[user]

    def token(self, user):
        return self.session(user).get_token()

    def nova(self, user='admin', version='2.87'):
        from novaclient import client
        return client.Client(version, session=self.session(user))

    def aodh(self, user='admin'):
        from aodhclient import client
        return client.Client('2', session=self.session(user))

    def stack(self, *args, check=False):
        out = subprocess.run(['bash', self.data.get('stack', STACK)]
                             + list(args), capture_output=True, text=True,
                             timeout=180)
        if check and out.returncode:
            raise AssertionError('stack.sh %s: rc %s: %s%s' % (
                ' '.join(args), out.returncode, out.stdout, out.stderr))
        return out

    def compute_service(self, host):
        found = [s for s in self.nova().services.list(
            host=host, binary='nova-compute') if s.host == host]
        return found[0] if found else None

    def wait_compute(self, host, state, timeout=120):
        """Wait until Nova reports nova-compute of ``host`` ``state``
        ('up' or 'down': Nova marks it down [DEFAULT] service_down_time
        after its last report)."""
        wait_for(lambda: getattr(self.compute_service(host), 'state',
                                 None) == state, timeout, interval=1,
                 what='nova-compute on %s %s' % (host, state))

    def ensure_computes(self):
        """Every compute's process runs and Nova sees it up."""
        for host in self.data['computes']:
            self.stack('ensure-compute', host, check=True)
        for host in self.data['computes']:
            self.wait_compute(host, 'up')

    # --- leave the cloud as it was -----------------------------------------

    def cleanup(self):
        self.ensure_computes()
        nova = self.nova()
        tenants = {self.project_id(t) for t in TENANTS}
        doomed = [s for s in nova.servers.list(search_opts={
            'all_tenants': True}) if s.tenant_id in tenants]
        for s in doomed:
            try:
                nova.servers.delete(s.id)
            except Exception:
                pass
        wait_for(lambda: not [s for s in nova.servers.list(search_opts={
            'all_tenants': True}) if s.tenant_id in tenants], 120,
            what='tenant servers deleted')
        for g in nova.server_groups.list(all_projects=True):
            if getattr(g, 'project_id', None) in tenants:
                try:
                    nova.server_groups.delete(g.id)
                except Exception:
                    pass
        aodh = self.aodh()
        for a in aodh.alarm.list(filters={'all_projects': 'true'}):
            if a.get('project_id') in tenants:
                aodh.alarm.delete(a['alarm_id'])
        for s in nova.services.list(binary='nova-compute'):
            if s.status != 'enabled':
                nova.services.enable(s.id)

    def hosts_of(self, server_ids):
        nova = self.nova()
        out = {}
        for s in nova.servers.list(search_opts={'all_tenants': True}):
            if s.id in server_ids:
                out[s.id] = getattr(s, 'OS-EXT-SRV-ATTR:host')
        return out

    def migrations(self, project_id=None):
        nova = self.nova(version='2.80')
        migs = nova.migrations.list()
        if project_id:
            migs = [m for m in migs
                    if getattr(m, 'project_id', None) == project_id]
        return migs


class FenixProcesses(object):
    """fenix-api + fenix-engine of one test class."""

    def __init__(self, cloud, workdir, overrides):
        self.cloud = cloud
        self.workdir = workdir
        self.overrides = overrides
        self.procs = {}
        self.port = cloud.data['fenix_port']
        self.url = 'http://127.0.0.1:%d' % self.port

    def _write_override(self):
        path = os.path.join(self.workdir, 'override.conf')
        with open(path, 'w') as f:
            for section, values in self.overrides.items():
                f.write('[%s]\n' % section)
                for k, v in values.items():
                    f.write('%s = %s\n' % (k, v))
                f.write('\n')
        return path

    def reset_db(self):
        url = self.cloud.data['fenix_db']
        name = url.rsplit('/', 1)[1].split('?')[0]
        admin = sa.create_engine(url.replace('/' + name, '/'))
        with admin.connect() as conn:
            conn.execute(sa.text('DROP DATABASE IF EXISTS %s' % name))
            conn.execute(sa.text('CREATE DATABASE %s CHARACTER SET utf8mb4'
                                 % name))
        admin.dispose()

    @property
    def argv_conf(self):
        return ['--config-file', os.path.join(DIR, 'etc', 'fenix',
                                              'fenix.conf'),
                '--config-file', self.override]

    def start(self):
        self.override = self._write_override()
        self.reset_db()
        subprocess.run([sys.executable, '-m', 'fenix.cmd.manage']
                       + self.argv_conf + ['db', 'upgrade'], check=True,
                       capture_output=True, timeout=120)
        self.start_one('engine')
        self.start_one('api')
        self.wait_api()
        return self

    def start_one(self, name):
        log = open(os.path.join(self.workdir, 'fenix-%s.log' % name), 'ab')
        argv = [sys.executable, '-m', 'fenix.cmd.%s' % name]
        self.procs[name] = subprocess.Popen(
            argv + self.argv_conf, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def wait_api(self, timeout=60):
        def up():
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise AssertionError('fenix-%s exited: %s' % (
                        name, self.tail(name)))
            return requests.get(self.url + '/healthcheck',
                                timeout=2).status_code == 200
        wait_for(up, timeout, interval=0.3, what='fenix-api')

    def tail(self, name, lines=80):
        try:
            with open(os.path.join(self.workdir, 'fenix-%s.log' % name),
                      errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except OSError:
            return ''

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


class IntegrationTestCase(testtools.TestCase):
    """Skipped unless FENIX_INTEGRATION=1."""

    #: [section] -> {option: value} added to fenix.conf; None: no Fenix.
    fenix_overrides = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not ENABLED:
            return
        cls.cloud = Cloud(load_cloud())
        cls.fenix = None
        if cls.fenix_overrides is not None:
            import tempfile
            cls.workdir = tempfile.mkdtemp(prefix='fenix-it-')
            cls.fenix = FenixProcesses(cls.cloud, cls.workdir,
                                       cls.fenix_overrides)
            try:
                cls.fenix.start()
            except Exception:
                cls.fenix.stop()
                raise

    @classmethod
    def tearDownClass(cls):
        if ENABLED and getattr(cls, 'fenix', None) is not None:
            cls.fenix.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        if not ENABLED:
            self.skipTest('integration tier: set FENIX_INTEGRATION=1 and '
                          'run tools/integration/stack.sh start')
        self.useFixture(fixtures.Timeout(900, gentle=True))
        self.addCleanup(self.cloud.cleanup)
        if self.fenix is not None:
            for name in ('api', 'engine'):
                self.addOnException(
                    lambda exc, n=name: self.addDetail(
                        'fenix-%s-log' % n, testtools.content.text_content(
                            self.fenix.tail(n, 200))))
