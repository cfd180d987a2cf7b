# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Unit tests of the planner's serial policy (fenix.workflow.serial) over
the one model of the cloud, built from Nova-like dicts as the workflows
build it (fenix.workflow.nfv_plan)."""
import itertools
import math

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as hs

from fenix.tests import base
from fenix.workflow import model
from fenix.workflow import nfv_plan
from fenix.workflow import serial

R = model.Resources


def hv(name, vcpus=4, ram=8192, disk=80, **extra):
    data = {'hostname': name, 'vcpus': vcpus, 'memory_mb': ram,
            'local_gb': disk}
    data.update(extra)
    return data


def vm(iid, host, vcpus=2, ram=4096, disk=40, **extra):
    data = {'id': iid, 'host': host, 'project_id': 'p1', 'name': iid,
            'flavor': {'vcpus': vcpus, 'ram': ram, 'disk': disk}}
    data.update(extra)
    return data


def server_group(gid, policy=None, max_per_host=0):
    """A Nova server group (its members come from the vms' ``group``)."""
    return {'id': gid, 'policy': policy,
            'rules': {'max_server_per_host': max_per_host or None}}


def snapshot(hosts, vms, groups=()):
    """The serial policy's view of hypervisors ``hosts`` with servers
    ``vms`` and server groups ``groups``, built as the workflows do."""
    groups = [dict(g, members=[v['id'] for v in vms
                               if v.get('group') == g['id']])
              for g in groups]
    return serial.Snapshot(nfv_plan.build_topology(
        hosts, [], [], vms, groups, {}, {}))


def full_cloud(hosts=3, per_host=2, **vm_kw):
    """Seed 004: every host full with two half-host instances."""
    names = ['c%d' % (i + 1) for i in range(hosts)]
    vms = [vm('%s-vm%d' % (h, i), h, **vm_kw)
           for h in names for i in range(per_host)]
    return names, [hv(h) for h in names], vms


class TestResources(base.TestCase):

    def test_arithmetic(self):
        a, b = R(4, 8192, 80), R(1, 1024, 10)
        self.assertEqual(R(5, 9216, 90), a + b)
        self.assertEqual(R(3, 7168, 70), a - b)
        self.assertEqual(R(0, 0, 5), R(-1, -5, 5).clip())
        self.assertEqual(R(0, 0, 0), R())
        self.assertEqual(R(0, 0, 0), R.of((None, None, None)))
        self.assertEqual(R(5, 9216, 90), R.total([a, b]))
        self.assertEqual(R(), R.total([]))

    def test_fits_in(self):
        self.assertTrue(R(2, 4096, 40).fits_in(R(2, 4096, 40)))
        self.assertFalse(R(3, 4096, 40).fits_in(R(2, 4096, 40)))
        self.assertFalse(R(2, 4097, 40).fits_in(R(2, 4096, 40)))
        self.assertFalse(R(2, 4096, 41).fits_in(R(2, 4096, 40)))

    def test_is_zero(self):
        self.assertTrue(R().is_zero())
        self.assertTrue(R(-1, 0, 0).is_zero())
        self.assertFalse(R(0, 1, 0).is_zero())

    def test_describe(self):
        self.assertEqual('4 vCPU / 8192 MB RAM / 0 GB disk',
                         R(4, 8192, 0).describe(skip_zero=False))
        self.assertEqual('4 vCPU / 8192 MB RAM', R(4, 8192, 0).describe())
        self.assertEqual('nothing', R().describe())
        self.assertEqual('1.5 vCPU / 2 MB RAM / 0 GB disk',
                         R(1.5, 2.0, 0).describe(skip_zero=False))

    def test_fraction_of(self):
        self.assertAlmostEqual(1.5, R(2, 4096, 0).fraction_of(
            R(4, 4096, 80)))
        self.assertAlmostEqual(3.0, R(0, 0, 3).fraction_of(R(1, 1, 0)))


class TestInputs(base.TestCase):

    def test_host_from_hypervisor(self):
        host = nfv_plan.host_of(hv('c1'))
        self.assertEqual('c1', host.name)
        self.assertEqual(R(4, 8192, 80), host.usable())
        self.assertEqual(R(), host.reserved)

    def test_host_ratios_and_reserved(self):
        host = nfv_plan.host_of(hv(
            'c1', cpu_allocation_ratio=4.0, ram_allocation_ratio=1.5,
            reserved_vcpus=1, reserved_memory_mb=512, reserved_disk_gb=0))
        self.assertEqual(R(4, 8192, 80), host.capacity)
        self.assertEqual(R(1, 512, 0), host.reserved)
        self.assertEqual(R(15, 11776, 80), host.usable())
        topo = snapshot([hv('c1', cpu_allocation_ratio=4.0,
                        ram_allocation_ratio=1.5, reserved_vcpus=1,
                        reserved_memory_mb=512)], [])
        self.assertEqual(R(15, 11776, 80), topo.free('c1'))

    def test_unknown_capacity_is_unbounded(self):
        unknown = {'hostname': 'c1', 'vcpus': None, 'memory_mb': None,
                   'local_gb': None}
        self.assertEqual(math.inf, nfv_plan.host_of(unknown).usable().vcpus)
        topo = snapshot([hv('c0'), unknown], [vm('a', 'c0', 4, 8192, 80)])
        self.assertTrue(topo.plan_evacuation('c0', ['c1']).fits)

    def test_instance_from_server(self):
        inst = nfv_plan.instance_of(vm('a', 'c1', floating_ip=True), None,
                                    None)
        self.assertEqual('a', inst.instance_id)
        self.assertEqual('c1', inst.host)
        self.assertEqual(R(2, 4096, 40), inst.need())
        self.assertTrue(inst.floating_ip)
        self.assertTrue(inst.important)
        active = nfv_plan.instance_of(vm('b', 'c1', active=True), None, None)
        self.assertTrue(active.important)
        self.assertFalse(nfv_plan.instance_of(vm('c', 'c1'), None,
                                              None).important)

    def test_volume_backed_uses_no_local_disk(self):
        inst = nfv_plan.instance_of(vm('a', 'c1', volume_backed=True), None,
                                    None)
        self.assertEqual(R(2, 4096, 40), inst.resources)
        self.assertEqual(R(2, 4096, 0), inst.need())

    def test_groups_from_server_groups(self):
        topo = snapshot([hv('c1')], [vm('a', 'c1', group='g'),
                                     vm('b', 'c1', group='h')],
                        [server_group('g', model.ANTI_AFFINITY),
                         server_group('h', None, 3)])
        self.assertEqual(1, topo.groups['g'].per_host_limit())
        self.assertEqual(3, topo.groups['h'].per_host_limit())
        self.assertEqual('g', topo.instances['a'].group)

    def test_group_limits(self):
        G = model.Group
        self.assertEqual(1, G('g', policy=model.ANTI_AFFINITY)
                         .per_host_limit())
        self.assertEqual(2, G('g', policy=model.ANTI_AFFINITY,
                              max_instances_per_host=2).per_host_limit())
        self.assertEqual(math.inf, G('g', policy=model.AFFINITY)
                         .per_host_limit())
        self.assertEqual(math.inf, G('g', policy=model.SOFT_ANTI_AFFINITY)
                         .per_host_limit())
        self.assertTrue(G('g', policy=model.AFFINITY).affinity)
        self.assertRaises(ValueError, model.Topology(
            hosts=[], groups=[G('g', policy='sideways')]).check)


class TestTopology(base.TestCase):

    def test_usage(self):
        topo = snapshot([hv('c1'), hv('c2')],
                        [vm('a', 'c1'), vm('b', 'c1', 1, 1024, 10)])
        self.assertEqual(R(3, 5120, 50), topo.used('c1'))
        self.assertEqual(R(1, 3072, 30), topo.free('c1'))
        self.assertEqual(R(4, 8192, 80), topo.free('c2'))
        self.assertEqual(['a', 'b'],
                         [i.instance_id for i in topo.on_host('c1')])
        self.assertTrue(topo.is_empty('c2'))
        self.assertFalse(topo.is_empty('c1'))
        self.assertEqual(R(), topo.free('nope'))
        self.assertEqual(R(), topo.capacity('nope'))

    def test_overcommitted_host_has_no_free(self):
        topo = snapshot([hv('c1', vcpus=2)], [vm('a', 'c1', 4)])
        self.assertEqual(R(0, 4096, 40), topo.free('c1'))

    def test_moved_copy(self):
        topo = snapshot([hv('c1'), hv('c2')], [vm('a', 'c1')])
        moved = topo.moved({'a': 'c2'})
        self.assertTrue(moved.is_empty('c1'))
        self.assertFalse(topo.is_empty('c1'))


class TestPlanEvacuation(base.TestCase):

    def test_empty_host_fits_trivially(self):
        topo = snapshot([hv('c1'), hv('c2')], [])
        plan = topo.plan_evacuation('c1', ['c2'])
        self.assertTrue(plan.fits)
        self.assertEqual({}, plan.moves)

    def test_fits_and_spreads(self):
        topo = snapshot([hv('c1'), hv('c2'), hv('c3')],
                        [vm('a', 'c1'), vm('b', 'c1')])
        plan = topo.plan_evacuation('c1', ['c1', 'c2', 'c3'])
        self.assertTrue(plan.fits)
        self.assertEqual({'a', 'b'}, set(plan.moves))
        # The source is never a target; most free first spreads them.
        self.assertEqual({'c2', 'c3'}, set(plan.moves.values()))
        self.assertEqual(R(4, 8192, 80), plan.free_after)
        self.assertEqual(R(4, 8192, 80), plan.need)

    def test_unknown_targets_ignored(self):
        topo = snapshot([hv('c1'), hv('c2')], [vm('a', 'c1')])
        plan = topo.plan_evacuation('c1', ['ghost', 'c2'])
        self.assertEqual({'a': 'c2'}, plan.moves)

    def test_no_targets(self):
        topo = snapshot([hv('c1')], [vm('a', 'c1')])
        plan = topo.plan_evacuation('c1', [])
        self.assertFalse(plan.fits)
        self.assertEqual(R(2, 4096, 40), plan.missing)
        self.assertIn('no host', plan.reason)

    def test_short_of_each_resource(self):
        for short, missing in ((dict(vcpus=1), R(1, 0, 0)),
                               (dict(ram=1024), R(0, 1024, 0)),
                               (dict(disk=10), R(0, 0, 10))):
            size = dict(vcpus=2, ram=4096, disk=40)
            for key, extra in short.items():
                size[key] += extra
            topo = snapshot([hv('c1'), hv('c2', 2, 4096, 40)],
                            [vm('a', 'c1', **size)])
            plan = topo.plan_evacuation('c1', ['c2'])
            self.assertFalse(plan.fits, short)
            self.assertEqual(missing, plan.missing)
            self.assertIn('only 2 vCPU / 4096 MB RAM / 40 GB disk free on '
                          'c2', plan.reason)

    def test_full_cloud_needs_scale_in(self):
        names, hosts, vms = full_cloud()
        topo = snapshot(hosts, vms)
        plan = topo.plan_evacuation('c1', names)
        self.assertFalse(plan.fits)
        self.assertEqual(R(4, 8192, 80), plan.missing)

    def test_fragmented(self):
        # 4 vCPU free in all, but 2 + 2 on two hosts: a 4-vCPU one fits
        # on neither.
        topo = snapshot(
            [hv('c1'), hv('c2'), hv('c3')],
            [vm('big', 'c1', 4, 4096, 40), vm('x', 'c2'), vm('y', 'c3')])
        plan = topo.plan_evacuation('c1', ['c2', 'c3'])
        self.assertFalse(plan.fits)
        self.assertIn('instance big', plan.reason)
        self.assertIn('fragmented', plan.reason)
        self.assertEqual(R(2, 0, 0), plan.missing)

    def test_exact_search_beats_greedy(self):
        # Targets with 5 and 4 free vCPUs; instances 3, 3, 2 (RAM/disk
        # tiny). Most-free-first greedy puts 3 on the 5 and 3 on the 4 and
        # strands the 2 ... unless it backtracks: 3+2 on 5, 3 on 4.
        hosts = [hv('src', 16, 1 << 20, 1000), hv('t5', 5, 1 << 20, 1000),
                 hv('t4', 4, 1 << 20, 1000)]
        vms = [vm('a', 'src', 3, 1, 1), vm('b', 'src', 3, 1, 1),
               vm('c', 'src', 2, 1, 1)]
        plan = snapshot(hosts, vms).plan_evacuation('src', ['t5', 't4'])
        self.assertTrue(plan.fits)
        per_host = {}
        for iid, target in plan.moves.items():
            per_host[target] = per_host.get(target, 0) + \
                {'a': 3, 'b': 3, 'c': 2}[iid]
        self.assertLessEqual(per_host.get('t5', 0), 5)
        self.assertLessEqual(per_host.get('t4', 0), 4)

    def test_search_budget_gives_up(self):
        self.patch(serial, 'SEARCH_BUDGET', 1)
        hosts = [hv('src', 16, 1 << 20, 1000), hv('t5', 5, 1 << 20, 1000),
                 hv('t4', 4, 1 << 20, 1000)]
        vms = [vm('a', 'src', 3, 1, 1), vm('b', 'src', 3, 1, 1),
               vm('c', 'src', 2, 1, 1)]
        plan = snapshot(hosts, vms).plan_evacuation('src', ['t5', 't4'])
        self.assertFalse(plan.fits)

    def test_every_plan_respects_capacity(self):
        # Exhaustive over small layouts: whatever the plan says fits must
        # really fit, and "does not fit" must be right when the aggregate
        # is short.
        sizes = [1, 2, 3]
        for layout in itertools.product(sizes, repeat=3):
            hosts = [hv('src', 8, 1 << 20, 1000), hv('t1', 3, 1 << 20, 1000),
                     hv('t2', 3, 1 << 20, 1000)]
            vms = [vm('v%d' % i, 'src', s, 1, 1)
                   for i, s in enumerate(layout)]
            plan = snapshot(hosts, vms).plan_evacuation(
                'src', ['t1', 't2'])
            used = {'t1': 0, 't2': 0}
            for iid, target in plan.moves.items():
                used[target] += layout[int(iid[1:])]
            self.assertTrue(all(v <= 3 for v in used.values()), layout)
            # Bin packing by hand: does a split into two bins of 3 exist?
            possible = any(
                sum(s for s, b in zip(layout, bins) if b == 0) <= 3 and
                sum(s for s, b in zip(layout, bins) if b == 1) <= 3
                for bins in itertools.product((0, 1), repeat=3))
            self.assertEqual(possible, plan.fits, layout)

    def test_anti_affinity_blocks_shared_target(self):
        group = server_group('ha', model.ANTI_AFFINITY)
        hosts = [hv('c1', 8, 16384, 160), hv('c2', 8, 16384, 160),
                 hv('c3', 8, 16384, 160)]
        vms = [vm('a', 'c1', group='ha'), vm('b', 'c2', group='ha')]
        topo = snapshot(hosts, vms, [group])
        plan = topo.plan_evacuation('c1', ['c2', 'c3'])
        self.assertEqual({'a': 'c3'}, plan.moves)
        plan = topo.plan_evacuation('c1', ['c2'])
        self.assertFalse(plan.fits)
        self.assertIn('server group rules', plan.reason)

    def test_anti_affinity_two_members_need_two_targets(self):
        group = server_group('ha', model.ANTI_AFFINITY, max_per_host=1)
        hosts = [hv('c1', 8, 16384, 160), hv('c2', 8, 16384, 160),
                 hv('c3', 8, 16384, 160)]
        vms = [vm('a', 'c1', group='ha'), vm('b', 'c1', group='ha')]
        topo = snapshot(hosts, vms, [group])
        plan = topo.plan_evacuation('c1', ['c2', 'c3'])
        self.assertTrue(plan.fits)
        self.assertEqual({'c2', 'c3'}, set(plan.moves.values()))
        self.assertFalse(topo.plan_evacuation('c1', ['c2']).fits)

    def test_max_per_host(self):
        group = server_group('g', None, max_per_host=2)
        hosts = [hv('c1', 8, 16384, 160), hv('c2', 8, 16384, 160)]
        vms = [vm('a', 'c1', 1, 1, 1, group='g'),
               vm('b', 'c1', 1, 1, 1, group='g'),
               vm('c', 'c2', 1, 1, 1, group='g')]
        topo = snapshot(hosts, vms, [group])
        self.assertFalse(topo.plan_evacuation('c1', ['c2']).fits)
        topo = snapshot(hosts, vms, [dict(group, rules={
            'max_server_per_host': 3})])
        self.assertTrue(topo.plan_evacuation('c1', ['c2']).fits)

    def test_soft_policies_do_not_block(self):
        group = server_group('g', model.SOFT_ANTI_AFFINITY)
        topo = snapshot([hv('c1', 8), hv('c2', 8)],
                        [vm('a', 'c1', 1, 1, 1, group='g'),
                         vm('b', 'c2', 1, 1, 1, group='g')], [group])
        self.assertTrue(topo.plan_evacuation('c1', ['c2']).fits)

    def test_affinity_members_move_together(self):
        group = server_group('aff', model.AFFINITY)
        hosts = [hv('c1', 8, 16384, 160), hv('c2', 3, 16384, 160),
                 hv('c3', 4, 16384, 160), hv('c4', 3, 16384, 160)]
        vms = [vm('a', 'c1', group='aff'), vm('b', 'c1', group='aff')]
        topo = snapshot(hosts, vms, [group])
        plan = topo.plan_evacuation('c1', ['c2', 'c3', 'c4'])
        # 2 + 2 vCPU fit together only on c3.
        self.assertEqual({'a': 'c3', 'b': 'c3'}, plan.moves)
        # 6 vCPU free on c2 and c4, but 3 on each.
        plan = topo.plan_evacuation('c1', ['c2', 'c4'])
        self.assertFalse(plan.fits)
        self.assertIn('affinity group aff (2 instances)', plan.reason)

    def test_affinity_follows_members_elsewhere(self):
        group = server_group('aff', model.AFFINITY)
        hosts = [hv('c1', 8, 16384, 160), hv('c2', 8, 16384, 160),
                 hv('c3', 8, 16384, 160)]
        vms = [vm('a', 'c1', group='aff'), vm('b', 'c3', group='aff')]
        topo = snapshot(hosts, vms, [group])
        self.assertEqual({'a': 'c3'},
                         topo.plan_evacuation('c1', ['c2', 'c3']).moves)
        plan = topo.plan_evacuation('c1', ['c2'])
        self.assertFalse(plan.fits)
        self.assertIn('members on c3, which is not a target', plan.reason)


class TestChooseHost(base.TestCase):

    def test_prefers_host_without_floating_ip(self):
        hosts = [hv('c1'), hv('c2'), hv('c3')]
        vms = [vm('a', 'c1', floating_ip=True), vm('b', 'c2'),
               vm('c', 'c3', 1, 1, 1)]
        topo = snapshot(hosts, vms)
        choice = topo.choose_host_to_empty(['c1', 'c2', 'c3'],
                                           ['c1', 'c2', 'c3'])
        # c3 holds the smallest instance and no floating IP.
        self.assertEqual('c3', choice.hostname)
        self.assertIn('1 instance(s) (1 vCPU / 1 MB RAM / 1 GB disk), 0 '
                      'with a floating IP', choice.why)
        choice = topo.choose_host_to_empty(['c1', 'c2'], ['c1', 'c2', 'c3'])
        self.assertEqual('c2', choice.hostname)

    def test_fewest_instances_then_most_free_after(self):
        hosts = [hv('c1'), hv('c2'), hv('c3'), hv('c4')]
        vms = [vm('a', 'c1', 1, 1024, 10), vm('b', 'c1', 1, 1024, 10),
               vm('c', 'c2', 2, 4096, 40), vm('d', 'c3', 1, 1024, 10)]
        topo = snapshot(hosts, vms)
        names = ['c1', 'c2', 'c3', 'c4']
        # c4 is empty: cheapest of all.
        self.assertEqual('c4', topo.choose_host_to_empty(
            names, names).hostname)
        # Among c2 and c3 (one instance each) c3 leaves more free.
        self.assertEqual('c3', topo.choose_host_to_empty(
            ['c1', 'c2', 'c3'], names).hostname)
        # c1 has two instances: more costly than c2 with one.
        self.assertEqual('c2', topo.choose_host_to_empty(
            ['c1', 'c2'], names).hostname)

    def test_active_role_counts_like_floating_ip(self):
        topo = snapshot([hv('c1'), hv('c2'), hv('c3')],
                        [vm('a', 'c1', 1, 1, 1, active=True),
                         vm('b', 'c2', 2, 4096, 40)])
        self.assertEqual('c2', topo.choose_host_to_empty(
            ['c1', 'c2'], ['c1', 'c2', 'c3']).hostname)

    def test_all_floating_ip_still_chooses(self):
        topo = snapshot([hv('c1'), hv('c2'), hv('c3')],
                        [vm('a', 'c1', floating_ip=True),
                         vm('b', 'c2', floating_ip=True)])
        choice = topo.choose_host_to_empty(['c1', 'c2'], ['c1', 'c2', 'c3'])
        self.assertIn(choice.hostname, ('c1', 'c2'))

    def test_avoid_is_last_resort(self):
        topo = snapshot([hv('c1'), hv('c2'), hv('c3')],
                        [vm('a', 'c1', 1, 1, 1),
                         vm('b', 'c2', 2, 4096, 40)])
        names = ['c1', 'c2', 'c3']
        self.assertEqual('c2', topo.choose_host_to_empty(
            ['c1', 'c2'], names, avoid={'c1'}).hostname)
        choice = topo.choose_host_to_empty(['c1'], names, avoid={'c1'})
        self.assertEqual('c1', choice.hostname)
        self.assertIn('deferred', choice.why)

    def test_only_hosts_that_fit(self):
        names, hosts, vms = full_cloud()
        topo = snapshot(hosts, vms)
        self.assertIsNone(topo.choose_host_to_empty(names, names))
        # One instance less on c2 and one on c3: c1 can go there... no,
        # 2 vCPU free on c2 and c3 each: c1's 2 + 2 fit.
        topo = snapshot(hosts, [v for v in vms
                                if v['id'] not in ('c2-vm0', 'c3-vm0')])
        choice = topo.choose_host_to_empty(names, names)
        self.assertEqual('c2', choice.hostname)
        self.assertEqual(1, len(choice.plan.moves))


class TestScaleIn(base.TestCase):

    def test_not_needed(self):
        topo = snapshot([hv('c1'), hv('c2')], [vm('a', 'c1')])
        need = topo.scale_in_need(['c1', 'c2'], lambda h: ['c1', 'c2'])
        self.assertFalse(need.needed)
        self.assertEqual('c1', need.host)

    def test_full_cloud_message(self):
        names, hosts, vms = full_cloud()
        topo = snapshot(hosts, vms)
        need = topo.scale_in_need(names, lambda h: names)
        self.assertTrue(need.needed)
        self.assertEqual(R(4, 8192, 80), need.missing)
        self.assertTrue(need.message.startswith(
            'to empty a host 4 vCPU / 8192 MB RAM / 80 GB disk more must '
            'be free'), need.message)
        self.assertIn('cheapest: c1', need.message)

    def test_smallest_shortfall_named(self):
        hosts = [hv('c1'), hv('c2'), hv('c3', 2, 4096, 40)]
        vms = [vm('a', 'c1', 4, 8192, 80), vm('b', 'c2', 2, 4096, 40),
               vm('c', 'c2', 1, 1024, 10), vm('d', 'c3', 2, 4096, 40)]
        topo = snapshot(hosts, vms)
        names = ['c1', 'c2', 'c3']
        need = topo.scale_in_need(names, lambda h: names)
        self.assertTrue(need.needed)
        # c3's instance needs 2 vCPU, c2 has 1 free: it misses least.
        self.assertEqual('c3', need.host)
        self.assertEqual(R(1, 1024, 10), need.missing)
        self.assertIn('1 vCPU / 1024 MB RAM / 10 GB disk', need.message)

    def test_only_ram_short(self):
        hosts = [hv('c1'), hv('c2')]
        vms = [vm('a', 'c1', 1, 8192, 1), vm('b', 'c2', 1, 4096, 1)]
        topo = snapshot(hosts, vms)
        need = topo.scale_in_need(['c1'], lambda h: ['c2'])
        self.assertIn('to empty a host 4096 MB RAM more must be free',
                      need.message)

    def test_fragmentation_message(self):
        topo = snapshot(
            [hv('c1'), hv('c2'), hv('c3')],
            [vm('big', 'c1', 4, 4096, 40), vm('x', 'c2'), vm('y', 'c3')])
        need = topo.scale_in_need(['c1'], lambda h: ['c2', 'c3'])
        self.assertTrue(need.needed)
        self.assertIn('fragmented', need.message)

    def test_constraints_only_message(self):
        group = server_group('ha', model.ANTI_AFFINITY)
        topo = snapshot([hv('c1', 8), hv('c2', 8)],
                        [vm('a', 'c1', 1, 1, 1, group='ha'),
                         vm('b', 'c2', 1, 1, 1, group='ha')], [group])
        need = topo.scale_in_need(['c1'], lambda h: ['c2'])
        self.assertTrue(need.needed)
        self.assertEqual(R(), need.missing)
        self.assertTrue(need.message.startswith('no host can be emptied'))

    def test_no_candidates(self):
        need = snapshot([], []).scale_in_need([], lambda h: [])
        self.assertTrue(need.needed)
        self.assertIsNone(need.host)


class TestRollingPlan(base.TestCase):

    def test_seed_004_after_scale_in(self):
        names, hosts, vms = full_cloud()
        vms = [v for v in vms if v['id'] not in ('c2-vm0', 'c3-vm0')]
        result = serial.rolling_plan(snapshot(hosts, vms), names)
        self.assertIsNone(result['blocked'])
        steps = result['steps']
        self.assertEqual(['prepare', 'planned', 'planned'],
                         [s['step'] for s in steps])
        self.assertEqual(sorted(names), sorted(s['host'] for s in steps))

    def test_full_cloud_is_blocked_before_any_host(self):
        names, hosts, vms = full_cloud()
        result = serial.rolling_plan(snapshot(hosts, vms), names)
        self.assertEqual([], result['steps'])
        self.assertTrue(result['scale_in'])
        self.assertIn('more must be free', result['blocked'])

    def test_outside_hosts_are_targets(self):
        names, hosts, vms = full_cloud(hosts=2)
        hosts.append(hv('spare'))
        result = serial.rolling_plan(snapshot(hosts, vms), names,
                                     others=['spare'])
        self.assertIsNone(result['blocked'])
        self.assertEqual(2, len(result['steps']))

    def test_blocked_later(self):
        # c2 is bigger than c1: once c1 is maintained, c2's instances do
        # not fit on it.
        hosts = [hv('c1', 2, 4096, 40), hv('c2', 8, 16384, 160)]
        vms = [vm('a', 'c2', 4, 8192, 80)]
        result = serial.rolling_plan(snapshot(hosts, vms), ['c1', 'c2'])
        self.assertEqual(['c1'], [s['host'] for s in result['steps']])
        self.assertFalse(result['scale_in'])
        self.assertIn('more must be free', result['blocked'])

    def test_maintained_are_skipped_and_used(self):
        hosts = [hv('c1'), hv('c2')]
        vms = [vm('a', 'c2')]
        result = serial.rolling_plan(snapshot(hosts, vms), ['c1', 'c2'],
                                     maintained=['c1'])
        self.assertEqual([{'host': 'c2', 'step': 'planned',
                           'moves': {'a': 'c1'},
                           'why': result['steps'][0]['why']}],
                         result['steps'])


def dead_end():
    """Greedy paints itself into a corner: after the empty c3, b (on c2)
    is cheaper to move than a (on c1, more disk); then a fits nowhere (c3
    is full, c2 has no disk). a first works: a -> c3, then b -> c1."""
    hosts = [hv('c1', 4, 8192, 80), hv('c2', 4, 8192, 0),
             hv('c3', 2, 8192, 80)]
    vms = [vm('a', 'c1', 2, 1024, 40), vm('b', 'c2', 2, 1024, 0)]
    return snapshot(hosts, vms), ['c1', 'c2', 'c3']


class TestLookahead(base.TestCase):

    def test_greedy_dead_end_avoided(self):
        topo, names = dead_end()
        greedy = serial.rolling_plan(topo, names, lookahead=False)
        self.assertEqual(['c3', 'c2'], [s['host'] for s in greedy['steps']])
        self.assertIn('more must be free', greedy['blocked'])
        result = serial.rolling_plan(topo, names)
        self.assertIsNone(result['blocked'])
        self.assertEqual([('c3', {}), ('c1', {'a': 'c3'}),
                          ('c2', {'b': 'c1'})],
                         [(s['host'], s['moves']) for s in result['steps']])
        self.assertIn('c2 would be cheaper but leave no feasible order',
                      result['steps'][1]['why'])

    def test_choice_carries_the_rest_of_the_order(self):
        topo, _names = dead_end()
        topo = topo.moved({})
        choice = topo.choose_host_to_empty(['c1', 'c2'], ['c3'])
        self.assertEqual('c1', choice.hostname)
        self.assertEqual({'a': 'c3'}, choice.plan.moves)
        self.assertEqual([('c2', {'b': 'c1'})], choice.rest)
        greedy = topo.choose_host_to_empty(['c1', 'c2'], ['c3'],
                                           lookahead=False)
        self.assertEqual('c2', greedy.hostname)
        self.assertIsNone(greedy.rest)

    def test_work_limit_falls_back_to_the_cheapest(self):
        self.patch(serial, 'LOOKAHEAD_WORK', 1)
        topo, _names = dead_end()
        choice = topo.choose_host_to_empty(['c1', 'c2'], ['c3'])
        self.assertEqual('c2', choice.hostname)
        self.assertIsNone(choice.rest)

    def test_no_order_at_all_gives_the_cheapest(self):
        # c2 can be emptied, c1 never: the cheapest is still named.
        topo = snapshot([hv('c1', 8, 16384, 160), hv('c2'), hv('o')],
                        [vm('big', 'c1', 8, 8192, 80), vm('s', 'c2')])
        choice = topo.choose_host_to_empty(['c1', 'c2'], ['o'])
        self.assertEqual('c2', choice.hostname)
        self.assertIsNone(choice.rest)

    def test_first_host_prefers_hosts_outside(self):
        # Prepare step: c1's instance could go to c2 (maintained later:
        # it would move again) or to the spare host outside.
        topo = snapshot([hv('c1'), hv('c2', 8, 16384, 160),
                         hv('spare')], [vm('a', 'c1'), vm('b', 'c2')])
        names = ['c1', 'c2']
        choice = topo.choose_host_to_empty(names, names + ['spare'])
        self.assertEqual({'a': 'spare'}, choice.plan.moves)
        result = serial.rolling_plan(topo, names, others=['spare'])
        moved = [i for s in result['steps'] for i in s['moves']]
        self.assertEqual(sorted(moved), sorted(set(moved)))


# --- properties ----------------------------------------------------------

GROUPS = [server_group('aa', model.ANTI_AFFINITY),
          server_group('two', None, 2)]


@hs.composite
def small_sessions(draw, empty_host=False, same_size=False):
    """(topology, session hosts, hosts outside): two to four hosts in the
    session, maybe one outside, up to six instances placed where they fit
    (anti-affinity, at most two per host, or no group)."""
    names = ['c%d' % i for i in range(draw(hs.integers(2, 4)))]
    others = ['o'] if draw(hs.booleans()) and not empty_host else []
    size = (draw(hs.integers(1, 4)), 1024 * draw(hs.integers(1, 4)),
            draw(hs.sampled_from([0, 20, 40])))
    hosts = []
    for name in names + others:
        if not same_size:
            size = (draw(hs.integers(1, 4)), 1024 * draw(hs.integers(1, 4)),
                    draw(hs.sampled_from([0, 20, 40])))
        hosts.append(hv(name, *size))
    where = [h for h in names + others if not (empty_host and h == 'c0')]
    topo = snapshot(hosts, [], GROUPS)
    vms = []
    for i in range(draw(hs.integers(0, 6))):
        flavor = (draw(hs.integers(1, 2)), 512 * draw(hs.integers(0, 3)),
                  draw(hs.sampled_from([0, 10, 20])))
        new = vm('v%d' % i, draw(hs.sampled_from(where)), *flavor,
                 group=draw(hs.sampled_from([None, None, 'aa', 'two'])))
        trial = snapshot(hosts, vms + [new], GROUPS)
        if trial.used(new['host']).fits_in(trial.capacity(new['host'])) \
                and placement_ok(trial, new['host']):
            vms.append(new)
            topo = trial
    return topo, names, others


def placement_ok(topo, host):
    """Group limits hold on ``host``."""
    for group in topo.groups.values():
        members = [i for i in topo.on_host(host) if i.group == group.group_id]
        if len(members) > group.per_host_limit():
            return False
    return True


def brute_placements(topo, source, targets):
    """Every way to empty ``source`` onto ``targets`` (no search order,
    no pruning)."""
    moving = topo.on_host(source)
    targets = [t for t in targets if t != source]
    for choice in itertools.product(targets, repeat=len(moving)):
        moves = {i.instance_id: t for i, t in zip(moving, choice)}
        after = topo.moved(moves)
        if all(after.used(t).fits_in(after.capacity(t)) and
               placement_ok(after, t) for t in set(choice)):
            yield moves


def order_exists(topo, hosts, others):
    """Brute force over orders and placements, by the default workflow's
    rule: an empty host is maintained at once; the first host goes to any
    other host, the later ones to the hosts outside and those maintained."""
    def search(topo, left, done):
        empty = [h for h in left if topo.is_empty(h)]
        if empty:
            return search(topo, [h for h in left if h not in empty],
                          done + empty)
        if not left:
            return True
        targets = others + (done if done else left)
        return any(search(topo.moved(moves), [h for h in left if h != host],
                          done + [host])
                   for host in left
                   for moves in brute_placements(topo, host, targets))
    return search(topo, list(hosts), [])


class TestRollingProperties(base.TestCase):

    def replay(self, topo, names, others, result):
        """Every step fits (capacity, group limits) on the targets the
        workflow allows then; returns {instance: moves}."""
        done = []
        count = {}
        for step in result['steps']:
            host = step['host']
            allowed = others + (done if done else names)
            for iid, target in step['moves'].items():
                self.assertIn(target, allowed)
                self.assertNotEqual(host, target)
                count[iid] = count.get(iid, 0) + 1
            topo = topo.moved(step['moves'])
            self.assertTrue(topo.is_empty(host), step)
            for target in set(step['moves'].values()):
                self.assertTrue(topo.used(target).fits_in(
                    topo.capacity(target)), step)
                self.assertTrue(placement_ok(topo, target), step)
            done.append(host)
        return count

    @settings(max_examples=120, deadline=None)
    @given(small_sessions())
    def test_order_found_whenever_one_exists(self, session):
        topo, names, others = session
        result = serial.rolling_plan(topo, names, others)
        self.replay(topo, names, others, result)
        self.assertEqual(order_exists(topo, names, others),
                         result['blocked'] is None, result)
        if result['blocked'] is None:
            self.assertEqual(sorted(names),
                             sorted(s['host'] for s in result['steps']))

    @settings(max_examples=60, deadline=None)
    @given(small_sessions(empty_host=True, same_size=True))
    def test_one_host_of_slack_moves_each_instance_once(self, session):
        # Equal hosts and an empty one: each host fits on the one
        # maintained just before it, and nothing lands on a host that is
        # emptied later.
        topo, names, others = session
        result = serial.rolling_plan(topo, names, others)
        self.assertIsNone(result['blocked'])
        self.assertEqual('empty', result['steps'][0]['step'])
        count = self.replay(topo, names, others, result)
        self.assertEqual(sorted(i.instance_id
                                for i in topo.instances.values()),
                         sorted(count))
        self.assertEqual({1}, set(count.values()) or {1})


class TestSchedule(base.TestCase):
    """The serial plan in time: budgets, notices, moves at once."""

    def topology(self, budget=1, recovery=0, lead=0):
        topo = nfv_plan.build_topology(
            [hv('c1', 8, 16384, 160), hv('c2', 8, 16384, 160)], [], [],
            [vm('a', 'c1'), vm('b', 'c1'), vm('x', 'c1')], [],
            {'a': {'group_id': 'g', 'lead_time': lead},
             'b': {'group_id': 'g'}},
            {'g': {'max_impacted_members': budget,
                   'recovery_time': recovery}},
            {'estimates': {'cold_migration': 60, 'host_maintenance': 600}})
        return topo

    def plan(self, topo, at_once=4):
        steps = [{'host': 'c1', 'moves': {'a': 'c2', 'b': 'c2', 'x': 'c2'}}]
        return serial.schedule(steps, topo, {}, at_once)

    def moves(self, plan):
        return {mv['instance_id']: mv for mv in plan['waves'][0]['moves']}

    def test_group_budget_holds(self):
        moves = self.moves(self.plan(self.topology(budget=1,
                                                   recovery=30)))
        # x is in no group: at once; b after a's move and its recovery.
        self.assertEqual(0, moves['a']['start'])
        self.assertEqual(0, moves['x']['start'])
        self.assertEqual(90, moves['b']['start'])

    def test_budget_of_two_moves_both(self):
        moves = self.moves(self.plan(self.topology(budget=2)))
        self.assertEqual({0}, {mv['start'] for mv in moves.values()})

    def test_notice_and_moves_at_once(self):
        plan = self.plan(self.topology(budget=2, lead=100), at_once=1)
        moves = self.moves(plan)
        self.assertEqual(100, moves['a']['start'])
        # One at a time: b fits before a's notice ends, x after a.
        self.assertEqual(0, moves['b']['start'])
        self.assertEqual(160, moves['x']['start'])
        self.assertEqual(220 + 600, plan['estimated_duration'])
        self.assertEqual('MIGRATE', moves['a']['kind'])
        self.assertEqual(160 - 60, moves['a']['interruption_start'])


class TestBudgets(base.TestCase):

    def test_members_out_at_once(self):
        groups = {'g': model.Group('g', max_impacted_members=1,
                                   recovery_time=10)}
        budgets = serial.Budgets(groups, {'a': 'g', 'b': 'g', 'x': 'h'})
        self.assertTrue(budgets.may_start('a', 0))
        budgets.started('a')
        self.assertFalse(budgets.may_start('b', 1))
        # Not in a known group: never held back.
        self.assertTrue(budgets.may_start('x', 1))
        budgets.ended('a', 5)
        self.assertFalse(budgets.may_start('b', 14))
        self.assertTrue(budgets.may_start('b', 15))

    def test_of_topology(self):
        topo = TestSchedule.topology(self, budget=2)
        budgets = serial.Budgets.of(topo)
        self.assertEqual({'a': 'g', 'b': 'g'}, budgets.gid)
        self.assertEqual({'g': 2}, budgets.budget)
