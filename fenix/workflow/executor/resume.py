# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A restarted :class:`~fenix.workflow.executor.Executor` goes on from the
stored rows: the step rows (:mod:`fenix.workflow.steps`) and whether a
host row is maintained or skipped. A move RUNNING is watched again (not
started again), an instance whose event was sent waits for the reply to
that event, a host in maintenance is resumed (never announced again).
Nothing is worked out again: Nova is not asked what is on a host, the
plan is neither made again nor read from its JSON (a session of an engine
that wrote no steps got them from revision ``f1c8d2a6b437``).
"""
from oslo_config import cfg

from fenix.common import states as st
from fenix.common import timeutils
from fenix.workflow.executor import common
from fenix.workflow import session_flow as flow
from fenix.workflow import shared_budget
from fenix.workflow import steps as plan_steps

CONF = cfg.CONF


class ResumeMixin(object):
    """Where the session stood, from the stored rows: the hosts' states
    and the jobs of a host being emptied when the engine stopped."""

    def _load_hosts(self):
        """Where each host stands, from its row (maintained, skipped) and
        its steps: nothing is worked out again from Nova or the plan."""
        book = self.wf.steps
        for name, row in self.session_hosts.items():
            if row['maintained'] or row['state'] == st.HOST_SKIPPED:
                self.hstate[name] = common.H_DONE
            else:
                self.hstate[name] = self._host_from_steps(
                    name, book.state(st.STEP_MAINTAIN_HOST, name))

    def _host_from_steps(self, name, maintain):
        """The executor's state of a host, from its steps alone (no read
        of Nova, no plan worked out again): maintained; in maintenance
        (its maintain_host step running, or failed there: resumed, never
        announced again; the step starts only once the host is empty);
        being emptied once it was disabled for it; else pending."""
        if maintain == st.STEP_DONE:
            return common.H_DONE
        if maintain in (st.STEP_RUNNING, st.STEP_FAILED):
            return common.H_DOWN
        if self.wf.steps.state(st.STEP_DISABLE_COMPUTE, name) == \
                st.STEP_DONE:
            self._resume.append(name)
        return common.H_PENDING

    def _resume_jobs(self, hostname, jobs):
        """After a restart: keep the events already sent and moves under
        way, as the host's steps say."""
        self.wf._finish_interrupted(hostname)
        return self._resume_from_steps(hostname, jobs)

    def _resume_move(self, iid, job, action):
        """A move under way when the engine stopped is watched again (an
        OWN_ACTION waits for its manager anew); it holds its group."""
        job.action = action
        # Nova now, not the model (read from the stored rows, it knows
        # nothing of the move the stopped engine asked for): a server in
        # the middle of it, or awaiting its confirmation, is watched and
        # confirmed, never asked to move again (Nova refuses: the session
        # failed after a SIGSTOP in the three-engine test).
        srv = self.wf.cloud.server(iid)
        if srv is not None:
            job.server = dict(job.server, **srv)
        job.resume = flow.busy(job.server)
        if action == st.OWN_ACTION:
            job.phase = common.OWN
            job.deadline = timeutils.after(CONF.workflow.own_action_timeout)
            # Its manager acts already: its slot of the group's budget is
            # renewed (or recorded over the budget) for the new runner,
            # which releases it when the instance left.
            self.shared.take(iid, self._group(iid),
                             lease=shared_budget.own_lease(), force=True)
        else:
            job.phase = common.READY
            # Its row is read in the next pass (the details it keeps).
            self.new_notified.add(iid)
        self._hold(iid)

    def _resume_from_steps(self, hostname, jobs):
        """After a restart, from the host's steps: a move RUNNING is
        watched again (not started again), an instance whose event was
        sent (its notify step DONE) waits for the reply to that event."""
        book = self.wf.steps
        for iid, job in jobs.items():
            if job.phase != common.WAIT_SLOT:
                continue
            move = book.get(st.STEP_MOVE, hostname, iid)
            note = book.get(st.STEP_NOTIFY_INSTANCE, hostname, iid)
            moved_to = (move['result'] or {}).get('host') \
                if move is not None and move['state'] == st.STEP_DONE \
                else None
            if moved_to and moved_to != hostname:
                # Its move ended while no engine watched it (e.g. it was
                # under way when its engine was stopped and the session
                # taken over) and was seen through just now
                # (_finish_interrupted): done, never moved again.
                self._unreserve(job)
                self._set_server(dict(job.server, host=moved_to))
                job.phase = common.DONE
            elif move is not None and move['state'] == st.STEP_RUNNING:
                self._resume_move(iid, job,
                                  (move['result'] or {}).get('action') or
                                  (move['inputs'] or {}).get('action'))
            elif note is not None and note['state'] == st.STEP_DONE and \
                    (move is None or move['state'] == st.STEP_PENDING) and \
                    plan_steps.sent_of(note):
                sent = plan_steps.sent_of(note)
                job.phase = common.NOTIFIED
                job.event = sent['event']
                job.event_id = sent['event_id']
                job.notified = note['finished_at'] or timeutils.utcnow()
                job.reply_at = sent['reply_at']
                job.act_at = sent['actions_at'] or job.reply_at
                # Its row (a reply given before the restart) is read in
                # the next pass.
                self.new_notified.add(iid)
                self._hold(iid)
