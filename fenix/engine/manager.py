# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Server side of the engine RPC API (see rpcapi.py for the versions).

The manager validates what only the engine can know (plug-in names, session
state, who owns a reply), writes every change to the database first, and
then wakes the session's runner so that it acts at once.
"""
import hashlib
import threading
import uuid

from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_serialization import jsonutils

from fenix.common import exception
from fenix.common import rpc
from fenix.common import state_machine
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.db import reads
from fenix.db import replies as reply_db
from fenix.engine import known_hosts as known_hosts_mod
from fenix.engine import metrics as engine_metrics
from fenix.engine import rpcapi
from fenix.engine import runner as session_runner
from fenix.engine import views
from fenix.workflow import base as workflow_base
from fenix.workflow import plugins

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# Seconds delete waits for a running session to stop cleanly.
STOP_TIMEOUT = 60


class EngineManager(object):
    """RPC endpoint of fenix-engine."""

    target = messaging.Target(version=rpcapi.RPC_API_VERSION)
    RPC_API_VERSION = rpcapi.RPC_API_VERSION

    def __init__(self, notifier, host=None, known_hosts=None):
        self.host = host or CONF.engine.host
        # Where the live engines come from (the engine service sets its
        # coordinator, the takeover's source); None: the database's
        # heartbeats.
        self.coordinator = None
        self.notifier = notifier
        # Nova's hosts, for the check of a create's hosts.
        self.known_hosts = known_hosts or known_hosts_mod.KnownHosts()
        self._hosts_from_nova = {}
        self._runners = {}
        self._crashed = set()
        self._lock = threading.RLock()

    # --- runners ----------------------------------------------------------
    def start_runner(self, session_id):
        with self._lock:
            current = self._runners.get(session_id)
            if current is not None and current.is_alive():
                return current
            runner = session_runner.SessionRunner(
                session_id, self.notifier, on_exit=self._runner_exited,
                engine=self.host)
            self._runners[session_id] = runner
            runner.start()
            return runner

    def _runner_exited(self, runner):
        with self._lock:
            if self._runners.get(runner.session_id) is runner:
                del self._runners[runner.session_id]
                if not runner.ended and not runner.stopping:
                    # Ended unexpectedly: the engine service starts it
                    # again (EngineService.revive_runners).
                    self._crashed.add(runner.session_id)

    def take_crashed(self):
        """Session ids whose runner ended unexpectedly since the last
        call (and that no runner runs now)."""
        with self._lock:
            crashed = {sid for sid in self._crashed
                       if sid not in self._runners}
            self._crashed.clear()
            return sorted(crashed)

    def running_sessions(self):
        with self._lock:
            return [sid for sid, r in self._runners.items() if r.is_alive()]

    def fence_stale(self):
        """Stop (quietly) the runners of sessions another engine owns now
        or that were claimed again since they started (one read for all
        of them): an engine that stalled past its takeover does not wait
        for its next write to learn it. Returns their session ids."""
        with self._lock:
            runners = {sid: r for sid, r in self._runners.items()
                       if r.fence is not None and not r.fenced}
        if not runners:
            return []
        owners = db_api.sessions_owners(sorted(runners))
        stale = []
        for sid, runner in sorted(runners.items()):
            if owners.get(sid, (None, None)) != (runner.fence.engine,
                                                 runner.fence.generation):
                if sid not in owners:
                    continue   # deleted: the runner learns it itself
                runner.fence_lost('going on (the session was claimed '
                                  'again, by %s)' % owners[sid][0])
                stale.append(sid)
        return stale

    def stop_all(self, timeout=10):
        """Engine shutdown: stop every runner, leaving sessions as they are
        in the database so that the next engine resumes them."""
        with self._lock:
            runners = list(self._runners.values())
        for r in runners:
            r.stop(session_runner.STOP_SHUTDOWN)
        for r in runners:
            r.stop(session_runner.STOP_SHUTDOWN, timeout=timeout)

    def _wake(self, context, session, topic=None, subject=None):
        """Wake the runner of ``session`` (as just read from the
        database) about ``topic`` (``subject``: the instance it names, if
        any): this engine's, and the owner's when
        the session is owned by another engine.

        A runner of this engine for a session another engine owns now (it
        stalled past its takeover and was not yet, or just, fenced) is
        woken too, so that it learns sooner that it must end; but the
        wake-up that counts goes to the owner. Before, the stale runner
        took it: the owner's runner then waited for its deadline (the
        crash campaign, issue 14: a plug-in report received by an engine
        just woken from a SIGSTOP cost the new owner its 120 s timeout).
        """
        owner = session.get('engine')
        with self._lock:
            runner = self._runners.get(session['session_id'])
        if runner is not None:
            runner.wake(topic, subject)
            if not runner.fenced and owner in (None, self.host):
                return
        if owner and owner != self.host and not rpc.local_mode():
            # Owned by another engine: tell it to look.
            client = rpc.get_client(
                messaging.Target(topic=CONF.engine.topic,
                                 server=session['engine'],
                                 version=rpcapi.RPC_API_VERSION),
                version_cap=rpcapi.RPC_API_VERSION)
            # Without the request's deadline: the request was carried
            # out; a wake-up that arrives late is still due (it was
            # dropped as expired when this engine answered close to the
            # API's deadline, e.g. right after a SIGSTOP, and the owner
            # waited for its timeout).
            # 1.4: what an engine of the previous release takes too.
            client.prepare(version='1.4').cast(
                rpc.with_deadline(context, None), 'wake_session',
                session_id=session['session_id'])

    def _wake_all(self):
        with self._lock:
            runners = list(self._runners.values())
        for r in runners:
            r.wake()

    # --- RPC: misc --------------------------------------------------------
    def ping(self, context):
        """Who answers, how many sessions it runs, and whether it reaches
        the database (``database``: ``ok``, else why not: a ``SELECT 1``
        failed)."""
        try:
            db_api.ping()
            database = 'ok'
        except Exception as e:
            LOG.warning('Health check: the database cannot be reached: %s',
                        e)
            database = 'unreachable: %s' % type(e).__name__
        return {'engine': self.host, 'sessions': len(self.running_sessions()),
                'database': database}

    def get_metrics(self, context):
        """The figures of ``/metrics``, from the database (RPC 1.3)."""
        return engine_metrics.figures()

    def wake_session(self, context, session_id, topic=None, subject=None):
        """Wake this engine's runner of the session, if any (RPC 1.4:
        ``topic`` and ``subject``, as :meth:`SessionRunner.wake` takes
        them: an API that recorded a reply names it)."""
        with self._lock:
            runner = self._runners.get(session_id)
        if runner is not None:
            runner.wake(topic, subject)

    # --- RPC: sessions ----------------------------------------------------
    def create_session(self, context, values, idempotency_key=None,
                       forwarded=False):
        """Create a session and start its runner.

        ``idempotency_key`` (RPC 1.2; the client's ``Idempotency-Key``
        header): a create of the same project with the same key answers
        the session the first one created (with another body: 409), so a
        client that retries after a time-out does not make a second one.

        An engine that runs ``[engine] max_sessions`` sessions forwards
        the create to the live engine with the most room
        (:meth:`_forward_create`); ``forwarded`` (RPC 1.5): this is such a
        create, and it is not forwarded again (409 if this engine is full
        too).
        """
        scoped = request_hash = None
        if idempotency_key is not None:
            scoped = _sha256('%s\n%s' % (context.project_id or '',
                                         idempotency_key))
            request_hash = _sha256(jsonutils.dumps(values, sort_keys=True))
            first = self._created_with(scoped, request_hash,
                                       idempotency_key)
            if first is not None:
                return first
        try:
            return self._create_session(context, values, scoped,
                                        request_hash, idempotency_key,
                                        forwarded)
        except exception.IdempotencyKeyInUse:
            # Another create with the key won the race: its session.
            first = self._created_with(scoped, request_hash,
                                       idempotency_key)
            if first is None:
                raise
            return first

    def _created_with(self, scoped, request_hash, key):
        first = db_api.session_find_by_idempotency_key(scoped)
        if first is None:
            return None
        if first.get('request_hash') != request_hash:
            raise exception.IdempotencyConflict(key=key)
        LOG.info('Create with a known Idempotency-Key: session %s',
                 first['session_id'])
        return {'session_id': first['session_id']}

    def _create_session(self, context, values, scoped, request_hash,
                        idempotency_key=None, forwarded=False):
        workflow = values.get('workflow') or 'default'
        downloads = values.get('download') or []
        plugins.check_workflow(workflow, downloads)
        actions = values.get('actions') or []
        for action in actions:
            plugins.check_action(action['plugin'], downloads)
        self._check_hosts(workflow, values.get('hosts') or [])
        if CONF.engine.max_sessions_total:
            # Every engine's: the deployment's limit (first: no engine
            # can take the create then, forwarding it is no use).
            total = db_api.sessions_count(st.ACTIVE_SESSION_STATES)
            if total >= CONF.engine.max_sessions_total:
                raise exception.TooManySessionsTotal(count=total)
        running = len(db_api.session_list_by_states(
            st.ACTIVE_SESSION_STATES, engine=self.host))
        if running >= CONF.engine.max_sessions:
            if forwarded:
                raise exception.TooManySessions(count=running)
            return self._forward_create(context, values, idempotency_key,
                                        running)
        maintenance_at = (timeutils.parse_time(values['maintenance_at'],
                                               'maintenance_at')
                          if values.get('maintenance_at')
                          else timeutils.utcnow())
        options = {k: values[k] for k in views.SESSION_OPTIONS
                   if values.get(k) is not None}
        options['requested_hosts'] = list(values.get('hosts') or [])
        session_id = str(uuid.uuid4())
        positions = {}
        plugin_rows = []
        for action in actions:
            ptype = action['type']
            positions[ptype] = positions.get(ptype, -1) + 1
            plugin_rows.append({'plugin': action['plugin'], 'type': ptype,
                                'position': positions[ptype],
                                'meta': action.get('metadata') or {}})
        # The session, its first history entry and its announcement are
        # one transaction.
        with self.notifier.transaction():
            db_api.session_create({
                'session_id': session_id,
                'state': st.MAINTENANCE,
                'workflow': workflow,
                'maintenance_at': maintenance_at,
                'meta': values.get('metadata') or {},
                'options': options,
                'download': values.get('download') or [],
                'project_id': context.project_id,
                'user_id': context.user_id,
                'engine': self.host,
                'action_plugins': plugin_rows,
                'idempotency_key': scoped,
                'request_hash': request_hash,
            })
            db_api.event_add(
                session_id, st.EVENT_STATE, state=st.MAINTENANCE,
                message='session created (workflow %s, maintenance at %s)'
                % (workflow, timeutils.format_time(maintenance_at)))
            self.notifier.session_event(session_id, st.MAINTENANCE, 0,
                                        context.project_id)
        self.start_runner(session_id)
        return {'session_id': session_id}

    def _forward_create(self, context, values, idempotency_key, running):
        """This engine runs ``running`` sessions, its ``max_sessions``:
        the create goes, once, to the live engine with the most room
        (:meth:`_engine_with_room`), which creates the session and runs
        it. 409 (TooManySessions) when no engine has room or the one
        chosen cannot take RPC 1.5; its own answer otherwise (409 if it
        filled up meanwhile); 503 if it does not answer in time."""
        engine = None if rpc.local_mode() else self._engine_with_room()
        if engine is not None:
            LOG.info('Engine %s runs %d sessions (max_sessions): the create '
                     'goes to engine %s', self.host, running, engine)
            answer = rpcapi.forward_create_session(
                context, engine, values, idempotency_key=idempotency_key)
            if answer is not None:
                return answer
        raise exception.TooManySessions(count=running)

    def _engine_with_room(self):
        """The live engine other than this one that runs the fewest active
        sessions, fewer than ``[engine] max_sessions`` (every engine is
        taken to have this engine's: one configuration); None if none.
        Live: as the takeover judges it (the coordinator's members, else
        heartbeats of at most ``takeover_after`` seconds by the database
        server's clock). The sessions are counted in one grouped read."""
        if self.coordinator is not None:
            alive = self.coordinator.known_alive()
        else:
            alive = db_api.engines_alive(CONF.engine.takeover_after)
        others = set(alive) - {self.host}
        if not others:
            return None
        counts = db_api.sessions_count_by_engine(st.ACTIVE_SESSION_STATES)
        count, engine = min((counts.get(e, 0), e) for e in others)
        return engine if count < CONF.engine.max_sessions else None

    def _check_hosts(self, workflow, hosts):
        """Refuse (400) hosts Nova does not know, for a workflow whose
        hosts are Nova's (an installed one that says so; a downloaded
        workflow checks its hosts itself)."""
        if not hosts:
            return
        if workflow not in self._hosts_from_nova:
            self._hosts_from_nova[workflow] = (
                plugins.is_installed_workflow(workflow) and getattr(
                    plugins.workflow_class(workflow), 'HOSTS_FROM_NOVA',
                    False))
        if not self._hosts_from_nova[workflow]:
            return
        unknown = self.known_hosts.unknown(hosts)
        if unknown:
            raise exception.UnknownHosts(hosts=', '.join(unknown))

    # The reads answer what the API process also reads itself
    # (fenix.db.reads): kept for an API of an earlier version.
    def list_sessions(self, context):
        return reads.session_list()

    def get_session(self, context, session_id):
        return self._summary(session_id)

    def get_session_detail(self, context, session_id):
        return reads.session_detail(session_id)

    def update_session(self, context, session_id, values):
        """Continue a failed session (PUT): the step starts afresh and
        projects are asked again; what was moved or maintained stays
        recorded and is not repeated. Compare :meth:`retry_step`."""
        session = db_api.session_get(session_id, with_plan=False)
        target = values.get('state') or _failed_in(session)
        state_machine.check_resume(session['state'], target)
        self._wait_failed_runner(session_id)
        # The step starts afresh: projects are asked again (what was moved
        # or maintained stays recorded and is not repeated). The events
        # are closed with their ids: a late reply to one is refused.
        cleared = {'event': None, 'event_id': None, 'reply': None,
                   'reply_at': None}
        db_api.projects_update(session_id, cleared)
        for instance in db_api.instances_get(session_id):
            if instance['event'] or instance['reply'] or \
                    instance['event_id']:
                db_api.instance_update(session_id, instance['instance_id'],
                                       cleared)
        self._workflow(session).restart_step()
        return self._restart(context, session, target,
                             'continued by %s from %s'
                             % (_who(context), target))

    def _wait_failed_runner(self, session_id):
        """The runner that failed the session writes the state last; it is
        about to end. Go on only once it has."""
        with self._lock:
            previous = self._runners.get(session_id)
        if previous is not None and not previous.join(STOP_TIMEOUT):
            raise exception.Conflict(
                reason='session %s is still finishing its failure; try '
                       'again' % session_id)

    def _workflow(self, session):
        """An instance of the session's workflow plug-in, without a runner
        (for what the manager asks of it while no handler runs)."""
        sid = session['session_id']
        try:
            cls = plugins.workflow_class(
                session['workflow'], workflow_base.session_download_dir(sid),
                base_class=workflow_base.BaseWorkflow)
        except exception.FenixException:
            # A downloaded plug-in that is gone: the base class's behaviour
            # (its runner will fail the session, saying why).
            cls = workflow_base.BaseWorkflow
        return cls(sid, None, self.notifier)

    def _restart(self, context, session, target, message):
        """Put a failed session back into ``target`` on this engine, record
        and announce it, and start its runner."""
        session_id = session['session_id']
        # The state, its history entry and its announcement are one
        # transaction.
        with self.notifier.transaction():
            db_api.session_update(session_id, {
                'state': target, 'error': None, 'failed_state': None,
                'hold_requested': False, 'hold_state': None,
                'engine': self.host}, expected_state=session['state'])
            db_api.event_add(session_id, st.EVENT_STATE, state=target,
                             message=message)
            summary = views.session_summary(
                db_api.session_get(session_id, with_plan=False))
            self.notifier.session_event(session_id, target,
                                        summary['percent_done'],
                                        summary['project_id'])
        self.start_runner(session_id)
        return summary

    def delete_session(self, context, session_id):
        session = db_api.session_get(session_id, with_plan=False)
        with self._lock:
            runner = self._runners.get(session_id)
        if runner is not None:
            if not runner.stop(session_runner.STOP_DELETE,
                               timeout=STOP_TIMEOUT):
                raise exception.Conflict(
                    reason='session %s did not stop within %s seconds; '
                           'try again' % (session_id, STOP_TIMEOUT))
        elif session['state'] in st.ACTIVE_SESSION_STATES and \
                session.get('engine') not in (None, self.host):
            raise exception.Conflict(
                reason='session %s runs on engine %s; delete it there'
                % (session_id, session['engine']))
        # Its notifications not sent yet would go with the session.
        if not self.notifier.flush_session(session_id,
                                           CONF.outbox.delete_timeout):
            raise exception.Conflict(
                reason='notifications of session %s could not be sent '
                       'within %s seconds (see the engine log); the '
                       'session is kept until they are: try again'
                       % (session_id, CONF.outbox.delete_timeout))
        workflow_base.BaseWorkflow(session_id, None, self.notifier) \
            .remove_downloads()
        db_api.session_delete(session_id)
        return None

    # --- RPC: admin control of a running session (1.1) -------------------
    def pause_session(self, context, session_id, reason=None):
        """Ask the session to pause: the steps in flight finish, no new one
        starts; the runner shows PAUSED once nothing is in flight.

        Any engine may take the request: it is written to the database and
        the runner (here or on the owning engine) is woken at once.
        """
        session = db_api.session_get(session_id, with_plan=False)
        state_machine.check_pause(session['state'],
                                  session.get('hold_requested'))
        db_api.session_update(session_id, {'hold_requested': True},
                              expected_state=state_machine.PAUSABLE)
        db_api.event_add(session_id, st.EVENT_ADMIN, state=session['state'],
                         message='pause requested by %s%s: the steps in '
                                 'flight finish, no new one starts'
                         % (_who(context), _because(reason)))
        self._wake(context, session, st.WAKE_CONTROL)
        return self._summary(session_id)

    def resume_session(self, context, session_id):
        """Lift a pause: a PAUSED session goes back to the state it was
        paused in and its workflow goes on from the recorded rows; a
        session still pausing simply goes on."""
        session = db_api.session_get(session_id, with_plan=False)
        state_machine.check_unpause(session['state'],
                                    session.get('hold_requested'))
        db_api.session_update(session_id, {'hold_requested': False},
                              expected_state=st.ACTIVE_SESSION_STATES)
        paused = session['state'] == st.PAUSED
        db_api.event_add(
            session_id, st.EVENT_ADMIN, state=session['state'],
            message=('resumed by %s: back to %s' % (
                _who(context), session.get('hold_state'))) if paused else
            ('pause withdrawn by %s before the session was paused'
             % _who(context)))
        self._wake(context, session, st.WAKE_CONTROL)
        if session.get('engine') in (None, self.host):
            # Its runner may be gone (it failed to start after a restart):
            # a paused session always has one waiting.
            self.start_runner(session_id)
        return self._summary(session_id)

    def skip_host(self, context, session_id, hostname, reason=None):
        """Skip a host of the session: its pending steps are cancelled,
        the moves already in flight from it finish, it is re-enabled if
        this session disabled it, and it ends SKIPPED with ``reason``; the
        session goes on with the other hosts."""
        session = db_api.session_get(session_id, with_plan=False)
        state = session['state']
        if state == st.MAINTENANCE_DONE:
            raise exception.SessionStateConflict(
                state=state, action='changed (a host skipped)',
                allowed=', '.join(st.ACTIVE_SESSION_STATES +
                                  (st.MAINTENANCE_FAILED,)))
        host = db_api.host_get(session_id, hostname)
        if host['maintained']:
            raise exception.Conflict(
                reason='host %s is already maintained; there is nothing '
                       'left to skip' % hostname)
        if host['state'] == st.HOST_SKIPPED:
            raise exception.Conflict(
                reason='host %s is already skipped (%s)' % (
                    hostname, (host['details'] or {}).get('skipped')))
        if host['skip_requested']:
            raise exception.Conflict(
                reason='a skip of host %s was already requested' % hostname)
        in_maintenance = host['state'] == st.HOST_IN_MAINTENANCE or any(
            r['state'] == st.RUN_RUNNING
            for r in db_api.action_runs_get(session_id, hostname=hostname))
        if in_maintenance and state != st.MAINTENANCE_FAILED:
            # In a failed session nothing of it runs any more.
            raise exception.Conflict(
                reason='host %s is in maintenance (its action plug-ins '
                       'run); it cannot be skipped now' % hostname)
        reason = reason or 'skipped by %s' % _who(context)
        details = dict(host['details'] or {}, skip_reason=reason)
        db_api.host_update(session_id, hostname, {'skip_requested': True,
                                                  'details': details})
        db_api.event_add(session_id, st.EVENT_ADMIN, state=state,
                         host=hostname,
                         message='skip of host %s requested by %s: %s'
                         % (hostname, _who(context), reason))
        if state == st.MAINTENANCE_FAILED:
            # No runner: nothing is in flight; skip it now.
            self._wait_failed_runner(session_id)
            self._workflow(session).skip_host(hostname, reason)
        else:
            self._wake(context, session, st.WAKE_CONTROL)
        return self._summary(session_id)

    def retry_step(self, context, session_id):
        """Retry the step a session failed in.

        Unlike a continue (PUT, :meth:`update_session`), the exchanges
        with projects are kept (nobody is asked again): what failed is
        reset (failed steps back to PENDING along the step machine's
        ``retry`` edge, failed moves back to pending; a failed action
        plug-in run stays FAILED until it runs again, as a new attempt: its
        machine's ``retry`` edge) and the session goes on from the state
        it failed in. Each retried step gets a new attempt when it starts
        again.
        """
        session = db_api.session_get(session_id, with_plan=False)
        if session['state'] != st.MAINTENANCE_FAILED:
            raise exception.SessionStateConflict(
                state=session['state'], action='retried',
                allowed=st.MAINTENANCE_FAILED)
        target = _failed_in(session)
        state_machine.check_resume(session['state'], target)
        self._wait_failed_runner(session_id)
        reset = []
        # The failed steps go back to PENDING along the step machine's
        # ``retry`` edge; each starts again as a new attempt.
        steps = db_api.steps_retry_failed(session_id,
                                          'retried by %s' % _who(context))
        for row in db_api.instances_get(session_id):
            if row['action_state'] != st.ACTION_FAILED:
                continue
            db_api.instance_update(session_id, row['instance_id'], {
                'action_state': st.ACTION_PENDING,
                'action_message': 'retried after: %s'
                                  % (row['action_message'] or 'a failure')})
            reset.append('move of instance %s reset' % row['instance_id'])
        for run in db_api.action_runs_get(session_id):
            if run['state'] == st.RUN_FAILED:
                reset.append('%s plug-in %s on %s runs again' % (
                    run['type'], run['plugin'],
                    run['hostname'] or 'session'))
        reset.extend('step %s %s of %s retried (attempt %d failed)' % (
            step['id'], step['kind'],
            step['instance_id'] or step['host'] or 'the session',
            step['attempt']) for step in steps)
        return self._restart(
            context, session, target,
            'retried by %s from %s (%s; projects are not asked again)'
            % (_who(context), target,
               ', '.join(reset) or 'nothing failed to reset'))

    def _summary(self, session_id):
        return reads.session_summary(session_id)

    # --- RPC: projects ----------------------------------------------------
    # Which event a reply answers, and why one is refused: see
    # fenix.common.replies.

    def get_project(self, context, session_id, project_id, event_id=None):
        return reads.project(session_id, project_id, event_id=event_id)

    def project_reply(self, context, session_id, project_id, reply,
                      event_id=None):
        """A project's reply, from an API of before RPC 1.4 (an API of
        1.4 records replies itself: :mod:`fenix.db.replies`)."""
        answer, wake = reply_db.settle_project_reply(
            session_id, project_id, reply, event_id)
        if wake is not None:
            self._wake(context, dict(wake, session_id=session_id),
                       st.WAKE_REPLY)
        return answer

    def get_project_instance(self, context, session_id, project_id,
                             instance_id, event_id=None):
        return reads.project_instance(session_id, project_id, instance_id,
                                      event_id=event_id)

    def project_instance_reply(self, context, session_id, project_id,
                               instance_id, reply, event_id=None):
        """As :meth:`project_reply`, for one instance's event."""
        answer, wake = reply_db.settle_instance_reply(
            session_id, project_id, instance_id, reply, event_id)
        if wake is not None:
            self._wake(context, dict(wake, session_id=session_id),
                       st.WAKE_REPLY, instance_id)
        return answer

    # --- RPC: constraints -------------------------------------------------
    def list_instance_constraints(self, context, project_id=None):
        return db_api.instance_constraints_list(project_id=project_id)

    def get_instance_constraint(self, context, instance_id):
        return db_api.instance_constraint_get(instance_id)

    def put_instance_constraint(self, context, instance_id, values):
        """Insert or update; the instance may only join a group of its
        own project (409 otherwise, nothing written)."""
        values = dict(values, instance_id=instance_id)
        with db_api.transaction():
            _check_group_project(instance_id, values)
            result = db_api.instance_constraint_put(instance_id, values)
        self._wake_all()
        return result

    def delete_instance_constraint(self, context, instance_id):
        db_api.instance_constraint_delete(instance_id)
        self._wake_all()

    def list_instance_group_constraints(self, context, project_id=None):
        return db_api.instance_group_constraints_list(project_id=project_id)

    def get_instance_group_constraint(self, context, group_id):
        return db_api.instance_group_constraint_get(group_id)

    def put_instance_group_constraint(self, context, group_id, values):
        """Insert or update; a group whose members are instances of its
        project cannot move to another project (409)."""
        values = dict(values, group_id=group_id)
        with db_api.transaction():
            project_id = values.get('project_id')
            if project_id:
                try:
                    # Locked first (see _check_group_project).
                    db_api.instance_group_constraint_get(group_id,
                                                         for_update=True)
                except exception.InstanceGroupNotFound:
                    pass
                others = sorted(
                    c['instance_id'] for c in
                    db_api.instance_constraints_list(group_id=group_id)
                    if c['project_id'] != project_id)
                if others:
                    raise exception.GroupHasOtherMembers(
                        group_id=group_id, project_id=project_id,
                        members=', '.join(others[:5]) +
                        (', ...' if len(others) > 5 else ''))
            result = db_api.instance_group_constraint_put(group_id, values)
        self._wake_all()
        return result

    def delete_instance_group_constraint(self, context, group_id):
        db_api.instance_group_constraint_delete(group_id)
        self._wake_all()

    # --- RPC: action plug-in runs -----------------------------------------
    def list_action_runs(self, context, session_id):
        return reads.action_runs(session_id)

    def report_action_run(self, context, session_id, plugin, hostname,
                          report, attempt=None):
        """An agent's report on a run it was handed (RPC 1.1: ``attempt``).

        ``attempt``: the attempt the agent was given; a report of another
        attempt than the current one is refused (409, naming the current
        one) and changes nothing. Without it (an agent of before 1.1) the
        report applies to the current attempt of the one RUNNING run of
        ``plugin`` on the host. A run that is not RUNNING: 409. The check
        and the write are one compare-and-set on the attempt and the
        state, so of two reports at once exactly one wins.
        """
        session = db_api.session_get(session_id, with_plan=False)
        where = hostname or 'session'
        runs = db_api.action_runs_get(session_id, plugin=plugin,
                                      hostname=hostname or '')
        if not runs:
            raise exception.ActionPluginRunNotFound(
                session_id=session_id, plugin=plugin,
                host=hostname or '(session)')
        running = [r for r in runs if r['state'] == st.RUN_RUNNING]
        # Judged against: the run of that attempt if it waits for a
        # report, else the run that waits (the report is of another
        # attempt), else the run of that attempt (it ended), else the
        # latest run.
        latest = max(runs, key=lambda r: r['attempt'])
        named = [r for r in runs if r['attempt'] == attempt]
        if attempt is not None:
            run = ([r for r in named if r in running] or running or named or
                   [latest])[0]
        elif len(running) > 1:
            raise exception.Conflict(
                reason='%d runs of %s on %s are RUNNING (types %s); name '
                       'the attempt' % (len(running), plugin, where,
                                        ', '.join(r['type']
                                                  for r in running)))
        else:
            run = (running or [latest])[0]
        if attempt is None:
            attempt = run['attempt']
        with db_api.transaction():
            updated = db_api.action_run_update_attempt(
                run['id'], attempt, {
                    'state': report['state'],
                    'message': report.get('message'),
                    'finished_at': timeutils.utcnow()})
            db_api.event_add(
                session_id, st.EVENT_PLUGIN, host=hostname or None,
                state=report['state'],
                message='%s plug-in %s reported %s on %s (attempt %d)' % (
                    run['type'], plugin, report['state'], where, attempt))
        self._wake(context, session, st.WAKE_REPORT)
        return views.action_run(updated)


def _check_group_project(instance_id, values):
    """Raise GroupOfAnotherProject when the instance constraint ``values``
    (a PUT: missing fields keep their stored value) would put the
    instance in a group of another project. A group not registered (yet)
    has no project to compare with."""
    try:
        existing = db_api.instance_constraint_get(instance_id)
    except exception.InstanceConstraintNotFound:
        existing = {}
    group_id = values.get('group_id', existing.get('group_id'))
    project_id = values.get('project_id') or existing.get('project_id')
    if not group_id or not project_id:
        return
    try:
        # Locked: a concurrent PUT of the group (which reads its members
        # after locking the same row) cannot move it to another project
        # between this check and the instance's write.
        group = db_api.instance_group_constraint_get(group_id,
                                                     for_update=True)
    except exception.InstanceGroupNotFound:
        return
    if group['project_id'] != project_id:
        raise exception.GroupOfAnotherProject(
            instance_id=instance_id, project_id=project_id,
            group_id=group_id)


def _failed_in(session):
    """The workflow state a failed session resumes in: where it failed
    (where it was paused, if it failed while paused)."""
    state = session.get('failed_state') or st.MAINTENANCE
    if state == st.PAUSED:
        state = session.get('hold_state') or st.MAINTENANCE
    return state


def _who(context):
    return getattr(context, 'user_id', None) or 'admin'


def _because(reason):
    return ' (%s)' % reason if reason else ''


# The manager methods callable over the message bus: exactly the calls of
# fenix.engine.rpcapi.EngineAPI (the API's), plus those one engine sends
# to another (ENGINE_TO_ENGINE_METHODS). A unit test keeps this equal to
# EngineAPI.
RPC_METHODS = frozenset([
    'ping', 'get_metrics',
    'create_session', 'list_sessions', 'get_session', 'get_session_detail',
    'update_session', 'delete_session',
    'pause_session', 'resume_session', 'skip_host', 'retry_step',
    'get_project', 'project_reply', 'get_project_instance',
    'project_instance_reply',
    'list_instance_constraints', 'get_instance_constraint',
    'put_instance_constraint', 'delete_instance_constraint',
    'list_instance_group_constraints', 'get_instance_group_constraint',
    'put_instance_group_constraint', 'delete_instance_group_constraint',
    'list_action_runs', 'report_action_run',
    # A cast of the API (1.4: a reply it recorded) as of an engine.
    'wake_session',
])
# wake_session (a cast to a session's owner) and create_session (1.5: a
# full engine forwards a create, rpcapi.forward_create_session).
ENGINE_TO_ENGINE_METHODS = frozenset(['wake_session', 'create_session'])
EXPOSED_METHODS = RPC_METHODS | ENGINE_TO_ENGINE_METHODS
# Names oslo.messaging itself looks up on an endpoint (not calls).
_PROBED = frozenset(['oslo_rpc_server_ping'])


def _sha256(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


class RPCEndpoint(object):
    """What the RPC server dispatches to: the manager methods named in
    :data:`EXPOSED_METHODS` and nothing else (a call of any other name is
    refused by oslo.messaging as an unknown method, and logged here), with
    Fenix's own errors (404, 409, ...) marked as expected answers so that
    the server passes them back without logging a traceback."""

    target = EngineManager.target

    def __init__(self, manager):
        self._manager = manager

    def __getattr__(self, name):
        if name not in EXPOSED_METHODS:
            if not name.startswith('__') and name not in _PROBED:
                LOG.warning('Refused RPC call of %r: not a method of the '
                            'engine RPC API', name)
            raise AttributeError(name)
        value = getattr(self._manager, name)
        return messaging.expected_exceptions(exception.FenixException)(
            rpc.guarded(name, value))
