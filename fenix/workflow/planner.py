# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Planner for parallel maintenance (SPEC 6). Pure.

No database, no clients, no configuration, no clock, no threads: plain
dataclasses in (:class:`Topology`), a :class:`Plan` out, deterministic for
equal input. The NFV workflow asks :func:`plan_maintenance` where and when
to move each instance and which hosts go down together; the API's dry run
shows :meth:`Plan.to_dict`.

Time model (seconds from the start of the plan, intervals half-open
``[start, end)``):

* an instance is counted on the target of a move from the move's start
  (the space is reserved) and on the source until the move's end;
* a move causes an interruption at its end (cold migration: the whole
  move; live migration: ``Durations.live_interruption``); a group member is
  *out of service* from the start of that interruption until
  ``recovery_time`` after the move ends;
* a host is *emptying* from its wave's start until its maintenance starts
  and *down* while it is maintained; it is never the target of a move then;
* an instance is acted on no earlier than its notice (``lead_time``) counted
  from the start of the plan: the workflow sends every notice at once.

The input is the one model of the cloud (:mod:`fenix.workflow.model`, its
names are re-exported here); the lower bound is in
:mod:`fenix.workflow.bounds`, the validator in
:mod:`fenix.workflow.plan_check`. See ``doc/source/planner.rst`` for the
algorithm and the lower bound.
"""
import bisect
import collections
import dataclasses
import heapq
import math

from fenix.workflow import bounds
from fenix.workflow.model import _add
from fenix.workflow.model import _clip
from fenix.workflow.model import _fits
from fenix.workflow.model import _num
from fenix.workflow.model import _sub
from fenix.workflow.model import _ZERO
from fenix.workflow.model import choose_move_kind  # noqa: F401
from fenix.workflow.model import Durations  # noqa: F401
from fenix.workflow.model import Group  # noqa: F401
from fenix.workflow.model import Host  # noqa: F401
from fenix.workflow.model import INFINITY
from fenix.workflow.model import Instance  # noqa: F401
from fenix.workflow.model import Limits  # noqa: F401
from fenix.workflow.model import Model as _Model
from fenix.workflow.model import move_timing  # noqa: F401
from fenix.workflow.model import Resources  # noqa: F401
from fenix.workflow.model import Topology  # noqa: F401
from fenix.workflow import plan_check

# Host progress inside the simulation.
_PENDING = 'pending'      # to maintain, not yet chosen
_EMPTYING = 'emptying'    # chosen in a wave, instances moving off
_READY = 'ready'          # empty, waiting for a free maintenance slot
_DOWN = 'down'            # being maintained
_DONE = 'done'            # maintained (in this plan or before it)
_FIXED = 'fixed'          # not part of the session

# Kinds of simulation events.
_EV_MOVE_END = 0
_EV_MAINT_END = 1
_EV_WAKE = 2

# With few free maintenance slots, the planner ranks only this many
# candidates per slot (by size) by the finer, costlier key.
_LOOKAHEAD = 16
# Bounds of the backtracking placement tried when the planner is stuck.
_SEARCH_DEPTH = 200
_SEARCH_WIDTH = 32
_SEARCH_BUDGET = 5000
_SEARCH_TOTAL = 50000
# What an extra move is worth against the makespan (see plan_maintenance
# and _Planner.extra_cost): 1 = a second move costs the plan its duration
# times its share of a host's maintenance (at most 1).
MOVE_WEIGHT = 1.0
# Most simulations plan_maintenance runs to weigh extra moves against
# time (each allows about 1.4 times the extra moves of the one before).
_MAX_PLANS = 12
# Most extra simulations spent looking for a smaller cap that plans as
# well as the best one of the sweep (bisection).
_REFINE = 5
# Work (instances looked at) of the search for a one-host-at-a-time order
# when the simulation finds no plan: small clouds exhaustively.
_SERIAL_WORK = 200000


# --- Output ----------------------------------------------------------------

@dataclasses.dataclass
class Move(object):
    """One instance moved from ``source`` to ``target``.

    ``again``: the target is not maintained yet, so the instance will move
    once more when the target is emptied.
    """

    instance_id: str
    source: str
    target: str
    kind: str
    start: float
    end: float
    interruption_start: float
    project_id: str = None
    group_id: str = None
    again: bool = False

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class HostWindow(object):
    """When a host is down for maintenance."""

    host: str
    start: float
    end: float

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Wave(object):
    """Hosts chosen together at ``start``; each goes down once empty.

    ``moves`` are the moves that empty this wave's hosts.
    """

    index: int
    start: float
    end: float
    hosts: list
    maintenance: list
    moves: list

    def to_dict(self):
        return {'index': self.index, 'start': self.start, 'end': self.end,
                'hosts': list(self.hosts),
                'maintenance': [w.to_dict() for w in self.maintenance],
                'moves': [m.to_dict() for m in self.moves]}


@dataclasses.dataclass
class Plan(object):
    """The planner's answer.

    ``feasible`` False: ``message`` says what is missing (``missing`` holds
    the capacity short, when capacity is the reason) and ``unplanned``
    names the hosts the plan could not reach; the waves that could be
    planned are still there.
    """

    feasible: bool
    waves: list
    estimated_duration: float
    lower_bound: float
    message: str = ''
    missing: Resources = None
    warnings: list = dataclasses.field(default_factory=list)
    unplanned: list = dataclasses.field(default_factory=list)
    alternatives: list = dataclasses.field(default_factory=list)

    @property
    def moves(self):
        return [m for wave in self.waves for m in wave.moves]

    @property
    def double_moves(self):
        """Moves onto hosts not yet maintained (the instance moves again)."""
        return sum(1 for m in self.moves if m.again)

    @property
    def moves_per_instance(self):
        """Moves per instance moved (1.0: every instance moves once;
        None when nothing moves)."""
        moves = self.moves
        moved = len({m.instance_id for m in moves})
        return len(moves) / moved if moved else None

    def to_dict(self):
        """JSON-able form (infinite values become None)."""
        return {
            'feasible': self.feasible,
            'message': self.message,
            'missing': self.missing.to_dict() if self.missing else None,
            'warnings': list(self.warnings),
            'unplanned': list(self.unplanned),
            'estimated_duration': _finite(self.estimated_duration),
            'lower_bound': _finite(self.lower_bound),
            'hosts': sum(len(w.hosts) for w in self.waves),
            'moves': len(self.moves),
            'double_moves': self.double_moves,
            'moves_per_instance': self.moves_per_instance,
            'alternatives': [dict(a, estimated_duration=_finite(
                a['estimated_duration']), cost=_finite(a['cost']))
                for a in self.alternatives],
            'waves': [w.to_dict() for w in self.waves],
        }


def _finite(value):
    return None if value is None or math.isinf(value) else value


# --- The planner -----------------------------------------------------------

class _Pool(object):
    """Target hosts sorted by free capacity (best fit on vCPU, then RAM)."""

    def __init__(self):
        self.keys = []
        self.key_of = {}
        self.total = [0, 0, 0]

    def __contains__(self, name):
        return name in self.key_of

    def add(self, name, free):
        key = (free[0], free[1], free[2], name)
        bisect.insort(self.keys, key)
        self.key_of[name] = key
        for i, part in enumerate(_clip(free)):
            self.total[i] += part

    def remove(self, name):
        key = self.key_of.pop(name)
        del self.keys[bisect.bisect_left(self.keys, key)]
        for i, part in enumerate(_clip(key[:3])):
            self.total[i] -= part
        return key[:3]

    def find(self, need, allowed):
        keys = self.keys
        for pos in range(bisect.bisect_left(keys, (need[0],)), len(keys)):
            key = keys[pos]
            if key[1] >= need[1] and key[2] >= need[2] and allowed(key[3]):
                return key[3]
        return None


class _Mv(object):
    """A move being planned."""

    __slots__ = ('iid', 'source', 'target', 'again', 'prio', 'start',
                 'end')

    def __init__(self, iid, source, target, again, prio):
        self.iid = iid
        self.source = source
        self.target = target
        self.again = again
        self.prio = prio
        self.start = None
        self.end = None


class _Wave(object):

    def __init__(self, index, start):
        self.index = index
        self.start = start
        self.hosts = []
        self.moves = []


class _Planner(object):
    """Event-driven list scheduling; see doc/source/planner.rst."""

    def __init__(self, model, extra_cap=None, script=None):
        """``extra_cap``: most moves onto hosts not maintained yet, beyond
        those made while nothing else is in progress (None: no cap).
        ``script``: ``[(host, {instance: target})]`` to follow one host
        at a time instead of choosing (see :class:`_SerialSearch`)."""
        self.m = model
        self.script = list(script) if script is not None else None
        m = model
        self.now = 0
        self.seq = 0
        self.events = []
        self.state = {}
        self.used = {}
        self.gcount = {}
        self.present = {}
        for name, host in m.hosts.items():
            if name in m.todo_set:
                self.state[name] = _PENDING
            elif host.maintainable and host.maintained:
                self.state[name] = _DONE
            else:
                self.state[name] = _FIXED
            self.used[name] = m.usage0[name]
            self.gcount[name] = collections.Counter(
                m.gid[i] for i in m.on_host[name] if m.gid[i])
            self.present[name] = list(m.on_host[name])
        self.pending = set(m.todo)
        # Changes of what is on each host, and the scores computed since.
        self.changed = collections.Counter()
        self.scores = {}
        self.preferred = _Pool()
        self.fallback = _Pool()
        for name in m.hosts:
            if m.target_ok[name]:
                pool = (self.fallback if self.state[name] == _PENDING
                        else self.preferred)
                pool.add(name, self.free(name))
        self.incoming = collections.Counter()
        self.remaining = collections.Counter()
        self.ready = []
        self.down = 0
        self.down_ctrl = 0
        self.in_progress = 0
        self.in_progress_ctrl = 0
        self.windows = {}
        self.waves = []
        self.running = 0
        self.free_q = []
        self.group_q = collections.defaultdict(list)
        self.lead_q = []
        self.heads = []
        self.asleep = {}
        self.oos = collections.defaultdict(list)
        self.fresh = set()
        self.form_needed = True
        self.moves = []
        self.ref = None
        self.search_left = 0
        self.load = collections.Counter()
        # Moves onto hosts not maintained yet, queued or running, and how
        # many of them the migration limit makes worth it.
        self.twice = 0
        self.twice_cap = None
        # Extra moves (onto hosts not maintained yet) this simulation may
        # make beyond those it must (None: any number); how many it made
        # in all and beyond those it had to; whether the cap ever held a
        # host back.
        self.extra_cap = extra_cap
        self.spent = 0
        self.chosen_extra = 0
        self.capped = False
        limit = m.limits.max_concurrent_migrations
        if limit is not None and m.todo and m.dur:
            mean_move = sum(m.dur.values()) / len(m.dur)
            mean_maint = sum(m.maint[h] for h in m.todo) / len(m.todo)
            self.twice_cap = limit * mean_maint / max(mean_move, 1)
        self.per_host = (sum(len(m.on_host[h]) for h in m.todo) /
                         max(len(m.todo), 1))

    # Helpers.

    def free(self, name):
        return _sub(self.m.capacity[name], self.used[name])

    def push(self, when, kind, payload):
        self.seq += 1
        heapq.heappush(self.events, (when, self.seq, kind, payload))

    def pool_of(self, name):
        if name in self.preferred:
            return self.preferred
        if name in self.fallback:
            return self.fallback
        return None

    # Main loop.

    def run(self):
        while True:
            self.release_lead()
            if self.form_needed:
                self.form_needed = False
                self.fresh = set()
                self.form_waves(self.pending)
            elif self.fresh:
                fresh, self.fresh = self.fresh, set()
                self.form_waves(fresh)
            self.start_moves()
            self.start_maintenance()
            if not self.events and self.pending:
                # Stuck: before giving up, search harder for a host to
                # empty than the greedy placement does.
                self.search_left = _SEARCH_TOTAL
                self.form_waves(self.pending, search=True)
                self.start_moves()
                self.start_maintenance()
            if not self.events:
                break
            self.now = self.events[0][0]
            while self.events and self.events[0][0] <= self.now:
                _when, _seq, kind, payload = heapq.heappop(self.events)
                if kind == _EV_MOVE_END:
                    self.move_ended(payload)
                elif kind == _EV_MAINT_END:
                    self.maintenance_ended(payload)
                elif payload is not None:
                    self.wake(payload)

    # Waves.

    def slots(self, controller):
        limit = self.m.limits.max_parallel_hosts
        free = INFINITY if limit is None else limit - self.in_progress
        if controller:
            climit = self.m.limits.max_parallel_controllers
            if climit is not None:
                free = min(free, climit - self.in_progress_ctrl)
        return free

    def score(self, name):
        """(usage relative to the mean host, slowest move off it), kept
        until what is on the host changes (``changed``)."""
        cached = self.scores.get(name)
        if cached is not None and cached[0] == self.changed[name]:
            return cached[1]
        used = self.used[name]
        info = self.m.info
        value = (sum(u / r for u, r in zip(used, self.ref) if r > 0),
                 max([info[i][2] for i in self.present[name]] + [0]))
        self.scores[name] = (self.changed[name], value)
        return value

    def size_key(self, name):
        return (1 if self.present[name] else 0, self.score(name)[0], name)

    def host_key(self, name, rough=False):
        """Cheapest first: empty hosts, then soonest emptied, then least
        used. ``rough`` leaves out the waits for notice and budgets, so it
        never ranks a host later than the full key does."""
        score, slowest = self.score(name)
        present = self.present[name]
        if not present:
            return (0, 0, score, 0, name)
        if rough:
            seconds = slowest
        else:
            seconds = self.emptied_in(name)
        return (1, seconds, score, len(present), name)

    def emptied_in(self, name):
        """Rough seconds until ``name`` could be empty, given the moves
        already queued in each group (rounds of its budget)."""
        now = self.now
        load = self.load
        worst = 0
        seen = {}
        for iid in self.present[name]:
            gid, lead, dur, span, budget = self.m.info[iid]
            wait = lead - now if lead > now else 0
            if budget:
                ahead = load[gid] + seen.get(gid, 0)
                seen[gid] = seen.get(gid, 0) + 1
                wait += (ahead // budget) * span
            if wait + dur > worst:
                worst = wait + dur
        return worst

    def form_waves(self, hosts, search=False):
        """Choose hosts among ``hosts`` to empty now (one new wave).

        A full pass looks at every pending host; between full passes
        (a host came back) free capacity only shrinks, so only hosts that
        became candidates since (their incoming moves ended) are tried.
        Hosts are taken best key first; keys are computed lazily (a rough
        key first, the full one when the host reaches the top, again when
        the wave changed since). ``search``: place by backtracking when the
        greedy placement fails.
        """
        if self.script is not None:
            self.follow_script()
            return
        m = self.m
        slots = self.slots(False)
        if slots <= 0:
            return
        cands = [h for h in hosts
                 if self.state[h] == _PENDING and self.incoming[h] == 0]
        if not cands:
            return
        if self.ref is None:
            caps = [m.capacity[h] for h in m.todo] or [(1, 1, 1)]
            self.ref = tuple(sum(c[i] for c in caps) / len(caps)
                             for i in range(3))
        if slots * _LOOKAHEAD < len(cands):
            cands = heapq.nsmallest(slots * _LOOKAHEAD, cands,
                                    key=self.size_key)
        if self.allowance() <= 0:
            # Maintained room only (the cap on extra moves is used up): a
            # quick look at the total room first.
            fit = [h for h in cands if self.may_fit(h, False)]
            if not self.capped and any(self.may_fit(h) for h in cands
                                       if h not in fit):
                self.capped = True
            cands = fit
        heap = [self.host_key(h, rough=True) for h in cands]
        heapq.heapify(heap)
        stamp = {}
        commits = 0
        wave = None
        while heap and self.slots(False) > 0:
            name = heapq.heappop(heap)[-1]
            if self.incoming[name]:
                continue
            allowance = self.allowance()
            wanted = self.may_move_twice(name)
            twice = wanted and allowance > 0
            # Hosts not maintained yet are no targets when the cap on extra
            # moves is used up; a host that then does not fit was held
            # back by the cap. Free capacity only shrinks while a wave
            # forms: a host that does not fit now will not fit later in
            # this pass.
            if not self.may_fit(name, twice):
                self.capped = self.capped or (wanted != twice and
                                              self.may_fit(name))
                continue
            if stamp.get(name) != commits:
                stamp[name] = commits
                key = self.host_key(name)
                if heap and key > heap[0]:
                    heapq.heappush(heap, key)
                    continue
            controller = m.is_controller(name)
            if self.slots(controller) <= 0:
                continue
            placed = self.place_host(name, twice, search)
            if placed is None:
                self.capped = self.capped or wanted != twice
                continue
            again = sum(1 for _iid, _target, extra in placed if extra)
            if again > allowance:
                # More moves onto hosts not maintained yet than this plan
                # allows: wait for maintained room instead.
                self.unplace(name, placed)
                self.capped = True
                continue
            self.spent += again
            if self.in_progress:
                self.chosen_extra += again
            if wave is None:
                wave = _Wave(len(self.waves), self.now)
                self.waves.append(wave)
            self.commit(name, placed, wave, controller)
            commits += 1

    def follow_script(self):
        """The next host of the script, once nothing is in progress."""
        if self.in_progress or not self.script:
            return
        name, targets = self.script.pop(0)
        if name in self.fallback:
            self.fallback.remove(name)
        placed = []
        for iid in self.present[name]:
            target = targets[iid]
            again = self.state[target] == _PENDING
            self.reserve(iid, target, 1)
            placed.append((iid, target, again))
            self.spent += again
        wave = _Wave(len(self.waves), self.now)
        self.waves.append(wave)
        self.commit(name, placed, wave, self.m.is_controller(name))

    def allowance(self):
        """How many more moves onto hosts not maintained yet (extra moves)
        this plan may make now: any number when nothing else is in
        progress (no maintained room is coming: waiting would never end),
        else what ``extra_cap`` leaves."""
        if not self.in_progress or self.extra_cap is None:
            return INFINITY
        return self.extra_cap - self.chosen_extra

    def may_fit(self, name, twice=True):
        """Whether everything on ``name`` fits in the free capacity of all
        targets taken together (a necessary condition)."""
        have = self.preferred.total
        if twice:
            have = [have[i] + self.fallback.total[i] for i in range(3)]
            if name in self.fallback:
                have = _sub(have, _clip(self.fallback.key_of[name][:3]))
        return _fits(self.used[name], have)

    def may_move_twice(self, name):
        """Whether instances of ``name`` may go to hosts not maintained
        yet (and so move twice).

        Unlimited migrations: yes, parallel hosts matter more. Limited:
        only while the hosts in progress hold fewer instances than the
        migration slots get through during one host maintenance (enough
        to keep them busy once hosts come back), so that slots are not
        spent on moving instances twice. At least one host, or nothing
        would start.
        """
        if self.twice_cap is None or not self.in_progress:
            return True
        return (self.in_progress * self.per_host +
                len(self.present[name]) <= self.twice_cap)

    def place_host(self, name, twice=True, search=False):
        """[(iid, target, again)] for every instance on ``name``, or None.

        Reserves the targets; on failure nothing is left reserved. Hosts
        not maintained yet are targets only if ``twice``. Largest instance
        first, each on the best fitting target; with ``search``, a bounded
        backtracking search when that fails.
        """
        m = self.m
        if not self.may_fit(name, twice):
            return None
        own_free = None
        if name in self.fallback:
            own_free = self.fallback.remove(name)
        order = sorted(self.present[name],
                       key=lambda i: (tuple(-x for x in m.res[i]), i))
        placed = []
        for iid in order:
            target, again = self.find_target(iid, twice)
            if target is None:
                for done_iid, done_target, _again in reversed(placed):
                    self.reserve(done_iid, done_target, -1)
                placed = None
                break
            self.reserve(iid, target, 1)
            placed.append((iid, target, again))
        if placed is None and search and len(order) <= _SEARCH_DEPTH:
            placed = self.search_host(name, twice)
        if placed is None and own_free is not None:
            self.fallback.add(name, own_free)
        return placed

    def unplace(self, name, placed):
        """Undo :meth:`place_host` (``placed`` is what it returned)."""
        for iid, target, _again in reversed(placed):
            self.reserve(iid, target, -1)
        if self.state[name] == _PENDING and self.m.target_ok[name] and \
                name not in self.fallback:
            self.fallback.add(name, self.free(name))

    def allowed_on(self, iid, target):
        m = self.m
        gid = m.gid[iid]
        return (_fits(m.res[iid], self.free(target)) and
                (gid is None or self.gcount[target][gid] < m.per_host[gid]))

    def search_host(self, name, twice):
        """Backtracking placement of everything on ``name``: the most
        constrained instance first, at most ``_SEARCH_WIDTH`` targets each,
        at most ``_SEARCH_BUDGET`` steps. Reserves what it returns."""
        m = self.m
        if self.search_left <= 0:
            return None
        pools = [(self.preferred, False)]
        if twice:
            pools.append((self.fallback, True))
        options = {}
        for iid in self.present[name]:
            found = []
            for pool, again in pools:
                start = bisect.bisect_left(pool.keys, (m.res[iid][0],))
                for key in pool.keys[start:]:
                    if len(found) >= _SEARCH_WIDTH:
                        break
                    if self.allowed_on(iid, key[3]):
                        found.append((key[3], again))
            options[iid] = found
        order = sorted(self.present[name],
                       key=lambda i: (len(options[i]),
                                      tuple(-x for x in m.res[i]), i))
        placed = []
        steps = [0]
        budget = min(_SEARCH_BUDGET, self.search_left)

        def place(depth):
            if depth == len(order):
                return True
            steps[0] += 1
            if steps[0] > budget:
                return False
            iid = order[depth]
            for target, again in options[iid]:
                if not self.allowed_on(iid, target):
                    continue
                self.reserve(iid, target, 1)
                placed.append((iid, target, again))
                if place(depth + 1):
                    return True
                placed.pop()
                self.reserve(iid, target, -1)
            return False

        found = place(0)
        self.search_left -= steps[0]
        return placed if found else None

    def find_target(self, iid, twice=True):
        m = self.m
        need = m.res[iid]
        gid = m.gid[iid]
        if gid is None:
            allowed = _always
        else:
            limit = m.per_host[gid]

            def allowed(host):
                return self.gcount[host][gid] < limit
        target = self.preferred.find(need, allowed)
        if target is not None or not twice:
            return target, False
        target = self.fallback.find(need, allowed)
        return target, target is not None

    def reserve(self, iid, target, sign):
        m = self.m
        self.changed[target] += 1
        pool = self.pool_of(target)
        pool.remove(target)
        _account(m, self.used, self.gcount, iid, target, sign)
        pool.add(target, self.free(target))

    def commit(self, name, placed, wave, controller):
        m = self.m
        self.state[name] = _EMPTYING
        self.pending.discard(name)
        self.in_progress += 1
        if controller:
            self.in_progress_ctrl += 1
        rank = len(wave.hosts)
        wave.hosts.append(name)
        for iid, target, again in placed:
            if again:
                self.twice += 1
            gid = m.gid[iid]
            if gid is not None:
                self.load[gid] += 1
            self.incoming[target] += 1
            self.remaining[name] += 1
            prio = (wave.index, rank, -m.dur[iid], iid)
            mv = _Mv(iid, name, target, again, prio)
            wave.moves.append(mv)
            if m.lead[iid] > self.now:
                heapq.heappush(self.lead_q, (m.lead[iid], prio, mv))
                self.push(m.lead[iid], _EV_WAKE, None)
            else:
                self.enqueue(mv)
        if not placed:
            self.state[name] = _READY
            self.ready.append(name)

    # Moves.

    def release_lead(self):
        while self.lead_q and self.lead_q[0][0] <= self.now:
            self.enqueue(heapq.heappop(self.lead_q)[2])

    def enqueue(self, mv):
        gid = self.m.gid[mv.iid]
        if gid in self.m.bound:
            queue = self.group_q[gid]
            heapq.heappush(queue, (mv.prio, mv))
            if gid not in self.asleep and queue[0][1] is mv:
                heapq.heappush(self.heads, (mv.prio, gid))
        else:
            heapq.heappush(self.free_q, (mv.prio, mv))

    def head(self):
        """(prio, group) of the best queued move of a group not known to
        be held back by its budget, or None. Stale entries are dropped."""
        heads = self.heads
        while heads:
            prio, gid = heads[0]
            queue = self.group_q[gid]
            if gid in self.asleep or not queue or queue[0][0] != prio:
                heapq.heappop(heads)
                continue
            return heads[0]
        return None

    def wake(self, gid):
        when = self.asleep.get(gid)
        if when is not None and when <= self.now:
            del self.asleep[gid]
            queue = self.group_q[gid]
            if queue:
                heapq.heappush(self.heads, (queue[0][0], gid))

    def start_moves(self):
        """List scheduling: start queued moves in priority order while the
        concurrency limit allows; a group whose budget holds its best move
        back sleeps until the budget allows it."""
        limit = self.m.limits.max_concurrent_migrations
        limit = INFINITY if limit is None else limit
        while self.running < limit:
            top_free = self.free_q[0][0] if self.free_q else None
            head = self.head()
            if head is None and top_free is None:
                break
            if head is None or (top_free is not None and
                                top_free < head[0]):
                self.start(heapq.heappop(self.free_q)[1])
                continue
            heapq.heappop(self.heads)
            gid = head[1]
            queue = self.group_q[gid]
            mv = queue[0][1]
            when = self.group_earliest(gid, mv.iid)
            if when > self.now:
                self.asleep[gid] = when
                self.push(when, _EV_WAKE, gid)
                continue
            heapq.heappop(queue)
            self.start(mv)
            if queue:
                heapq.heappush(self.heads, (queue[0][0], gid))

    def group_earliest(self, gid, iid):
        m = self.m
        now = self.now
        spans = [s for s in self.oos[gid] if s[1] > now]
        self.oos[gid] = spans
        off = m.offset(iid)
        length = m.ilen[iid] + m.recovery[gid]
        budget = m.budget[gid]
        if length <= 0 or len(spans) < budget:
            return now
        times = sorted({now} | {end - off for _s, end in spans
                                if end - off > now})
        for when in times:
            if _overlap(spans, when + off, when + off + length) < budget:
                return when
        return max(end for _s, end in spans)

    def start(self, mv):
        m = self.m
        mv.start = self.now
        mv.end = self.now + m.dur[mv.iid]
        gid = m.gid[mv.iid]
        if gid in m.bound:
            length = m.ilen[mv.iid] + m.recovery[gid]
            if length > 0:
                begin = mv.start + m.offset(mv.iid)
                self.oos[gid].append((begin, mv.end + m.recovery[gid]))
        self.running += 1
        self.moves.append(mv)
        self.push(mv.end, _EV_MOVE_END, mv)

    def move_ended(self, mv):
        m = self.m
        iid, source, target = mv.iid, mv.source, mv.target
        self.changed[source] += 1
        self.changed[target] += 1
        self.running -= 1
        if mv.again:
            self.twice -= 1
        self.used[source] = _sub(self.used[source], m.res[iid])
        gid = m.gid[iid]
        if gid is not None:
            self.gcount[source][gid] -= 1
            self.load[gid] -= 1
        self.present[source].remove(iid)
        self.present[target].append(iid)
        self.incoming[target] -= 1
        if self.incoming[target] == 0 and self.state[target] == _PENDING:
            self.fresh.add(target)
        self.remaining[source] -= 1
        if self.remaining[source] == 0 and self.state[source] == _EMPTYING:
            self.state[source] = _READY
            self.ready.append(source)

    # Maintenance.

    def start_maintenance(self):
        m = self.m
        limit = m.limits.max_parallel_hosts
        climit = m.limits.max_parallel_controllers
        waiting = []
        for name in self.ready:
            controller = m.is_controller(name)
            if ((limit is not None and self.down >= limit) or
                    (controller and climit is not None and
                     self.down_ctrl >= climit)):
                waiting.append(name)
                continue
            self.state[name] = _DOWN
            self.down += 1
            if controller:
                self.down_ctrl += 1
            end = self.now + m.maint[name]
            self.windows[name] = (self.now, end)
            self.push(end, _EV_MAINT_END, name)
        self.ready = waiting

    def maintenance_ended(self, name):
        m = self.m
        self.state[name] = _DONE
        self.down -= 1
        self.in_progress -= 1
        if m.is_controller(name):
            self.down_ctrl -= 1
            self.in_progress_ctrl -= 1
        if m.target_ok[name]:
            self.preferred.add(name, self.free(name))
        self.form_needed = True

    # Result.

    def explain(self):
        """(message, missing Resources or None) when stuck."""
        m = self.m
        if self.ref is None:
            self.ref = (1, 1, 1)
        left = sorted(self.pending, key=self.host_key)
        targets = set(h for h in m.hosts if m.target_ok[h] and
                      self.state[h] in (_PENDING, _DONE, _FIXED))
        total = _ZERO
        for target in targets:
            total = _add(total, _clip(self.free(target)))
        best = None
        for name in left:
            have = total
            if name in targets:
                have = _sub(have, _clip(self.free(name)))
            short = _clip(_sub(self.used[name], have))
            score = sum(x / r for x, r in zip(short, self.ref) if r > 0)
            if best is None or score < best[0]:
                best = (score, name, short)
        mitigable = [i for h in left for i in self.present[h]
                     if m.instances[i].resource_mitigation or
                     (m.gid[i] and
                      m.groups[m.gid[i]].resource_mitigation)]
        hint = ''
        if mitigable:
            hint = ('; %d instance(s) on these hosts allow resource '
                    'mitigation (scale in)' % len(mitigable))
        where = ('no host can be emptied' if not self.windows
                 else '%d host(s) cannot be emptied' % len(left))
        _score, name, short = best
        if any(part > 0 for part in short):
            missing = Resources(*short)
            return ('%s: emptying %s needs %s more free capacity on other '
                    'hosts%s' % (where, name, missing.describe(), hint),
                    missing)
        blame = self.blame(name)
        return ('%s: capacity is there but %s%s'
                % (where, blame, hint), None)

    def blame(self, name):
        """Why the instances of ``name`` do not fit although capacity does."""
        m = self.m
        groups = set()
        for iid in self.present[name]:
            need = m.res[iid]
            fits_alone = False
            fits_group = False
            gid = m.gid[iid]
            for target in m.hosts:
                if (target == name or not m.target_ok[target] or
                        self.state[target] not in (_PENDING, _DONE,
                                                   _FIXED)):
                    continue
                if _fits(need, self.free(target)):
                    fits_alone = True
                    if gid is None or (self.gcount[target][gid] <
                                       m.per_host[gid]):
                        fits_group = True
                        break
            if not fits_alone:
                return ('instance %s (%s) fits on no single host while '
                        'emptying %s'
                        % (iid, Resources(*need).describe(), name))
            if not fits_group:
                groups.add(gid)
        if groups:
            return ('anti-affinity / max_instances_per_host of group(s) %s '
                    'leave no host for the members on %s'
                    % (', '.join(sorted(groups)), name))
        return ('the instances on %s do not fit the free capacity together '
                '(fragmentation)' % name)

    def result(self):
        m = self.m
        waves = []
        for wave in self.waves:
            moves = []
            for mv in wave.moves:
                inst = m.instances[mv.iid]
                moves.append(Move(
                    instance_id=mv.iid, source=mv.source, target=mv.target,
                    kind=m.kind[mv.iid], start=mv.start, end=mv.end,
                    interruption_start=mv.start + m.offset(mv.iid),
                    project_id=inst.project_id, group_id=inst.group_id,
                    again=mv.again))
            moves.sort(key=lambda mv: (mv.start, mv.instance_id))
            windows = [HostWindow(h, *self.windows[h]) for h in wave.hosts
                       if h in self.windows]
            end = max([w.end for w in windows] + [mv.end for mv in moves] +
                      [wave.start])
            waves.append(Wave(index=wave.index, start=wave.start, end=end,
                              hosts=list(wave.hosts), maintenance=windows,
                              moves=moves))
        duration = max([w.end for w in waves] + [0])
        warnings = list(m.warnings)
        seen = set()
        for wave in waves:
            for mv in wave.moves:
                warning = m.kind_warning[mv.instance_id]
                if warning and mv.instance_id not in seen:
                    seen.add(mv.instance_id)
                    warnings.append(warning)
        unplanned = [h for h in m.todo if self.state[h] != _DONE]
        bound = bounds.lower_bound_of(m)
        if not unplanned:
            plan = Plan(feasible=True, waves=waves,
                        estimated_duration=duration, lower_bound=bound,
                        message=self.summary(waves, duration),
                        warnings=warnings)
            return plan
        message, missing = self.explain()
        return Plan(feasible=False, waves=waves, estimated_duration=INFINITY,
                    lower_bound=bound, message=message, missing=missing,
                    warnings=warnings, unplanned=unplanned)

    def summary(self, waves, duration):
        hosts = sum(len(w.hosts) for w in waves)
        moves = sum(len(w.moves) for w in waves)
        extra = sum(1 for w in waves for mv in w.moves if mv.again)
        return ('%d host(s) in %d wave(s), %d move(s)%s, about %ss'
                % (hosts, len(waves), moves,
                   ' (%d onto hosts not maintained yet)' % extra
                   if extra else '', _num(duration)))

    def finished(self):
        """Whether every host to maintain was maintained."""
        return all(self.state[h] == _DONE for h in self.m.todo)

    def makespan(self):
        """When the last move or maintenance ends (inf: not finished)."""
        if not self.finished():
            return INFINITY
        return max([end for _start, end in self.windows.values()] +
                   [mv.end for mv in self.moves] + [0])

    def extra_seconds(self):
        """Seconds of the second moves the extra moves cause."""
        dur = self.m.dur
        return sum(dur[mv.iid] for mv in self.moves if mv.again)

    def extra_cost(self):
        """What the second moves cost the session, in seconds: each its
        duration times its share of a host's maintenance (at most 1).
        Moves much shorter than a maintenance run by the dozen inside the
        windows that set the session's length, so a second one delays it
        little; a move as long as a maintenance or longer delays it by
        about its duration."""
        m = self.m
        window = (sum(m.maint[h] for h in m.todo) / len(m.todo)
                  if m.todo else 0)
        total = 0
        for mv in self.moves:
            if mv.again:
                d = m.dur[mv.iid]
                total += d if d >= window else d * d / window
        return total


def _always(_name):
    return True


def _overlap(spans, begin, end):
    """Most of ``spans`` covering one point of ``[begin, end)``."""
    points = [begin] + [s for s, _e in spans if begin < s < end]
    best = 0
    for point in points:
        count = sum(1 for s, e in spans if s <= point < e)
        best = max(best, count)
    return best


def plan_maintenance(topology, move_weight=MOVE_WEIGHT):
    """Plan the maintenance of ``topology``; returns a :class:`Plan`.

    Moving an instance onto a host not maintained yet (an *extra* move:
    it moves again when that host is emptied) lets more hosts be emptied
    at once while few are maintained, but moves the instance twice. The
    planner simulates the session with caps on the extra moves (none
    beyond those it must make, then one, two, three, four, six, eight...
    hosts' worth, see :func:`_next_cap`), looks between the two caps
    around the best plan for the smallest cap that plans as well
    (:func:`_refine`), searches an order of one host at a time when that
    could cost less (:class:`_SerialSearch`), and keeps the candidate of
    least cost (:func:`_key`: ``estimated_duration + move_weight * seconds
    of the second moves``, then fewer moves) that
    :func:`fenix.workflow.plan_check.validate` finds no fault in.
    ``move_weight`` 0 gives the fastest plan (with the fewest moves the
    search finds for it), ``math.inf`` the fewest moves (then the
    fastest). The plans compared are in :attr:`Plan.alternatives`.

    Raises ValueError only for inconsistent input (unknown host, negative
    time...); a cloud without room gives a plan with ``feasible`` False.
    """
    if move_weight is None or move_weight < 0:
        raise ValueError('move_weight must be a number >= 0')
    model = _Model(topology)
    tried = []

    def run(cap, script=None):
        if script is not None:
            sim = _Planner(model, script=script)
            sim.run()
        else:
            sim = _simulate(model, cap)
        entry = (cap, sim, _key(sim, move_weight))
        tried.append(entry)
        return entry

    step = max(1, math.ceil(model.per_host_moves()))
    _sweep(model, move_weight, step, run)
    best = min(tried, key=_rank)
    if best[2][0] and tried[-1][0] is not None and tried[-1][1].capped:
        # No capped plan reaches every host: the uncapped one may.
        best = min(best, run(None), key=_rank)
    if not best[2][0]:
        best = _refine(best, tried, step, run)
    if best[2][0] or _serial_may_win(model, best[2], move_weight):
        # Greedy simulations paint themselves into a corner now and then,
        # and never plan one host at a time: search such an order.
        script = _SerialSearch(model).order()
        if script is not None:
            best = min(best, run(SERIAL, script), key=_rank)
    chosen, plan, checked = _checked(tried, topology)
    if chosen[0] == SERIAL and plan.feasible:
        plan.warnings.append(
            'no parallel plan found: hosts are maintained one at a time, '
            'in an order found by search' if best[2][0] else
            'hosts are maintained one at a time, in an order found by '
            'search: it costs less than every parallel plan found')
    plan.alternatives = [
        {'extra_move_cap': cap, 'feasible': sim.finished(),
         'estimated_duration': sim.makespan(), 'moves': len(sim.moves),
         'double_moves': sim.spent, 'cost': key[1],
         'violations': checked.get(id(sim)),
         'chosen': sim is chosen[1]}
        for cap, sim, key in tried]
    return plan


# The name of the candidate planned one host at a time (in
# Plan.alternatives, as its extra_move_cap).
SERIAL = 'one host at a time'


def _sweep(model, weight, step, run):
    """Simulate with growing caps on extra moves, ``step`` (a host's worth
    of instances) times 0, 1, 2, 3, 4, 6, 8... (see
    :func:`plan_maintenance`); ``run(cap)`` simulates and records."""
    best = None
    worse = 0
    # Without a weight, the fastest plan: no cap (refined afterwards).
    cap = 0 if weight else None
    for _n in range(_MAX_PLANS if weight else 1):
        entry = run(cap)
        if best is None or _rank(entry) < _rank(best):
            best = entry
            worse = 0
        elif entry[2][:2] > best[2][:2]:
            # Costs are not quite convex in the cap: stop at the second
            # plan in a row worse than the best.
            worse += 1
            if worse == 2:
                break
        if math.isinf(weight) and not entry[2][0]:
            # More extra moves cannot cost less.
            break
        if not entry[1].capped:
            # The cap held nothing back: larger ones plan the same.
            break
        cap = _next_cap(cap, step)


def _refine(best, tried, step, run):
    """Between the cap of ``best`` and the largest smaller cap tried, the
    smallest cap that plans at least as well (bisection in whole hosts'
    worth of ``step`` instances, at most :data:`_REFINE` simulations): the
    sweep's caps grow by half each time, and the plan a cap allows may
    make many more extra moves than its makespan needs (1000-instance
    scale cloud: the uncapped plan moved 840 instances twice, a cap of
    160 gave the same makespan)."""
    cap = best[0]
    high = best[1].chosen_extra if cap is None else cap
    lower = [c for c, _sim, _key in tried
             if isinstance(c, int) and c < high]
    low = max(lower) if lower else -step
    for _n in range(_REFINE):
        units = (high - low) // step
        if units < 2:
            break
        mid = low + (units // 2) * step
        entry = run(mid)
        if _rank(entry) <= _rank(best):
            best, high = entry, mid
        else:
            low = mid
    return best


def _serial_may_win(model, key, weight):
    """Whether a plan of one host at a time could rank before ``key``:
    it lasts at least the sum of the maintenance windows, so with a
    finite weight it cannot when that alone costs more."""
    if math.isinf(weight):
        return key[1] > 0
    return sum(model.maint[h] for h in model.todo) <= key[1]


def _checked(tried, topology):
    """(entry, plan, {id(simulation): violations}): the best ranked
    candidate whose plan :func:`plan_check.validate` finds no fault in
    (the planner and the validator are written apart: a fault of one is
    caught by the other). When every feasible plan has a fault, the best
    one, with the faults in its warnings; when none is feasible, the best
    ranked."""
    checked = {}
    faulty = None
    for entry in sorted(tried, key=_rank):
        if entry[2][0]:
            # Ranked after every feasible one: none is left.
            break
        plan = entry[1].result()
        problems = plan_check.validate(plan, topology)
        checked[id(entry[1])] = len(problems)
        if not problems:
            return entry, plan, checked
        if faulty is None:
            plan.warnings.extend('plan check: %s' % p for p in problems)
            faulty = (entry, plan)
    if faulty is None:
        entry = min(tried, key=_rank)
        faulty = (entry, entry[1].result())
    return faulty + (checked,)


class _OutOfWork(Exception):
    """A bounded search used up its work."""


class _SerialSearch(object):
    """Depth-first search for an order of the hosts to maintain, one at a
    time, with a target for every instance of each: the hosts that
    receive are any schedulable compute but the one being emptied
    (maintained ones and those outside the session first, best fit).
    Hosts with the fewest instances are tried first (an empty host is
    not always best maintained first: a host not maintained yet can hold
    instances for a while).
    Targets that differ only by name are tried once per instance, states
    already found to lead nowhere are not searched again, and the search
    stops after :data:`_SERIAL_WORK` (instances looked at).

    Feasibility of a one-host-at-a-time order does not depend on time
    (notices, budgets, durations), so this is exact on small clouds.
    """

    def __init__(self, model):
        m = model
        self.m = m
        self.present = {h: list(m.on_host[h]) for h in m.hosts}
        self.used = dict(m.usage0)
        self.gcount = {h: collections.Counter(
            m.gid[i] for i in m.on_host[h] if m.gid[i]) for h in m.hosts}
        self.targets = [h for h in m.hosts if m.target_ok[h]]
        self.work = _SERIAL_WORK
        self.size = max(1, len(m.instances))
        self.failed = set()

    def order(self):
        """``[(host, {instance: target})]`` or None."""
        if self.hopeless():
            return None
        try:
            return self._search(list(self.m.todo))
        except _OutOfWork:
            return None

    def hopeless(self):
        """Quick proofs that no order exists: fewer than one host can be
        down at once (:func:`max_hosts_down`), or an instance on a host to
        maintain fits on no other host even empty."""
        m = self.m
        if math.isinf(bounds.lower_bound_of(m)):
            return True
        for name in m.todo:
            for iid in m.on_host[name]:
                if not any(_fits(m.res[iid], m.capacity[t])
                           for t in self.targets if t != name):
                    return True
        return False

    def _spend(self, amount):
        self.work -= amount
        if self.work < 0:
            raise _OutOfWork()

    def _search(self, left):
        if not left:
            return []
        self._spend(self.size)
        key = (frozenset(left), frozenset(
            (h, tuple(sorted(self.present[h]))) for h in self.m.hosts))
        if key in self.failed:
            return None
        todo = set(left)
        for name in sorted(left, key=lambda h: (len(self.present[h]), h)):
            for moves in self._placements(name, todo):
                rest = self._search([h for h in left if h != name])
                if rest is not None:
                    # Leave the state as found (the placement generator
                    # is not resumed).
                    self._apply(name, moves, -1)
                    return [(name, moves)] + rest
        self.failed.add(key)
        return None

    def _apply(self, name, moves, sign):
        """Move (``sign`` 1) or move back (-1) the instances of
        ``moves``."""
        m = self.m
        for iid, target in moves.items():
            src, dst = (name, target) if sign > 0 else (target, name)
            self.present[src].remove(iid)
            self.present[dst].append(iid)
            self.used[src] = _sub(self.used[src], m.res[iid])
            self.used[dst] = _add(self.used[dst], m.res[iid])
            gid = m.gid[iid]
            if gid is not None:
                self.gcount[src][gid] -= 1
                self.gcount[dst][gid] += 1

    def _placements(self, name, todo):
        """Every placement of the instances on ``name`` (applied while
        yielded: the caller searches on, then undoes it)."""
        m = self.m
        order = sorted(self.present[name],
                       key=lambda i: (tuple(-x for x in m.res[i]), i))
        targets = [t for t in self.targets if t != name]
        placed = {}
        extra = collections.defaultdict(list)

        def signature(target):
            # Hosts maintained later carry what lands there into their
            # own emptying; the others only their free room and groups.
            later = target in todo
            groups = tuple(sorted((g, n) for g, n in
                                  self.gcount[target].items() if n))
            if later:
                content = tuple(sorted(
                    (m.res[i], m.gid[i] or '')
                    for i in self.present[target] + extra[target]))
                return (True, m.capacity[target], content, groups)
            return (False, _sub(m.capacity[target], self.used[target]),
                    groups)

        def fit_key(target):
            free = _sub(m.capacity[target], self.used[target])
            return (target in todo, free, target)

        def allowed(iid, target):
            gid = m.gid[iid]
            return (_fits(m.res[iid], _sub(m.capacity[target],
                                           self.used[target])) and
                    (gid is None or self.gcount[target][gid] <
                     m.per_host[gid]))

        def place(depth):
            if depth == len(order):
                moves = dict(placed)
                # The state holds the reservations; make them moves.
                for iid, target in moves.items():
                    self._reserve(iid, target, -1)
                self._apply(name, moves, 1)
                yield moves
                self._apply(name, moves, -1)
                for iid, target in moves.items():
                    self._reserve(iid, target, 1)
                return
            self._spend(len(targets))
            iid = order[depth]
            seen = set()
            for target in sorted(targets, key=fit_key):
                if not allowed(iid, target):
                    continue
                sig = signature(target)
                if sig in seen:
                    continue
                seen.add(sig)
                self._reserve(iid, target, 1)
                extra[target].append(iid)
                placed[iid] = target
                yield from place(depth + 1)
                del placed[iid]
                extra[target].pop()
                self._reserve(iid, target, -1)

        return place(0)

    def _reserve(self, iid, target, sign):
        _account(self.m, self.used, self.gcount, iid, target, sign)


def _account(m, used, gcount, iid, target, sign):
    """Count (``sign`` 1) or uncount (-1) instance ``iid`` on ``target``
    in ``used`` (resources per host) and ``gcount`` (group members per
    host)."""
    if sign > 0:
        used[target] = _add(used[target], m.res[iid])
    else:
        used[target] = _sub(used[target], m.res[iid])
    gid = m.gid[iid]
    if gid is not None:
        gcount[target][gid] += sign


def _next_cap(cap, step):
    """0, then 1, 2, 3, 4, 6, 8, 12, 16, 24... times ``step``: about 1.4
    times the one before, so that few simulations cover any size."""
    units = cap // step
    if units < 4:
        return (units + 1) * step
    high = 1 << (units.bit_length() - 1)
    return (high * 3 // 2 if units == high else high * 2) * step


def _simulate(model, extra_cap):
    planner = _Planner(model, extra_cap)
    planner.run()
    return planner


def _key(sim, weight):
    """What :func:`plan_maintenance` minimises: (not finished, cost,
    then fewer moves, then sooner). The cost is ``estimated_duration +
    weight * what the second moves cost`` (:meth:`_Planner.extra_cost`);
    with an infinite weight the seconds of the second moves, then the
    duration."""
    if not sim.finished():
        return (1, INFINITY, INFINITY, INFINITY)
    span = sim.makespan()
    if math.isinf(weight):
        return (0, sim.extra_seconds(), span, len(sim.moves))
    extra = sim.extra_cost()
    return (0, span + (weight * extra if extra else 0), len(sim.moves),
            span)


def _rank(entry):
    """Sort key of a ``(cap, simulation, key)`` candidate (ties: the
    order tried)."""
    return entry[2]
