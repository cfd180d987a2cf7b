# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Scheduler rules: capacity, disabled/down hosts, server-group policies."""
from novaclient import exceptions as nova_exc

from fenix.tests.unit.simcloud import base
from fenix_tools.simcloud import topology as topology_mod


class SchedulerTestCase(base.SimCloudTestCase):

    def topology(self):
        return base.small_topology(servers=[], server_groups=[])

    def boot(self, nova, name, flavor='1', group=None, wait='ACTIVE'):
        hints = {'group': group} if group else None
        server = nova.servers.create(name, image='img', flavor=flavor,
                                     nics='none', scheduler_hints=hints)
        self.wait_status(nova, server.id, wait)
        with self.sim.lock:
            return self.sim.cloud.servers[server.id].host


class TestCapacity(SchedulerTestCase):

    def topology(self):
        topo = super().topology()
        topo['flavors'].append({'id': '3', 'name': 'fat', 'vcpus': 1,
                                'ram': 3000, 'disk': 1})
        topo['flavors'].append({'id': '4', 'name': 'wide', 'vcpus': 1,
                                'ram': 64, 'disk': 40})
        topo['flavors'].append({'id': '5', 'name': 'thin', 'vcpus': 1,
                                'ram': 64, 'disk': 19})
        return topo

    def test_fills_every_slot_then_no_valid_host(self):
        nova = self.nova('vnfm1', version='2.64')
        hosts = [self.boot(nova, 'vm-%d' % i) for i in range(6)]
        self.assertEqual({'compute-0': 2, 'compute-1': 2, 'compute-2': 2},
                         {h: hosts.count(h) for h in set(hosts)})
        # spread: the first three land on three different hosts
        self.assertEqual(3, len(set(hosts[:3])))
        self.assertIsNone(self.boot(nova, 'vm-6', wait='ERROR'))

    def test_ram_and_disk_count_not_only_vcpus(self):
        nova = self.nova('vnfm1')
        for i in range(3):
            self.assertIsNotNone(self.boot(nova, 'fat-%d' % i, flavor='3'))
        # 1 vCPU is free everywhere, but only 1096 MB of RAM
        self.assertIsNone(self.boot(nova, 'fat-3', flavor='3',
                                    wait='ERROR'))
        # 1 vCPU, 1096 MB and 39 GB of disk are free on each host
        self.assertIsNone(self.boot(nova, 'wide', flavor='4', wait='ERROR'))
        self.assertIsNotNone(self.boot(nova, 'thin', flavor='5'))

    def test_disabled_and_forced_down_hosts_get_nothing(self):
        admin = self.nova()
        services = {s.host: s for s in
                    admin.services.list(binary='nova-compute')}
        admin.services.disable_log_reason(services['compute-0'].id, 'maint')
        admin.services.force_down(services['compute-1'].id, True)
        nova = self.nova('vnfm1')
        hosts = {self.boot(nova, 'vm-%d' % i) for i in range(2)}
        self.assertEqual({'compute-2'}, hosts)
        self.assertIsNone(self.boot(nova, 'vm-2', wait='ERROR'))
        self.sim.set_host_state('compute-2', 'down')
        admin.services.enable(services['compute-0'].id)
        self.assertEqual('compute-0', self.boot(nova, 'vm-3'))


class TestServerGroups(SchedulerTestCase):

    def test_anti_affinity(self):
        nova = self.nova('vnfm1', version='2.64')
        group = nova.server_groups.create('aa', 'anti-affinity')
        hosts = [self.boot(nova, 'aa-%d' % i, group=group.id)
                 for i in range(3)]
        self.assertEqual(3, len(set(hosts)))
        self.assertIsNone(self.boot(nova, 'aa-3', group=group.id,
                                    wait='ERROR'))

    def test_anti_affinity_blocks_migration_target(self):
        nova = self.nova('vnfm1', version='2.64')
        admin = self.nova(version='2.56')
        group = nova.server_groups.create('aa', 'anti-affinity')
        a = nova.servers.create('a', image='i', flavor='1', nics='none',
                                scheduler_hints={'group': group.id})
        b = nova.servers.create('b', image='i', flavor='1', nics='none',
                                scheduler_hints={'group': group.id})
        self.wait_status(nova, a.id, 'ACTIVE')
        self.wait_status(nova, b.id, 'ACTIVE')
        host_b = self.sim.cloud.servers[b.id].host
        self.assertRaises(nova_exc.BadRequest, admin.servers.migrate, a.id,
                          host=host_b)
        admin.servers.migrate(a.id)
        self.wait_status(admin, a.id, 'VERIFY_RESIZE')
        self.assertNotEqual(host_b, self.sim.cloud.servers[a.id].host)

    def test_max_server_per_host_rule(self):
        nova = self.nova('vnfm1', version='2.64')
        group = nova.server_groups.create(
            'aa2', 'anti-affinity', rules={'max_server_per_host': 2})
        hosts = [self.boot(nova, 'x-%d' % i, group=group.id)
                 for i in range(6)]
        self.assertEqual([2, 2, 2], sorted(hosts.count(h)
                                           for h in set(hosts)))

    def test_affinity(self):
        nova = self.nova('vnfm1', version='2.64')
        group = nova.server_groups.create('aff', 'affinity')
        first = self.boot(nova, 'f-0', group=group.id)
        self.assertEqual(first, self.boot(nova, 'f-1', group=group.id))
        # that host is full now: the third member cannot be placed
        self.assertIsNone(self.boot(nova, 'f-2', group=group.id,
                                    wait='ERROR'))

    def test_soft_anti_affinity_prefers_then_allows(self):
        nova = self.nova('vnfm1', version='2.64')
        group = nova.server_groups.create('soft', 'soft-anti-affinity')
        hosts = [self.boot(nova, 's-%d' % i, group=group.id)
                 for i in range(4)]
        self.assertEqual(3, len(set(hosts[:3])))
        self.assertIsNotNone(hosts[3])


class TestWeigher(base.SimCloudTestCase):

    def topology(self):
        return base.small_topology(servers=[], server_groups=[],
                                   scheduler={'weigher': 'pack'})

    def test_pack_fills_one_host_first(self):
        nova = self.nova('vnfm1')
        hosts = []
        for i in range(2):
            server = nova.servers.create('p-%d' % i, image='i', flavor='1',
                                         nics='none')
            self.wait_status(nova, server.id, 'ACTIVE')
            hosts.append(self.sim.cloud.servers[server.id].host)
        self.assertEqual(1, len(set(hosts)))

    def test_topology_rejects_bad_weigher(self):
        self.assertRaises(topology_mod.TopologyError,
                          topology_mod.normalize,
                          {'scheduler': {'weigher': 'random'}})
