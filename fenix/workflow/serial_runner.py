# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The move runner of the ``serial`` policy (the ``default`` workflow).

:class:`HostEmptier` empties the one host the policy chose, once the
exchange with its projects is over: each instance gets its action (the
one its project chose, else a default, see :meth:`HostEmptier.
choose_action`), the moves run in parallel up to the
``max_concurrent_migrations`` session option (default
:data:`DEFAULT_CONCURRENT_MIGRATIONS`) within every group's budget
(:class:`fenix.workflow.serial.Budgets`) once nova-compute is up on every
host they leave from or go to (a bounded wait), and instances their
manager moves (OWN_ACTION) are watched until they left, at most
``[workflow] own_action_timeout``. A group's budget holds across every
session too: a move starts only once a slot of its group's budget is
taken in the database (:mod:`fenix.workflow.shared_budget`), and an
instance its manager moves holds one (recorded whatever the budget: the
manager acts already) until it left.

The :class:`~fenix.workflow.workflows.default.DefaultWorkflow` makes one
per host it empties and drives it (as ``nfv``'s Executor is driven by its
workflow); the session's state, steps and records stay the workflow's.
"""
import concurrent.futures
import threading

from oslo_config import cfg

from fenix.common import exception
from fenix.common import fencing
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.workflow import nfv_plan
from fenix.workflow import serial
from fenix.workflow import session_flow as flow
from fenix.workflow import shared_budget

CONF = cfg.CONF

DEFAULT_CONCURRENT_MIGRATIONS = 4


class HostEmptier(object):
    """Moves every instance off one host, for one event of the session."""

    def __init__(self, wf, hostname, event, replies, moves):
        """``wf``: the workflow; ``replies``: {project_id: reply or None}
        of the exchange about ``hostname``; ``moves``: {iid: target} the
        serial policy planned (a missing target: Nova chooses; a target
        that fails is replaced by the model's, see :meth:`_again`)."""
        self.wf = wf
        self.sid = wf.session_id
        self.hostname = hostname
        self.event = event
        self.replies = replies
        self.moves = dict(moves or {})
        # iid -> {target: refused at once} of its failed moves.
        self.tried = {}
        # Targets that refused a move at once (disabled, down or full).
        self.refused = set()

    def run(self):
        """Move every instance off the host; raise if one fails.

        Returns False when a pause or a skip of the host stopped it
        (the moves in flight finished; the others were not started).
        """
        wf, hostname = self.wf, self.hostname
        db_api.host_update(self.sid, hostname,
                           {'state': st.HOST_EMPTYING})
        wf._finish_interrupted(hostname)
        projects = {p['project_id']: p
                    for p in db_api.projects_get(self.sid)}
        constraints = {c['instance_id']: c
                       for c in db_api.instance_constraints_list()}
        rows = {i['instance_id']: i
                for i in db_api.instances_get(self.sid)}
        todo, waits = [], {}
        for srv in wf.cloud.servers(host=hostname):
            iid = srv['id']
            row = rows.get(iid)
            if row is None:
                row = db_api.instance_create_or_update(
                    self.sid, iid,
                    {'project_id': srv['project_id'],
                     'instance_name': srv.get('name'), 'host': hostname,
                     'vm_state': srv.get('vm_state')})
            if not flow.alive(srv):
                waits[iid] = 'it is being deleted'
                continue
            action, note = self.choose_action(
                srv, projects.get(srv['project_id']),
                self.replies.get(srv['project_id']), constraints.get(iid))
            if note:
                wf._decision('instance %s (%s) on %s: %s'
                             % (iid, srv.get('name'), hostname, note),
                             instance_id=iid,
                             project_id=srv['project_id'], host=hostname)
            details = dict(row['details'] or {}, move_from=hostname)
            step = wf.steps.get(st.STEP_MOVE, hostname, iid)
            if step is not None:
                # A move under way when the engine stopped is watched.
                resume = step['state'] == st.STEP_RUNNING and flow.busy(srv)
            else:
                resume = (row['action_state'] == st.ACTION_IN_PROGRESS and
                          (row['details'] or {}).get('move_from') ==
                          hostname and flow.busy(srv))
            values = {'action': action, 'details': details}
            if not resume:
                values.update(action_state=st.ACTION_PENDING,
                              action_message=None, action_attempts=0)
            row = db_api.instance_update(self.sid, iid, values)
            if action == st.OWN_ACTION:
                waits[iid] = 'project %s chose OWN_ACTION' % (
                    srv['project_id'])
                db_api.instance_update(
                    self.sid, iid,
                    {'action_state': st.ACTION_IN_PROGRESS})
            else:
                todo.append((row, srv, action, self.moves.get(iid), resume))
        failures = self._run_moves(todo, waits)
        if hostname in wf.skip_requests():
            # Skipped: its failed moves (recorded) fail nothing.
            return False
        if failures:
            db_api.host_update(self.sid, hostname,
                               {'state': st.HOST_FAILED})
            raise exception.WorkflowError(
                reason='could not empty host %s: %s'
                % (hostname, '; '.join(failures)))
        if not wf.may_start(hostname):
            return False
        # Rows of instances that left by other means (the manager).
        for row in db_api.instances_get(self.sid, host=hostname):
            srv = wf.cloud.server(row['instance_id'])
            if srv is not None and srv['host'] != hostname:
                db_api.instance_update(self.sid, row['instance_id'],
                                       {'host': srv['host']})
        db_api.host_update(self.sid, hostname,
                           {'state': st.HOST_PENDING})
        return True

    def choose_action(self, srv, project, reply, constraint):
        """(action, note): note says why a default was used, else None."""
        event = self.event
        pid, iid = srv['project_id'], srv['id']
        action = note = None
        if project and project['has_manager'] and reply == st.ack(event):
            chosen = (project.get('instance_actions') or {}).get(iid)
            if chosen in st.INSTANCE_ACTIONS:
                action = chosen
            else:
                note = 'project %s gave no action for it' % pid
        elif project and project['has_manager']:
            note = 'project %s did not answer %s' % (pid, event)
        else:
            note = 'project %s has no manager' % pid
        if action is None:
            action, source = self.wf._default_action(project, constraint)
            if action == st.OWN_ACTION and reply is None:
                # Nobody would act: Fenix moves it ([workflow]
                # silent_own_action move; skip_host never gets here, see
                # DefaultWorkflow._silent_own_actions).
                action = CONF.workflow.default_migration_type
                source = ('its constraint says OWN_ACTION but its manager '
                          'was silent: silent_own_action move, [workflow] '
                          'default_migration_type')
            note += ': default %s (%s)' % (action, source)
        vm_state = (srv.get('vm_state') or '').lower()
        if action == st.LIVE_MIGRATE and vm_state and \
                vm_state not in flow.LIVE_VM_STATES:
            note = ((note + '; ') if note else '') + (
                'it is %s, so it is cold-migrated instead of live-migrated'
                % vm_state)
            action = st.MIGRATE
        return action, note

    def _run_moves(self, todo, waits):
        """Run the moves (in parallel) and wait for the rest to leave.

        Moves are submitted ``max_concurrent_migrations`` at a time, each
        at a safe point, and a move of a group member only while its group
        has fewer than ``max_impacted_members`` members moving or
        recovering (:class:`serial.Budgets`; the queue's order otherwise):
        once a pause or a skip of the host is requested
        no new one starts (their rows stay PENDING; instances that leave
        by their manager's action are watched again on resume), and this
        returns when the moves in flight are done.

        Returns the failures as sentences.
        """
        wf, hostname = self.wf, self.hostname
        if todo:
            self._wait_computes_up({hostname} | {
                target for _r, _s, _a, target, _res in todo if target})
        failures = []
        futures = {}
        workers = max(1, int(wf.options.get('max_concurrent_migrations')
                             or DEFAULT_CONCURRENT_MIGRATIONS))
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix='move-%s' % self.sid[:8],
            initializer=fencing.inherit())
        own_deadline = timeutils.after(CONF.workflow.own_action_timeout)
        cancelled = threading.Event()
        queue = list(todo)
        budgets = self.group_budgets = \
            self._budgets() if todo or waits else None
        shared = shared_budget.SharedBudgets(wf)
        for iid in sorted(waits):
            # Its manager acts already (or it is being deleted): it is
            # impacted, and counts for the other sessions at once.
            shared.take(iid, budgets.group_of(iid),
                        lease=shared_budget.own_lease(), force=True)

        def next_move():
            """Index in ``queue`` of the next move its group allows, in
            this session and across the deployment (a slot of its group's
            budget taken in the database, :mod:`.shared_budget`)."""
            now = timeutils.utcnow().timestamp()
            for index, item in enumerate(queue):
                iid = item[0]['instance_id']
                if (item[4] or budgets.may_start(iid, now)) and \
                        shared.take(iid, budgets.group_of(iid),
                                    force=bool(item[4])):
                    return index
            return None

        try:
            while True:
                mark = wf.runner.mark()
                if (queue or waits) and not wf.may_start(hostname):
                    queue, waits = [], {}
                while queue and len(futures) < workers:
                    index = next_move()
                    if index is None:
                        break
                    item = queue.pop(index)
                    if item[3] in self.refused and not item[4]:
                        # Its target refused another move: placed again
                        # before Nova is asked.
                        item = self._before_refused(item)
                    budgets.started(item[0]['instance_id'])
                    self._submit_move(pool, futures, cancelled, *item)
                for future in [f for f in futures if f.done()]:
                    row, srv, action, target = futures.pop(future)
                    again = None if cancelled.is_set() else \
                        self._again(future, row, srv, action, target)
                    if isinstance(again, tuple):
                        # Placed again by the model: same budget slot.
                        self._submit_move(pool, futures, cancelled, *again)
                        continue
                    if again is not None:
                        future = again
                    budgets.ended(row['instance_id'],
                                  timeutils.utcnow().timestamp())
                    shared.release(row['instance_id'])
                    wf._move_finished(hostname, row, action, future,
                                      failures)
                for iid in list(waits):
                    srv = wf.cloud.server(iid)
                    if srv is not None and srv['host'] == hostname:
                        continue
                    reason = waits.pop(iid)
                    shared.release(iid)
                    where = ('now on %s' % srv['host'] if srv
                             else 'deleted')
                    values = {'action_state': st.ACTION_DONE,
                              'action_message': where}
                    if srv:
                        values['host'] = srv['host']
                    with wf.transaction():
                        db_api.instance_update(self.sid, iid, values)
                        wf.mark_step(st.STEP_MOVE, hostname, iid, 'done',
                                     values={'message': where})
                        wf.record(st.EVENT_ACTION, 'instance %s left %s '
                                  '(%s): %s' % (iid, hostname, reason,
                                                where),
                                  instance_id=iid, host=hostname,
                                  state=st.ACTION_DONE)
                if waits and timeutils.utcnow() >= own_deadline:
                    for iid, reason in sorted(waits.items()):
                        message = ('still on %s after %s s (%s)'
                                   % (hostname,
                                      CONF.workflow.own_action_timeout,
                                      reason))
                        with wf.transaction():
                            db_api.instance_update(self.sid, iid, {
                                'action_state': st.ACTION_FAILED,
                                'action_message': message})
                            wf.mark_step(st.STEP_MOVE, hostname, iid,
                                         'fail', values={'message':
                                                         message})
                        failures.append('instance %s %s' % (iid, message))
                        shared.release(iid, recover=False)
                    waits = {}
                if not futures and not waits and not queue:
                    break
                if queue and len(futures) < workers and \
                        next_move() is not None:
                    # A move just ended: submit the next one at once.
                    continue
                wf.runner.wait(CONF.workflow.nova_poll_interval,
                               since=mark)
        finally:
            cancelled.set()
            pool.shutdown(wait=False, cancel_futures=True)
            # Moves or own actions left behind (a failure, a pause):
            # their slots hold their recovery_time, then free.
            shared.release_all()
        return failures

    def _wait_computes_up(self, hostnames):
        """Wait, bounded, until nova-compute is up on every host a move
        leaves from or goes to (from the host).

        Real Nova puts a server it tries to move from or to a compute that
        is down (restarting) in ERROR; waiting costs nothing but time.
        Raises WorkflowError when one stays down past
        ``[workflow] migration_timeout``; nothing was moved then.
        """
        wf = self.wf
        deadline = timeutils.after(CONF.workflow.migration_timeout)
        noted = set()
        while True:
            if not wf.may_start(self.hostname):
                # A pause or a skip of the host: no move starts anyway.
                return
            states = {s['host']: s['state']
                      for s in wf.cloud.compute_services()}
            down = sorted(h for h in hostnames if states.get(h) == 'down')
            if not down:
                return
            for host in sorted(set(down) - noted):
                wf._decision('nova-compute on %s is down: its moves wait '
                             'until it is up' % host, host=host)
                noted.add(host)
            if timeutils.utcnow() >= deadline:
                raise exception.WorkflowError(
                    reason='nova-compute stayed down on %s for %s seconds; '
                           'nothing was moved from or to it'
                           % (', '.join(down),
                              CONF.workflow.migration_timeout))
            wf.runner.wait(CONF.workflow.nova_poll_interval)

    def _budgets(self):
        """The group budgets of the moves (:class:`serial.Budgets`): Nova's
        server groups and the registered group constraints, as
        :func:`nfv_plan.groups_of` reads them."""
        group_rules = {g['group_id']: g
                       for g in db_api.instance_group_constraints_list()}
        groups, member_of = nfv_plan.groups_of(
            self.wf.cloud.server_groups(), group_rules)
        for c in db_api.instance_constraints_list():
            if c.get('group_id') in groups:
                member_of.setdefault(c['instance_id'], c['group_id'])
        return serial.Budgets(groups, member_of)

    def _submit_move(self, pool, futures, cancelled, row, srv, action,
                     target, resume):
        """Record one move as started (its step with it) and hand it to a
        worker."""
        wf, hostname = self.wf, self.hostname
        with wf.transaction():
            db_api.instance_update(self.sid, row['instance_id'], {
                'action_state': st.ACTION_IN_PROGRESS})
            wf.mark_step(st.STEP_MOVE, hostname, row['instance_id'],
                         'start', bump_attempt=not resume,
                         values={'result': {'action': action,
                                            'target': target}},
                         create={'project_id': row['project_id']})
            wf.record(st.EVENT_ACTION, '%s of instance %s from %s%s %s'
                      % (action, row['instance_id'], hostname,
                         ' to %s' % target if target else '',
                         'watched again' if resume else 'started'),
                      instance_id=row['instance_id'],
                      project_id=row['project_id'], host=hostname,
                      state=st.ACTION_IN_PROGRESS)
        future = pool.submit(
            wf._move, srv, action, target, resume, cancelled,
            apart_from=self.group_budgets.apart_from(row['instance_id']))
        future.add_done_callback(wf._wake)
        futures[future] = (row, srv, action, target)

    def _again(self, future, row, srv, action, target):
        """A move that failed to ``target``, placed again by the model.

        A target that refused the move at once (disabled, down or full:
        ``target_refused``, see :func:`fenix.common.cloud.target_refused`)
        was asked once and is not asked again: another host is chosen at
        once (as many times as there are hosts); any other failure is
        placed again at most ``[workflow] migration_retries`` times. Never
        where Nova chooses: that room may be reserved for another
        instance. Only while the instance still rests, whole, on the host.

        Returns the arguments of the move to submit again, a future whose
        result says why no other target is left (a defined failure), or
        None (the failure stands as it is).
        """
        wf, hostname, iid = self.wf, self.hostname, row['instance_id']
        if future.exception() is not None or not target:
            return None
        result = future.result()
        if result['ok']:
            return None
        refused = bool(result.get('target_refused'))
        if refused and not result.get('peer_on_target'):
            # (A peer there refuses it for this instance only.)
            self.refused.add(target)
        tried = self.tried.setdefault(iid, {})
        tried[target] = refused
        if refused:
            if len(tried) > len(wf._computes()) + 1:
                return None
        elif sum(1 for r in tried.values() if not r) > \
                CONF.workflow.migration_retries:
            return None
        now = wf.cloud.server(iid)
        if now is None or now['host'] != hostname or \
                (now.get('vm_state') or '').lower() == 'error' or \
                now.get('task_state'):
            return None
        new, why = self._place_again(iid, set(tried))
        attempts = (row['action_attempts'] or 0) + \
            (result.get('attempts') or 0)
        if new is None:
            message = ('%s; no other host can take it now (%s)'
                       % (result['message'], why))
            wf._decision('%s of instance %s from %s to %s failed and no '
                         'other host can take it now: %s'
                         % (action, iid, hostname, target, why),
                         instance_id=iid, project_id=row['project_id'],
                         host=hostname)
            failed = concurrent.futures.Future()
            failed.set_result(dict(result, message=message))
            return failed
        with wf.transaction():
            wf.mark_step(st.STEP_MOVE, hostname, iid, 'requeue',
                         values={'message': 'to %s: %s'
                                 % (target, result['message'])})
            row = db_api.instance_update(self.sid, iid,
                                         {'action_attempts': attempts})
        wf._decision('%s of instance %s from %s to %s %s: %s; placed again '
                     'on %s by the model (never where Nova chooses: that '
                     'room may be reserved for another instance)'
                     % (action, iid, hostname, target,
                        'not asked of Nova' if result.get('peer_on_target')
                        else 'refused by Nova at once, not asked again '
                        'there' if refused else 'failed',
                        result['message'], new),
                     instance_id=iid, project_id=row['project_id'],
                     host=hostname)
        self.moves[iid] = new
        return row, now, action, new, False

    def _before_refused(self, item):
        """A queued move whose target refused another move meanwhile,
        placed again by the model before Nova is asked (the same target
        when it still takes this instance: it may have been full for a
        bigger one only)."""
        row, srv, action, target, resume = item
        iid = row['instance_id']
        new, why = self._place_again(iid, set(self.tried.get(iid, ())))
        if new is None or new == target:
            return item
        self.wf._decision(
            '%s of instance %s from %s: its target %s refused another '
            'move; placed again on %s by the model before Nova is asked'
            % (action, iid, self.hostname, target, new), instance_id=iid,
            project_id=row['project_id'], host=self.hostname)
        self.moves[iid] = new
        return row, srv, action, new, resume

    def _place_again(self, iid, avoid):
        """Another target for ``iid`` (on this host), the model's choice:
        Nova's servers and computes read again, the room of the other moves
        of this host kept for them, never a host of ``avoid``. Returns
        ``(target, None)`` or ``(None, why)``."""
        wf, source = self.wf, self.hostname
        servers = [s for s in wf.cloud.servers() if flow.alive(s)]
        snap = wf._topology(servers, wf.cloud.server_groups())
        snap = snap.moved({i: t for i, t in self.moves.items()
                           if i != iid and t})
        # Only this instance is placed (the others left, are leaving, or
        # wait for their manager).
        snap = serial.Snapshot(snap.topology, [
            m for m in snap.instances.values()
            if m.host != source or m.instance_id == iid])
        targets = [t for t in wf._targets() if t != source and
                   t not in avoid]
        maintained = {h['hostname'] for h in wf._computes()
                      if h['maintained']}
        plan = snap.plan_evacuation(
            source, targets, [t for t in targets if t in maintained])
        if plan.fits and plan.moves.get(iid):
            return plan.moves[iid], None
        return None, plan.reason or ('no enabled host left besides %s'
                                     % ', '.join(sorted(avoid)))
