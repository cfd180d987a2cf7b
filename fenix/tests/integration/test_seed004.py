# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The seed-004 scenario against the real stack.

fenix-api (keystone auth) + fenix-engine ([service_user] = fenix) over the
stack's RabbitMQ vhost and MariaDB; the sample VNFM runs as vnfm1 (a member
of project vnfm1), deploys the active/standby pair and four non-redundant
servers on the three fake computes (two per host: the cloud is full),
registers its constraints with Fenix (the pair: anti-affinity,
max_impacted_members 1, a recovery_time; the non-redundant group: budget
2), subscribes with aodhclient, and gets every project event through the
real chain Fenix notifier -> RabbitMQ -> ceilometer-agent-notification ->
aodh-listener -> aodh-notifier -> webhook. The admin creates a session of
every compute; it must end MAINTENANCE_DONE with every compute maintained,
none left disabled and no application invariant violated:

* with the ``default`` workflow: ``test_upgrade.TestComputeUpgrade``,
  whose session also upgrades every nova-compute (an Ansible ``host``
  plug-in);
* with the ``nfv`` workflow (per-instance events driven by the registered
  constraints);
* with the ``default`` workflow while the nova-compute of the host being
  emptied is stopped until Nova marks it down, then started again: Fenix
  waits for it instead of moving servers from it, and loses nothing;
* and when that nova-compute stays down longer than Fenix waits: the
  session fails cleanly (nothing moved from it, every host enabled again)
  and continues to the end once the compute is back (SPEC 3.1 PUT).
"""
import sys
import threading
import time
from urllib import parse as urlparse

from fenix.tests.integration import base

try:
    from fenix_tools.admin import cmd as admin_cmd
    from fenix_tools.admin import progress
    from fenix_tools import common
    from fenix_tools.vnfm import app as app_mod
    from fenix_tools.vnfm import manager as vnfm_mod
except ImportError:  # tools/ not on the path (not installed)
    import os
    sys.path.insert(0, os.path.join(base.REPO, 'tools'))
    from fenix_tools.admin import cmd as admin_cmd
    from fenix_tools.admin import progress
    from fenix_tools import common
    from fenix_tools.vnfm import app as app_mod
    from fenix_tools.vnfm import manager as vnfm_mod

REPLY_WINDOW = 30
DONE = 'MAINTENANCE_DONE'
FAILED = 'MAINTENANCE_FAILED'
PLANNED = 'PLANNED_MAINTENANCE'
# How long the held VNFM may keep Fenix waiting for its answer (stopping
# nova-compute takes up to 20 s, Nova marks it down 20-25 s later).
HOLD_TIMEOUT = 150


def workflow_overrides(reply_window=REPLY_WINDOW, **workflow):
    values = {'reply_window_%s' % s: reply_window for s in (
        'maintenance', 'scale_in', 'prepare_maintenance',
        'planned_maintenance', 'maintenance_complete')}
    values.update(nova_poll_interval=0.5, migration_timeout=180,
                  own_action_timeout=180)
    values.update(workflow)
    return {'DEFAULT': {'debug': 'true'}, 'workflow': values}


class HeldVNFM(vnfm_mod.SampleVNFM):
    """The sample VNFM whose answer to the first PLANNED_MAINTENANCE waits
    until the test releases it.

    Fenix waits for that answer before it moves anything off the host the
    event is about, so the test can stop that host's nova-compute and let
    Nova mark it down first: what a restart looks like from Nova's API.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.holding = threading.Event()
        self.release = threading.Event()

    def _on_move(self, event):
        if event.state == PLANNED and not self.holding.is_set():
            self.holding.set()
            self.release.wait(HOLD_TIMEOUT)
        return super()._on_move(event)


class Seed004TestCase(base.IntegrationTestCase):
    """Helpers: the sample VNFM, a session, its outcome."""

    workflow = 'default'
    fenix_overrides = workflow_overrides()

    def start_vnfm(self, event_type='maintenance.scheduled', cls=None,
                   **app_changes):
        data = self.cloud.data
        app = app_mod.get_app('seed004').updated(
            flavor=data['flavor'], image=data['image_id'],
            build_timeout=120, **app_changes)
        vnfm = (cls or vnfm_mod.SampleVNFM)(
            session=self.cloud.session('vnfm1'), app=app,
            behaviour=app_mod.Behaviour(), event_types=(event_type,),
            nova_api_version='2.74', check_interval=0.5,
            name='vnfm1-it')
        vnfm.start()
        self.addCleanup(vnfm.stop)
        return vnfm

    def admin(self):
        return common.FenixClient(url=self.fenix.url,
                                  session=self.cloud.session('admin'))

    def run_session(self, vnfm, during=None, timeout=600, metadata=None,
                    actions=()):
        admin = self.admin()
        body = admin_cmd.create_body(
            hosts=[], workflow=self.workflow, in_seconds=5,
            metadata=metadata or {'openstack_version': 'Train'},
            actions=actions)
        sid = admin.create_session(body)['session_id']
        thread = None
        if during is not None:
            thread = threading.Thread(target=during, args=(admin, sid),
                                      daemon=True)
            thread.start()
        started = time.monotonic()
        result = progress.follow(admin, sid, interval=1.0, timeout=timeout)
        elapsed = time.monotonic() - started
        if thread is not None:
            thread.join(HOLD_TIMEOUT + 240)
        return self.settle(vnfm, sid, result, elapsed)

    def settle(self, vnfm, sid, result, elapsed=None, name='session'):
        vnfm.wait_idle(60)
        if vnfm.checker is not None:
            vnfm.checker.wait_checks(2, timeout=10)
        detail = result.detail or {}
        summary = progress.summarize(detail, elapsed)
        summary['session_id'] = summary.get('session_id') or sid
        self.addDetail('%s-summary' % name,
                       base.testtools.content.json_content(summary))
        self.addDetail('%s-history' % name,
                       base.testtools.content.json_content(
                           [h.get('message') for h in
                            progress.history_of(detail)]))
        self.addDetail('vnfm-status', base.testtools.content.json_content(
            vnfm.status()))
        return sid, summary

    def history(self, admin, sid):
        return [h.get('message') or '' for h in progress.history_of(
            admin.get_session_detail(sid))]

    def check_outcome(self, vnfm, summary):
        status = vnfm.status()
        self.assertEqual(DONE, summary['state'], summary)
        self.assertEqual(sorted(self.cloud.data['computes']),
                         sorted(summary['hosts_maintained']))
        self.assertEqual([], status['violations'])
        self.assertEqual([], [r for r in status['replies'] if not r['ok']])
        nova = self.cloud.nova()
        self.assertEqual([], [s.host for s in nova.services.list(
            binary='nova-compute') if s.status != 'enabled'])
        # Every server of the application exists and is in service.
        self.assertEqual(
            [], [(s.id, s.status) for s in nova.servers.list(
                search_opts={'all_tenants': True,
                             'tenant_id': self.cloud.project_id('vnfm1')})
                 if s.status != 'ACTIVE'])
        events = {e['state'] for e in status['events']}
        # Delivered through AODH, not by Fenix directly.
        self.assertIn('MAINTENANCE', events)
        self.assertIn('MAINTENANCE_COMPLETE', events)
        return status

    def assert_seed004_events(self, status, sid):
        """The project events of the seed-004 path reached the VNFM."""
        states = [e['state'] for e in status['events']]
        for state in ('MAINTENANCE', 'SCALE_IN', 'PLANNED_MAINTENANCE',
                      'MAINTENANCE_COMPLETE'):
            self.assertIn(state, states)
        # PREPARE_MAINTENANCE empties a first host when scale-in left none
        # empty. Which host each server landed on is Nova's scheduler's
        # choice (equal weights tie either way), so the two servers the
        # VNFM removes (its newest) may have shared a host: then that host
        # is empty and is maintained first, with no PREPARE_MAINTENANCE
        # (SPEC 5, step 3), and the session history says so.
        if 'PREPARE_MAINTENANCE' not in states:
            history = self.history(self.admin(), sid)
            self.assertTrue([m for m in history
                             if 'holds no instance' in m
                             or 'became empty' in m], history)

    def nova_migrated(self, vnfm):
        """Servers of the VNFM whose Nova record shows a migration."""
        nova = self.cloud.nova()
        return [sv['id'] for sv in vnfm.servers()
                if any(a.action in ('migrate', 'live-migration')
                       for a in nova.instance_action.list(sv['id']))]


class TestSeed004NFV(Seed004TestCase):
    """The ``nfv`` workflow: per-instance events, moves within the
    registered constraints."""

    workflow = 'nfv'

    def test_nfv_workflow_with_constraints(self):
        # lead_time: seconds of notice per instance (short, to keep the
        # tier quick); the rest is the seed-004 application's constraints.
        vnfm = self.start_vnfm(lead_time=2)
        self.assertEqual(6, len(vnfm.servers()))
        # What the VNFM registered is what Fenix holds (through the API,
        # with vnfm1's own token).
        budgets = {}
        for body in vnfm.status()['groups']:
            held = vnfm.fenix.get('/v1/instance_group/%s' % body['group_id'])
            budgets[held['anti_affinity_group']] = (
                held['max_impacted_members'], held['recovery_time'])
        self.assertEqual(1, budgets[True][0])
        self.assertGreater(budgets[True][1], 0)
        self.assertEqual(2, budgets[False][0])
        sid, summary = self.run_session(vnfm)
        status = self.check_outcome(vnfm, summary)
        self.assertTrue(self.nova_migrated(vnfm), 'Nova shows no migration')
        per_instance = [e for e in status['events']
                        if e['state'] in ('PREPARE_MAINTENANCE', PLANNED)
                        and not e.get('duplicate')]
        self.assertTrue(per_instance)
        for event in per_instance:
            self.assertEqual(1, len(event['instance_ids']), event)
            self.assertTrue(urlparse.urlsplit(event['reply_url']).path
                            .endswith('/%s' % event['instance_ids'][0]),
                            event)


class ComputeDownTestCase(Seed004TestCase):
    """A held PLANNED_MAINTENANCE answer while a nova-compute stops."""

    fenix_overrides = workflow_overrides(reply_window=HOLD_TIMEOUT + 30)

    def stop_while_held(self, vnfm, admin, sid, record):
        """Wait until the VNFM holds its answer about the host Fenix is
        about to empty, stop that host's nova-compute, wait until Nova
        marks it down, then let the VNFM answer. Returns the host."""
        try:
            if not vnfm.holding.wait(HOLD_TIMEOUT):
                raise AssertionError('no PLANNED_MAINTENANCE reached the '
                                     'VNFM')
            detail = admin.get_session_detail(sid)
            # The host Fenix is emptying: started, not finished, not
            # maintained yet (default empties one host at a time; other
            # hosts it disabled are not started).
            emptying = [h['hostname'] for h in detail.get('hosts') or ()
                        if h.get('started_at') and
                        not h.get('finished_at') and
                        not h.get('maintained') and
                        h.get('state') in ('PENDING', 'EMPTYING')]
            host = emptying[0] if len(emptying) == 1 else None
            if host not in self.cloud.data['computes']:
                raise AssertionError('no host being emptied in %s'
                                     % detail.get('hosts'))
            record['host'] = host
            record['servers'] = sorted(
                s.id for s in self.cloud.nova().servers.list(
                    search_opts={'all_tenants': True, 'host': host}))
            self.cloud.stack('stop-compute', host, check=True)
            record['stopped'] = True
            self.cloud.wait_compute(host, 'down')
            record['down_seen'] = True
            return host
        finally:
            vnfm.release.set()

    def assert_nothing_moved_while_down(self, record, since_down):
        """Nova's record: no move of the host's servers started between
        the moment it was seen down and ``since_down``."""
        nova = self.cloud.nova(version='2.80')
        for sid in record['servers']:
            for mig in nova.migrations.list(instance_uuid=sid):
                created = base.parse_time(mig.created_at)
                self.assertFalse(
                    record['down_at'] <= created <= since_down,
                    'migration %s of %s started while its compute was '
                    'down' % (mig.id, sid))


class TestComputeRestart(ComputeDownTestCase):

    def test_compute_restarted_mid_session(self):
        vnfm = self.start_vnfm(cls=HeldVNFM)
        record = {}

        def restart(admin, sid):
            try:
                host = self.stop_while_held(vnfm, admin, sid, record)
                record['down_at'] = base.utcnow()
                # Fenix got its answer: it must now wait for the compute
                # (and say so) rather than send moves to it.
                waiting = 'nova-compute on %s is down' % host
                base.wait_for(lambda: any(
                    waiting in m for m in self.history(admin, sid)), 120,
                    interval=1, what='Fenix to wait for %s' % host)
                record['waited'] = True
                record['up_at'] = base.utcnow()
                self.cloud.stack('start-compute', host, check=True)
                self.cloud.wait_compute(host, 'up')
                record['restarted'] = True
            except Exception as e:
                record['error'] = '%s: %s' % (type(e).__name__, e)

        sid, summary = self.run_session(vnfm, during=restart)
        self.addDetail('restart', base.testtools.content.json_content(
            {k: str(v) for k, v in record.items()}))
        self.assertNotIn('error', record)
        self.assertTrue(record.get('restarted'), record)
        self.check_outcome(vnfm, summary)
        self.assertIn(record['host'], summary['hosts_maintained'])
        self.assert_nothing_moved_while_down(record, record['up_at'])
        # Its servers did move off it once it was back.
        on_host = set(record['servers'])
        self.assertTrue(on_host & set(self.nova_migrated(vnfm)))


class TestComputeStaysDown(ComputeDownTestCase):
    """Fenix waits migration_timeout for a down compute, then fails."""

    fenix_overrides = workflow_overrides(reply_window=HOLD_TIMEOUT + 30,
                                         migration_timeout=40)

    def test_compute_down_too_long_then_continue(self):
        vnfm = self.start_vnfm(cls=HeldVNFM)
        record = {}

        def stop(admin, sid):
            try:
                self.stop_while_held(vnfm, admin, sid, record)
                record['down_at'] = base.utcnow()
            except Exception as e:
                record['error'] = '%s: %s' % (type(e).__name__, e)

        sid, summary = self.run_session(vnfm, during=stop, timeout=400)
        self.addDetail('stop', base.testtools.content.json_content(
            {k: str(v) for k, v in record.items()}))
        self.assertNotIn('error', record)
        host = record['host']
        # A defined failure: the compute stayed down, nothing was moved
        # from it, every host is enabled again, every server is there.
        self.assertEqual(FAILED, summary['state'], summary)
        self.assertIn('nova-compute stayed down on %s' % host,
                      ' '.join(summary['errors']))
        self.assertNotIn(host, summary['hosts_maintained'])
        nova = self.cloud.nova()
        self.assertEqual([], [s.host for s in nova.services.list(
            binary='nova-compute') if s.status != 'enabled'])
        failed_at = base.utcnow()
        servers = nova.servers.list(search_opts={
            'all_tenants': True,
            'tenant_id': self.cloud.project_id('vnfm1')})
        self.assertEqual(sorted(s['id'] for s in vnfm.servers()),
                         sorted(s.id for s in servers))
        self.assertEqual([], [(s.id, s.status) for s in servers
                              if s.status != 'ACTIVE'])
        self.assertEqual(set(record['servers']), {
            s.id for s in servers
            if getattr(s, 'OS-EXT-SRV-ATTR:host') == host})
        self.assert_nothing_moved_while_down(record, failed_at)

        # The operator brings the compute back and continues the session.
        self.cloud.stack('start-compute', host, check=True)
        self.cloud.wait_compute(host, 'up')
        admin = self.admin()
        admin.update_session(sid, {})
        result = progress.follow(admin, sid, interval=1.0, timeout=600)
        sid, summary = self.settle(vnfm, sid, result, name='continued')
        self.check_outcome(vnfm, summary)
        self.assertIn(host, summary['hosts_maintained'])
