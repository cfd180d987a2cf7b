# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Where a server may go: Nova's filter-and-weigh scheduling, in short.

Filters: the host is a compute host, up, its nova-compute service is
enabled and not forced down; the flavor fits the free vCPU, RAM and disk
(times the allocation ratios; claims of in-flight migrations count on both
hosts); the server group policy holds (anti-affinity with the 2.64
``max_server_per_host`` rule, affinity). Weighers: spread (most free RAM
first, the Nova default) or pack, soft-(anti-)affinity first; ties are
broken by host name so results are reproducible.
"""
import collections
import random

NO_VALID_HOST = 'No valid host was found. There are not enough hosts ' \
                'available.'


def _group_hosts(cloud, server, group):
    """Count the hosts holding members of the group other than ``server``.

    The destination of a member's in-flight migration counts too.
    """
    counts = collections.Counter()
    for member_id in group.members:
        if member_id == server.id:
            continue
        member = cloud.servers.get(member_id)
        if member is None:
            continue
        hosts = {member.host} if member.host else set()
        if member.migration_dest:
            hosts.add(member.migration_dest)
        for host in hosts:
            counts[host] += 1
    return counts


def host_fits(cloud, host, flavor):
    """Whether the flavor fits the host's free resources as Placement sees
    them: used plus leaked allocations (see ``faults.leak_allocations``).
    """
    ratios = cloud.sched
    used_vcpus, used_ram, used_disk = [
        u + k for u, k in zip(host.used, host.leaked)]
    return (used_vcpus + flavor.vcpus <= host.vcpus *
            ratios['cpu_allocation_ratio'] and
            used_ram + flavor.ram <= host.memory_mb *
            ratios['ram_allocation_ratio'] and
            used_disk + flavor.disk + flavor.ephemeral <= host.disk_gb *
            ratios['disk_allocation_ratio'])


def check_host(cloud, host, server, flavor, group_counts=None, group=None):
    """None if ``host`` passes every filter for ``server``.

    Otherwise the name of the first filter that rejects it.
    """
    if host.type != 'compute':
        return 'ComputeFilter'
    service = host.compute_service
    if service is None or service.state != 'up' or service.disabled:
        return 'ComputeFilter'
    if not host_fits(cloud, host, flavor):
        return 'ResourceFilter'
    if group is not None:
        if group_counts is None:
            group_counts = _group_hosts(cloud, server, group)
        if group.policy == 'anti-affinity':
            limit = int(group.rules.get('max_server_per_host', 1) or 1)
            if group_counts.get(host.name, 0) >= limit:
                return 'ServerGroupAntiAffinityFilter'
        elif group.policy == 'affinity':
            if group_counts and host.name not in group_counts:
                return 'ServerGroupAffinityFilter'
    return None


def select_destination(cloud, server, flavor=None, exclude=(), only=None):
    """Pick a host for ``server``.

    ``only`` restricts the choice to that host (an explicit target);
    ``exclude`` lists hosts that may not be chosen (the source). Returns
    ``(host, None)`` or ``(None, {filter_name: rejected_count})``.
    """
    flavor = flavor or server.flavor
    group = cloud.groups.get(server.group_id) if server.group_id else None
    counts = _group_hosts(cloud, server, group) if group else None
    if only is not None:
        candidates = [cloud.hosts[only]] if only in cloud.hosts else []
    else:
        candidates = cloud.compute_hosts
    rejected = collections.Counter()
    passing = []
    for host in candidates:
        if host.name in exclude:
            rejected['SameHost'] += 1
            continue
        why = check_host(cloud, host, server, flavor, counts, group)
        if why:
            rejected[why] += 1
        else:
            passing.append(host)
    if not passing:
        return None, dict(rejected)
    pack = cloud.sched['weigher'] == 'pack'
    seed = cloud.sched.get('shuffle_ties')
    if seed is None:
        def tie(host):
            return host.name
    else:
        rng = getattr(cloud, 'tie_rng', None)
        if rng is None:
            rng = cloud.tie_rng = random.Random(seed)
        order = {h.name: rng.random() for h in passing}

        def tie(host):
            return order[host.name]

    def weight(host):
        free_ram = host.memory_mb * cloud.sched['ram_allocation_ratio'] - \
            host.used[1]
        free_cpu = host.vcpus * cloud.sched['cpu_allocation_ratio'] - \
            host.used[0]
        key = (free_ram, free_cpu) if pack else (-free_ram, -free_cpu)
        if group is not None and group.policy == 'soft-anti-affinity':
            key = (counts.get(host.name, 0),) + key
        elif group is not None and group.policy == 'soft-affinity':
            key = (-counts.get(host.name, 0),) + key
        return key + (tie(host),)

    return min(passing, key=weight), None
