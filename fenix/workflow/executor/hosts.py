# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The hosts of an :class:`~fenix.workflow.executor.Executor`: starts (in the
plan's order, as many at once as the waves and ``max_parallel_hosts``
allow, each once its instances fit), the disabling of nova-compute by a
worker, maintenance (the host's plug-ins) once a host is empty, a NACK's or
an admin's skip.

A host's state in the executor is ``hstate[hostname]`` (``common.H_*``);
its instances to move are ``jobs[hostname]``.
"""
from oslo_config import cfg
from oslo_log import log as logging

from fenix.common import exception
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.workflow.executor import common
from fenix.workflow import session_flow as flow
from fenix.workflow import steps as plan_steps

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# Steps of a host that its emptying may leave PENDING: skipped once the
# host is empty, so that its maintenance becomes ready.
UNNEEDED_KINDS = plan_steps.MOVE_KINDS + plan_steps.NOTIFY_KINDS


class HostsMixin(object):
    """Host starts and ends: which host starts next, disabling it,
    taking it down once empty, skipping or deferring it."""

    def _in_progress(self):
        return [h for h in self.started
                if self.hstate.get(h) in (common.H_STARTING,
                                          common.H_EMPTYING, common.H_DOWN)]

    def _targeted(self, hostname):
        return bool(self.reserved.get(hostname))

    def _start_hosts(self):
        progress = self._in_progress()
        pending = self._pending()
        if not pending:
            return
        while self._resume:
            name = self._resume.pop(0)
            if self.hstate.get(name) == common.H_PENDING and \
                    self.wf.may_start(name):
                self._try_start(name, resume=True)
        progress = self._in_progress()
        # Hosts of earlier waves first; a later host may start only when
        # every earlier one has.
        for name in pending:
            if self.hstate.get(name) != common.H_PENDING:
                continue
            if not self.wf.may_start(name) or not self._disable_ready(name):
                continue
            if self.max_hosts and len(progress) >= self.max_hosts:
                return
            if len(self.starts) >= common.START_WORKERS * 2:
                # Enough being started: the next pass starts more (events
                # and moves are not queued behind host starts).
                return
            # A host that did not fit is tried again only once something
            # changed (room freed, a host done, the groups re-read).
            if self.tried.get(name) == self.epoch or \
                    not self._try_start(name):
                self.tried[name] = self.epoch
                if progress:
                    return
                # Nothing in progress and the head does not fit: try the
                # others rather than stop.
                continue
            progress.append(name)

    def _pending(self):
        """The hosts still pending, in the plan's order: worked out again
        only when a host's state changed (``hstate`` is
        :class:`common.Stamped`), not on every pass."""
        key = (self.hstate, self.hstate.stamp, self.order, len(self.order))
        cached = getattr(self, '_pending_cache', None)
        if cached is None or cached[0][0] is not key[0] or \
                cached[0][1] != key[1] or cached[0][2] is not key[2] or \
                cached[0][3] != key[3]:
            cached = (key, [h for h in self.order
                            if self.hstate.get(h) == common.H_PENDING])
            self._pending_cache = cached
        return cached[1]

    def _try_start(self, hostname, resume=False):
        """Start emptying ``hostname`` if all its instances fit now."""
        if self._targeted(hostname):
            return False
        on_host = [self.servers[i] for i in self.on_host.get(hostname, ())
                   if i in self.servers]
        if not resume:
            # The model first: a host whose instances do not fit now is
            # not worth a read of Nova.
            if self._place_all(hostname, on_host, keep=False) is None:
                return False
            # Nova is the truth for what is on the host.
            on_host = self.wf.cloud.servers(host=hostname)
            for srv in on_host:
                self._set_server(srv)
        placed = self._place_all(hostname, on_host)
        if placed is None:
            return False
        jobs = {}
        for srv in on_host:
            job = common.Job(srv['id'], srv, hostname)
            if srv['id'] in placed:
                job.target = placed[srv['id']]
                self.reserved.setdefault(job.target, []).append(srv['id'])
            else:
                # Being deleted: wait until it is gone.
                job.phase = common.OWN
                job.action = 'deleted'
                job.deadline = timeutils.after(
                    CONF.workflow.own_action_timeout)
            jobs[srv['id']] = job
        self.jobs[hostname] = jobs
        self.started.append(hostname)
        self.rechecked = False
        if resume:
            self._begin_host(hostname, jobs)
            self._resume_jobs(hostname, jobs)
            self.hstate[hostname] = common.H_EMPTYING
            return True
        # Disabling the service and the rows are a worker's (many hosts
        # start at once); the jobs are stepped once it is done.
        self.hstate[hostname] = common.H_STARTING
        future = self.spool.submit(self._begin_host, hostname, jobs)
        future.add_done_callback(self._completed)
        self.starts[future] = hostname
        return True

    def _place_all(self, hostname, on_host, keep=True):
        """{iid: target} for every live instance of ``on_host`` (counted
        in the usage when ``keep``), or None when one fits nowhere."""
        used, gcount = self._usage()
        good, later = self._targets()
        later = [h for h in later if h != hostname]
        busy_free = not self._in_progress()
        placed = {}
        for srv in sorted(on_host, key=lambda s: self._size(s['id']),
                          reverse=True):
            if not flow.alive(srv):
                continue
            # A host not yet maintained is a target only where the plan
            # says so, or when nothing else is under way.
            move = self.planned.get((srv['id'], hostname)) or {}
            allowed = later if (move.get('again') or busy_free) else []
            target = self._place(srv['id'], used, gcount, good, allowed)
            if target is None:
                break
            placed[srv['id']] = target
            self._count(used, gcount, target, srv['id'], 1)
        else:
            if keep:
                return placed
        for iid, placed_on in placed.items():
            self._count(used, gcount, placed_on, iid, -1)
        return None if len(placed) < sum(
            1 for srv in on_host if flow.alive(srv)) else placed

    def _begin_host(self, hostname, jobs):
        """Disable the host, then record it, its EMPTYING state, its
        disable step and the start decision in one transaction: its
        instances' events wait for this, and each write was a commit of
        its own before (four trips through the database's one writer
        between the start and the events, now two)."""
        wf = self.wf
        row = wf._host(hostname)
        disabled = wf._disable(row, deferred=True)
        with wf.transaction():
            if disabled:
                wf.record(st.EVENT_HOST, disabled, host=hostname)
            db_api.host_update(self.sid, hostname, {
                'state': st.HOST_EMPTYING,
                'started_at': row['started_at'] or timeutils.utcnow()})
            wf.mark_step(st.STEP_DISABLE_COMPUTE, hostname, None, 'done')
            wf._decision(
                'host %s (wave %s) started: %s' % (
                    hostname, self.wave_of.get(hostname),
                    '; '.join('%s -> %s' % (j.iid, j.target or '-')
                              for j in list(jobs.values())) or
                    'already empty'),
                host=hostname)

    def _started(self, future, hostname):
        """A host's start (its disabling, its rows) is done: its jobs are
        stepped from now on; a failed start fails the run."""
        try:
            future.result()
        except Exception as e:  # noqa - a failed start fails the run
            LOG.exception('Starting %s failed', hostname)
            self.failures.append('could not start host %s: %s'
                                 % (hostname, e))
            for job in self.jobs.get(hostname, {}).values():
                self._unreserve(job)
                job.phase = common.DONE
            self.hstate[hostname] = common.H_DONE
            return
        self.hstate[hostname] = common.H_EMPTYING
        # Read the computes' state again before its first move: at the
        # end of this pass, once its events went out (they need none of
        # it, and its first move is a reply later).
        self.refresh_after_step = True
        self.refresh_hosts.add(hostname)

    def _host_emptied(self, hostname):
        """Once every job of ``hostname`` is done: a worker asks Nova
        whether the host is empty (:meth:`_check_empty`), not the loop,
        whose passes (the replies' moves among them) would wait for it."""
        jobs = self.jobs.get(hostname, {})
        if any(j.phase != common.DONE for j in jobs.values()):
            return
        if not self.wf.may_start(hostname):
            # No host goes down while a pause or its skip is requested.
            return
        jobs.clear()
        if hostname in self.skip:
            return self._skip_host(hostname)
        self.hstate[hostname] = common.H_DOWN
        future = self.hpool.submit(self.wf.cloud.servers, host=hostname)
        future.add_done_callback(self._completed)
        self.downs[future] = hostname
        self.checks.add(future)

    def _checked(self, future, hostname):
        """Nova answered what is left on ``hostname`` (see
        :meth:`_host_emptied`): it goes down when empty; what came in
        before it was disabled is moved too."""
        try:
            left = future.result()
        except Exception as e:  # noqa - reported as the session's error
            LOG.warning('Reading the servers of %s failed: %s', hostname, e)
            self.failures.append('could not read the servers of %s: %s'
                                 % (hostname, e))
            self.hstate[hostname] = common.H_DONE
            return
        self.hstate[hostname] = common.H_EMPTYING
        if not left and (not self.wf.may_start(hostname) or
                         hostname in self.skip):
            # A pause or a skip came meanwhile: the next pass sees to it.
            return
        if left:
            # Something came in before the host was disabled: move it too.
            jobs = self.jobs.setdefault(hostname, {})
            for srv in left:
                self._set_server(srv)
                used, gcount = self._usage()
                good, later = self._targets()
                job = common.Job(srv['id'], srv, hostname)
                job.target = self._place(srv['id'], used, gcount, good,
                                         later, avoid=hostname)
                if job.target:
                    self.reserved.setdefault(job.target, []).append(
                        srv['id'])
                    self._count(used, gcount, job.target, srv['id'], 1)
                jobs[srv['id']] = job
            return
        if not self._maintain_ready(hostname):
            return
        self.hstate[hostname] = common.H_DOWN
        # Nova said it is empty just now: not asked again.
        future = self.hpool.submit(self._maintain, hostname, checked=True)
        future.add_done_callback(self._completed)
        self.downs[future] = hostname

    def _disable_ready(self, hostname):
        """The host's disable_compute step (the first of its steps) is
        ready, or the plan has none PENDING (a host the plan left out, a
        host resumed)."""
        book = self.wf.steps
        row = book.get(st.STEP_DISABLE_COMPUTE, hostname)
        return row is None or row['state'] != st.STEP_PENDING or \
            book.is_ready(st.STEP_DISABLE_COMPUTE, hostname)

    def _maintain_ready(self, hostname):
        """Whether the empty ``hostname`` may go down: its maintain_host
        step is ready (every step it depends on DONE or SKIPPED).

        Its events and moves the run did not need (an instance that left
        or went before its turn, an event a project without a manager
        never got) are skipped here, in one write. A step still not over
        after that (running or failed with nothing of the host in flight)
        fails the run rather than leave the host waiting for good.
        """
        book = self.wf.steps
        maintain = book.get(st.STEP_MAINTAIN_HOST, hostname)
        if maintain is None or maintain['state'] != st.STEP_PENDING:
            return True
        unneeded = [s for s in book.host_steps(hostname)
                    if s['state'] == st.STEP_PENDING and
                    s['kind'] in UNNEEDED_KINDS]
        if unneeded:
            with self.wf.transaction():
                book.skip_pending(unneeded, 'not needed: %s was emptied '
                                  'without it' % hostname)
        waiting = book.waiting_on(book.get(st.STEP_MAINTAIN_HOST, hostname))
        if not waiting:
            return True
        self.failures.append(
            'host %s is empty but its maintenance waits for step(s) %s'
            % (hostname, ', '.join('%s %s (%s)' % (
                s.get('kind'), s['id'], s['state']) for s in waiting)))
        self.hstate[hostname] = common.H_DONE
        return False

    def _skip_requested(self):
        """Hosts an admin asked to skip: their pending jobs are cancelled
        (no event, no move); once nothing of a host is in flight (moves
        from it, its start or its maintenance) it is skipped."""
        skips = self.wf.skip_requests()
        if not skips:
            return
        starting = set(self.starts.values())
        going_down = set(self.downs.values())
        for hostname in sorted(skips):
            jobs = self.jobs.get(hostname) or {}
            for job in jobs.values():
                if job.phase in (common.WAIT_SLOT, common.NOTIFIED,
                                 common.READY, common.OWN):
                    self._unreserve(job)
                    self._release(job.iid, recover=False)
                    job.phase = common.DONE
            if hostname in starting or hostname in going_down or any(
                    j.phase in (common.NOTIFYING, common.MOVING)
                    for j in jobs.values()):
                continue
            self.wf.skip_host(hostname, skips[hostname])
            self.jobs.pop(hostname, None)
            if hostname in self.hstate:
                self.hstate[hostname] = common.H_DONE
                # SKIPPED: no target (see _targets), though done here.
                self.session_hosts[hostname] = self.wf._host(hostname)

    def _skip_host(self, hostname):
        wf = self.wf
        wf._defer_or_skip(hostname, self.skip.pop(hostname))
        row = wf._host(hostname)
        # A SKIPPED row is no target (see _targets), though done here.
        self.session_hosts[hostname] = row
        if row['state'] != st.HOST_SKIPPED:
            # Deferred: start again after the others.
            self.order.remove(hostname)
            self.order.append(hostname)
            self._pending_cache = None
            self.hstate[hostname] = common.H_PENDING
        else:
            self.hstate[hostname] = common.H_DONE
        if row['disabled_by_fenix']:
            wf.cloud.enable_compute(hostname)
            db_api.host_update(self.sid, hostname,
                               {'disabled_by_fenix': False})
            self.services_at = float('-inf')
        if row['state'] != st.HOST_SKIPPED:
            db_api.host_update(self.sid, hostname,
                               {'state': st.HOST_PENDING})
        self.jobs.pop(hostname, None)

    def _maintain(self, hostname, checked=False):
        """In a worker: the host's maintenance. ``checked``: Nova was
        asked whether it is empty right before (:meth:`_checked`)."""
        wf = self.wf
        if not checked and wf._occupied(hostname):
            raise exception.WorkflowError(
                reason='host %s is not empty: not maintained' % hostname)
        wf._maintain(wf._host(hostname))

    def _maintained(self, future, hostname):
        try:
            future.result()
        except Exception as e:  # noqa - reported as the session's error
            # (an interruption by the engine stopping the session does
            # not come here: see Executor._collect)
            LOG.warning('Maintenance of %s failed: %s', hostname, e)
            self.failures.append(str(e))
            self.hstate[hostname] = common.H_DONE
            return
        self.hstate[hostname] = common.H_DONE
        self.any_maintained = True
        self.jobs.pop(hostname, None)
        # Enabled again: a target from the next pass on (_targets reads
        # the computes' state: its compute is read again before it, see
        # UsageMixin._refresh_constraints).
        self.constraints_at = 0
        self.enabled_hosts.add(hostname)
