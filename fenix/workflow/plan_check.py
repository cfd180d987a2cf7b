# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Check a maintenance plan against its topology. Pure.

:func:`validate` simulates a :class:`fenix.workflow.planner.Plan` over time
and lists every rule it breaks; tests, benchmarks and the tools use it on
every plan the planner gives.
"""
import collections

from fenix.workflow import model as cm
from fenix.workflow.model import _add
from fenix.workflow.model import _num
from fenix.workflow.model import _sub
from fenix.workflow.model import _ZERO
from fenix.workflow.model import INFINITY

# Times are compared after rounding to this many decimals.
_DIGITS = 6


def _q(value):
    return round(value, _DIGITS)


def _peak(spans):
    """(most spans open at once, when) for half-open ``(start, end)``."""
    events = []
    for start, end in spans:
        start, end = _q(start), _q(end)
        if start < end:
            events.append((start, 1))
            events.append((end, -1))
    events.sort()
    best, when, count = 0, None, 0
    for time, delta in events:
        count += delta
        if count > best:
            best, when = count, time
    return best, when


def _union(spans):
    """Half-open spans merged where they overlap or touch."""
    out = []
    for start, end in sorted((_q(s), _q(e)) for s, e in spans):
        if start >= end:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def validate(plan, topology):
    """Every rule ``plan`` breaks on ``topology``, as a list of messages.

    Simulates the plan over time: capacity on every host at every moment,
    targets (never down, emptying or unschedulable), anti-affinity and
    ``max_instances_per_host``, group budgets, admin limits, move kinds,
    notice, every host maintained exactly once and only when empty.
    """
    m = cm.Model(topology)
    out = []
    windows = {}
    wave_start = {}
    for wave in plan.waves:
        for name in wave.hosts:
            if name in wave_start:
                out.append('host %s is in more than one wave' % name)
            wave_start.setdefault(name, wave.start)
        for win in wave.maintenance:
            if win.host not in wave.hosts:
                out.append('host %s maintained in wave %d but not listed '
                           'in it' % (win.host, wave.index))
            if win.host in windows:
                out.append('host %s is maintained more than once'
                           % win.host)
                continue
            windows[win.host] = (win.start, win.end)
            if win.host not in m.todo_set:
                out.append('host %s is maintained but is not to be '
                           'maintained' % win.host)
            elif _q(win.end - win.start) < _q(m.maint[win.host]):
                out.append('host %s: maintenance shorter than %ss'
                           % (win.host, _num(m.maint[win.host])))
            if _q(win.start) < _q(wave_start.get(win.host, 0)):
                out.append('host %s goes down before its wave starts'
                           % win.host)
    for name in m.todo:
        if name not in windows:
            out.append('host %s is never maintained' % name)
    # Moves, per instance, in order.
    by_inst = collections.defaultdict(list)
    for move in plan.moves:
        by_inst[move.instance_id].append(move)
    presence = collections.defaultdict(list)  # host -> (start, end, iid, arr)
    for iid, inst in m.instances.items():
        moves = sorted(by_inst.pop(iid, ()), key=lambda mv: mv.start)
        out.extend(_check_moves(m, iid, moves, windows, wave_start))
        where, since, arrived = inst.host, 0, False
        for move in moves:
            presence[where].append((since, move.end, iid, arrived))
            where, since, arrived = move.target, move.start, True
        presence[where].append((since, INFINITY, iid, arrived))
    for iid in sorted(by_inst):
        out.append('move of unknown instance %s' % iid)
    out.extend(_check_hosts(m, presence, windows))
    out.extend(_check_budgets(m, plan))
    out.extend(_check_limits(m, plan, windows))
    ends = [w[1] for w in windows.values()] + [mv.end for mv in plan.moves]
    if plan.feasible and ends and _q(plan.estimated_duration) < _q(
            max(ends)):
        out.append('estimated_duration %s ends before the plan does (%s)'
                   % (_num(plan.estimated_duration), _num(max(ends))))
    return out


def _check_moves(m, iid, moves, windows, wave_start):
    out = []
    where = m.instances[iid].host
    previous_end = None
    for move in moves:
        label = 'move of %s %s->%s at %s' % (iid, move.source, move.target,
                                             _num(move.start))
        if move.source != where:
            out.append('%s: the instance is on %s then' % (label, where))
        if previous_end is not None and _q(move.start) < _q(previous_end):
            out.append('%s: starts before its previous move ends' % label)
        if previous_end is None and _q(move.start) < _q(m.lead[iid]):
            out.append('%s: before its notice of %ss'
                       % (label, _num(m.lead[iid])))
        if move.kind != m.kind[iid]:
            out.append('%s: kind %s, the rules say %s'
                       % (label, move.kind, m.kind[iid]))
        if _q(move.end - move.start) < _q(m.dur[iid]):
            out.append('%s: shorter than a %s takes' % (label, move.kind))
        if _q(move.interruption_start) != _q(move.end - m.ilen[iid]):
            out.append('%s: interruption does not end the move' % label)
        target = move.target
        if target not in m.hosts:
            out.append('%s: unknown target' % label)
        elif not m.target_ok[target]:
            out.append('%s: target may not receive instances' % label)
        elif target == move.source:
            out.append('%s: target is the source' % label)
        elif target in wave_start:
            begin = wave_start[target]
            end = windows.get(target, (begin, INFINITY))[1]
            if _q(move.start) < _q(end) and _q(begin) < _q(move.end):
                out.append('%s: target is being emptied or down' % label)
        where = target
        previous_end = move.end
    return out


def _check_hosts(m, presence, windows):
    """Capacity, group limits per host, and empty hosts when down."""
    out = []
    for name, spans in presence.items():
        if name in windows:
            down_start, down_end = windows[name]
            for start, end, iid, _arr in spans:
                if _q(start) < _q(down_end) and _q(down_start) < _q(end):
                    out.append('host %s is down at %s with instance %s on '
                               'it' % (name, _num(down_start), iid))
        events = []
        for start, end, iid, arrived in spans:
            events.append((_q(start), 1, iid, arrived))
            if end != INFINITY:
                events.append((_q(end), 0, iid, False))
        events.sort(key=lambda ev: (ev[0], ev[1]))
        used = _ZERO
        count = collections.Counter()
        cap = m.capacity[name]
        for time, kind, iid, arrived in events:
            gid = m.gid[iid]
            if kind == 0:
                used = _sub(used, m.res[iid])
                count[gid] -= 1
                continue
            used = _add(used, m.res[iid])
            count[gid] += 1
            if not arrived:
                continue
            over = [unit for u, c, unit in zip(
                used, cap, ('vCPU', 'RAM', 'disk')) if u > c]
            if over:
                out.append('host %s over capacity (%s) at %s when %s '
                           'arrives' % (name, '/'.join(over), _num(time),
                                        iid))
            if gid is not None and count[gid] > m.per_host[gid]:
                out.append('host %s holds %d members of group %s at %s'
                           % (name, count[gid], gid, _num(time)))
    return out


def _check_budgets(m, plan):
    """Members out of service at once, per group (a member counts once
    even when the spans of two of its moves overlap)."""
    out = []
    spans = collections.defaultdict(lambda: collections.defaultdict(list))
    for move in plan.moves:
        gid = m.gid.get(move.instance_id)
        if gid is not None:
            spans[gid][move.instance_id].append(
                (move.interruption_start, move.end + m.recovery[gid]))
    for gid in sorted(spans):
        merged = []
        for member_spans in spans[gid].values():
            merged.extend(_union(member_spans))
        peak, when = _peak(merged)
        if peak > m.budget[gid]:
            out.append('group %s has %d members out of service at %s '
                       '(max_impacted_members %d)'
                       % (gid, peak, _num(when), m.budget[gid]))
    return out


def _check_limits(m, plan, windows):
    out = []
    limits = m.limits
    if limits.max_parallel_hosts is not None:
        peak, when = _peak(windows.values())
        if peak > limits.max_parallel_hosts:
            out.append('%d hosts down at %s (max_parallel_hosts %d)'
                       % (peak, _num(when), limits.max_parallel_hosts))
    if limits.max_parallel_controllers is not None:
        peak, when = _peak(w for h, w in windows.items()
                           if h in m.hosts and m.is_controller(h))
        if peak > limits.max_parallel_controllers:
            out.append('%d controllers down at %s '
                       '(max_parallel_controllers %d)'
                       % (peak, _num(when),
                          limits.max_parallel_controllers))
    if limits.max_concurrent_migrations is not None:
        peak, when = _peak((mv.start, mv.end) for mv in plan.moves)
        if peak > limits.max_concurrent_migrations:
            out.append('%d moves at once at %s '
                       '(max_concurrent_migrations %d)'
                       % (peak, _num(when),
                          limits.max_concurrent_migrations))
    return out
