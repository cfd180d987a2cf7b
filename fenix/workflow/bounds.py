# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Lower bound of a maintenance plan's makespan. Pure.

No plan of a topology can end sooner than :func:`lower_bound`; the planner
reports it with every plan and the benchmarks compare against it. See
``doc/source/planner.rst``.
"""
import bisect
import collections

from fenix.workflow import model as cm
from fenix.workflow.model import _add
from fenix.workflow.model import _sub
from fenix.workflow.model import _ZERO
from fenix.workflow.model import INFINITY


def bound_terms(topology):
    """The lower bounds on the makespan, by name (see :func:`lower_bound`)."""
    return _bound_terms(cm.Model(topology))


def lower_bound(topology):
    """A makespan no plan of ``topology`` can beat (seconds, maybe inf)."""
    return lower_bound_of(cm.Model(topology))


def lower_bound_of(model):
    """:func:`lower_bound` of a :class:`~fenix.workflow.model.Model`
    (computed once per model)."""
    if model.bound_cache is None:
        model.bound_cache = max(_bound_terms(model).values())
    return model.bound_cache


def max_hosts_down(model):
    """How many hosts to maintain can be down at once, at most.

    While a set D of hosts is down, every instance sits on another host,
    which holds at most max(capacity, what it holds at start) if it may
    receive instances and at most what it holds at start otherwise. So
    the capacity of D (counted that way) fits in the slack; the k smallest
    hosts give the largest k, resource by resource.
    """
    m = model
    own = {}
    total = _ZERO
    demand = _ZERO
    for name in m.hosts:
        usage = m.usage0[name]
        if m.target_ok[name]:
            cap = tuple(max(c, u) for c, u in zip(m.capacity[name], usage))
        else:
            cap = usage
        own[name] = cap
        total = _add(total, cap)
        demand = _add(demand, usage)
    slack = _sub(total, demand)
    best = len(m.todo)
    for part in range(3):
        sizes = sorted(own[h][part] for h in m.todo)
        count = 0
        used = 0
        for size in sizes:
            if used + size > slack[part]:
                break
            used += size
            count += 1
        best = min(best, count)
    return best


def _parallel_bound(jobs, parallel):
    """Makespan bound for down windows ``(release, length)``.

    At most ``parallel`` windows overlap, so they split into that many
    chains of disjoint windows (interval graphs are perfect). For every
    release r, the n windows released at r or later need r + max(their
    sum / parallel, the sum of the ceil(n / parallel) shortest, the
    longest).
    """
    best = 0.0
    lengths = []
    total = 0.0
    longest = 0.0
    jobs = sorted(jobs, reverse=True)
    for pos, (release, length) in enumerate(jobs):
        bisect.insort(lengths, length)
        total += length
        longest = max(longest, length)
        if pos + 1 < len(jobs) and jobs[pos + 1][0] == release:
            continue
        chain = sum(lengths[:-(-len(lengths) // parallel)])
        best = max(best, release + max(total / parallel, chain, longest))
    return best


def _bound_terms(m):
    terms = collections.OrderedDict(
        (name, 0.0) for name in ('host', 'parallel', 'controllers',
                                 'groups', 'migrations'))
    if not m.todo:
        return terms
    # A host goes down once its instances are gone: not before each has
    # had its notice and one move.
    release = {}
    for name in m.todo:
        release[name] = max([m.lead[i] + m.dur[i] for i in m.on_host[name]]
                            + [0])
    terms['host'] = max(release[h] + m.maint[h] for h in m.todo)
    down = max_hosts_down(m)
    limit = m.limits.max_parallel_hosts
    if limit is not None:
        down = min(down, limit)
    if down < 1:
        terms['parallel'] = INFINITY
        return terms
    terms['parallel'] = _parallel_bound(
        [(release[h], m.maint[h]) for h in m.todo], down)
    ctrl = [h for h in m.todo if m.is_controller(h)]
    climit = m.limits.max_parallel_controllers
    if ctrl and climit is not None:
        terms['controllers'] = _parallel_bound(
            [(release[h], m.maint[h]) for h in ctrl], min(down, climit))
    moving = [i for h in m.todo for i in m.on_host[h]]
    if not moving:
        return terms
    shortest_maint = min(m.maint[h] for h in m.todo)
    # Each instance's *first* move leaves a host that is maintained
    # afterwards (its start: the notice). When every host that may
    # receive instances is still to be maintained, each instance's *last
    # evacuating* move (one whose source is maintained afterwards) lands
    # on a host already maintained, so it starts after the first
    # maintenance can end (``phase``) and is again followed by one.
    first = {i: m.lead[i] for i in moving}
    last = None
    targets = [h for h in m.hosts if m.target_ok[h]]
    if targets and all(h in m.todo_set for h in targets):
        last = min(release[h] + m.maint[h] for h in targets)
        terms['host'] = max(terms['host'],
                            last + max(m.dur[i] for i in moving) +
                            shortest_maint)
    # Group budgets: those moves give out of service spans of at least
    # ``span`` seconds, at most ``budget`` at once, so the last one starts
    # (n - 1) // budget spans after the first; its move ends, its source
    # is maintained.
    for gid in m.groups:
        members = [i for i in m.members[gid] if i in first]
        if not members:
            continue
        span = min(m.ilen[i] for i in members) + m.recovery[gid]
        rounds = (len(members) - 1) // m.budget[gid]
        tail = rounds * span + min(m.ilen[i] for i in members)
        value = (min(first[i] + m.offset(i) for i in members) + tail +
                 min(m.maint[m.instances[i].host] for i in members))
        if last is not None:
            value = max(value, last + min(m.offset(i) for i in members) +
                        tail + shortest_maint)
        terms['groups'] = max(terms['groups'], value)
    # Concurrent moves: those moves, c at a time (so at least n / c
    # rounds of the shortest move, and their total time / c), then a
    # maintenance.
    climit = m.limits.max_concurrent_migrations
    if climit is not None:
        hosts = [h for h in m.todo if m.on_host[h]]
        chain = max(-(-len(moving) // climit) *
                    min(m.dur[i] for i in moving),
                    sum(m.dur[i] for i in moving) / climit)
        value = (min(first.values()) + chain +
                 min(m.maint[h] for h in hosts))
        if last is not None:
            value = max(value, last + chain + shortest_maint)
        terms['migrations'] = value
    return terms
