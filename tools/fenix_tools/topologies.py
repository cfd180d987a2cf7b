# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Demo topologies for the planner's tests, benchmarks and tools (out of
the production code).

``python -m fenix_tools.topologies`` prints the planner's figures on them.
"""
import collections
import dataclasses
import random
import time

from fenix.common import states
from fenix.workflow import bounds
from fenix.workflow.model import _num
from fenix.workflow.model import Durations
from fenix.workflow.model import Group
from fenix.workflow.model import Host
from fenix.workflow.model import Instance
from fenix.workflow.model import Limits
from fenix.workflow.model import Resources
from fenix.workflow.model import Topology
from fenix.workflow import plan_check
from fenix.workflow import planner


def demo_topology(hosts=64, per_host=4, slots=6, seed=4):
    """A cloud of ``hosts`` computes with ``per_host`` instances each.

    Every host has room for ``slots`` instances. Half of the instances form
    anti-affinity pairs (budget 1, live-migrated: max_interruption_time
    5s); the rest form groups of eight (budget 2, cold-migrated) and of
    sixteen (budget 4, at most two per host, one in four OWN_ACTION).
    """
    rnd = random.Random(seed)
    flavor = Resources(4, 8192, 40)
    capacity = Resources(4 * slots, 8192 * slots, 40 * slots)
    host_list = [Host('compute-%03d' % i, capacity) for i in range(hosts)]
    total = hosts * per_host
    groups, members = [], []
    pairs = total // 4
    for p in range(pairs):
        gid = 'pair-%03d' % p
        groups.append(Group(gid, anti_affinity=True, max_impacted_members=1,
                            recovery_time=60))
        members += [(gid, 5, states.MIGRATE)] * 2
    index = 0
    while len(members) < total:
        if index % 2 == 0:
            gid = 'group8-%03d' % index
            groups.append(Group(gid, max_impacted_members=2,
                                recovery_time=120))
            count = 8
        else:
            gid = 'group16-%03d' % index
            groups.append(Group(gid, max_impacted_members=4,
                                max_instances_per_host=2,
                                recovery_time=120))
            count = 16
        index += 1
        for k in range(min(count, total - len(members))):
            kind = (states.OWN_ACTION if count == 16 and k % 4 == 0
                    else states.MIGRATE)
            members.append((gid, None, kind))
    free = collections.defaultdict(list)
    by_group = collections.defaultdict(collections.Counter)
    order = list(range(hosts))
    instances = []
    limit = {g.group_id: (1 if g.anti_affinity else
                          g.max_instances_per_host or per_host)
             for g in groups}
    for n, (gid, mit, kind) in enumerate(members):
        rnd.shuffle(order)
        for h in order:
            name = host_list[h].name
            if len(free[name]) < per_host and by_group[name][gid] < \
                    limit[gid]:
                break
        else:
            raise RuntimeError('demo topology does not fit')
        iid = 'vm-%04d' % n
        free[name].append(iid)
        by_group[name][gid] += 1
        instances.append(Instance(iid, name, flavor,
                                  project_id='project-%d' % (n % 5),
                                  group_id=gid, max_interruption_time=mit,
                                  migration_type=kind, lead_time=120))
    return Topology(hosts=host_list, instances=instances, groups=groups,
                    durations=Durations())


def main():
    rows = []
    for slots in (6, 8, 5):
        topo = demo_topology(slots=slots)
        plan = planner.plan_maintenance(topo)
        serial = planner.plan_maintenance(dataclasses.replace(
            topo, limits=Limits(max_parallel_hosts=1)))
        bound = bounds.lower_bound(topo)
        problems = plan_check.validate(plan, topo) + plan_check.validate(
            serial, dataclasses.replace(
                topo, limits=Limits(max_parallel_hosts=1)))
        rows.append((slots, plan, serial, bound, problems))
    print('64 hosts x 4 instances (anti-affinity pairs budget 1, groups of '
          '8 budget 2, groups of 16 budget 4), host maintenance 900s')
    for slots, plan, serial, bound, problems in rows:
        print('  room for %d per host: plan %ss (%d waves, %d moves, %d '
              'double), one host at a time %ss, lower bound %ss'
              % (slots, _num(plan.estimated_duration), len(plan.waves),
                 len(plan.moves), plan.double_moves,
                 _num(serial.estimated_duration), _num(bound)))
        print('    plan / one-at-a-time = %.3f   plan / lower bound = %.3f'
              '   violations: %d'
              % (plan.estimated_duration / serial.estimated_duration,
                 plan.estimated_duration / bound, len(problems)))
    topo = demo_topology(hosts=1000, per_host=10, slots=14, seed=7)
    begin = time.perf_counter()
    plan = planner.plan_maintenance(topo)
    took = time.perf_counter() - begin
    begin = time.perf_counter()
    problems = plan_check.validate(plan, topo)
    checked = time.perf_counter() - begin
    print('1000 hosts / %d instances: planned in %.2fs (%s; lower '
          'bound %ss, ratio %.3f); validated in %.2fs, %d violations'
          % (len(topo.instances), took, plan.message,
             _num(plan.lower_bound),
             plan.estimated_duration / plan.lower_bound, checked,
             len(problems)))


if __name__ == '__main__':
    main()
