# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What every part of the ``nfv`` executor shares: its tunables, the phases
of an instance to move, the states of a host, :class:`Job` and
:class:`Stamped`."""
import itertools
# Seconds between re-reads of the constraints while executing.
CONSTRAINTS_REFRESH = 1.0
# Seconds between listings of the compute services while every source
# compute is up. A target another session (or an operator) disabled
# since, or that has no room, refuses its move at once (Nova's "No valid
# host"): the move is placed again by the model at once and the target's
# service read then (MovesMixin._target_unusable), so nothing waits on this
# listing. While a source compute is down it is read every
# CONSTRAINTS_REFRESH seconds (its moves wait for it), and once after a
# host starts.
SERVICES_REFRESH = 10.0
# Seconds after a constraint's change during which the constraints are
# read whole on every refresh (see UsageMixin._constraints_known).
CONSTRAINTS_SETTLE = 3.0
# Seconds between checks of OWN_ACTION instances and of host emptiness.
OWN_POLL = 0.5
# Longest sleep of the executor when nothing is due (moves, replies,
# constraint changes and host maintenance ends wake it at once).
IDLE_WAIT = 2.0
# Shortest time between two passes of the executor over its jobs (what a
# reply waits for at most before its move is placed; a burst of wake-ups
# within it is one pass). 5 ms against 20: reply -> move start p50 31 ->
# 20 ms, p99 68-84 -> 50-59 ms in the makespan benchmark, CPU per
# migration within the noise (tools/bench/README.rst).
MIN_PASS = 0.005
# A started host's nova-compute is read by itself (one short listing per
# host) rather than with every compute's when the cloud has more than this
# many computes per host started in the pass: what a host start reads then
# does not grow with the cloud.
SERVICES_PER_HOST_READ = 20
# Workers sending per-instance events.
NOTIFY_WORKERS = 8
# Most instance events written in one transaction (and sent in one
# request) by a worker: the events of a pass go in batches of this many.
NOTIFY_BATCH = 50
# Hosts being started (disabled, their rows written) at once, by their own
# workers: instance events and moves are never queued behind host starts.
START_WORKERS = 4

# What EventsMixin._decide returns for a host to put off
# (silent_own_action).
SKIP_HOST = 'skip_host'
# What a move's worker returns when its target failed and another may be
# tried (MovesMixin._may_retarget).
RETARGET = 'retarget'
# A move's worker found no slot of its group's budget free (nothing of
# the move was recorded): the job waits, as for any refused slot.
NO_SLOT = 'no_slot'
# Why a target was refused before Nova was asked: a peer of the
# instance's anti-affinity group is on it now (Cloud.move's apart_from).
PEER_ON_TARGET = 'peer_on_target'

# Phases of one instance to move.
WAIT_SLOT = 'wait_slot'
NOTIFYING = 'notifying'
NOTIFIED = 'notified'
READY = 'ready'
MOVING = 'moving'
OWN = 'own'
DONE = 'done'

# Hosts in the executor.
H_PENDING = 'pending'
H_STARTING = 'starting'    # chosen: being disabled, jobs not yet stepped
H_EMPTYING = 'emptying'
H_DOWN = 'down'
H_DONE = 'done'


_STAMPS = itertools.count(1)


class Stamped(dict):
    """A dict that says when it changed: ``stamp`` is a new number (unique
    across every Stamped) after each write that changes a value (a value
    written again equal is no change), and ``dirty`` holds the keys
    changed since its one reader (:meth:`UsageMixin._targets
    <fenix.workflow.executor.usage.UsageMixin._targets>`) cleared it. The
    executor's models (host states, compute services, the session's host
    rows) are Stamped so that what is derived from them (the targets, the
    hosts still pending) is worked out again only when they changed, not
    on every pass: a pass then costs what changed, not every host."""

    def __init__(self, *args, **kwargs):
        super(Stamped, self).__init__(*args, **kwargs)
        self.dirty = set(self)
        self.stamp = next(_STAMPS)

    def _changed(self, key):
        self.dirty.add(key)
        self.stamp = next(_STAMPS)

    def __setitem__(self, key, value):
        if key in self and self[key] == value:
            return
        super(Stamped, self).__setitem__(key, value)
        self._changed(key)

    def __delitem__(self, key):
        super(Stamped, self).__delitem__(key)
        self._changed(key)

    def pop(self, key, *default):
        if key in self:
            self._changed(key)
        return super(Stamped, self).pop(key, *default)

    def setdefault(self, key, value=None):
        if key not in self:
            self[key] = value
        return self[key]

    def update(self, *args, **kwargs):
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def popitem(self):
        key, value = super(Stamped, self).popitem()
        self._changed(key)
        return key, value

    def clear(self):
        self.dirty.update(self)
        super(Stamped, self).clear()
        self.stamp = next(_STAMPS)


def stamped(value):
    """``value`` as a :class:`Stamped` (itself when it is one)."""
    return value if isinstance(value, Stamped) else Stamped(value or {})


class Job(object):
    """One instance to take off an emptying host."""

    def __init__(self, iid, server, host):
        self.iid = iid
        self.server = server
        self.host = host
        self.phase = WAIT_SLOT
        self.target = None
        self.kind = None
        self.action = None
        self.notified = None
        self.reply_at = None
        self.act_at = None
        self.deadline = None
        self.resume = False
        self.event = None
        # Seconds its manager has to answer its event.
        self.window = None
        # Targets a move of this instance failed to reach.
        self.failed_targets = set()
        # Targets that refused it at once (disabled, down, full): each
        # is placed again without a retry on the same target.
        self.refusals = 0
        # The id of the event sent for it: only a reply to that counts.
        self.event_id = None
        # Set by a move's worker: its group's slot was taken with the
        # move's start (committed), released with the move's end.
        self.slot_taken = False
        self.slot_released = False
        # Peers of its anti-affinity group that another session or an
        # operator may move (read before Nova is asked to move it).
        self.apart_from = ()

    @property
    def project_id(self):
        return self.server.get('project_id')
