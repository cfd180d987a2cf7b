# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The moves of an :class:`~fenix.workflow.executor.Executor`.

A move goes to the model's target only (never Nova's choice: it could take
room reserved for another instance); a worker records it (row, history, its
move step), asks Nova and records the outcome; a target that failed is
replaced by another of the model's (at most ``[workflow]
migration_retries``). A target that refused the move at once (disabled,
down or full: Nova's "No valid host", see
:func:`fenix.common.cloud.target_refused`) is not asked again: its
compute's state is read, the model marks it unusable (disabled or down:
for every move; full: for this instance) and the move is placed again at
once, without counting as a retry. An instance its manager moves
(OWN_ACTION) or that is
being deleted is watched every ``OWN_POLL`` seconds, at most ``[workflow]
own_action_timeout``.
"""
import concurrent.futures

from oslo_config import cfg
from oslo_db import exception as db_exc
from oslo_log import log as logging

from fenix.common import exception
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.workflow.executor import common

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


class MovesMixin(object):
    """Moves: started by a worker to the model's target, waited for,
    their outcome recorded; OWN_ACTION and deleted instances watched."""

    def _start_own(self, job, hostname):
        """``job``'s manager moves it (OWN_ACTION): recorded, then watched
        (:meth:`_check_own`) until ``[workflow] own_action_timeout``."""
        job.phase = common.OWN
        job.deadline = timeutils.after(CONF.workflow.own_action_timeout)
        with self.wf.transaction():
            db_api.instance_update(self.sid, job.iid, {
                'action': st.OWN_ACTION,
                'action_state': st.ACTION_IN_PROGRESS,
                'details': dict(
                    (self.rows.get(job.iid) or {}).get('details') or {},
                    move_from=hostname)})
            self._mark_move(job, 'start')

    def _start_move(self, job, used, gcount, good, later, usable=None):
        # The target must still be right (an own action or a new server
        # may have taken its room or broken a group's placement).
        # ``usable``: good and later as a set (the caller's, made once
        # for all the moves of its pass).
        if usable is None:
            usable = set(good).union(later)
        if job.target:
            self._count(used, gcount, job.target, job.iid, -1)
        if not job.target or job.target not in usable or \
                not self._fits(job.iid, job.target, used, gcount):
            new = self._place(job.iid, used, gcount, good, later,
                              avoid={job.host} | job.failed_targets)
            if job.target and job.iid in self.reserved.get(job.target, ()):
                self.reserved[job.target].remove(job.iid)
            if new is None:
                job.target = None
                return False
            job.target = new
            self.reserved.setdefault(new, []).append(job.iid)
        self._count(used, gcount, job.target, job.iid, 1)
        job.apart_from = self._peers_elsewhere(job.iid)
        details = dict((self.rows.get(job.iid) or {}).get('details') or {},
                       move_from=job.host)
        values = {'action': job.action, 'details': details,
                  'action_state': st.ACTION_IN_PROGRESS}
        if not job.resume:
            values.update(action_message=None, action_attempts=0)
        row = dict(self.rows.get(job.iid) or {
            'instance_id': job.iid, 'project_id': job.project_id,
            'instance_name': job.server.get('name'), 'action_attempts': 0},
            **values)
        job.phase = common.MOVING
        # The rows, the move and its INSTANCE_ACTION_DONE are the worker's:
        # the loop is not held up by the database and HTTP of many moves.
        # So is the slot of its group's budget (taken with the move's
        # start, released with its end: no transaction of its own).
        future = self.pool.submit(self._run_move, job, row, values,
                                  self._group(job.iid))
        future.add_done_callback(self._completed)
        self.moves[future] = job
        return True

    def _run_move(self, job, row, values, group=None):
        """In a worker: record the move (with the slot of its ``group``'s
        budget, in one transaction), run it, record its outcome (and
        release the slot with it).

        Returns (the move's future, failures as sentences), or
        (:data:`common.NO_SLOT`, seconds until the soonest slot frees)
        when no slot was free: nothing of the move was recorded.
        """
        job.slot_taken = job.slot_released = False
        try:
            ok, after = self._record_start(job, values, group)
            if not ok:
                return common.NO_SLOT, after
        except db_exc.DBDuplicateEntry:
            if group is None:
                raise
            # Another engine took the same free slot at once: the whole
            # transaction was rolled back; the job tries again soon.
            return common.NO_SLOT, 0
        return self._run_started(job, row, group)

    @db_api.retry_on_deadlock
    def _record_start(self, job, values, group):
        """The move's start: its slot of ``group``'s budget, the instance
        row, its history and its step, in one transaction (record, then
        act). Returns ``(True, None)``, or ``(False, seconds until the
        soonest slot frees or None)`` when no slot is free: nothing of
        the move written. A deadlock's victim (MariaDB) runs again, whole
        (the book of steps put back what it had written)."""
        wf = self.wf
        message = '%s of instance %s from %s to %s %s' % (
            job.action, job.iid, job.host, job.target,
            'watched again' if job.resume else 'started')
        history = dict(project_id=job.project_id, host=job.host,
                       state=st.ACTION_IN_PROGRESS)
        # Its reply waits for it: before other writes queued meanwhile.
        with db_api.urgent(), wf.transaction():
            ok, after = self._take_shared_here(job, group)
            if not ok:
                return False, after
            try:
                wf.update_instance(job.iid, values, st.EVENT_ACTION,
                                   message, **history)
            except exception.NotFound:
                db_api.instance_create_or_update(self.sid, job.iid, dict(
                    values, project_id=job.project_id, host=job.host,
                    instance_name=job.server.get('name')))
                wf.record(st.EVENT_ACTION, message, instance_id=job.iid,
                          **history)
            # A move watched again is the same attempt; a new request to
            # Nova (a first one, another target) is a new one.
            self._mark_move(job, 'start', bump_attempt=not job.resume)
        job.slot_taken = group is not None
        return True, None

    def _run_started(self, job, row, group):
        """In a worker, the move recorded started: Nova's move, then its
        outcome recorded (its slot released in the same transaction)."""
        wf = self.wf
        moved = concurrent.futures.Future()
        try:
            # Never Nova's choice: it could take room reserved for another
            # instance. A target that failed is replaced by the model's.
            result = self._nova_move(job)
            if result.get('peer_on_target') and \
                    self._may_retarget(job, result, refused=True):
                return common.RETARGET, (result['message'],
                                         common.PEER_ON_TARGET, None)
            if result.get('target_refused') and \
                    self._may_retarget(job, result, refused=True):
                return common.RETARGET, (result['message'], True,
                                         self._target_service(job.target))
            if self._may_retarget(job, result):
                return common.RETARGET, (result['message'], False, None)
            moved.set_result(result)
        except Exception as e:  # noqa - reported by _move_finished
            moved.set_exception(e)
        failures = []

        def release():
            self.shared.release_here(job.iid, group)
        # Whether its project has a manager: as the executor read the
        # projects (the events were sent, or not, by the same rows).
        wf._move_finished(job.host, row, job.action, moved, failures,
                          project=(self.projects or {}).get(job.project_id),
                          within=release if job.slot_taken else None)
        job.slot_released = job.slot_taken
        return moved, failures

    def _nova_move(self, job):
        """The move of ``job`` in Nova (in a worker), to ``job.target``
        only: never Nova's choice, it could take room reserved for another
        instance. The server is not read before the request: the model
        knows its host (it was listed this pass); a retry reads it."""
        cloud = self.wf.cloud
        if job.resume:
            result = cloud.wait_for_move(job.iid, job.server['host'],
                                         job.action)
            result.setdefault('attempts', 0)
            if result['ok']:
                return result
        return cloud.move(job.iid, job.action, host=job.target,
                          source=job.host, apart_from=job.apart_from)

    def _mark_move(self, job, event, values=None, **kwargs):
        """The move step of ``job`` (in the caller's transaction)."""
        result = {'action': job.action, 'target': job.target}
        return self.wf.mark_step(
            st.STEP_MOVE, job.host, job.iid, event,
            values=dict(values or {}, result=result), create={
                'project_id': job.project_id, 'target': job.target,
                'inputs': {'action': job.action}},
            **kwargs)

    def _may_retarget(self, job, result, refused=False):
        """Whether a failed move to ``job.target`` may go to another target
        of the model's choosing: the instance is still on its host, whole
        (not in ERROR), nothing is stopping, and fewer than
        ``[workflow] migration_retries`` targets failed already (when the
        target ``refused`` it at once: fewer refusals than the hosts
        the model knows, each a different host or one seen usable
        again)."""
        if result['ok'] or not job.target or self.cancelled.is_set():
            return False
        if refused:
            if job.refusals > len(self.capacity):
                return False
        elif len(job.failed_targets) >= CONF.workflow.migration_retries:
            return False
        srv = self.wf.cloud.server(job.iid)
        return (srv is not None and srv['host'] == job.host and
                (srv.get('vm_state') or '').lower() != 'error' and
                not srv.get('task_state'))

    def _target_service(self, host):
        """The nova-compute of a target that refused a move, as Nova has
        it now (in a worker), or None when it cannot be read."""
        try:
            found = self.wf.cloud.compute_services(host=host)
        except exception.CloudError as e:
            LOG.warning('Reading nova-compute of %s: %s', host, e)
            return None
        return next((s for s in found if s.get('host') == host), None)

    def _target_unusable(self, job, svc):
        """``job.target`` refused its move: the model marks it unusable.
        Disabled or down (``svc``, just read), it is no target for any
        move until a listing shows it usable again; up and enabled, Nova
        saw no room for this instance there: no target for it, and
        Nova's servers are read again (another session's moves may have
        filled it)."""
        target = job.target
        job.refusals += 1
        if svc is not None:
            self.services[target] = svc
        if svc is not None and (svc.get('status') != 'enabled' or
                                svc.get('state', 'up') != 'up' or
                                svc.get('forced_down')):
            self.epoch += 1
            return 'its nova-compute is %s (%s)' % (
                svc.get('status') if svc.get('status') != 'enabled'
                else 'down', svc.get('disabled_reason') or
                'no reason given')
        job.failed_targets.add(target)
        self.resync = True
        return 'no room for it there as Nova sees it'

    def _move_finished(self, future, job):
        if job.slot_taken:
            # Taken by the worker with the move's start (committed).
            group = self._group(job.iid)
            if group is not None:
                self.shared.taken(job.iid, group)
        try:
            moved, failures = future.result()
        except exception.SessionFenced:
            # Another engine owns the session now (the fence warned once):
            # the move is its to see through; this runner stops at its
            # next write.
            LOG.debug('Move of %s left to the new owner', job.iid)
            job.phase = common.DONE
            return
        except Exception as e:  # noqa - a bug in recording: fail the move
            LOG.exception('Move of %s failed', job.iid)
            moved, failures = None, ['%s of instance %s failed: %s' % (
                job.action, job.iid, e)]
        if moved == common.NO_SLOT:
            # Its group's slots are held elsewhere: nothing of the move
            # was recorded; it waits, its target kept reserved, as a job
            # refused its slot before it is placed (tried again once the
            # group's retry time passed).
            group = self._group(job.iid)
            if group is not None:
                self.shared.refused(job.iid, group, failures)
            job.phase = common.READY
            return
        if job.slot_released:
            # Released by the worker with the move's end (committed).
            self.shared.forgotten(job.iid)
        if moved == common.RETARGET:
            reason, refused, svc = failures
            self._unreserve(job)
            if refused == common.PEER_ON_TARGET:
                # Moved there since the model read it: read Nova's servers
                # again before placing it.
                job.refusals += 1
                job.failed_targets.add(job.target)
                self.resync = True
                text = ('%s of instance %s from %s to %s not asked of Nova: '
                        '%s; it is placed again on another host by the '
                        'model' % (job.action, job.iid, job.host, job.target,
                                   reason))
            elif refused:
                why = self._target_unusable(job, svc)
                text = ('%s of instance %s from %s to %s refused by Nova at '
                        'once, %s: %s; not asked again there, it is placed '
                        'again on another host by the model (never where '
                        'Nova chooses: that room may be reserved for '
                        'another instance)' % (job.action, job.iid, job.host,
                                               job.target, why, reason))
            else:
                job.failed_targets.add(job.target)
                text = ('%s of instance %s from %s to %s failed: %s; it is '
                        'placed again on another host (never where Nova '
                        'chooses: that room may be reserved for another '
                        'instance)' % (job.action, job.iid, job.host,
                                       job.target, reason))
            # Its step waits for another target (a new attempt when it
            # starts): not left running while nothing runs it.
            with self.wf.transaction():
                self._mark_move(job, 'requeue', values={
                    'message': 'to %s: %s' % (job.target, reason)})
            self.wf._decision(text, instance_id=job.iid,
                              project_id=job.project_id, host=job.host)
            job.target = None
            job.resume = False
            job.phase = common.READY
            return
        self._unreserve(job)
        self._release(job.iid)
        if failures:
            self.failures.extend(failures)
            job.phase = common.DONE
            return
        self._set_server(dict(job.server,
                              host=moved.result().get('host') or job.target))
        job.phase = common.DONE

    def _check_own(self, job):
        srv = self.wf.cloud.server(job.iid)
        if srv is not None and srv['host'] == job.host:
            if timeutils.utcnow() >= job.deadline:
                message = ('still on %s after %s s (%s)'
                           % (job.host, CONF.workflow.own_action_timeout,
                              job.action))
                with self.wf.transaction():
                    db_api.instance_update(self.sid, job.iid, {
                        'action_state': st.ACTION_FAILED,
                        'action_message': message})
                    self.wf.mark_step(st.STEP_MOVE, job.host, job.iid,
                                      'fail', values={'message': message})
                self.failures.append('instance %s %s' % (job.iid, message))
                self._unreserve(job)
                self._release(job.iid, recover=False)
                job.phase = common.DONE
            return
        where = 'now on %s' % srv['host'] if srv else 'deleted'
        values = {'action_state': st.ACTION_DONE, 'action_message': where}
        if srv:
            values['host'] = srv['host']
            self._set_server(srv)
        else:
            self._drop_server(job.iid)
        with self.wf.transaction():
            try:
                db_api.instance_update(self.sid, job.iid, values)
            except exception.NotFound:
                pass
            self.wf.mark_step(st.STEP_MOVE, job.host, job.iid, 'done',
                              values={'message': where, 'result': {
                                  'action': job.action,
                                  'host': srv['host'] if srv else None}})
            self.wf.record(st.EVENT_ACTION, 'instance %s left %s (%s): %s'
                           % (job.iid, job.host, job.action, where),
                           instance_id=job.iid, host=job.host,
                           state=st.ACTION_DONE)
        self._unreserve(job)
        self._release(job.iid)
        job.phase = common.DONE
        self.resync = True
