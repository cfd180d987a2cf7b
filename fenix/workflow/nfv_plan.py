# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""From Fenix's records and the cloud to the one model of the cloud
(:class:`fenix.workflow.model.Topology`).

Pure functions over plain data (the rows of the database, the dicts of
:class:`fenix.common.cloud.Cloud`), so that both workflows, their dry
runs and the benchmarks build the model the same way.
"""
import math

from fenix.common import states as st
from fenix.workflow import model

ANTI_AFFINITY_POLICIES = (model.ANTI_AFFINITY,)


def flavor_resources(server):
    flavor = server.get('flavor') or {}
    return model.Resources(flavor.get('vcpus') or 0,
                           flavor.get('ram') or 0,
                           flavor.get('disk') or 0)


def host_of(hypervisor, **kwargs):
    """A model Host from a hypervisor dict of the Cloud facade: a capacity
    it does not report is unbounded (Nova decides); the optional
    ``*_allocation_ratio`` and ``reserved_*`` keys as Nova's placement
    uses them."""
    def part(key):
        value = hypervisor.get(key)
        return math.inf if value is None else value

    return model.Host(
        hypervisor['hostname'],
        model.Resources(part('vcpus'), part('memory_mb'), part('local_gb')),
        allocation_ratios=model.Resources(
            hypervisor.get('cpu_allocation_ratio') or 1.0,
            hypervisor.get('ram_allocation_ratio') or 1.0,
            hypervisor.get('disk_allocation_ratio') or 1.0),
        reserved=model.Resources(hypervisor.get('reserved_vcpus') or 0,
                                 hypervisor.get('reserved_memory_mb') or 0,
                                 hypervisor.get('reserved_disk_gb') or 0),
        **kwargs)


def groups_of(server_groups, group_rules):
    """{group_id: model.Group} and {instance_id: group_id}.

    Registered instance-group constraints (SPEC 3.3) decide; a Nova server
    group without constraints counts with its policy (affinity,
    anti-affinity and their soft variants, its ``max_server_per_host``
    rule) and a budget of one member.
    """
    groups = {}
    member_of = {}
    for sg in server_groups or ():
        gid = sg['id']
        rules = sg.get('rules') or {}
        policy = sg.get('policy')
        groups[gid] = model.Group(
            gid, anti_affinity=policy in ANTI_AFFINITY_POLICIES,
            max_instances_per_host=int(rules.get('max_server_per_host')
                                       or 0),
            policy=policy if policy in model.GROUP_POLICIES else None)
        for member in sg.get('members') or ():
            member_of[member] = gid
    for gid, rule in (group_rules or {}).items():
        old = groups.get(gid)
        groups[gid] = model.Group(
            gid,
            anti_affinity=bool(rule.get('anti_affinity_group') or
                               (old is not None and old.anti_affinity)),
            max_instances_per_host=int(
                rule.get('max_instances_per_host') or
                (old.max_instances_per_host if old else 0) or 0),
            max_impacted_members=max(
                1, int(rule.get('max_impacted_members') or 1)),
            recovery_time=float(rule.get('recovery_time') or 0),
            resource_mitigation=bool(rule.get('resource_mitigation')),
            policy=old.policy if old is not None else None)
    return groups, member_of


def instance_of(server, constraint, group_id):
    """A model Instance from a server dict and its constraint row
    (``volume_backed``, ``floating_ip`` and ``active`` from the server
    dict when it has them)."""
    c = constraint or {}
    mtype = c.get('migration_type') or st.MIGRATE
    if mtype not in st.INSTANCE_ACTIONS:
        mtype = st.MIGRATE
    mit = c.get('max_interruption_time')
    vm_state = (server.get('vm_state') or '').lower()
    return model.Instance(
        server['id'], server['host'], flavor_resources(server),
        project_id=server.get('project_id'), group_id=group_id,
        max_interruption_time=(float(mit) if mit is not None else None),
        migration_type=mtype, lead_time=float(c.get('lead_time') or 0),
        resource_mitigation=bool(c.get('resource_mitigation')),
        live_migratable=vm_state in ('', 'active', 'paused'),
        volume_backed=bool(server.get('volume_backed')),
        floating_ip=bool(server.get('floating_ip')),
        active=bool(server.get('active')))


def durations_of(options):
    """The planner's durations: the session's ``estimates`` (seconds)
    over the planner's defaults."""
    return model.Durations.from_dict(dict((options or {}).get('estimates')
                                          or {}))


def build_topology(hypervisors, services, session_hosts, servers,
                   server_groups, constraints, group_rules, options=None,
                   durations=None):
    """The model of the cloud (the planner's input).

    ``session_hosts``: the session's host rows (hostname, type,
    maintained, state, disabled_by_operator); ``services``: nova-compute
    services; ``constraints``: {instance_id: row}; ``group_rules``:
    {group_id: row}; ``options``: the session options (limits).
    """
    options = options or {}
    rows = {h['hostname']: h for h in session_hosts
            if h.get('type', st.COMPUTE) == st.COMPUTE}
    svc = {s['host']: s for s in services or ()}
    hosts = []
    names = set()
    for hv in hypervisors:
        name = hv.get('hostname')
        if not name or name in names:
            continue
        names.add(name)
        service = svc.get(name) or {}
        usable = (service.get('state', 'up') == 'up' and
                  not service.get('forced_down'))
        row = rows.get(name)
        if row is not None:
            skipped = row.get('state') == st.HOST_SKIPPED
            schedulable = usable and not row.get('disabled_by_operator') \
                and not skipped
            maintainable = not skipped and not row.get('maintained')
            maintained = bool(row.get('maintained'))
        else:
            schedulable = usable and service.get('status',
                                                 'enabled') == 'enabled'
            maintainable = False
            maintained = False
        hosts.append(host_of(hv, maintainable=maintainable,
                             schedulable=schedulable, maintained=maintained))
    groups, member_of = groups_of(server_groups, group_rules)
    instances = []
    used = set()
    for srv in servers:
        if srv.get('host') not in names:
            continue
        constraint = (constraints or {}).get(srv['id'])
        gid = member_of.get(srv['id']) or (constraint or {}).get('group_id')
        if gid is not None and gid not in groups:
            gid = None
        if gid:
            used.add(gid)
        instances.append(instance_of(srv, constraint, gid))
    limits = model.Limits(
        max_parallel_hosts=options.get('max_parallel_hosts') or None,
        max_concurrent_migrations=(options.get('max_concurrent_migrations')
                                   or None))
    return model.Topology(
        hosts=hosts, instances=instances,
        groups=[g for gid, g in sorted(groups.items()) if gid in used],
        durations=durations or durations_of(options), limits=limits)


def host_order(plan):
    """[(hostname, wave index)] in the plan's order."""
    out = []
    for wave in plan.get('waves') or ():
        for host in wave.get('hosts') or ():
            out.append((host, wave['index']))
    return out


def planned_moves(plan):
    """{(instance_id, source): move dict} of a plan dict."""
    out = {}
    for wave in plan.get('waves') or ():
        for move in wave.get('moves') or ():
            out.setdefault((move['instance_id'], move['source']), move)
    return out
