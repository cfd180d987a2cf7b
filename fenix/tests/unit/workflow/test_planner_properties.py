# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Properties of the planner on random topologies (hypothesis)."""
import itertools
import json
import math

from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as hs

from fenix.common import states as st
from fenix.tests import base
from fenix.workflow import bounds
from fenix.workflow import plan_check
from fenix.workflow import planner as pl

# The planner's name of the plan its search of one host at a time found.
SEARCHED = 'one host at a time'

small = hs.integers(min_value=0, max_value=30)
maybe_limit = hs.one_of(hs.none(), hs.integers(min_value=1, max_value=3))


@hs.composite
def durations(draw):
    return pl.Durations(
        cold_migration=draw(hs.integers(1, 40)),
        live_migration=draw(hs.integers(1, 40)),
        live_interruption=draw(hs.integers(0, 5)),
        own_action=draw(hs.integers(1, 60)),
        own_action_interruption=draw(hs.one_of(hs.none(),
                                               hs.integers(0, 60))),
        host_maintenance=draw(hs.integers(1, 100)),
        by_host_type=draw(hs.sampled_from(
            [{}, {st.CONTROLLER: 150}, {st.COMPUTE: 20}])),
        lead_time=draw(hs.integers(0, 10)))


@hs.composite
def topologies(draw, spare=False, constraints=True):
    """Hosts, then instances placed where they fit (respecting their
    group's per-host limit), groups, durations and limits.

    ``spare``: one extra host outside the session can take everything.
    ``constraints``: False leaves out per-host group limits.
    """
    hosts = []
    for i in range(draw(hs.integers(0, 10))):
        hosts.append(pl.Host(
            'h%d' % i,
            pl.Resources(draw(hs.integers(0, 8)),
                         draw(hs.sampled_from([0, 4096, 8192, 8192])),
                         draw(hs.sampled_from([0, 40, 80, 80]))),
            type=draw(hs.sampled_from([st.COMPUTE] * 5 + [st.CONTROLLER])),
            maintainable=draw(hs.booleans() | hs.just(True)),
            schedulable=draw(hs.booleans() | hs.just(True)),
            maintained=draw(hs.sampled_from([False] * 6 + [True])),
            maintenance_time=draw(hs.one_of(hs.none(), small))))
    groups = []
    for g in range(draw(hs.integers(0, 3))):
        groups.append(pl.Group(
            'g%d' % g,
            anti_affinity=constraints and draw(hs.booleans()),
            max_instances_per_host=(draw(hs.integers(0, 2))
                                    if constraints else 0),
            max_impacted_members=draw(hs.integers(0, 3)),
            recovery_time=draw(small),
            resource_mitigation=draw(hs.booleans())))
    limit = {g.group_id: (1 if g.anti_affinity else
                          g.max_instances_per_host or 99) for g in groups}
    free = {h.name: h.capacity.as_tuple() for h in hosts}
    count = {}
    instances = []
    wanted = draw(hs.integers(0, 30)) if hosts else 0
    for i in range(wanted):
        size = (draw(hs.integers(0, 2)),
                draw(hs.sampled_from([0, 1024, 1024, 2048])),
                draw(hs.sampled_from([0, 10, 10, 20])))
        gid = draw(hs.one_of(hs.none(),
                             hs.sampled_from(['g%d' % g for g in
                                              range(len(groups))] +
                                             ['unknown']))) \
            if groups else None
        where = draw(hs.sampled_from([h.name for h in hosts]))
        if any(s > f for s, f in zip(size, free[where])):
            continue
        if count.get((where, gid), 0) >= limit.get(gid, 99):
            continue
        free[where] = tuple(f - s for f, s in zip(free[where], size))
        count[(where, gid)] = count.get((where, gid), 0) + 1
        instances.append(pl.Instance(
            'i%d' % i, where, pl.Resources(*size),
            project_id='p%d' % draw(hs.integers(0, 2)),
            group_id=gid,
            max_interruption_time=draw(hs.one_of(hs.none(), small)),
            migration_type=draw(hs.sampled_from(
                [st.MIGRATE, st.LIVE_MIGRATE, st.OWN_ACTION, None])),
            lead_time=draw(hs.integers(0, 20)),
            live_migratable=draw(hs.booleans() | hs.just(True))))
    if spare:
        total = [sum(i.resources.as_tuple()[k] for i in instances)
                 for k in range(3)]
        hosts.append(pl.Host('spare', pl.Resources(*total),
                             maintainable=False))
    limits = pl.Limits(max_parallel_hosts=draw(maybe_limit),
                       max_concurrent_migrations=draw(maybe_limit),
                       max_parallel_controllers=draw(maybe_limit))
    return pl.Topology(hosts=hosts, instances=instances, groups=groups,
                       durations=draw(durations()), limits=limits)


@hs.composite
def clouds(draw):
    """Uniform compute hosts, all in the session, filled with one-slot
    instances in anti-affinity pairs and larger groups: many waves,
    budgets and double moves."""
    slots = draw(hs.integers(2, 5))
    count = draw(hs.integers(2, 10))
    hosts = [pl.Host('c%d' % i, pl.Resources(slots, 1024 * slots,
                                             10 * slots))
             for i in range(count)]
    groups, instances = [], []
    fill = draw(hs.integers(0, (slots - 1) * count))
    used = [0] * count
    while len(instances) < fill:
        size = draw(hs.sampled_from([2, 3, 4]))
        gid = 'g%d' % len(groups)
        groups.append(pl.Group(
            gid, anti_affinity=size == 2,
            max_instances_per_host=0 if size == 2 else 2,
            max_impacted_members=draw(hs.integers(1, 2)),
            recovery_time=draw(hs.integers(0, 30))))
        start = draw(hs.integers(0, count - 1))
        for k in range(size):
            where = [(start + k + j) % count for j in range(count)]
            where = [h for h in where if used[h] < slots]
            if not where or len(instances) >= fill:
                break
            used[where[0]] += 1
            instances.append(pl.Instance(
                'i%d' % len(instances), 'c%d' % where[0],
                pl.Resources(1, 1024, 10), group_id=gid,
                max_interruption_time=draw(hs.sampled_from([None, 5])),
                migration_type=draw(hs.sampled_from(
                    [st.MIGRATE] * 3 + [st.OWN_ACTION])),
                lead_time=draw(hs.integers(0, 20))))
    limits = pl.Limits(max_parallel_hosts=draw(maybe_limit),
                       max_concurrent_migrations=draw(maybe_limit))
    return pl.Topology(hosts=hosts, instances=instances, groups=groups,
                       durations=draw(durations()), limits=limits)


@hs.composite
def tiny(draw):
    """At most four hosts and five instances: small enough for the
    exhaustive search of :func:`serial_order_exists`."""
    hosts = []
    for i in range(draw(hs.integers(1, 4))):
        hosts.append(pl.Host(
            'h%d' % i, pl.Resources(draw(hs.integers(1, 4)),
                                    1024 * draw(hs.integers(1, 4)),
                                    draw(hs.sampled_from([0, 40]))),
            type=draw(hs.sampled_from([st.COMPUTE] * 6 + [st.CONTROLLER])),
            maintainable=draw(hs.sampled_from([True] * 5 + [False])),
            schedulable=draw(hs.sampled_from([True] * 5 + [False])),
            maintained=draw(hs.sampled_from([False] * 8 + [True]))))
    groups = [pl.Group('aa', anti_affinity=True),
              pl.Group('two', max_instances_per_host=2,
                       max_impacted_members=2)]
    limit = {'aa': 1, 'two': 2, None: 99}
    free = {h.name: h.capacity.as_tuple() for h in hosts}
    count = {}
    instances = []
    for i in range(draw(hs.integers(0, 5))):
        size = (draw(hs.integers(1, 2)), 1024 * draw(hs.integers(0, 2)),
                draw(hs.sampled_from([0, 10, 20])))
        gid = draw(hs.sampled_from([None, None, 'aa', 'two']))
        where = draw(hs.sampled_from([h.name for h in hosts]))
        if any(x > f for x, f in zip(size, free[where])) or \
                count.get((where, gid), 0) >= limit[gid]:
            continue
        free[where] = tuple(f - x for f, x in zip(free[where], size))
        count[(where, gid)] = count.get((where, gid), 0) + 1
        instances.append(pl.Instance('i%d' % i, where, pl.Resources(*size),
                                     group_id=gid))
    return pl.Topology(hosts=hosts, instances=instances, groups=groups,
                       durations=draw(durations()))


def serial_order_exists(topology):
    """Brute force: is there an order of the hosts to maintain, one at a
    time, and a target for every instance of each (any schedulable compute
    but the host being emptied, within capacity, anti-affinity and
    max_instances_per_host), that maintains them all?"""
    hosts = {h.name: h for h in topology.hosts}
    targets = [h.name for h in topology.hosts
               if h.schedulable and h.type == st.COMPUTE]
    groups = {g.group_id: g for g in topology.groups}
    size = {i.instance_id: i.resources.as_tuple()
            for i in topology.instances}
    group = {i.instance_id: i.group_id for i in topology.instances}

    def limit(gid):
        g = groups.get(gid)
        if g is None:
            return math.inf
        return 1 if g.anti_affinity else (g.max_instances_per_host or
                                          math.inf)

    def valid(where, host):
        inside = [i for i, h in where.items() if h == host]
        used = [sum(size[i][k] for i in inside) for k in range(3)]
        cap = hosts[host].capacity.as_tuple()
        if any(u > c for u, c in zip(used, cap)):
            return False
        return all(sum(1 for i in inside if group[i] == gid) <= limit(gid)
                   for gid in {group[i] for i in inside})

    seen = set()

    def search(where, left):
        if not left:
            return True
        key = (frozenset(where.items()), frozenset(left))
        if key in seen:
            return False
        seen.add(key)
        for host in left:
            moving = sorted(i for i, h in where.items() if h == host)
            options = [t for t in targets if t != host]
            for choice in itertools.product(options, repeat=len(moving)):
                after = dict(where, **dict(zip(moving, choice)))
                if all(valid(after, t) for t in set(choice)) and \
                        search(after, left - {host}):
                    return True
        return False

    return search({i.instance_id: i.host for i in topology.instances},
                  frozenset(todo(topology)))


@hs.composite
def uniform(draw, empty_host=False, hosts=(3, 9)):
    """Equal compute hosts, all in the session, one-slot instances in
    anti-affinity pairs and groups of at most two per host; at least one
    host of slack: an empty host (``empty_host``), or spread."""
    count = draw(hs.integers(*hosts))
    slots = draw(hs.integers(2, 5))
    names = ['c%d' % i for i in range(count)]
    hosts = [pl.Host(n, pl.Resources(slots, 1024 * slots, 10 * slots))
             for n in names]
    full = names[1:] if empty_host else names
    load = {n: draw(hs.integers(1 if empty_host else 0, slots))
            for n in full}
    room = slots * count - sum(load.values())
    while room < slots:
        busiest = max(full, key=lambda n: (load[n], n))
        load[busiest] -= 1
        room += 1
    groups = [pl.Group('pair%d' % g, anti_affinity=True,
                       recovery_time=draw(hs.integers(0, 30)))
              for g in range(count)] + [
        pl.Group('two', max_instances_per_host=2, max_impacted_members=2)]
    instances = []
    members = {}
    for n in full:
        for k in range(load[n]):
            gid = draw(hs.sampled_from(
                [None, 'two', 'pair%d' % ((names.index(n) + k) % count)]))
            # Pairs of two members on two hosts; at most one 'two' member
            # per host on average, two on one host.
            if gid is not None and (
                    len(members.get(gid, ())) >= (
                        count if gid == 'two' else 2) or
                    members.get(gid, []).count(n) >= (
                        2 if gid == 'two' else 1)):
                gid = None
            members.setdefault(gid, []).append(n)
            instances.append(pl.Instance(
                'i%d' % len(instances), n, pl.Resources(1, 1024, 10),
                group_id=gid))
    return pl.Topology(hosts=hosts, instances=instances, groups=groups,
                       durations=draw(durations()))


def todo(topology):
    return [h.name for h in topology.hosts
            if h.maintainable and not h.maintained]


class TestPlannerProperties(base.TestCase):

    def check(self, topology):
        plan = pl.plan_maintenance(topology)
        json.dumps(plan.to_dict())
        bound = bounds.lower_bound(topology)
        self.assertEqual(bound, plan.lower_bound)
        if not plan.feasible:
            self.assertTrue(plan.message)
            self.assertTrue(plan.unplanned)
            return plan
        # validate() simulates the plan and finds no broken rule.
        self.assertEqual([], plan_check.validate(plan, topology))
        # Every host to maintain is in exactly one wave, and maintained.
        listed = [h for wave in plan.waves for h in wave.hosts]
        self.assertEqual(sorted(todo(topology)), sorted(listed))
        maintained = [w.host for wave in plan.waves
                      for w in wave.maintenance]
        self.assertEqual(sorted(listed), sorted(maintained))
        # No move targets a host that is down while the move runs or
        # while the instance then sits there.
        down = {w.host: (w.start, w.end) for wave in plan.waves
                for w in wave.maintenance}
        for move in plan.moves:
            if move.target in down:
                start, end = down[move.target]
                self.assertTrue(end <= move.start or move.end <= start,
                                (move, down[move.target]))
        # The lower bound is sound.
        self.assertGreaterEqual(plan.estimated_duration + 1e-6, bound)
        # The plan chosen is the cheapest candidate, checked.
        chosen = [a for a in plan.alternatives if a['chosen']]
        self.assertEqual(1, len(chosen))
        self.assertEqual(0, chosen[0]['violations'])
        self.assertEqual(min(a['cost'] for a in plan.alternatives
                             if a['violations'] == 0), chosen[0]['cost'])
        return plan

    @settings(max_examples=200, deadline=None)
    @given(topologies())
    def test_random_topologies(self, topology):
        self.check(topology)

    @settings(max_examples=150, deadline=None)
    @given(clouds())
    def test_full_clouds(self, topology):
        self.check(topology)

    @settings(max_examples=100, deadline=None)
    @given(topologies(spare=True, constraints=False))
    def test_spare_room_is_always_feasible(self, topology):
        plan = self.check(topology)
        self.assertTrue(plan.feasible, plan.message)
        self.assertEqual(0, plan.double_moves)

    @settings(max_examples=150, deadline=None)
    @given(tiny(), maybe_limit, maybe_limit)
    def test_feasible_exactly_when_an_order_exists(self, topology, hosts,
                                                   moves):
        # Capacity allows a plan exactly when an order of one host at a
        # time exists (brute force): the planner finds one then, whatever
        # the admin limits, and reports none otherwise.
        topology.limits = pl.Limits(max_parallel_hosts=hosts,
                                    max_concurrent_migrations=moves)
        plan = self.check(topology)
        self.assertEqual(serial_order_exists(topology), plan.feasible,
                         plan.message)

    @settings(max_examples=60, deadline=None)
    @given(uniform(empty_host=True))
    def test_empty_host_means_one_move_each(self, topology):
        fewest = pl.plan_maintenance(topology, move_weight=math.inf)
        self.assertEqual([], plan_check.validate(fewest, topology))
        self.assertTrue(fewest.feasible, fewest.message)
        self.assertEqual(0, fewest.double_moves)
        self.assertIn(fewest.moves_per_instance, (None, 1.0))
        self.check_weighed(topology, fewest)

    @settings(max_examples=60, deadline=None)
    @given(uniform())
    def test_extra_moves_only_when_nothing_else_fits(self, topology):
        fewest = pl.plan_maintenance(topology, move_weight=math.inf)
        if not fewest.feasible:
            # Rare: the room left is where the pair of an instance is.
            self.assertFalse(serial_order_exists(topology))
            return
        self.assertEqual([], plan_check.validate(fewest, topology))
        # Only the first host, emptied while nothing is maintained, moves
        # instances onto hosts not maintained yet; once it is back there
        # is always maintained room.
        first = fewest.waves[0] if fewest.waves else None
        self.assertEqual(
            fewest.double_moves,
            sum(1 for m in first.moves if m.again) if first else 0)
        if fewest.double_moves:
            self.assertEqual(1, len(first.hosts))
        self.check_weighed(topology, fewest)

    def check_weighed(self, topology, fewest):
        """The default plan costs no more than the fewest-moves one:
        its extra moves buy at least their time."""
        plan = self.check(topology)
        self.assertTrue(plan.feasible)
        extra = fewest.double_moves
        chosen = [a for a in plan.alternatives if a['chosen']]
        self.assertEqual(1, len(chosen))
        self.assertEqual(plan.estimated_duration,
                         chosen[0]['estimated_duration'])
        self.assertEqual(plan.double_moves, chosen[0]['double_moves'])
        self.assertEqual(0, plan.alternatives[0]['extra_move_cap'])
        if any(a['extra_move_cap'] == SEARCHED
               for a in fewest.alternatives if a['chosen']):
            # Every greedy plan moved some instance twice; the search
            # of one host at a time found fewer second moves than the
            # greedy plan without extra moves makes.
            self.assertLessEqual(extra, plan.alternatives[0]['double_moves'])
        else:
            self.assertEqual(extra, plan.alternatives[0]['double_moves'])
        self.assertLessEqual(chosen[0]['cost'],
                             plan.alternatives[0]['cost'])

    @settings(max_examples=25, deadline=None)
    @given(uniform(hosts=(20, 40)), hs.integers(1, 5))
    def test_scale_like_clouds_move_each_instance_about_once(self, topology,
                                                             factor):
        # Many hosts with one host of slack; moving an instance takes as
        # long as a host's maintenance or longer (the scale benchmark:
        # both instant): an extra move never pays.
        d = topology.durations
        topology.durations = pl.Durations(
            cold_migration=factor * d.host_maintenance,
            live_migration=factor * d.host_maintenance,
            own_action=factor * d.host_maintenance,
            host_maintenance=d.host_maintenance)
        plan = self.check(topology)
        self.assertTrue(plan.feasible, plan.message)
        if plan.moves:
            self.assertLessEqual(plan.moves_per_instance, 1.05)

    @settings(max_examples=25, deadline=None)
    @given(uniform(empty_host=True, hosts=(20, 40)), hs.integers(1, 5))
    def test_one_host_of_slack_moves_each_instance_about_once(self, topology,
                                                              factor):
        # An empty host, moves as long as a maintenance or longer: at most
        # 1.05 moves per instance (an extra move is made only where it
        # saves more than it costs, see test_empty_host_means_one_move_each
        # for the plan of fewest moves: every instance once).
        assume(len(topology.instances) >= 60)
        d = topology.durations
        topology.durations = pl.Durations(
            cold_migration=factor * d.host_maintenance,
            live_migration=factor * d.host_maintenance,
            own_action=factor * d.host_maintenance,
            host_maintenance=d.host_maintenance)
        plan = self.check(topology)
        self.assertTrue(plan.feasible, plan.message)
        self.assertLessEqual(plan.moves_per_instance, 1.05)

    @settings(max_examples=50, deadline=None)
    @given(hs.one_of(topologies(), clouds()))
    def test_deterministic(self, topology):
        self.assertEqual(pl.plan_maintenance(topology).to_dict(),
                         pl.plan_maintenance(topology).to_dict())
