# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The planner's ``serial`` policy: one host at a time. Pure.

What the ``default`` workflow decides (SPEC 5, seed 004's flow), over the
one model of the cloud (:class:`fenix.workflow.model.Topology`):

* :meth:`Snapshot.plan_evacuation` -- does everything on host X fit on the
  allowed target hosts (vCPU, RAM, disk, anti-affinity, affinity,
  ``max_instances_per_host``), and where would each instance go?
* :meth:`Snapshot.choose_host_to_empty` -- which host is cheapest to empty
  (no floating-IP / active-role instances first, then fewest instances,
  then most free capacity left after the moves) among those whose emptying
  still leaves a feasible order for the rest (a bounded search of the
  orders, :class:`_OrderSearch`).
* :meth:`Snapshot.scale_in_need` -- is scale-in needed, and exactly how
  much capacity is missing (a message naming vCPU / RAM / disk short).
* :func:`rolling_plan` -- the whole order, host by host;
  :func:`schedule` -- its moves in time, in the planner's plan format,
  within every group budget (``max_impacted_members``, ``recovery_time``),
  each instance's notice (``lead_time``) and ``max_concurrent_migrations``.

Usage of a host is the sum of what the instances on it need
(:meth:`~fenix.workflow.model.Instance.need`) against what the host may
give (:meth:`~fenix.workflow.model.Host.usable`), not Nova's hypervisor
counters, which lag behind after a scale-in.
"""
import collections

from fenix.common import states
from fenix.workflow import model
from fenix.workflow.model import Resources

# Upper bound on the placements the exact search tries for one host
# before it settles for the greedy answer.
SEARCH_BUDGET = 20000

# Work the look-ahead of choose_host_to_empty may do for one choice, in
# instances looked at (each state of the search it visits costs about the
# number of instances): small clouds are searched exhaustively, large ones
# at least along the greedy order.
LOOKAHEAD_WORK = 2000000

total = Resources.total


class _Member(collections.namedtuple(
        '_Member', 'instance_id host size group important')):
    """A model instance as the search sees it: where it is, what it needs
    on a host, its group id, whether it is costly to move."""

    __slots__ = ()

    @classmethod
    def of(cls, inst, groups):
        gid = inst.group_id if inst.group_id in groups else None
        return cls(inst.instance_id, inst.host, inst.need(), gid,
                   inst.important)


class Evacuation(object):
    """The answer to "can ``source`` be emptied onto ``targets``?".

    ``moves`` maps instance id -> target host (when it fits); ``missing``
    is the capacity that must be freed for it to fit (zero when it fits);
    ``reason`` says in words why it does not fit.
    """

    def __init__(self, source, fits, moves=None, missing=None, reason='',
                 need=None, free=None, free_after=None):
        self.source = source
        self.fits = fits
        self.moves = moves or {}
        self.missing = missing or Resources()
        self.reason = reason
        self.need = need or Resources()
        self.free = free or Resources()
        self.free_after = free_after or Resources()

    def __repr__(self):
        return ('Evacuation(source=%r, fits=%r, moves=%r, missing=%r, '
                'reason=%r)' % (self.source, self.fits, self.moves,
                                self.missing, self.reason))


class Choice(object):
    """The host chosen to be emptied, its plan and why it was chosen.

    ``rest``: the order the look-ahead found for the other hosts after
    this one (``[(hostname, moves)]``), None when it found none (the
    search was cut short, or no order exists: then the cheapest host).
    """

    def __init__(self, hostname, plan, why, rest=None):
        self.hostname = hostname
        self.plan = plan
        self.why = why
        self.rest = rest


class ScaleInNeed(object):
    """How much capacity is missing to empty any host.

    ``needed`` False: some host can be emptied (``host`` names it).
    """

    def __init__(self, needed, host=None, missing=None, message=''):
        self.needed = needed
        self.host = host
        self.missing = missing or Resources()
        self.message = message


class Snapshot(object):
    """A :class:`fenix.workflow.model.Topology` as the serial policy reads
    it: each host's usable capacity, the instances on it, the group rules.
    A snapshot is not changed once built (see :meth:`moved`)."""

    def __init__(self, topology, members=None):
        self.topology = topology
        self.groups = {g.group_id: g for g in topology.groups}
        self.hosts = collections.OrderedDict(
            (h.name, h.usable()) for h in topology.hosts)
        if members is None:
            members = [_Member.of(i, self.groups)
                       for i in topology.instances]
        self.instances = collections.OrderedDict(
            (m.instance_id, m) for m in members)
        # What is on each host and what it uses (a Snapshot is not
        # changed once built: see moved()).
        self._by_host = collections.defaultdict(list)
        for inst in self.instances.values():
            self._by_host[inst.host].append(inst)
        self._used = {}

    def moved(self, moves):
        """A copy with instances moved (``moves``: id -> host)."""
        instances = []
        for inst in self.instances.values():
            target = moves.get(inst.instance_id)
            if target is not None and target != inst.host:
                inst = inst._replace(host=target)
            instances.append(inst)
        return Snapshot(self.topology, instances)

    def placement(self):
        """Where every instance is, as a hashable value."""
        return frozenset((i.instance_id, i.host)
                         for i in self.instances.values())

    # --- simple questions ---------------------------------------------------
    def on_host(self, hostname):
        return list(self._by_host.get(hostname, ()))

    def is_empty(self, hostname):
        return not self.on_host(hostname)

    def used(self, hostname):
        used = self._used.get(hostname)
        if used is None:
            used = total(i.size for i in self.on_host(hostname))
            self._used[hostname] = used
        return used

    def free(self, hostname):
        usable = self.hosts.get(hostname)
        if usable is None:
            return Resources()
        return (usable - self.used(hostname)).clip()

    def capacity(self, hostname):
        """What ``hostname`` may give instances (see
        :meth:`fenix.workflow.model.Host.usable`)."""
        return self.hosts.get(hostname) or Resources()

    def _members(self, group_id):
        return [i for i in self.instances.values() if i.group == group_id]

    # --- can this host be emptied? ------------------------------------------
    def plan_evacuation(self, source, targets, prefer=None):
        """Can every instance on ``source`` move to ``targets``?

        ``prefer``: targets filled first (hosts that are not emptied
        later, so that what lands there does not move again).
        """
        targets = [t for t in targets if t != source and t in self.hosts]
        moving = self.on_host(source)
        need = total(i.size for i in moving)
        free = total(self.free(t) for t in targets)
        free_after = (free - need).clip()
        if not moving:
            return Evacuation(source, True, {}, need=need, free=free,
                              free_after=free)
        aggregate_missing = (need - free).clip()
        if not aggregate_missing.is_zero():
            return Evacuation(
                source, False, missing=aggregate_missing, need=need,
                free=free,
                reason='%s to move from %s, only %s free on %s'
                % (_all(need), source, _all(free), _names(targets)))
        units, blocked = self._units(moving, source, targets)
        if blocked:
            return Evacuation(source, False, missing=Resources(),
                              need=need, free=free, reason=blocked)
        search = _Search(self, source, targets, units, prefer)
        moves = search.run()
        if moves is not None:
            return Evacuation(source, True, moves, need=need, free=free,
                              free_after=free_after)
        unit, missing = search.worst
        return Evacuation(
            source, False, missing=missing, need=need, free=free,
            reason='%s (%s) fits on no target host: the free capacity (%s '
            'in all) is fragmented%s'
            % (unit.label(), _all(unit.size), _all(free),
               ' or server group rules forbid it' if unit.group else ''))

    def _units(self, moving, source, targets):
        """Group the instances that must move together (affinity)."""
        units = []
        bundles = collections.OrderedDict()
        for inst in moving:
            group = self.groups.get(inst.group)
            if group is not None and group.affinity:
                bundles.setdefault(inst.group, []).append(inst)
            else:
                units.append(_Unit([inst], group))
        for group_id, members in bundles.items():
            group = self.groups[group_id]
            elsewhere = {i.host for i in self._members(group_id)
                         if i.host != source}
            unit = _Unit(members, group)
            if elsewhere:
                allowed = [t for t in targets if t in elsewhere]
                if not allowed:
                    return None, (
                        'affinity group %s has members on %s, which is not '
                        'a target host' % (group_id, _names(elsewhere)))
                unit.only = set(allowed)
            units.append(unit)
        return units, None

    # --- which host? --------------------------------------------------------
    def _rank_key(self, hostname, targets, avoid, free=None, capacity=None):
        """The cost of emptying ``hostname`` onto ``targets`` (lower is
        cheaper), without placing anything: floating IPs / active roles,
        instances, then the most free capacity left elsewhere.

        ``free`` / ``capacity``: the totals over ``targets`` when known.
        """
        moving = self.on_host(hostname)
        need = total(i.size for i in moving)
        if free is None:
            free = total(self.free(t) for t in targets
                         if t != hostname and t in self.hosts)
            capacity = total(self.capacity(t) for t in targets
                             if t != hostname)
        elif hostname in targets:
            free = free - self.free(hostname)
            capacity = capacity - self.capacity(hostname)
        spare = (free - need).clip().fraction_of(capacity)
        # Homogeneous hosts leave the same spare whichever is emptied:
        # then the least to move wins.
        return (hostname in avoid, sum(1 for i in moving if i.important),
                len(moving), -round(spare, 9),
                round(need.fraction_of(self.capacity(hostname)), 9),
                hostname)

    def _ranked(self, candidates, targets, avoid):
        """[(key, hostname, plan)] of the candidates that can be emptied
        onto ``targets``, cheapest first. Targets that are not candidates
        (never emptied later) are filled first."""
        stable = [t for t in targets if t not in candidates]
        ranked = []
        for hostname in candidates:
            plan = self.plan_evacuation(hostname, targets, stable)
            if plan.fits:
                ranked.append((self._rank_key(hostname, targets, avoid),
                               hostname, plan))
        ranked.sort(key=lambda r: r[0])
        return ranked

    def choose_host_to_empty(self, candidates, targets, avoid=(),
                             lookahead=True):
        """Cheapest host of ``candidates`` to empty onto ``targets``.

        ``avoid``: hosts to take only when no other fits, or when every
        other leaves no feasible order (e.g. deferred after a refusal).
        With ``lookahead`` (the default) a host whose emptying leaves no
        feasible order for the other candidates is passed over for the
        next cheapest: after this host, the others go
        to the targets that are not candidates and to the hosts maintained
        by then (the default workflow's rule, see :func:`rolling_plan`).
        Returns a :class:`Choice`, or None when none of the candidates can
        be emptied.
        """
        candidates = list(candidates)
        ranked = self._ranked(candidates, targets, avoid)
        if not ranked:
            return None
        if lookahead and len(candidates) > 1:
            found = _OrderSearch(self, candidates, targets,
                                 avoid).first_step()
            if found is not None:
                return self._choice(ranked, targets, avoid, *found)
        return self._choice(ranked, targets, avoid, ranked[0][1])

    def _choice(self, ranked, targets, avoid, hostname, moves=None,
                rest=None):
        """The :class:`Choice` of ``hostname`` (its ``moves`` when given)
        among ``ranked``, with the reasons."""
        names = [h for _k, h, _p in ranked]
        if hostname in names:
            plan = ranked[names.index(hostname)][2]
            passed = names[:names.index(hostname)]
        else:
            stable = [t for t in targets if t not in names]
            plan = self.plan_evacuation(hostname, targets, stable)
            passed = []
        if moves is not None:
            plan.moves = dict(moves)
        moving = self.on_host(hostname)
        important = sum(1 for i in moving if i.important)
        why = ('%d instance(s) (%s), %d with a floating IP or active '
               'role, %s still free elsewhere after the moves'
               % (len(moving), _all(plan.need), important,
                  _all(plan.free_after)))
        if passed:
            why += ('; %s would be cheaper but leave no feasible order for '
                    'the other hosts' % _names(passed))
        elif len(ranked) > 1:
            why += '; cheapest of %d hosts that can be emptied' % len(ranked)
        if hostname in avoid:
            why += '; only a deferred host is left'
        return Choice(hostname, plan, why, rest)

    def placements(self, source, targets, prefer, signature):
        """Every way to empty ``source`` onto ``targets`` (dicts instance
        id -> target), the one :meth:`plan_evacuation` gives first; see
        :meth:`_Search.placements` for ``signature``."""
        targets = [t for t in targets if t != source and t in self.hosts]
        moving = self.on_host(source)
        if not moving:
            return iter([{}])
        if not total(i.size for i in moving).fits_in(
                total(self.free(t) for t in targets)):
            return iter(())
        units, blocked = self._units(moving, source, targets)
        if blocked:
            return iter(())
        return _Search(self, source, targets, units,
                       prefer).placements(signature)

    def scale_in_need(self, candidates, targets_of):
        """Is scale-in needed to empty one of ``candidates``?

        ``targets_of(host)`` lists the hosts its instances may go to.
        When none can be emptied, the candidate that misses least names
        the shortfall.
        """
        best = None
        for hostname in candidates:
            plan = self.plan_evacuation(hostname, targets_of(hostname))
            if plan.fits:
                return ScaleInNeed(False, hostname, Resources(),
                                   '%s can be emptied' % hostname)
            score = plan.missing.fraction_of(self.capacity(hostname))
            key = (score, len(self.on_host(hostname)), hostname)
            if best is None or key < best[0]:
                best = (key, hostname, plan)
        if best is None:
            return ScaleInNeed(True, None, Resources(),
                               'there is no host that could be emptied')
        _, hostname, plan = best
        if plan.missing.is_zero():
            message = ('no host can be emptied: %s' % plan.reason)
        else:
            message = ('to empty a host %s more must be free (cheapest: %s, '
                       '%s)' % (plan.missing.describe(),
                                hostname, plan.reason))
        return ScaleInNeed(True, hostname, plan.missing, message)


def _all(resources):
    return resources.describe(skip_zero=False)


def _names(hosts):
    hosts = sorted(hosts)
    return ', '.join(hosts) if hosts else 'no host'


class _Unit(object):
    """Instances placed together (one, or an affinity bundle)."""

    def __init__(self, members, group):
        self.members = members
        self.group = group
        self.size = total(m.size for m in members)
        self.only = None

    def label(self):
        if len(self.members) == 1:
            return 'instance %s' % self.members[0].instance_id
        return 'affinity group %s (%d instances)' % (
            self.group.group_id, len(self.members))


class _Search(object):
    """Depth-first placement of units onto targets, biggest first."""

    def __init__(self, topology, source, targets, units, prefer=None):
        self.topology = topology
        self.source = source
        self.targets = targets
        self.prefer = set(prefer) if prefer is not None else None
        scale = total(topology.capacity(t) for t in targets)
        self.units = sorted(units, key=lambda u: (-u.size.fraction_of(scale),
                                                  u.label()))
        self.free = {t: topology.free(t) for t in targets}
        # Members of each group already on each target, by (group,
        # target) and by target.
        self.count = collections.defaultdict(int)
        self.groups_on = collections.defaultdict(collections.Counter)
        for target in targets:
            for inst in topology.on_host(target):
                if inst.group is not None:
                    self.count[(inst.group, target)] += 1
                    self.groups_on[target][inst.group] += 1
        self.budget = SEARCH_BUDGET
        self.worst = (self.units[0], self.units[0].size)
        self._deepest = -1

    def _allowed(self, unit, target):
        if unit.only is not None and target not in unit.only:
            return False
        if not unit.size.fits_in(self.free[target]):
            return False
        group = unit.group
        if group is not None:
            if self.count[(group.group_id, target)] + len(unit.members) > \
                    group.per_host_limit():
                return False
        return True

    def _order(self, target):
        """Preferred targets first, then most free first: spreads like
        Nova's default weighers."""
        return (self.prefer is not None and target not in self.prefer,
                -self.free[target].fraction_of(
                    self.topology.capacity(target)), target)

    def _place_unit(self, unit, target, sign):
        if sign > 0:
            self.free[target] = self.free[target] - unit.size
        else:
            self.free[target] = self.free[target] + unit.size
        if unit.group is not None:
            gid = unit.group.group_id
            self.count[(gid, target)] += sign * len(unit.members)
            self.groups_on[target][gid] += sign * len(unit.members)

    def placements(self, signature):
        """Every placement (``{instance id: target}``), the one
        :meth:`run` finds first, without its budget.

        ``signature(target, placed)``: targets with equal signatures (and
        equal free capacity and group counts) are interchangeable for
        what comes after, so only the first of them is tried for a unit;
        ``placed`` lists the units this search put on the target.
        """
        on = collections.defaultdict(list)
        placed = {}

        def sig(target):
            groups = tuple(sorted((gid, n) for gid, n in
                                  self.groups_on[target].items() if n))
            return (signature(target, tuple(sorted(on[target]))),
                    tuple(self.free[target]), groups)

        def place(depth):
            if depth == len(self.units):
                yield {inst.instance_id: target
                       for unit, target in placed.items()
                       for inst in unit.members}
                return
            unit = self.units[depth]
            seen = set()
            for target in sorted((t for t in self.targets
                                  if self._allowed(unit, t)),
                                 key=self._order):
                key = sig(target)
                if key in seen:
                    continue
                seen.add(key)
                self._place_unit(unit, target, 1)
                on[target].append(_unit_key(unit))
                placed[unit] = target
                for result in place(depth + 1):
                    yield result
                del placed[unit]
                on[target].pop()
                self._place_unit(unit, target, -1)

        return place(0)

    def _note_failure(self, depth, unit):
        if depth > self._deepest:
            self._deepest = depth
            shortfalls = [(unit.size - self.free[t]).clip()
                          for t in self.targets
                          if unit.only is None or t in unit.only]
            missing = min(shortfalls, key=lambda r: (
                r.fraction_of(unit.size), r)) if shortfalls else unit.size
            self.worst = (unit, missing)

    def run(self):
        placed = {}
        if self._place(0, placed):
            return {inst.instance_id: target
                    for unit, target in placed.items()
                    for inst in unit.members}
        return None

    def _place(self, depth, placed):
        if depth == len(self.units):
            return True
        self.budget -= 1
        if self.budget < 0:
            return False
        unit = self.units[depth]
        options = [t for t in self.targets if self._allowed(unit, t)]
        if not options:
            self._note_failure(depth, unit)
            return False
        options.sort(key=self._order)
        for target in options:
            self._place_unit(unit, target, 1)
            placed[unit] = target
            if self._place(depth + 1, placed):
                return True
            del placed[unit]
            self._place_unit(unit, target, -1)
            if self.budget < 0:
                return False
        return False


def _unit_key(unit):
    """What matters of a unit for the hosts after it: sizes and groups."""
    return tuple(sorted((tuple(m.size), m.group or '', m.important)
                        for m in unit.members))


class _OutOfWork(Exception):
    """The look-ahead used up :data:`LOOKAHEAD_WORK`."""


class _OrderSearch(object):
    """Depth-first search for an order in which every candidate can be
    emptied, one host at a time, by the default workflow's rule.

    The first host goes to ``targets``; once it is maintained, every other
    host goes to the targets that are not candidates (``stable``: hosts
    outside the session or maintained) and to the candidates maintained
    by then. A host that is empty is maintained at once. Hosts are tried
    cheapest first (:meth:`Snapshot._rank_key`), each with its possible
    placements (the one :meth:`Snapshot.plan_evacuation` gives first; two
    targets that differ only by name are tried once); states already
    found to lead nowhere are not searched again. The search stops after
    :data:`LOOKAHEAD_WORK` (then the host it was looking at is taken, as
    the greedy choice would).
    """

    def __init__(self, topology, candidates, targets, avoid):
        self.topology = topology
        self.candidates = list(candidates)
        self.targets = list(targets)
        self.avoid = set(avoid or ())
        self.stable = [t for t in targets if t not in self.candidates]
        self.work = LOOKAHEAD_WORK
        self.size = max(1, len(topology.instances))
        self.failed = set()

    def first_step(self):
        """(hostname, moves, rest) to empty first: ``rest`` is the order
        of the others (``[(hostname, moves)]``) or None when the search
        was cut short. None when no candidate leaves a feasible order."""
        topo = self.topology
        current = None
        try:
            for hostname, moves in self._steps(topo, self.candidates,
                                               self.targets):
                current = (hostname, moves, None)
                rest = self._order(
                    self._spend(topo, moves),
                    [c for c in self.candidates if c != hostname],
                    self.stable + [hostname])
                if rest is not None:
                    return hostname, moves, rest
        except _OutOfWork:
            return current
        return None

    def _spend(self, topo, moves):
        self.work -= self.size
        if self.work < 0:
            raise _OutOfWork()
        return topo.moved(moves)

    def _order(self, topo, remaining, stable):
        steps = []
        empty = [h for h in remaining if topo.is_empty(h)]
        if empty:
            steps = [(h, {}) for h in empty]
            stable = stable + empty
            remaining = [h for h in remaining if h not in empty]
        if not remaining:
            return steps
        # The maintained hosts follow from ``remaining``.
        key = (frozenset(remaining), topo.placement())
        if key in self.failed:
            return None
        for hostname, moves in self._steps(topo, remaining, stable):
            rest = self._order(self._spend(topo, moves),
                               [h for h in remaining if h != hostname],
                               stable + [hostname])
            if rest is not None:
                return steps + [(hostname, moves)] + rest
        self.failed.add(key)
        return None

    def _steps(self, topo, remaining, targets):
        """(hostname, moves) to try next, cheapest host first."""
        free = total(topo.free(t) for t in targets)
        capacity = total(topo.capacity(t) for t in targets)
        order = sorted(remaining, key=lambda h: topo._rank_key(
            h, targets, self.avoid, free, capacity))
        stable = [t for t in targets if t not in remaining]

        def signature(target, placed):
            if target not in remaining:
                return ('stable',)
            return ('later', tuple(topo.hosts[target]),
                    tuple(sorted(_unit_key(_Unit([i], None))
                                 for i in topo.on_host(target))), placed)

        for hostname in order:
            self.work -= self.size
            if self.work < 0:
                raise _OutOfWork()
            for moves in topo.placements(hostname, targets, stable,
                                         signature):
                yield hostname, moves


def rolling_plan(topology, hosts, others=(), maintained=(), avoid=(),
                 lookahead=True):
    """Simulate the default workflow's order over ``hosts``.

    ``others``: schedulable hosts outside the session (always targets);
    ``maintained``: session hosts already done. The first host to empty
    goes to any other schedulable host (PREPARE_MAINTENANCE); every later
    one to maintained hosts and ``others`` only (PLANNED_MAINTENANCE).

    Returns ``{'steps': [{'host', 'step', 'moves', 'why'}], 'blocked':
    message or None, 'scale_in': bool}``.
    """
    remaining = [h for h in hosts if h not in maintained]
    done = list(maintained)
    others = [h for h in others if h not in hosts]
    steps = []
    result = {'steps': steps, 'blocked': None, 'scale_in': False}
    # The rest of the order the look-ahead found (followed as long as the
    # choices go that way).
    ahead = []
    while remaining:
        empty = [h for h in remaining if topology.is_empty(h)]
        if empty:
            for hostname in empty:
                steps.append({'host': hostname, 'step': 'empty',
                              'moves': {}, 'why': 'holds no instance'})
                done.append(hostname)
                remaining.remove(hostname)
            ahead = [s for s in ahead if s[0] not in empty]
            continue
        if done:
            step, targets = 'planned', others + done
        else:
            step, targets = 'prepare', others + remaining
        if ahead and ahead[0][0] in remaining:
            hostname, moves = ahead.pop(0)
            ranked = topology._ranked(remaining, targets, avoid)
            choice = topology._choice(ranked, targets, avoid, hostname,
                                      moves)
        else:
            choice = topology.choose_host_to_empty(remaining, targets, avoid,
                                                   lookahead)
            ahead = list((choice.rest or ()) if choice else ())
        if choice is None:
            need = topology.scale_in_need(remaining, lambda h: targets)
            result['blocked'] = need.message
            result['scale_in'] = not done
            break
        steps.append({'host': choice.hostname, 'step': step,
                      'moves': dict(choice.plan.moves), 'why': choice.why})
        topology = topology.moved(choice.plan.moves)
        done.append(choice.hostname)
        remaining.remove(choice.hostname)
    return result


def _count_at(spans, begin, end):
    """Most of ``spans`` ([(start, end)]) open at one point of
    ``[begin, end)``."""
    points = [begin] + [s for s, _e in spans if begin < s < end]
    return max(sum(1 for s, e in spans if s <= p < e and s < e)
               for p in points)


def schedule(steps, topology, kinds, at_once, owners=None):
    """The moves of ``steps`` (:func:`rolling_plan`'s) in time, in the
    shape of the planner's plan (:meth:`fenix.workflow.planner.Plan.to_dict`):
    one host per wave, each move with its source, target, kind and times.

    A host's projects hear of it when its wave starts; each move starts no
    sooner than its instance's notice (``lead_time``) after that, at most
    ``at_once`` at a time, and a group never has more than its
    ``max_impacted_members`` out of service at once (from the start of a
    move's interruption until ``recovery_time`` after its end, across the
    waves). ``kinds``: {instance id: move kind}; ``owners``: {instance id:
    project}. Durations come from ``topology.durations``.
    """
    m = model.Model(topology)
    owners = owners or {}
    waves = []
    group_spans = collections.defaultdict(list)
    now = 0.0
    for index, step in enumerate(steps):
        moves = []
        running = []
        for iid, target in sorted(step['moves'].items()):
            kind = kinds.get(iid) or m.kind.get(iid, states.MIGRATE)
            took, outage = model.move_timing(kind, m.durations)
            gid = m.gid.get(iid)
            budget = m.budget[gid] if gid else 0
            recovery = m.recovery[gid] if gid else 0
            ready = now + m.lead.get(iid, m.durations.lead_time or 0)
            # The earliest start at or after ``ready`` where a slot is free
            # and the group's budget holds: at ``ready``, at the end of a
            # move, or where a member's span ends.
            options = {ready} | {e for _s, e in running}
            if gid:
                options |= {e - took + outage for _s, e in group_spans[gid]}
            for start in sorted(t for t in options if t >= ready):
                end = start + took
                if _count_at(running, start, end) >= at_once:
                    continue
                if gid and _count_at(group_spans[gid], end - outage,
                                     end + recovery) >= budget:
                    continue
                break
            running.append((start, end))
            if gid:
                group_spans[gid].append((end - outage, end + recovery))
            moves.append({'instance_id': iid, 'source': step['host'],
                          'target': target, 'kind': kind,
                          'start': start, 'end': end,
                          'interruption_start': end - outage,
                          'project_id': owners.get(iid)})
        ends = [mv['end'] for mv in moves]
        end = max(ends or [now]) + m.maint.get(
            step['host'], m.durations.host_maintenance)
        waves.append({'index': index, 'start': now, 'end': end,
                      'hosts': [step['host']], 'moves': moves})
        now = end
    return {'waves': waves, 'hosts': len(waves),
            'moves': sum(len(w['moves']) for w in waves),
            'estimated_duration': now}


class Budgets(object):
    """The group budgets while a host's moves run (the executor's side of
    :func:`schedule`): a group member is out of service from the start of
    its move until ``recovery_time`` after its end, and a group has at
    most ``max_impacted_members`` out at once.

    ``groups``: {group id: :class:`fenix.workflow.model.Group`};
    ``member_of``: {instance id: group id}. Times are seconds on any clock
    the caller uses consistently.
    """

    def __init__(self, groups, member_of):
        self.groups = dict(groups)
        self.gid = {iid: gid for iid, gid in member_of.items()
                    if gid in groups}
        self.budget = {gid: max(1, g.max_impacted_members or 1)
                       for gid, g in groups.items()}
        self.recovery = {gid: g.recovery_time or 0
                         for gid, g in groups.items()}
        self.moving = collections.Counter()
        self.until = collections.defaultdict(list)

    @classmethod
    def of(cls, topology):
        """The budgets of a :class:`fenix.workflow.model.Topology`."""
        return cls({g.group_id: g for g in topology.groups},
                   {i.instance_id: i.group_id for i in topology.instances})

    def group_of(self, iid):
        """The :class:`fenix.workflow.model.Group` of ``iid``, or None."""
        gid = self.gid.get(iid)
        return self.groups.get(gid) if gid is not None else None

    def apart_from(self, iid):
        """The other members of ``iid``'s group when it is an
        anti-affinity group that Nova does not keep apart (one of Fenix's
        constraints, not a Nova server group of that policy): a move of
        ``iid`` reads them before Nova is asked
        (:meth:`fenix.common.cloud.Cloud.move`)."""
        group = self.group_of(iid)
        if group is None or not group.anti_affinity or \
                group.policy == model.ANTI_AFFINITY:
            return ()
        return tuple(sorted(i for i, gid in self.gid.items()
                            if gid == group.group_id and i != iid))

    def out(self, gid, now):
        """Members of ``gid`` out of service at ``now``."""
        self.until[gid] = [t for t in self.until[gid] if t > now]
        return self.moving[gid] + len(self.until[gid])

    def may_start(self, iid, now):
        gid = self.gid.get(iid)
        return gid is None or self.out(gid, now) < self.budget[gid]

    def started(self, iid):
        gid = self.gid.get(iid)
        if gid is not None:
            self.moving[gid] += 1

    def ended(self, iid, now):
        gid = self.gid.get(iid)
        if gid is not None:
            self.moving[gid] -= 1
            if self.recovery[gid]:
                self.until[gid].append(now + self.recovery[gid])
