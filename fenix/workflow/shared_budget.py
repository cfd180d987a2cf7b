# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Group budgets across the whole deployment.

A group's ``max_impacted_members`` (and its ``recovery_time``) hold for
every session at once, whichever engine runs it: right before a session
starts impacting a member (a move, an own action) it takes a slot of the
group's budget in the database (:func:`fenix.db.api.group_impact_take`,
atomic: a unique key), and it releases it when the member is no longer
impacted (the slot is then held ``recovery_time`` more). A member whose
group has no slot free waits: its move is not started, and the slot is
asked again at most every :data:`RETRY` seconds (or when the soonest
slot frees by itself); the wait is bounded, as every slot is (released
when its move ends, freed when its session ends or fails, and given up
after a lease: a dead engine's slots block nobody for good).

The sessions waiting for a group's slot are served in turn, first
come, first served in the database's order (one place per session and
group in a queue of rows, :func:`fenix.db.api.group_impact_take`), not
by who asks first once a slot frees: a session that asks more often (a
shorter retry, an engine that polls faster) does not pass one that
waited longer. A place holds while the session asks again within
:func:`wait_lease` seconds (10 by default) and is live and not taken
over; a waiter that is gone (its engine died, its runner was fenced or
stopped asking) blocks the others that long at most. Nobody waiting,
nothing of the queue is read or written beyond the one read a take
always made.

Each policy keeps its own view of the budgets for its plan (the
executor's holders and recovering members, the serial policy's
:class:`fenix.workflow.serial.Budgets`); this is the check before
acting.
"""
import time

from oslo_config import cfg
from oslo_log import log as logging

from fenix.common import exception
from fenix.db import api as db_api

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# Longest time between two tries of a slot that was not free.
RETRY = 1.0
# Seconds added to a slot's lease beyond the longest its impact may last.
LEASE_MARGIN = 60
# Seconds a waiter keeps its place in its group's queue without asking
# again (at least; longer with a slower nova_poll_interval, see
# wait_lease).
WAIT_LEASE = 10.0


def wait_lease():
    """Seconds a waiter's place holds after each ask: :data:`WAIT_LEASE`,
    or three of the executor's polls (``[workflow] nova_poll_interval``,
    how often a waiting member asks again) when that is longer. The
    bound on how long a waiter that is gone blocks the others."""
    return max(WAIT_LEASE, 3 * max(RETRY, CONF.workflow.nova_poll_interval))


def move_lease():
    """Seconds a move's slot holds without a release: every target it
    may try, each bounded by ``[workflow] migration_timeout``."""
    return (CONF.workflow.migration_timeout *
            (CONF.workflow.migration_retries + 1) + LEASE_MARGIN)


def own_lease():
    """Seconds an own action's slot holds without a release."""
    return CONF.workflow.own_action_timeout + LEASE_MARGIN


class SharedBudgets(object):
    """The slots one runner of a session holds, taken and released in the
    database.

    :param wf: the workflow (its session id; :meth:`_decision` records
        a member waiting for another session once).
    """

    def __init__(self, wf):
        self.wf = wf
        self.sid = wf.session_id
        self.held = {}        # iid -> (group_id, recovery_time)
        self.retry_at = {}    # group_id -> monotonic time of next try
        self.noted = set()    # iids whose wait was recorded
        self.waiting = {}     # iid -> group_id it waits for a slot of
        self.queued_at = {}   # group_id -> monotonic time of last ask

    def holds(self, iid):
        return iid in self.held

    def take(self, iid, group, lease=None, force=False):
        """A slot of ``group``'s budget for ``iid``: True when taken (or
        renewed), False when the member must wait. ``group``: None (no
        group: always True) or a :class:`fenix.workflow.model.Group`.
        ``force``: the impact is under way already (a move resumed after
        a restart, an own action the manager started): recorded over
        the budget if need be."""
        if group is None:
            return True
        if not self.may_try(iid, group, force=force):
            return False
        ok, after = self.take_here(iid, group, lease=lease, force=force)
        if ok:
            self.taken(iid, group)
            return True
        self.refused(iid, group, after)
        return False

    def may_try(self, iid, group, force=False):
        """Whether a take of ``group``'s slot for ``iid`` may go to the
        database now (no query): a group refused lately is asked again
        only once its retry time passed (unless ``iid`` holds its slot
        already, or ``force``)."""
        if group is None or force or iid in self.held:
            return True
        return self.retry_at.get(group.group_id, 0) <= time.monotonic()

    def take_here(self, iid, group, lease=None, force=False):
        """The database part of :meth:`take`, in the caller's transaction
        (a move worker's: the slot and the move's start are written
        together, or neither is). Changes nothing in this object (the
        caller may be a worker thread): the runner reports the outcome
        with :meth:`taken` or :meth:`refused`. Returns ``(ok, seconds
        until the soonest slot frees or None)``."""
        return db_api.group_impact_take(
            group.group_id, group.max_impacted_members, self.sid, iid,
            lease if lease is not None else move_lease(), force=force,
            wait_lease=wait_lease())

    def taken(self, iid, group):
        """``iid`` holds a slot of ``group``'s budget (committed)."""
        self.held[iid] = (group.group_id, group.recovery_time or 0)
        self.retry_at.pop(group.group_id, None)
        self.queued_at.pop(group.group_id, None)
        self.waiting.pop(iid, None)

    def refused(self, iid, group, after):
        """No slot of ``group``'s budget for ``iid``: the group is asked
        again after ``after`` seconds (at least 10 ms, at most
        :data:`RETRY`); the wait is recorded once."""
        gid = group.group_id
        wait = RETRY if after is None else min(RETRY, max(after, 0.01))
        self.retry_at[gid] = time.monotonic() + wait
        self.queued_at[gid] = time.monotonic()
        self.waiting[iid] = gid
        if iid not in self.noted:
            self.noted.add(iid)
            self.wf._decision(
                'instance %s waits: its group %s has %d member(s) impacted '
                'already across the sessions (max_impacted_members, '
                'recovery_time included)' % (
                    iid, gid, max(1, group.max_impacted_members or 1)),
                instance_id=iid)

    def queue(self, iid, group):
        """``iid`` waits for a slot of ``group`` before it asks for one
        (the policy holds it back while other sessions hold the group's
        slots, or wait ahead: ``group_impacts_held(waiting=True)``), or
        keeps waiting (told of its move, not started yet): the session's
        place in the group's queue is taken, or renewed, in the database
        at most once per :data:`RETRY` seconds and group. A failure to
        write is logged: the member still asks for its slot later."""
        if group is None:
            return
        gid = group.group_id
        self.waiting[iid] = gid
        now = time.monotonic()
        if gid in self.queued_at and now - self.queued_at[gid] < RETRY:
            return
        self.queued_at[gid] = now
        try:
            db_api.group_impact_queue(gid, self.sid, iid, wait_lease())
        except exception.SessionFenced:
            raise
        except Exception as e:  # noqa - a place is a matter of turns only
            LOG.warning('Session %s: the place of %s in the queue of group '
                        '%s was not written (%s)', self.sid, iid, gid, e)

    def release_here(self, iid, group, recover=True):
        """The database part of :meth:`release`, in the caller's
        transaction (a move worker's, the one that records the move's
        end): ``iid``'s slot of ``group`` holds the group's
        ``recovery_time`` more (``recover``), else is freed at once.
        Errors are the caller's (its transaction fails as a whole); the
        runner then calls :meth:`forgotten`."""
        db_api.group_impact_release(
            self.sid, iid, (group.recovery_time or 0) if recover else 0)

    def forgotten(self, iid):
        """``iid``'s slot was released in the database already
        (:meth:`release_here`): no longer held here."""
        held = self.held.pop(iid, None)
        if held is not None:
            self.noted.discard(iid)
            self.retry_at.pop(held[0], None)

    def release(self, iid, recover=True):
        """``iid`` is no longer impacted: its slot holds its group's
        ``recovery_time`` more (``recover``), else it is free at once.
        A failure to write is logged: the slot's lease frees it. A member
        that waited for a slot instead no longer does: the session's
        place in its group's queue is given up when no other member
        waits there (a later ask is at the back)."""
        held = self.held.pop(iid, None)
        if held is None:
            if iid in self.waiting:
                self.leave([iid])
            return
        gid, recovery = held
        self.noted.discard(iid)
        self.retry_at.pop(gid, None)
        try:
            db_api.group_impact_release(self.sid, iid,
                                        recovery if recover else 0)
        except exception.SessionFenced:
            # The new owner of the session renewed it (or will).
            pass
        except Exception as e:  # noqa - the lease frees the slot
            LOG.warning('Session %s: releasing the slot of %s in group %s '
                        'failed (%s); its lease frees it', self.sid, iid,
                        gid, e)

    def leave(self, iids=None):
        """``iids`` (or every member that waited) no longer wait for a
        slot: the session's places in the queues of the groups where no
        other member of it waits are given up (one statement; none when
        no member waited). A failure is logged: the places expire by
        themselves (:func:`wait_lease`)."""
        gone = {i: self.waiting.pop(i) for i in
                (list(self.waiting) if iids is None else iids)
                if i in self.waiting}
        self.noted -= set(gone)
        groups = set(gone.values()) - set(self.waiting.values())
        if not groups:
            return
        for gid in groups:
            self.queued_at.pop(gid, None)
        try:
            db_api.group_impact_leave(self.sid, sorted(groups))
        except exception.SessionFenced:
            pass
        except Exception as e:  # noqa - the places expire by themselves
            LOG.warning('Session %s: leaving the queues of groups %s failed '
                        '(%s); the places expire by themselves', self.sid,
                        sorted(groups), e)

    def release_all(self, recover=True):
        for iid in list(self.held):
            self.release(iid, recover=recover)
        self.leave()
