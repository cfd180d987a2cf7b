# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The coordinator of the ``nfv`` executor: its workers, the completion queue
and the passes (:class:`Executor`).

A pass collects what the workers finished, re-reads the constraints when
due, honours skips, starts hosts (:mod:`.hosts`), steps every job of the
hosts being emptied through its event (:mod:`.events`) and its move
(:mod:`.moves`), takes empty hosts down, and fails the run when nothing in
flight can make progress any more. What it keeps of the cloud and the
budgets is in :mod:`.usage` and :mod:`.budgets`; where a restarted run
starts from, in :mod:`.resume`.
"""
import collections
import concurrent.futures
import threading
import time

from oslo_config import cfg

from fenix.common import exception
from fenix.common import fencing
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.workflow.executor import budgets
from fenix.workflow.executor import common
from fenix.workflow.executor import events
from fenix.workflow.executor import hosts
from fenix.workflow.executor import moves
from fenix.workflow.executor import resume
from fenix.workflow.executor import usage
from fenix.workflow import session_flow as flow
from fenix.workflow import shared_budget

CONF = cfg.CONF


class Executor(usage.UsageMixin, budgets.BudgetsMixin, hosts.HostsMixin,
               events.EventsMixin, moves.MovesMixin, resume.ResumeMixin):
    """Runs the plan of one session, adaptively (see
    :mod:`fenix.workflow.executor`)."""

    def __init__(self, wf):
        self.wf = wf
        self.sid = wf.session_id
        self.options = wf.options
        self.max_hosts = int(self.options.get('max_parallel_hosts') or 0)
        self.max_moves = int(self.options.get('max_concurrent_migrations')
                             or 0)
        self.cancelled = threading.Event()
        self.failures = []
        self.moves = {}        # future -> job
        self.downs = {}        # future -> hostname
        # The futures of self.downs that only ask Nova whether the host
        # is empty (HostsMixin._host_emptied).
        self.checks = set()
        self.starts = {}       # future -> hostname (being disabled)
        self.notes = {}        # future -> [jobs] (events being sent)
        self.jobs = {}         # hostname -> {iid: job}
        self.hstate = {}       # hostname -> H_*
        self.started = []      # hostnames in the order they were started
        self.holders = {}      # gid -> set of iids holding its budget
        self.recovering = {}   # gid -> [(until, iid)]
        # gid -> members other live sessions impact (read every
        # CONSTRAINTS_REFRESH while a member waits for its budget).
        self.elsewhere = {}
        self.elsewhere_at = None
        # The slots of the groups' budgets taken in the database (shared
        # by every session and engine) for the members this run impacts.
        self.shared = shared_budget.SharedBudgets(wf)
        self.own_checked = 0
        self.constraints_at = 0
        # Read the constraints and computes again right after this pass's
        # step (a host started: see HostsMixin._started).
        self.refresh_after_step = False
        # The hosts started since: their computes are what that read is
        # for (UsageMixin._refresh_constraints).
        self.refresh_hosts = set()
        # Hosts maintained (enabled again) since the computes were read.
        self.enabled_hosts = set()
        self.last_pass = 0
        self.projects = None
        # Bumped whenever room, a group's count or a host's state may have
        # changed: a host that did not fit is tried again only then.
        self.epoch = 0
        self.tried = {}        # hostname -> epoch of its failed start
        self.group_key = None  # what the group counts were made from
        self.reply_mark = None  # reply wake-ups when the rows were read
        self.rows_read_at = 0.0  # when every waiting row was (monotonic)
        self.rows = {}
        self.new_notified = set()   # iids resumed NOTIFIED, rows not read
        # Replies (wake-ups) to jobs whose events were being sent.
        self.early_replies = set()
        self.to_notify = []    # jobs told in this pass (sent at its end)
        self.n_ready = self.n_own = 0
        # Futures of the workers, as they complete (the completion queue:
        # a pass looks at what finished, not at everything in flight).
        self.completed = collections.deque()

    # --- the loop ------------------------------------------------------------
    def run(self):
        self._resume = []
        self.skip = {}
        self.resync = False
        self.rechecked = False
        self.down_since = {}   # hostname -> when its compute was seen down
        self.gave_up = set()
        # Where the session stands is in its steps, as the database has
        # them now (another engine may have run it).
        self.wf.steps.reload()
        self._load_model()
        self._load_hosts()
        workers = self.max_moves or 64
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix='nfv-move-%s' % self.sid[:8],
            initializer=fencing.inherit())
        self.hpool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, self.max_hosts or 64),
            thread_name_prefix='nfv-host-%s' % self.sid[:8],
            initializer=fencing.inherit())
        self.npool = concurrent.futures.ThreadPoolExecutor(
            max_workers=common.NOTIFY_WORKERS,
            thread_name_prefix='nfv-event-%s' % self.sid[:8],
            initializer=fencing.inherit())
        self.spool = concurrent.futures.ThreadPoolExecutor(
            max_workers=common.START_WORKERS,
            thread_name_prefix='nfv-start-%s' % self.sid[:8],
            initializer=fencing.inherit())
        for name, state in list(self.hstate.items()):
            if state == common.H_DOWN:
                future = self.hpool.submit(self._maintain, name)
                future.add_done_callback(self._completed)
                self.downs[future] = name
                self.started.append(name)
        try:
            self._loop()
        finally:
            self.cancelled.set()
            self.spool.shutdown(wait=True)
            self.npool.shutdown(wait=True)
            self.pool.shutdown(wait=True)
            self.hpool.shutdown(wait=True)
            # Places left in the groups' queues (no member waits: none).
            self.shared.leave()
        if self.failures:
            raise exception.WorkflowError(reason='; '.join(self.failures))

    def _in_flight(self):
        """Anything handed to a worker and not collected yet."""
        return bool(self.moves or self.downs or self.notes or self.starts)

    def _completed(self, future):
        """A worker's future is done (in the worker's thread): queue it
        and wake the loop."""
        self.completed.append(future)
        self.wf._wake(future)

    def _collect(self):
        done = []
        while self.completed:
            done.append(self.completed.popleft())
        if not done:
            return
        interrupted = None
        if self.wf.stopping():
            # The engine stops the session (shutdown, delete): a worker
            # that failed now was interrupted, it did not fail its step
            # (a host stays IN_MAINTENANCE, a move RUNNING, for the next
            # engine to resume from the rows). What ended well is still
            # taken in; the interruption is raised after it.
            failed = [f for f in done if f.exception() is not None]
            if failed:
                interrupted = failed[0].exception()
                done = [f for f in done if f not in failed]
                for future in failed:
                    for pending in (self.starts, self.notes, self.moves,
                                    self.downs):
                        pending.pop(future, None)
                    self.checks.discard(future)
        # Room or hosts may have changed: hosts that did not fit may be
        # tried again.
        self.epoch += 1
        for future in [f for f in done if f in self.starts]:
            self._started(future, self.starts.pop(future))
        for future in [f for f in done if f in self.notes]:
            self._sent(future, self.notes.pop(future))
        for future in [f for f in done if f in self.moves]:
            self._move_finished(future, self.moves.pop(future))
        for future in [f for f in done if f in self.downs]:
            if future in self.checks:
                self.checks.discard(future)
                self._checked(future, self.downs.pop(future))
            else:
                self._maintained(future, self.downs.pop(future))
        if interrupted is not None:
            raise interrupted

    def _loop(self):
        wf = self.wf
        poll = CONF.workflow.nova_poll_interval
        while True:
            # Wake-ups during the pass (replies, moves ending) end the
            # wait below at once.
            mark = wf.runner.mark()
            self._collect()
            if self.failures:
                # Let what runs finish (bounded by the move time-outs),
                # start nothing new.
                if not self._in_flight():
                    return
                wf.runner.wait(poll, since=mark)
                continue
            if wf.held():
                # A pause: the same, then give way (HoldRequested); the
                # next run resumes from the rows.
                if not self._in_flight():
                    wf.safe_point()
                wf.runner.wait(poll, since=mark)
                continue
            # Bursts of wake-ups (moves ending together, replies) are
            # handled in one pass: at most one pass per MIN_PASS seconds.
            since = time.monotonic() - self.last_pass
            if since < common.MIN_PASS:
                time.sleep(common.MIN_PASS - since)
            self.last_pass = time.monotonic()
            self._collect()
            self._prune_started()
            refreshed = self._refresh_constraints()
            self._expire()
            if self.resync:
                self.resync = False
                self.servers.update({s['id']: s for s in wf.cloud.servers()
                                     if flow.alive(s)})
                self._recount()
            if refreshed or self.projects is None:
                # Whether each project has a manager (all a pass and a
                # move's outcome read of them).
                self.projects = {p['project_id']: p
                                 for p in db_api.project_managers(self.sid)}
            self._skip_requested()
            self._start_hosts()
            wake_at = self._step()
            if self.refresh_after_step:
                self.refresh_after_step = False
                hosts, self.refresh_hosts = self.refresh_hosts, set()
                self._refresh_constraints(force=True, hosts=hosts)
            for hostname in list(self.started):
                if self.hstate.get(hostname) == common.H_EMPTYING:
                    self._host_emptied(hostname)
            self._collect()
            # (What is in flight first: a scan of every host only then.)
            if not (self.moves or self.downs or self.notes or
                    self.starts) and \
                    all(self.hstate.get(h) == common.H_DONE
                        for h in self.hstate):
                return
            if self._stalled():
                continue
            wait = common.IDLE_WAIT if wake_at is None else \
                min(common.IDLE_WAIT, wake_at)
            if self.n_own:
                wait = min(wait, max(poll, common.OWN_POLL))
            if self.recovering:
                soonest = min(u for items in self.recovering.values()
                              for u, _i in items) - time.monotonic()
                wait = min(wait, soonest)
            if self.n_ready:
                wait = min(wait, poll)
            wf.runner.wait(max(wait, 0.01), since=mark)

    def _prune_started(self):
        """Hosts done (or deferred, pending again) leave ``started``: every
        reader looks only at the hosts being started, emptied or
        maintained, and a pass's scans of the list (four of them) then
        cost what is in flight, not every host maintained so far."""
        active = (common.H_STARTING, common.H_EMPTYING, common.H_DOWN)
        if any(self.hstate.get(h) not in active for h in self.started):
            self.started = [h for h in self.started
                            if self.hstate.get(h) in active]

    def _stalled(self):
        """Whether nothing in flight can make progress any more: the
        model is read again once (returns True: pass again), then the
        run fails. Returns False while progress is possible."""
        # Matters only when nothing is in flight.
        open_jobs = [] if self.moves or self.downs else [
            j for jobs in self.jobs.values()
            for j in jobs.values() if j.phase != common.DONE]
        homeless = [j for j in open_jobs
                    if j.phase == common.READY and j.target is None]
        if homeless and not self.moves and not self.downs and \
                not self.recovering and not self.elsewhere and \
                all(j.phase == common.WAIT_SLOT or
                    (j.phase == common.READY and j.target is None)
                    for j in open_jobs):
            # Nothing in flight can free room or a group's budget: the
            # members without a target hold their budgets for good and
            # the others wait for them.
            if not self.rechecked:
                self.rechecked = True
                self._reload_cloud()
                return True
            raise exception.WorkflowError(
                reason='instance(s) %s fit on no available host any '
                       'more%s' % (
                           ', '.join(sorted(j.iid for j in homeless)),
                           '; %s wait(s) for their group\'s budget '
                           'held by them' % ', '.join(sorted(
                               j.iid for j in open_jobs
                               if j.phase == common.WAIT_SLOT))
                           if len(homeless) < len(open_jobs) else ''))
        if not self.moves and not self.downs and not open_jobs and \
                not self._in_progress():
            stuck = [h for h in self.order
                     if self.hstate.get(h) == common.H_PENDING]
            if stuck and not self.rechecked:
                # The model may lag behind Nova (a server that just
                # moved or went): read Nova again and try once more
                # before calling the session stuck.
                self.rechecked = True
                self._reload_cloud()
                return True
            if stuck:
                raise exception.WorkflowError(
                    reason='no instance of host(s) %s fits on the hosts '
                           'available (%s); free capacity or scale in, '
                           'then continue the session'
                           % (', '.join(stuck), ', '.join(
                               sum(self._targets(), [])) or 'none'))
        return False

    def _step(self):
        """Advance every job; returns seconds until the next deadline."""
        now = timeutils.utcnow()
        soonest = None
        emptying = [h for h in self.started
                    if self.hstate.get(h) == common.H_EMPTYING]
        self._read_rows(emptying)
        n_ready = n_own = 0
        used = gcount = None
        own_due = time.monotonic() - self.own_checked >= common.OWN_POLL
        if own_due:
            self.own_checked = time.monotonic()
        for hostname in emptying:
            if self.hstate.get(hostname) != common.H_EMPTYING:
                continue
            jobs = self.jobs[hostname]
            for iid in [i for i, j in jobs.items() if j.phase == common.DONE]:
                del jobs[iid]
            may_start = self.wf.may_start(hostname)
            for job in list(jobs.values()):
                if job.phase == common.WAIT_SLOT and may_start and \
                        self._slot_free(job.iid):
                    self._notify(job)
                if job.phase == common.NOTIFIED:
                    left = self._on_notified(job, now)
                    if left is not None:
                        soonest = left if soonest is None else \
                            min(soonest, left)
                        continue
                    if job.phase != common.READY:
                        continue
                if job.phase == common.READY and job.action is None:
                    job.action = self._decide(job, None)
                if job.phase == common.READY:
                    if job.action == st.OWN_ACTION:
                        if self._take_shared(job):
                            self._start_own(job, hostname)
                        continue
                    if self.max_moves and len(self.moves) >= self.max_moves:
                        continue
                    if not may_start or self._source_down(hostname):
                        continue
                    # The slot of its group's budget is taken by the
                    # move's worker, with the move's start (one
                    # transaction); a group refused lately waits here.
                    if not self._may_take_shared(job):
                        continue
                    if used is None:
                        used, gcount = self._usage()
                        good, later = self._targets()
                        usable = set(good).union(later)
                    if not self._start_move(job, used, gcount, good, later,
                                            usable):
                        # No target now: its slot is not kept meanwhile.
                        self.shared.release(job.iid, recover=False)
                elif job.phase == common.OWN and own_due:
                    self._check_own(job)
                if job.phase == common.READY:
                    n_ready += 1
                elif job.phase == common.OWN:
                    n_own += 1
        self.n_ready, self.n_own = n_ready, n_own
        self._send_notes()
        return soonest
