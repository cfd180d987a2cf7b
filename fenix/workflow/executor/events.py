# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The per-instance events of an :class:`~fenix.workflow.executor.Executor`
and what their replies decide.

Every instance gets its own PREPARE_MAINTENANCE (nothing maintained yet) or
PLANNED_MAINTENANCE event, sent by a worker, when its group's budget has
room; only a reply to that event (its id) counts. Once the reply (or the
end of its window) and the ``lead_time`` are there, the move kind is
decided: the manager's ``instance_action``, else the planner's choice
(:func:`fenix.workflow.planner.choose_move_kind`); a NACK follows
``nack_policy``.
"""
import time

from oslo_config import cfg
from oslo_log import log as logging

from fenix.common import exception
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.workflow import base
from fenix.workflow.executor import common
from fenix.workflow import nfv_plan
from fenix.workflow import planner
from fenix.workflow import session_flow as flow
from fenix.workflow import steps as plan_steps

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


class EventsMixin(object):
    """Instance events and the project exchanges: an event per instance,
    its reply (or silence), the move kind chosen from it, a NACK."""

    def _project_of(self, project_id):
        """The session's row of ``project_id``. A project the session did
        not know (an instance of it came onto the session's hosts after
        the session began, e.g. moved there by another session) is looked
        up once: its manager, if it has one, is asked like the others,
        never passed over as if it had none."""
        project = self.projects.get(project_id)
        if project is not None or not project_id:
            return project
        managers = self.wf.cloud.projects_with_manager(
            CONF.workflow.project_event_types)
        has = project_id in managers
        db_api.project_create_or_update(self.sid, project_id,
                                        {'has_manager': has})
        project = {'project_id': project_id, 'has_manager': has}
        self.projects[project_id] = project
        self.wf._decision(
            'project %s: an instance of it came onto the hosts of the '
            'session after it began; %s' % (
                project_id, 'its manager is asked' if has else
                'it has no manager: its instances get the default action '
                'without being asked'), project_id=project_id)
        return project

    def _notify(self, job):
        project = self._project_of(job.project_id)
        constraint = self.constraints.get(job.iid) or {}
        lead = float(constraint.get('lead_time') or 0)
        self._hold(job.iid)
        if project is None or not project['has_manager']:
            job.phase = common.READY
            job.act_at = None
            return
        event = (st.PLANNED_MAINTENANCE if self.any_maintained
                 else st.PREPARE_MAINTENANCE)
        window = max(base.reply_window(event, {'options': self.options}),
                     lead)
        now = timeutils.utcnow()
        job.notified = now
        job.act_at = timeutils.after(lead, now)
        job.event = event
        job.window = int(window + 0.999)
        job.phase = common.NOTIFYING
        # Sent at the end of the pass with the other events of the pass
        # (_send_notes).
        self.to_notify.append(job)

    def _send_notes(self):
        """Hand the events of this pass's jobs to the workers, in batches
        of at most :data:`common.NOTIFY_BATCH`: a worker writes a batch in
        one transaction and sends it (one request with ``[notification_
        http] batch``). A pass over the jobs is not held up by the
        notifications (database rows and HTTP)."""
        jobs, self.to_notify = self.to_notify, []
        by_event = {}
        for job in jobs:
            by_event.setdefault(job.event, []).append(job)
        size = common.NOTIFY_BATCH
        for same in by_event.values():
            for start in range(0, len(same), size):
                batch = same[start:start + size]
                future = self.npool.submit(self._send_events, batch)
                future.add_done_callback(self._completed)
                self.notes[future] = batch

    def _send_events(self, jobs):
        """The events of ``jobs`` (all PREPARE_ or all PLANNED_MAINTENANCE:
        one pass), and their notify steps done with what a restart needs
        (each event's id and times), in one transaction. Returns their
        :class:`~fenix.workflow.base.SentEvent`, in order."""
        wf = self.wf
        items = [{'instance_id': job.iid, 'project_id': job.project_id,
                  'actions_at': job.act_at, 'window': job.window,
                  # Its row, if it has none (it came onto the host).
                  'create': {'host': job.host,
                             'instance_name': job.server.get('name')}}
                 for job in jobs]

        def mark(sents):
            marks = []
            for job, sent in zip(jobs, sents):
                again = wf.steps.state(st.STEP_NOTIFY_INSTANCE, job.host,
                                       job.iid) == st.STEP_DONE
                marks.append({
                    'host': job.host, 'instance_id': job.iid,
                    # A second event for the instance (it came back).
                    'events': ('again', 'done') if again else ('done',),
                    'values': plan_steps.event_values(sent, job.iid,
                                                      job.act_at),
                    'create': {'project_id': job.project_id}})
            wf.steps.mark_many(st.STEP_NOTIFY_INSTANCE, marks)

        return wf.notify_instances(
            jobs[0].event, items, allowed_actions=base.ALL_ACTIONS,
            session=self.session, on_recorded=mark)

    def _sent(self, future, jobs):
        """A worker sent the events of ``jobs``: each waits for the reply
        to its event; failed events fail the run."""
        try:
            sents = future.result()
        except Exception as e:  # noqa - a failed event fails the run
            LOG.exception('Events for %s failed',
                          ', '.join(j.iid for j in jobs))
            for job in jobs:
                self.failures.append('could not send %s for instance %s: '
                                     '%s' % (job.event, job.iid, e))
                self._release(job.iid, recover=False)
                self._unreserve(job)
                job.phase = common.DONE
            return
        for job, sent in zip(jobs, sents):
            job.reply_at = sent.reply_at
            job.event_id = sent.event_ids[job.iid]
            job.phase = common.NOTIFIED

    def _read_rows(self, emptying):
        """The rows of the jobs of the ``emptying`` hosts that may act in
        this pass (replies, and the details a move keeps), in one read:
        after a reply came (a wake-up) those it names, or all of them when
        a wake-up named none (a project's reply, another engine's
        wake-up), or when they were last all read :data:`fenix.workflow.
        base.WAKE_RECHECK` seconds ago (a reply whose wake-up was lost:
        the API records replies and then wakes the engine with a cast,
        which a broker outage loses).

        Also read: the jobs a restart resumed (``new_notified``). A job
        just told of its event is not read: its row holds what its worker
        wrote (no reply), and a reply to it wakes the engine with its id.
        That wake-up may come before the worker's batch is collected (the
        reply raced the commit's return): the id is kept
        (``early_replies``) until its job waits, and read then."""
        runner = self.wf.runner
        mark = runner.mark(st.WAKE_REPLY)
        replied, everything = set(), False
        if mark != self.reply_mark:
            take = getattr(runner, 'take_replied', None)
            replied, everything = take() if take else (set(), True)
            # This executor's first read: every waiting job's row.
            everything = everything or self.reply_mark is None
        now = time.monotonic()
        if now - self.rows_read_at >= base.WAKE_RECHECK:
            everything = True
        if everything:
            self.rows_read_at = now
        replied |= self.early_replies
        # Jobs a restart resumed (their rows may hold replies).
        wanted = set(self.new_notified)
        self.new_notified = set()
        if everything or replied:
            waiting, told = set(), set()
            for h in emptying:
                for j in self.jobs[h].values():
                    if j.phase in (common.NOTIFIED, common.READY):
                        waiting.add(j.iid)
                    elif j.phase == common.NOTIFYING:
                        told.add(j.iid)
            # Replies to jobs whose events are still being sent.
            self.early_replies = replied & told
            if everything:
                wanted = waiting
                self.rows = {}
            else:
                wanted |= replied & waiting
                # Rows of jobs that no longer wait are not kept.
                self.rows = {i: r for i, r in self.rows.items()
                             if i in waiting}
        if wanted:
            self.rows.update((r['instance_id'], r) for r in
                             db_api.instances_get(
                                 self.sid, instance_ids=sorted(wanted)))
        self.reply_mark = mark

    def _on_notified(self, job, now):
        """A job told of its event: once it is answered (or its reply
        window passed) and its ``lead_time`` passed, its move is decided
        (READY), or it is refused (DONE). Returns the seconds until it may
        act while it waits, else None."""
        self._keep_place(job)
        row = self.rows.get(job.iid) or {}
        answered = self._answers(job, row)
        ready_at = job.act_at
        if not answered:
            ready_at = max(job.act_at, job.reply_at)
            if now >= ready_at:
                # Silent until now: look once more, with a lock (a reply
                # stored this moment counts; a later one is refused as
                # late).
                try:
                    row = self.wf.instance_reply_final(job.iid)
                except exception.NotFound:
                    row = {}
                self.rows[job.iid] = row
                if self._answers(job, row):
                    ready_at = job.act_at
        if now < ready_at:
            return (ready_at - now).total_seconds()
        action = self._decide(job, row)
        if action is None:
            self._refused(job)
            return None
        if action == common.SKIP_HOST:
            self._refused(job, why=(
                'instance %s must move by its manager\'s own action, but '
                'the manager was silent (silent_own_action skip_host)'
                % job.iid))
            return None
        job.action = action
        job.phase = common.READY
        return None

    @staticmethod
    def _answers(job, row):
        """The instance's row holds a reply to the event sent for ``job``
        (not to an earlier or a later one)."""
        if not row or not row.get('reply'):
            return False
        if job.event_id:
            return row.get('event_id') == job.event_id
        return row.get('event') == job.event

    def _decide(self, job, row):
        """The move of ``job`` once answered (or silent)."""
        wf = self.wf
        inst = nfv_plan.instance_of(job.server,
                                    self.constraints.get(job.iid),
                                    None)
        planned_kind, warn = planner.choose_move_kind(
            inst, nfv_plan.durations_of(self.options))
        project = self._project_of(job.project_id)
        if row and not self._answers(job, row):
            row = None
        reply = (row or {}).get('reply')
        event = getattr(job, 'event', None) or (row or {}).get('event')
        action = note = None
        if project and project['has_manager']:
            if reply and event and reply == st.nack(event):
                return None
            if reply and event and reply == st.ack(event):
                chosen = (row or {}).get('action')
                if chosen in st.INSTANCE_ACTIONS:
                    action = chosen
                else:
                    note = 'no instance_action in the reply'
            else:
                note = 'project %s did not answer %s' % (job.project_id,
                                                         event)
        else:
            note = 'project %s has no manager' % job.project_id
        if action is None:
            action = planned_kind
            if action == st.OWN_ACTION and not (project and
                                                project['has_manager']):
                action = CONF.workflow.default_migration_type
            elif action == st.OWN_ACTION and not reply:
                # Its manager was asked to act and was silent: nobody
                # would move it.
                if wf._silent_own_action() == flow.SILENT_OWN_SKIP_HOST:
                    return common.SKIP_HOST
                action, warn = planner.choose_move_kind(
                    nfv_plan.instance_of(
                        dict(job.server), dict(
                            self.constraints.get(job.iid) or {},
                            migration_type=None), None),
                    nfv_plan.durations_of(self.options))
                warn = ('its constraint says OWN_ACTION but its manager '
                        'was silent: silent_own_action move') + (
                    '; ' + warn if warn else '')
            note += ': %s (its constraints%s)' % (
                action, '; ' + warn if warn else '')
        vm_state = (job.server.get('vm_state') or '').lower()
        if action == st.LIVE_MIGRATE and vm_state and \
                vm_state not in flow.LIVE_VM_STATES:
            note = ((note + '; ') if note else '') + (
                'it is %s, so it is cold-migrated' % vm_state)
            action = st.MIGRATE
        if note:
            wf._decision('instance %s on %s: %s' % (job.iid, job.host, note),
                         instance_id=job.iid, project_id=job.project_id,
                         host=job.host)
        return action

    def _refused(self, job, why=None):
        """A NACK: follow nack_policy. With ``why``: the host is put off
        for that reason whatever nack_policy says."""
        wf = self.wf
        self._release(job.iid, recover=False)
        if why is None and wf._nack_policy() == flow.NACK_FAIL:
            self.failures.append('project %s refused %s for instance %s '
                                 '(nack_policy is fail)'
                                 % (job.project_id, job.event, job.iid))
            job.phase = common.DONE
            return
        hostname = job.host
        for other in self.jobs[hostname].values():
            if other.phase in (common.WAIT_SLOT, common.NOTIFIED,
                               common.READY):
                self._unreserve(other)
                if other is not job:
                    self._release(other.iid, recover=False)
                other.phase = common.DONE
        self.skip[hostname] = why or (
            'project %s refused %s for instance %s'
            % (job.project_id, job.event, job.iid))
