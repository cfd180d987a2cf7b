# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Cold and live migration, evacuation, migration records and faults.

Topology (base.small_topology): compute-0 holds ha-0 and other-0 (full),
compute-1 holds ha-1, compute-2 holds vm-0; ha-0/ha-1 are anti-affine.
"""
import os
import time

from novaclient import exceptions as nova_exc

from fenix.tests.unit.simcloud import base
from fenix_tools.simcloud import topology

LONG = 60.0  # a duration no test waits for (aborted or never reached)


class TestColdMigration(base.SimCloudTestCase):

    def usage(self, host):
        return self.sim.cloud.hosts[host].used[0]

    def test_migrate_verify_confirm(self):
        nova = self.nova(version='2.56')
        sid = self.server_id('vm-0')
        since = self.sim.events.last_seq
        nova.servers.migrate(sid)
        server = self.wait_status(nova, sid, 'VERIFY_RESIZE')
        self.assertEqual('compute-1', getattr(server, 'OS-EXT-SRV-ATTR:host'))
        self.assertEqual('resized', getattr(server, 'OS-EXT-STS:vm_state'))
        # Until confirmed, both hosts hold the server's resources.
        self.assertEqual((2, 1), (self.usage('compute-1'),
                                  self.usage('compute-2')))
        states = [e['status'] for e in self.sim.get_events(
            since=since, server=sid, kind='server.state')]
        self.assertEqual(['RESIZE', 'VERIFY_RESIZE'], states)
        task = [e['task_state'] for e in self.sim.get_events(
            since=since, server=sid, kind='server.state')][0]
        self.assertEqual('resize_migrating', task)
        migs = nova.migrations.list(instance_uuid=sid)
        self.assertEqual([('finished', 'migration', 'compute-2',
                           'compute-1')],
                         [(m.status, m.migration_type, m.source_compute,
                           m.dest_compute) for m in migs])
        nova.servers.confirm_resize(sid)
        server = self.wait_status(nova, sid, 'ACTIVE')
        self.assertEqual('compute-1', getattr(server, 'OS-EXT-SRV-ATTR:host'))
        self.assertEqual((2, 0), (self.usage('compute-1'),
                                  self.usage('compute-2')))
        self.assertEqual('confirmed',
                         nova.migrations.list(instance_uuid=sid)[0].status)
        actions = [a.action for a in nova.instance_action.list(sid)]
        self.assertEqual(['confirmResize', 'migrate', 'create'], actions)
        self.assertEqual('compute-1', self.sim.history.host_of(sid))
        hosts = [h for h, _, _ in self.sim.history.host_intervals(sid)]
        self.assertEqual(['compute-2', 'compute-1'], hosts)

    def test_intermediate_state_is_resize(self):
        self.sim.slow_migrations(LONG, server='vm-0')
        nova = self.nova()
        sid = self.server_id('vm-0')
        nova.servers.migrate(sid)
        server = nova.servers.get(sid)
        self.assertEqual('RESIZE', server.status)
        self.assertEqual('resize_migrating',
                         getattr(server, 'OS-EXT-STS:task_state'))
        self.assertEqual('compute-2', getattr(server, 'OS-EXT-SRV-ATTR:host'))
        self.assertEqual('migrating',
                         nova.migrations.list(instance_uuid=sid)[0].status)
        self.assertRaises(nova_exc.Conflict, nova.servers.migrate, sid)
        self.assertRaises(nova_exc.Conflict, nova.servers.live_migrate, sid,
                          None, 'auto')

    def test_revert_resize(self):
        nova = self.nova()
        sid = self.server_id('vm-0')
        nova.servers.migrate(sid)
        self.wait_status(nova, sid, 'VERIFY_RESIZE')
        nova.servers.revert_resize(sid)
        server = self.wait_status(nova, sid, 'ACTIVE')
        self.assertEqual('compute-2', getattr(server, 'OS-EXT-SRV-ATTR:host'))
        self.assertEqual((1, 1), (self.usage('compute-1'),
                                  self.usage('compute-2')))
        self.assertEqual('reverted',
                         nova.migrations.list(instance_uuid=sid)[0].status)

    def test_confirm_or_revert_without_resize_is_409(self):
        # Nova's check_instance_state(vm_state=[RESIZED]): InvalidState.
        nova = self.nova()
        sid = self.server_id('vm-0')
        for call, action in ((nova.servers.confirm_resize, 'confirmResize'),
                             (nova.servers.revert_resize, 'revertResize')):
            exc = self.assertRaises(nova_exc.Conflict, call, sid)
            self.assertIn("Cannot '%s' instance %s while it is in vm_state "
                          "active" % (action, sid), str(exc))

    def test_target_host_checks(self):
        nova = self.nova(version='2.56')
        sid = self.server_id('vm-0')
        self.assertRaises(nova_exc.BadRequest, nova.servers.migrate, sid,
                          host='nowhere')
        self.assertRaises(nova_exc.BadRequest, nova.servers.migrate, sid,
                          host='compute-2')  # its own host
        # compute-0 is full: Nova's scheduler refuses, synchronously.
        exc = self.assertRaises(nova_exc.BadRequest, nova.servers.migrate,
                                sid, host='compute-0')
        self.assertIn('No valid host', str(exc))
        server = nova.servers.get(sid)
        self.assertEqual(('ACTIVE', 'compute-2'), (
            server.status, getattr(server, 'OS-EXT-SRV-ATTR:host')))
        migs = nova.migrations.list(instance_uuid=sid)
        self.assertEqual(['error'], [m.status for m in migs])
        action = nova.instance_action.list(sid)[0]
        self.assertEqual(('migrate', 'Error'), (action.action,
                                                action.message))
        nova.servers.migrate(sid, host='compute-1')
        server = self.wait_status(nova, sid, 'VERIFY_RESIZE')
        self.assertEqual('compute-1', getattr(server, 'OS-EXT-SRV-ATTR:host'))

    def test_disabled_hosts_are_not_targets(self):
        nova = self.nova()
        for svc in nova.services.list(binary='nova-compute'):
            if svc.host == 'compute-1':
                nova.services.disable_log_reason(svc.id, 'maintenance')
        self.assertRaises(nova_exc.BadRequest, nova.servers.migrate,
                          self.server_id('vm-0'))

    def test_injected_failure_leaves_server_active_on_source(self):
        self.sim.fail_migrations(server='vm-0', type='cold', times=1)
        nova = self.nova()
        sid = self.server_id('vm-0')
        nova.servers.migrate(sid)
        event = self.sim.wait_for_event('migration.error', base.WAIT,
                                        server=sid)
        self.assertIsNotNone(event)
        server = nova.servers.get(sid)
        self.assertEqual(('ACTIVE', None, 'compute-2'), (
            server.status, getattr(server, 'OS-EXT-STS:task_state'),
            getattr(server, 'OS-EXT-SRV-ATTR:host')))
        self.assertEqual('error',
                         nova.migrations.list(instance_uuid=sid)[0].status)
        self.assertEqual(1, self.usage('compute-1'))  # claim released
        # times: 1 -> the next attempt succeeds
        nova.servers.migrate(sid)
        self.wait_status(nova, sid, 'VERIFY_RESIZE')

    def test_injected_failure_to_error_state(self):
        self.sim.fail_migrations(host='compute-1', vm_state='error',
                                 reason='disk full')
        nova = self.nova()
        sid = self.server_id('vm-0')
        nova.servers.migrate(sid)
        server = self.wait_status(nova, sid, 'ERROR')
        self.assertEqual('disk full', server.fault['message'])
        self.assertEqual('compute-2', getattr(server, 'OS-EXT-SRV-ATTR:host'))


class TestLiveMigration(base.SimCloudTestCase):

    def test_live_migrate_scheduler_picks(self):
        nova = self.nova(version='2.53')
        sid = self.server_id('vm-0')
        since = self.sim.events.last_seq
        nova.servers.live_migrate(sid, None, 'auto')
        event = self.sim.wait_for_event('migration.finish', base.WAIT,
                                        since=since, server=sid)
        self.assertEqual(('live', 'compute-2', 'compute-1'),
                         (event['type'], event['source'], event['dest']))
        server = nova.servers.get(sid)
        self.assertEqual(('ACTIVE', 'compute-1'), (
            server.status, getattr(server, 'OS-EXT-SRV-ATTR:host')))
        states = [e['status'] for e in self.sim.get_events(
            since=since, server=sid, kind='server.state')]
        self.assertEqual(['MIGRATING', 'ACTIVE'], states)
        mig = nova.migrations.list(instance_uuid=sid)[0]
        self.assertEqual(('completed', 'live-migration'),
                         (mig.status, mig.migration_type))
        hosts = {h.hypervisor_hostname: h.running_vms
                 for h in nova.hypervisors.list()}
        self.assertEqual({'compute-0': 2, 'compute-1': 2, 'compute-2': 0},
                         hosts)

    def test_in_progress_listing_and_abort(self):
        self.sim.slow_migrations(LONG, server='vm-0')
        nova = self.nova(version='2.80')
        sid = self.server_id('vm-0')
        nova.servers.live_migrate(sid, 'compute-1', 'auto')
        server = nova.servers.get(sid)
        self.assertEqual(('MIGRATING', 'migrating'), (
            server.status, getattr(server, 'OS-EXT-STS:task_state')))
        running = nova.server_migrations.list(sid)
        self.assertEqual([('running', 'compute-2', 'compute-1')],
                         [(m.status, m.source_compute, m.dest_compute)
                          for m in running])
        record = nova.migrations.list(instance_uuid=sid)[0]
        self.assertEqual(self.sim.project_id('admin'), record.project_id)
        self.assertTrue(record.links)
        # the destination's resources are claimed during the migration
        self.assertEqual(2, self.sim.cloud.hosts['compute-1'].used[0])
        nova.server_migrations.live_migration_abort(sid, running[0].id)
        server = nova.servers.get(sid)
        self.assertEqual(('ACTIVE', 'compute-2'), (
            server.status, getattr(server, 'OS-EXT-SRV-ATTR:host')))
        self.assertEqual('cancelled',
                         nova.migrations.list(instance_uuid=sid)[0].status)
        self.assertEqual(1, self.sim.cloud.hosts['compute-1'].used[0])
        self.assertEqual([], nova.server_migrations.list(sid))

    def test_force_complete(self):
        self.sim.slow_migrations(LONG, server='vm-0')
        nova = self.nova(version='2.53')
        sid = self.server_id('vm-0')
        nova.servers.live_migrate(sid, None, 'auto')
        mig = nova.server_migrations.list(sid)[0]
        nova.server_migrations.live_migrate_force_complete(sid, mig.id)
        server = nova.servers.get(sid)
        self.assertEqual(('ACTIVE', 'compute-1'), (
            server.status, getattr(server, 'OS-EXT-SRV-ATTR:host')))

    def test_explicit_host_and_errors(self):
        nova = self.nova(version='2.53')
        ha0 = self.server_id('ha-0')
        self.assertRaises(nova_exc.BadRequest, nova.servers.live_migrate,
                          ha0, 'nowhere', 'auto')
        # compute-1 holds ha-1: anti-affinity makes it invalid. Since 2.25
        # this fails asynchronously: 202, then the migration is in error.
        since = self.sim.events.last_seq
        nova.servers.live_migrate(ha0, 'compute-1', 'auto')
        event = self.sim.wait_for_event('migration.error', base.WAIT,
                                        since=since, server=ha0)
        self.assertIn('No valid host', event['reason'])
        self.assertEqual('error',
                         nova.migrations.list(instance_uuid=ha0)[0].status)
        self.assertEqual('ACTIVE', nova.servers.get(ha0).status)
        # Before 2.25 the same request fails at once.
        old = self.nova(version='2.24')
        self.assertRaises(nova_exc.BadRequest, old.servers.live_migrate,
                          ha0, 'compute-1', False, False)
        # to compute-2 (free slot, no group member) it works
        nova.servers.live_migrate(ha0, 'compute-2', 'auto')
        self.sim.wait_for_event('migration.finish', base.WAIT, server=ha0)
        self.assertEqual('compute-2', self.sim.history.host_of(ha0))

    def test_injected_failures_by_rate_are_seeded(self):
        self.sim.set_faults({'seed': 7, 'migration_failure_rate': 1.0})
        nova = self.nova()
        sid = self.server_id('vm-0')
        nova.servers.live_migrate(sid, None, 'auto')
        event = self.sim.wait_for_event('migration.error', base.WAIT,
                                        server=sid)
        self.assertIn('random', event['reason'])
        self.assertEqual('compute-2', self.sim.history.host_of(sid))
        triggers = self.sim.get_events(kind='fault.trigger')
        self.assertEqual([None], [t['rule'] for t in triggers])


class TestEvacuate(base.SimCloudTestCase):

    def test_evacuate_after_force_down(self):
        nova = self.nova(version='2.53')
        sid = self.server_id('vm-0')
        self.assertRaises(nova_exc.BadRequest, nova.servers.evacuate, sid)
        svc = nova.services.list(host='compute-2',
                                 binary='nova-compute')[0]
        nova.services.force_down(svc.id, True)
        nova.servers.evacuate(sid)
        self.sim.wait_for_event('migration.finish', base.WAIT, server=sid)
        server = nova.servers.get(sid)
        self.assertEqual(('ACTIVE', 'compute-1'), (
            server.status, getattr(server, 'OS-EXT-SRV-ATTR:host')))
        self.assertEqual('evacuation', nova.migrations.list(
            instance_uuid=sid)[0].migration_type)

    def test_evacuate_at_295_leaves_shutoff(self):
        nova = self.nova(version='2.95')
        sid = self.server_id('vm-0')
        self.sim.set_host_state('compute-2', 'down')
        nova.servers.evacuate(sid)
        self.sim.wait_for_event('migration.finish', base.WAIT, server=sid)
        self.assertEqual('SHUTOFF', nova.servers.get(sid).status)


class TestMigrationRecords(base.SimCloudTestCase):

    def test_filters_and_versions(self):
        nova = self.nova(version='2.59')
        vm0 = self.server_id('vm-0')
        nova.servers.live_migrate(vm0, None, 'auto')
        self.sim.wait_for_event('migration.finish', base.WAIT, server=vm0)
        ha0 = self.server_id('ha-0')
        nova.servers.migrate(ha0)
        self.wait_status(nova, ha0, 'VERIFY_RESIZE')
        everything = nova.migrations.list()
        self.assertEqual(2, len(everything))
        self.assertTrue(all(m.uuid for m in everything))
        live = nova.migrations.list(migration_type='live-migration')
        self.assertEqual([vm0], [m.instance_uuid for m in live])
        cold = nova.migrations.list(status='finished')
        self.assertEqual([ha0], [m.instance_uuid for m in cold])
        by_host = nova.migrations.list(host='compute-0')
        self.assertEqual([ha0], [m.instance_uuid for m in by_host])
        old = self.nova(version='2.1').migrations.list()
        self.assertFalse(hasattr(old[0], 'migration_type'))
        self.assertFalse(hasattr(old[0], 'uuid'))

    def test_instance_action_events(self):
        nova = self.nova(version='2.62')
        sid = self.server_id('vm-0')
        nova.servers.live_migrate(sid, None, 'auto')
        self.sim.wait_for_event('migration.finish', base.WAIT, server=sid)
        action = nova.instance_action.list(sid)[0]
        self.assertEqual('live-migration', action.action)
        detail = nova.instance_action.get(sid, action.request_id)
        self.assertEqual(['Success', 'Success'],
                         [e['result'] for e in detail.events])
        self.assertEqual('compute-2', detail.events[-1]['host'])


class TestTopologyFaults(base.SimCloudTestCase):
    """Faults declared in a topology file are active from the start."""

    def topology(self):
        return topology.load(os.path.join(base.ETC, 'faults-example.yaml'))

    def test_faults_example(self):
        nova = self.nova()
        vm0 = self.server_id('vm-0')
        since = self.sim.events.last_seq
        self.sim.set_timing(live_migration=0.01)
        # rule 1: the first live migration of vm-0 fails
        nova.servers.live_migrate(vm0, None, 'auto')
        event = self.sim.wait_for_event('migration.error', base.WAIT,
                                        since=since, server=vm0)
        self.assertEqual('Injected migration failure', event['reason'])
        # API rule: the first two hypervisor listings answer 503
        for _ in range(2):
            self.assertRaises(nova_exc.ClientException,
                              nova.hypervisors.list)
        self.assertEqual(3, len(nova.hypervisors.list()))


class TestDeletedServers(base.SimCloudTestCase):
    """Nova soft-deletes a server's migration records with it."""

    def test_migrations_of_deleted_servers_are_not_listed(self):
        nova = self.nova(version='2.80')
        vm0, ha0 = self.server_id('vm-0'), self.server_id('ha-0')
        nova.servers.live_migrate(vm0, None, 'auto')
        self.sim.wait_for_event('migration.finish', base.WAIT, server=vm0)
        nova.servers.live_migrate(ha0, 'compute-2', 'auto')
        self.sim.wait_for_event('migration.finish', base.WAIT, server=ha0)
        self.assertEqual({vm0, ha0}, {m.instance_uuid for m in
                                      nova.migrations.list()})
        nova.servers.delete(vm0)
        self.assertEqual([ha0], [m.instance_uuid for m in
                                 nova.migrations.list()])
        self.assertEqual([], nova.migrations.list(instance_uuid=vm0))
        self.assertRaises(nova_exc.NotFound, nova.server_migrations.list,
                          vm0)
        self.assertEqual(1, len(nova.migrations.list(host='compute-2')))


class TestComputeDown(base.SimCloudTestCase):
    """Moves from or to a nova-compute that is down, as in real Nova.

    Refused when the API or the conductor can tell (the service is known
    down); a move under way when a compute goes down leaves the server in
    ERROR (409 to further moves) until an admin resets its state.
    """

    def server(self, nova, sid):
        server = nova.servers.get(sid)
        return (server.status, getattr(server, 'OS-EXT-STS:vm_state'),
                getattr(server, 'OS-EXT-STS:task_state'),
                getattr(server, 'OS-EXT-SRV-ATTR:host'))

    def test_cold_migration_with_the_destination_going_down(self):
        self.sim.slow_migrations(LONG, server='vm-0')
        nova = self.nova(version='2.56')
        sid = self.server_id('vm-0')
        nova.servers.migrate(sid, host='compute-1')
        self.sim.set_host_state('compute-1', 'down')
        self.assertTrue(self.sim.complete_now(sid))
        self.assertIsNotNone(self.sim.wait_for_event(
            'migration.error', base.WAIT, server=sid))
        self.assertEqual(('ERROR', 'error', None, 'compute-2'),
                         self.server(nova, sid))
        server = nova.servers.get(sid)
        self.assertEqual(500, server.fault['code'])
        self.assertIn('compute-1', server.fault['message'])
        self.assertEqual(['error'], [m.status for m in
                                     nova.migrations.list(
                                         instance_uuid=sid)])
        # The destination's claim is released (no leak by default).
        self.assertEqual([1, 2048, 20],
                         self.sim.cloud.hosts['compute-1'].used)
        action = nova.instance_action.list(sid)[0]
        self.assertEqual(('migrate', 'Error'), (action.action,
                                                action.message))
        self.sim.set_host_state('compute-1', 'up')
        self._refused_until_reset(nova, sid, 'compute-2')

    def _refused_until_reset(self, nova, sid, host):
        exc = self.assertRaises(nova_exc.Conflict, nova.servers.migrate,
                                sid)
        self.assertIn('vm_state error', str(exc))
        self.assertRaises(nova_exc.Conflict, nova.servers.live_migrate,
                          sid, None, 'auto')
        nova.servers.reset_state(sid, 'active')
        self.assertEqual(('ACTIVE', 'active', None, host),
                         self.server(nova, sid))
        self.assertNotIn('fault', nova.servers.get(sid).to_dict())
        self.sim.clear_faults()
        nova.servers.live_migrate(sid, None, 'auto')
        self.assertIsNotNone(self.sim.wait_for_event(
            'migration.finish', base.WAIT, server=sid))
        self.assertNotEqual(host, self.sim.history.host_of(sid))

    def _live_migration_with_a_host_going_down(self, down):
        self.sim.slow_migrations(LONG, server='vm-0')
        nova = self.nova(version='2.53')
        sid = self.server_id('vm-0')
        nova.servers.live_migrate(sid, 'compute-1', 'auto')
        self.sim.set_host_state(down, 'down')
        mig = nova.server_migrations.list(sid)[0]
        nova.server_migrations.live_migrate_force_complete(sid, mig.id)
        self.assertEqual(('ERROR', 'error', None, 'compute-2'),
                         self.server(nova, sid))
        self.assertIn(down, nova.servers.get(sid).fault['message'])
        self.assertEqual('error',
                         nova.migrations.list(instance_uuid=sid)[0].status)
        event = self.sim.get_events(kind='migration.error', server=sid)[-1]
        self.assertEqual('error', event['vm_state'])
        svc = nova.services.list(host=down, binary='nova-compute')[0]
        self.assertEqual('down', svc.state)
        self.sim.set_host_state(down, 'up')
        self._refused_until_reset(nova, sid, 'compute-2')

    def test_live_migration_with_the_source_going_down(self):
        self._live_migration_with_a_host_going_down('compute-2')

    def test_live_migration_with_the_destination_going_down(self):
        self._live_migration_with_a_host_going_down('compute-1')

    def test_confirm_with_the_source_going_down(self):
        nova = self.nova(version='2.56')
        sid = self.server_id('vm-0')
        nova.servers.migrate(sid, host='compute-1')
        self.wait_status(nova, sid, 'VERIFY_RESIZE')
        self.sim.set_timing(confirm_resize=LONG)
        nova.servers.confirm_resize(sid)
        self.assertEqual('confirming', nova.migrations.list(
            instance_uuid=sid)[0].status)
        self.sim.set_host_state('compute-2', 'down')
        self.assertTrue(self.sim.complete_now(sid))
        event = self.sim.wait_for_event('migration.error', base.WAIT,
                                        server=sid)
        self.assertIn('compute-2', event['reason'])
        # On its destination, in ERROR; the source's claim is released.
        self.assertEqual(('ERROR', 'error', None, 'compute-1'),
                         self.server(nova, sid))
        self.assertEqual([0, 0, 0], self.sim.cloud.hosts['compute-2'].used)
        self.assertEqual('error', nova.migrations.list(
            instance_uuid=sid)[0].status)
        self.assertRaises(nova_exc.Conflict, nova.servers.confirm_resize,
                          sid)

    def test_refused_at_once_when_known_down(self):
        nova = self.nova(version='2.56')
        sid = self.server_id('vm-0')
        self.sim.set_host_state('compute-2', 'down')
        # compute.api: check_instance_host(check_is_up=True) on resize.
        exc = self.assertRaises(nova_exc.Conflict, nova.servers.migrate,
                                sid)
        self.assertIn('Service is unavailable at this time.', str(exc))
        # The conductor's ComputeServiceUnavailable: the migration is in
        # error, the server untouched (still ACTIVE).
        nova.servers.live_migrate(sid, None, 'auto')
        self.assertEqual(('ACTIVE', 'active', None, 'compute-2'),
                         self.server(nova, sid))
        self.assertEqual('error', nova.migrations.list(
            instance_uuid=sid)[0].status)
        # A down destination is filtered out by the scheduler.
        self.sim.set_host_state('compute-2', 'up')
        self.sim.set_host_state('compute-1', 'down')
        self.assertRaises(nova_exc.BadRequest, nova.servers.migrate, sid,
                          host='compute-1')
        self.assertEqual('ACTIVE', nova.servers.get(sid).status)

    def test_confirm_refused_when_the_source_is_known_down(self):
        nova = self.nova()
        sid = self.server_id('vm-0')
        nova.servers.migrate(sid)
        self.wait_status(nova, sid, 'VERIFY_RESIZE')
        self.sim.set_host_state('compute-2', 'down')
        self.assertRaises(nova_exc.Conflict, nova.servers.confirm_resize,
                          sid)
        self.assertEqual('VERIFY_RESIZE', nova.servers.get(sid).status)


class TestAllocationLeak(base.SimCloudTestCase):
    """Opt-in fault ``leak_allocations``: as real Nova sometimes does, a
    failed migration leaves its destination's resources claimed in
    Placement: the scheduler finds no valid host there while the
    hypervisor still reports the resources free."""

    def usage(self, nova, host):
        hyp = [h for h in nova.hypervisors.list()
               if h.hypervisor_hostname == host][0]
        return hyp.vcpus_used, hyp.memory_mb_used

    def fail_once_to_compute_1(self, nova):
        sid = self.server_id('vm-0')
        nova.servers.live_migrate(sid, 'compute-1', 'auto')
        event = self.sim.wait_for_event('migration.error', base.WAIT,
                                        server=sid)
        self.assertIsNotNone(event)
        self.assertEqual('compute-2', self.sim.history.host_of(sid))

    def test_off_by_default(self):
        self.sim.fail_migrations(server='vm-0', type='live', times=1)
        nova = self.nova(version='2.56')
        self.fail_once_to_compute_1(nova)
        self.assertEqual([], self.sim.get_events(kind='allocation.leak'))
        nova.servers.migrate(self.server_id('other-0'), host='compute-1')
        self.wait_status(nova, self.server_id('other-0'), 'VERIFY_RESIZE')

    def test_leak_blocks_scheduling_until_healed(self):
        self.sim.set_faults({'leak_allocations': True, 'migrations': [
            {'server': 'vm-0', 'type': 'live', 'times': 1}]})
        nova = self.nova(version='2.56')
        self.fail_once_to_compute_1(nova)
        leak = self.sim.get_events(kind='allocation.leak')
        self.assertEqual([('compute-1', 1, 2048)],
                         [(e['host'], e['vcpus'], e['memory_mb'])
                          for e in leak])
        # The hypervisor (resource tracker) sees one free slot...
        self.assertEqual((1, 2048), self.usage(self.nova(version='2.87'),
                                               'compute-1'))
        # ...Placement does not: the scheduler refuses compute-1.
        other = self.server_id('other-0')
        exc = self.assertRaises(nova_exc.BadRequest, nova.servers.migrate,
                                other, host='compute-1')
        self.assertIn('No valid host', str(exc))
        snap = {h['name']: h for h in self.sim.snapshot()['hosts']}
        self.assertEqual(1, snap['compute-1']['leaked']['vcpus'])
        self.assertEqual(['compute-1'], self.sim.heal_allocations())
        self.assertEqual([], self.sim.heal_allocations())
        nova.servers.migrate(other, host='compute-1')
        self.wait_status(nova, other, 'VERIFY_RESIZE')

    def test_per_rule_leak_and_compute_down(self):
        # A rule's leak: true applies without the global switch...
        self.sim.fail_migrations(server='vm-0', type='live', times=1,
                                 leak=True)
        nova = self.nova(version='2.56')
        self.fail_once_to_compute_1(nova)
        self.assertEqual([1, 2048, 20],
                         self.sim.cloud.hosts['compute-1'].leaked)
        self.sim.heal_allocations()
        # ...and the switch covers moves failed by a compute going down.
        self.sim.set_faults({'leak_allocations': True})
        self.sim.slow_migrations(LONG, server='vm-0')
        sid = self.server_id('vm-0')
        since = self.sim.events.last_seq
        nova.servers.live_migrate(sid, 'compute-1', 'auto')
        self.sim.set_host_state('compute-2', 'down')
        self.assertTrue(self.sim.complete_now(sid))
        self.assertIsNotNone(self.sim.wait_for_event(
            'allocation.leak', base.WAIT, since=since, server=sid))
        self.assertEqual('ERROR', nova.servers.get(sid).status)
        self.assertEqual([1, 2048, 20],
                         self.sim.cloud.hosts['compute-1'].leaked)

    def test_bad_switch_is_refused(self):
        err = self.assertRaises(topology.TopologyError, self.sim.set_faults,
                                {'leak_allocations': 'yes'})
        self.assertIn('faults.leak_allocations', str(err))
        err = self.assertRaises(topology.TopologyError, self.sim.set_faults,
                                {'migrations': [{'leak': 1}]})
        self.assertIn('faults.migrations[0].leak', str(err))


class TestServiceDownTime(base.SimCloudTestCase):
    """timing.service_down_time: a crashed compute reads up for a while."""

    DOWN_TIME = 0.5

    def topology(self):
        topo = base.small_topology()
        topo['timing'] = dict(topo['timing'],
                              service_down_time=self.DOWN_TIME)
        return topo

    def compute_state(self, nova, host):
        return [s.state for s in nova.services.list(
            host=host, binary='nova-compute')][0]

    def test_crashed_compute_reads_up_then_down(self):
        self.sim.slow_migrations(LONG, server='vm-0')
        nova = self.nova(version='2.56')
        sid = self.server_id('vm-0')
        self.sim.set_host_state('compute-1', 'down')
        self.assertEqual('up', self.compute_state(nova, 'compute-1'))
        # During the lag the API and the scheduler accept the move.
        nova.servers.migrate(sid, host='compute-1')
        self.assertEqual('RESIZE', nova.servers.get(sid).status)
        deadline = time.monotonic() + 10 * self.DOWN_TIME + 5
        while self.compute_state(nova, 'compute-1') != 'down':
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)

    def test_forced_down_is_immediate(self):
        nova = self.nova(version='2.53')
        svc = nova.services.list(host='compute-1',
                                 binary='nova-compute')[0]
        nova.services.force_down(svc.id, True)
        self.assertEqual('down', self.compute_state(nova, 'compute-1'))


class TestHeldColdMigration(base.SimCloudTestCase):
    """With a service_down_time, a cold migration due while its source or
    destination crashed waits, as its RPC waits in the compute's queue."""

    def topology(self):
        topo = base.small_topology()
        # Moves and the lag last long; complete_now drives every step.
        topo['timing'] = dict(topo['timing'], cold_migration=60,
                              service_down_time=60)
        return topo

    def held(self, nova, sid, **migrate):
        since = self.sim.events.last_seq
        nova.servers.migrate(sid, **migrate)
        self.assertTrue(self.sim.complete_now(sid))
        self.assertIsNotNone(self.sim.wait_for_event(
            'migration.held', since=since, server=sid))
        self.assertEqual('RESIZE', nova.servers.get(sid).status)
        return self.migration(nova, sid)

    def migration(self, nova, sid):
        return [m for m in nova.migrations.list(instance_uuid=sid)][-1]

    def test_destination_back_then_the_move_completes(self):
        nova = self.nova(version='2.56')
        sid = self.server_id('vm-0')
        self.sim.set_host_state('compute-1', 'down')
        mig = self.held(nova, sid, host='compute-1')
        self.assertEqual('pre-migrating', mig.status)
        since = self.sim.events.last_seq
        self.sim.set_host_state('compute-1', 'up')
        self.assertTrue(self.sim.complete_now(sid))
        self.assertIsNotNone(self.sim.wait_for_event(
            'migration.finish', since=since, server=sid))
        server = nova.servers.get(sid)
        self.assertEqual(('VERIFY_RESIZE', 'compute-1'),
                         (server.status,
                          getattr(server, 'OS-EXT-SRV-ATTR:host')))

    def test_source_back_clears_the_task_then_the_queued_resize_fails(self):
        nova = self.nova(version='2.56')
        sid = self.server_id('vm-0')
        self.sim.set_host_state('compute-2', 'down')
        self.held(nova, sid)
        self.sim.set_host_state('compute-2', 'up')
        # The restarted compute cleared the task: the server rests on its
        # source while Nova's record of the migration is still open.
        server = nova.servers.get(sid)
        self.assertEqual(('ACTIVE', None, 'compute-2'),
                         (server.status,
                          getattr(server, 'OS-EXT-STS:task_state'),
                          getattr(server, 'OS-EXT-SRV-ATTR:host')))
        self.assertEqual('pre-migrating', self.migration(nova, sid).status)
        since = self.sim.events.last_seq
        self.assertTrue(self.sim.complete_now(sid))
        self.assertIsNotNone(self.sim.wait_for_event(
            'migration.error', since=since, server=sid))
        server = nova.servers.get(sid)
        self.assertEqual('ERROR', server.status)
        self.assertIn("Conflict updating instance", server.fault['message'])
        self.assertEqual('error', self.migration(nova, sid).status)
        action = nova.instance_action.list(sid)[0]
        events = nova.instance_action.get(sid, action.request_id).events
        self.assertIn(('compute_resize_instance', 'Error'),
                      [(e['event'], e['result']) for e in events])
