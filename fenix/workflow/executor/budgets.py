# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The group budgets (``max_impacted_members``, ``recovery_time``) of an
:class:`~fenix.workflow.executor.Executor`.

A member holds its group's budget from its event until ``recovery_time``
after its move (``holders``, then ``recovering``); members other live
sessions move, or moved less than ``recovery_time`` ago, count too
(``elsewhere``, read at most every ``CONSTRAINTS_REFRESH`` seconds), and
so do the sessions waiting for a slot ahead of this one (first come,
first served: a member held back by others takes its session's place in
its group's queue).
That is the plan's view (who gets an event); right before a member is
moved or left to its manager's own action, a slot of its group's budget
is taken in the database for the whole deployment (``shared``,
:mod:`fenix.workflow.shared_budget`): when other sessions hold every
slot, the member waits. A member of an anti-affinity group Nova does not
know has its peers outside the session read before its move
(``_peers_elsewhere``).
"""
import time

from oslo_config import cfg

from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.workflow.executor import common
from fenix.workflow import model
from fenix.workflow import shared_budget

CONF = cfg.CONF


class BudgetsMixin(object):
    """The budgets of the instance groups: who holds one, who recovers,
    and what other live sessions impact."""

    def _expire(self):
        now = time.monotonic()
        for gid, items in list(self.recovering.items()):
            keep = [(until, iid) for until, iid in items if until > now]
            if keep:
                self.recovering[gid] = keep
            else:
                del self.recovering[gid]

    def _slot_free(self, iid):
        group = self._group(iid)
        if group is None:
            return True
        used = len(self.holders.get(group.group_id, ())) + \
            len(self.recovering.get(group.group_id, ()))
        if used >= max(1, group.max_impacted_members):
            return False
        used += self._impacted_elsewhere().get(group.group_id, 0)
        if used < max(1, group.max_impacted_members):
            return True
        # Held back by other sessions: it waits in turn (the session's
        # place in the group's queue, first come, first served).
        self.shared.queue(iid, group)
        return False

    def _keep_place(self, job):
        """A member told of its move that waited in its group's queue
        keeps its session's place there until it takes its slot."""
        if job.iid in self.shared.waiting:
            self.shared.queue(job.iid, self._group(job.iid))

    def _impacted_elsewhere(self):
        """{group_id: members} that other live sessions are moving, or
        moved less than the group's ``recovery_time`` ago: a group's
        budget is shared by every session at once. Read from the
        database at most every CONSTRAINTS_REFRESH seconds, and only
        while a member waits for its budget.

        Bounded: a move recorded in progress for longer than ``[workflow]
        migration_timeout`` (its session fails it, or its engine is gone)
        holds no budget here, so no session waits for another for good.
        """
        now = time.monotonic()
        if self.elsewhere_at is not None and \
                now - self.elsewhere_at < common.CONSTRAINTS_REFRESH:
            return self.elsewhere
        self.elsewhere_at = now
        utcnow = timeutils.utcnow()
        longest = max([g.recovery_time for g in self.groups.values()] + [0])
        counts = {}
        for row in db_api.instances_moving_elsewhere(
                self.sid, timeutils.after(-longest - 1, utcnow)):
            group = self._group(row['instance_id'])
            if group is None:
                continue
            # A database may keep whole seconds: a second more of
            # recovery, never less.
            recovery = group.recovery_time + 1 if group.recovery_time else 0
            if row['action_state'] == st.ACTION_DONE and \
                    timeutils.after(recovery,
                                    row['updated_at'] or utcnow) <= utcnow:
                continue
            if row['action_state'] == st.ACTION_IN_PROGRESS and \
                    timeutils.after(CONF.workflow.migration_timeout,
                                    row['updated_at'] or utcnow) <= utcnow:
                continue
            counts[group.group_id] = counts.get(group.group_id, 0) + 1
        # The slots other sessions took in the database (the same moves,
        # and their own actions), and the places of those that wait for
        # one ahead of this session: the larger count of the two.
        for gid, n in db_api.group_impacts_held(
                list(self.groups), exclude_session=self.sid,
                waiting=True).items():
            counts[gid] = max(counts.get(gid, 0), n)
        self.elsewhere = counts
        return counts

    def _take_shared(self, job):
        """Right before ``job`` starts impacting its instance (a move, an
        own action): a slot of its group's budget, taken in the database
        for the whole deployment (:mod:`fenix.workflow.shared_budget`).
        False: the slot is held by other sessions; the job waits (tried
        again in a later pass). A move resumed after a restart is under
        way already: its slot is renewed, or recorded over the budget."""
        group = self._group(job.iid)
        if group is None:
            return True
        lease = shared_budget.own_lease() \
            if job.action == st.OWN_ACTION else shared_budget.move_lease()
        return self.shared.take(job.iid, group, lease=lease,
                                force=bool(job.resume))

    def _may_take_shared(self, job):
        """Whether ``job``'s move may try its group's slot now (no query:
        see :meth:`fenix.workflow.shared_budget.SharedBudgets.may_try`);
        its worker takes it (:meth:`_take_shared_here`)."""
        return self.shared.may_try(job.iid, self._group(job.iid),
                                   force=bool(job.resume))

    def _take_shared_here(self, job, group):
        """In a move's worker, inside the transaction that records the
        move's start: ``job``'s slot of ``group``'s budget (None: no
        group). Returns ``(ok, seconds)`` as
        :func:`fenix.db.api.group_impact_take`."""
        if group is None:
            return True, None
        return self.shared.take_here(job.iid, group,
                                     lease=shared_budget.move_lease(),
                                     force=bool(job.resume))

    def _hold(self, iid):
        group = self._group(iid)
        if group is not None:
            self.holders.setdefault(group.group_id, set()).add(iid)

    def _release(self, iid, recover=True):
        self.shared.release(iid, recover=recover)
        for gid, iids in self.holders.items():
            if iid in iids:
                iids.discard(iid)
                group = self.groups.get(gid)
                rt = group.recovery_time if group else 0
                if recover and rt > 0:
                    self.recovering.setdefault(gid, []).append(
                        (time.monotonic() + rt, iid))
                return

    def _peers_elsewhere(self, iid):
        """The peers of ``iid`` in an anti-affinity group that Nova does
        not keep apart (a group of Fenix's constraints, not a Nova server
        group of that policy) that the model has outside this session's
        hosts: another session or an operator may have moved them since
        the model read them, so the move reads them before Nova is asked
        (:meth:`fenix.common.cloud.Cloud.move`, ``apart_from``). The peers
        on this session's hosts are moved by this session only."""
        group = self._group(iid)
        if group is None or not group.anti_affinity or \
                group.policy == model.ANTI_AFFINITY:
            return ()
        cached = getattr(self, '_members_of', None)
        if cached is None or cached[0] is not self.constraints or \
                cached[1] is not self.member_of:
            members = {}
            for i, gid in self.member_of.items():
                members.setdefault(gid, set()).add(i)
            for i, c in self.constraints.items():
                if c.get('group_id'):
                    members.setdefault(c['group_id'], set()).add(i)
            cached = (self.constraints, self.member_of, members)
            self._members_of = cached
        return tuple(sorted(
            p for p in cached[2].get(group.group_id, ())
            if p != iid and (self.servers.get(p) or {}).get('host')
            not in self.session_hosts))
