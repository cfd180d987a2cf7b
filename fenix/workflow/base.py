# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""BaseWorkflow: what every workflow plug-in gets from Fenix.

A workflow plug-in implements one method per session state; each returns
the next state (the runner checks it against the state machine and writes
it to the database before calling the next handler). Handlers must be safe
to run again after an engine restart: they look at what the database
already records as done (moved instances, maintained hosts, plug-in runs)
and carry on from there.

The base class gives plug-ins:

* the session and its rows (always read fresh from the database);
* the history (:meth:`record`);
* project events with deadlines in the future, each with an id of its
  own that its ``reply_url`` names, and waiting for the replies to those
  very events, waking at once when one arrives (:meth:`notify_projects`,
  :meth:`wait_project_replies`, and the per-instance variants; see
  :mod:`fenix.common.replies` for how a reply is matched to its event);
* host events and action plug-in runs (:meth:`run_action_plugins`);
* the OpenStack facade (:attr:`cloud`) and cleanup of hosts it disabled;
* the admin's control of a running session (SPEC 3.7): :meth:`may_start`
  and :meth:`safe_point`, the one check a workflow makes where it would
  start a new step, honour a pause or a host skip (see "Admin control"
  below).

Admin control
-------------

A workflow calls :meth:`safe_point` (or, where other work of the session
may be in flight, :meth:`may_start`) before each new step: an exchange
with projects, choosing, emptying or maintaining a host, a move, an
instance event. A pause then lets the steps in flight finish, starts no
new one and unwinds the handler (:class:`HoldRequested`) to the runner,
which shows the session PAUSED; a resume runs the handler again, which,
being safe to re-enter (as after a restart), goes on from the recorded
rows. A host an admin asked to skip gets no new step; once nothing of it
is in flight :meth:`skip_host` re-enables it if this session disabled it
and marks it SKIPPED, and the session goes on with the others.
"""
import collections
import datetime
import os
import shutil
from urllib import parse as urlparse
import uuid

from oslo_config import cfg
from oslo_log import log as logging

from fenix.common import exception
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.workflow.actions import base as action_base
from fenix.workflow import plugins
from fenix.workflow import steps as plan_steps

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# A wait for a wake-up (a reply, a plug-in's report, an admin's control)
# looks again at least this often (seconds): a wake-up lost on its way
# (an engine stopped while it was sent, a broker outage) costs this long,
# not the whole wait.
WAKE_RECHECK = 10

ALL_ACTIONS = list(st.INSTANCE_ACTIONS)

# Why a run found RUNNING after an engine restart, whose plug-in is not
# idempotent, fails instead of being started again.
INTERRUPTED_NOT_REPEATABLE = ('interrupted by an engine restart; not safe to '
                              'repeat: retry it after checking the host')

# What :meth:`BaseWorkflow.notify_projects` and
# :meth:`BaseWorkflow.notify_instance` return: the event's name, its reply
# deadline and {project_id (or instance_id): event_id} of what was sent.
SentEvent = collections.namedtuple('SentEvent',
                                   ['event', 'reply_at', 'event_ids'])


def new_event_id():
    """The id of a new project or instance event."""
    return str(uuid.uuid4())


def api_base_url():
    """The URL managers use to reach this Fenix (without /v1)."""
    if CONF.api.public_endpoint:
        return CONF.api.public_endpoint.rstrip('/')
    return 'http://%s:%s' % (CONF.api.host, CONF.api.port)


def reply_window(event, session=None):
    """Seconds a project has to answer ``event``."""
    options = (session or {}).get('options') or {}
    if options.get('reply_window'):
        return int(options['reply_window'])
    return getattr(CONF.workflow, 'reply_window_%s' % event.lower())


def session_download_dir(session_id):
    return os.path.join(CONF.download.directory, session_id)


class HoldRequested(Exception):
    """An admin asked to pause the session and nothing is in flight.

    Raised at a safe point; the runner catches it and shows the session
    PAUSED. Nothing is lost: the handler runs again on resume, as after an
    engine restart.
    """


# Why a host was skipped when the admin gave no reason.
SKIPPED_BY_ADMIN = 'skipped by an admin'


class BaseWorkflow(object):
    """Base of workflow plug-ins."""

    # The session's hosts are Nova's: a create that names a host Nova does
    # not know is refused (400) by the engine.
    HOSTS_FROM_NOVA = False

    def __init__(self, session_id, runner, notifier):
        self.session_id = session_id
        self.runner = runner
        self.notifier = notifier
        self._cloud = None
        self._steps = None

    # --- dispatch ---------------------------------------------------------
    def handlers(self):
        """Map each active session state to the method that handles it."""
        return {
            st.MAINTENANCE: self.maintenance,
            st.SCALE_IN: self.scale_in,
            st.PREPARE_MAINTENANCE: self.prepare_maintenance,
            st.START_MAINTENANCE: self.start_maintenance,
            st.PLANNED_MAINTENANCE: self.planned_maintenance,
            st.MAINTENANCE_COMPLETE: self.maintenance_complete,
        }

    def handler(self, state):
        try:
            return self.handlers()[state]
        except KeyError:
            raise exception.WorkflowError(
                reason='workflow %s has no handler for state %s'
                % (type(self).__name__, state))

    def _not_used(self, state):
        raise exception.WorkflowError(
            reason='workflow %s does not use state %s'
            % (type(self).__name__, state))

    def maintenance(self):
        self._not_used(st.MAINTENANCE)

    def scale_in(self):
        self._not_used(st.SCALE_IN)

    def prepare_maintenance(self):
        self._not_used(st.PREPARE_MAINTENANCE)

    def start_maintenance(self):
        self._not_used(st.START_MAINTENANCE)

    def planned_maintenance(self):
        self._not_used(st.PLANNED_MAINTENANCE)

    def maintenance_complete(self):
        self._not_used(st.MAINTENANCE_COMPLETE)

    # --- data -------------------------------------------------------------
    @property
    def session(self):
        """The session's row as it is now, without its ``plan``."""
        return db_api.session_get(self.session_id, with_plan=False)

    @property
    def options(self):
        return self.session.get('options') or {}

    @property
    def cloud(self):
        if self._cloud is None:
            from fenix.common import cloud
            self._cloud = cloud.Cloud()
        return self._cloud

    def hosts(self, type=None):
        return db_api.hosts_get(self.session_id, type=type)

    # --- the plan's steps (fenix.workflow.steps) ---------------------------
    @property
    def steps(self):
        """The session's steps (:class:`fenix.workflow.steps.Book`), read
        once per workflow object (an engine that restarts reads them
        again)."""
        if self._steps is None:
            self._steps = plan_steps.Book(self.session_id)
        return self._steps

    def mark_step(self, kind, host=None, instance_id=None, event='done',
                  **kwargs):
        """Mark a step of the plan (:meth:`Book.mark`), in the caller's
        transaction: called where the change the step stands for is
        written. A step that may not take the event (the machine has no
        such edge) is left as it is and the refusal logged: the change
        itself stands."""
        try:
            return self.steps.mark(kind, host, instance_id, event, **kwargs)
        except exception.InvalidStepTransition as e:
            LOG.warning('Session %s: step %s of %s: %s', self.session_id,
                        kind, instance_id or host or 'session', e)
            return None

    def percent_done(self):
        # A skipped host is no work left.
        hosts = [h for h in self.hosts() if h['state'] != st.HOST_SKIPPED]
        if not hosts:
            state = self.session['state']
            return 100 if state == st.MAINTENANCE_DONE else 0
        done = sum(1 for h in hosts if h['maintained'])
        return int(100 * done / len(hosts))

    def record(self, kind, message, **kwargs):
        LOG.info('Session %s: %s', self.session_id, message)
        return db_api.event_add(self.session_id, kind, message=message,
                                **kwargs)

    def transaction(self):
        """One transaction for rows, history and notifications (see
        :meth:`fenix.common.notifier.Notifier.transaction`): a plug-in
        writes a change and records what it announces together."""
        return self.notifier.transaction()

    def update_instance(self, instance_id, values, kind, message,
                        **kwargs):
        """Update an instance row and record ``message`` in the history,
        in one transaction (see :meth:`record`). Logged once written (an
        instance without a row, NotFound, is not said to have been
        updated: its caller creates the row and comes back)."""
        kwargs.setdefault('instance_id', instance_id)
        result = db_api.instance_update(
            self.session_id, instance_id, values,
            history=dict(kwargs, kind=kind, message=message))
        LOG.info('Session %s: %s', self.session_id, message)
        return result

    # --- admin control: pause and skip (SPEC 3.7) --------------------------
    def _control(self):
        """(pause requested, {hostname: reason} of hosts to skip), as the
        runner last read them from the database (it reads them again after
        every control wake-up, so this costs no query)."""
        control = getattr(self.runner, 'control', None)
        if control is None:
            return False, {}
        return control()

    def may_start(self, hostname=None):
        """May a new step (on ``hostname``) start now?

        False while a pause is requested, and for a host an admin asked to
        skip. For workflows that run several steps at once (the ``nfv``
        executor): called before each one; what is in flight goes on.
        """
        hold, skips = self._control()
        return not hold and not (hostname and hostname in skips)

    def held(self):
        """True while a pause is requested."""
        return self._control()[0]

    def skip_requests(self):
        """{hostname: reason} of the hosts an admin asked to skip that are
        not skipped yet."""
        return self._control()[1]

    def safe_point(self, hostname=None):
        """A point where nothing of the session is in flight and a new
        step (on ``hostname``, if given) is about to start.

        Applies every skip an admin asked for (:meth:`skip_host`), then
        raises HoldRequested when a pause is requested. Returns False when
        ``hostname`` is skipped (its step must not start), else True.
        """
        skips = self.apply_skips()
        if self.held():
            raise HoldRequested()
        if hostname is None:
            return True
        return hostname not in skips and \
            db_api.host_get(self.session_id, hostname)['state'] != \
            st.HOST_SKIPPED

    def apply_skips(self):
        """Skip every host an admin asked to skip (where nothing of the
        session is in flight). Returns the hostnames skipped."""
        skips = self._control()[1]
        for name in sorted(skips):
            self.skip_host(name, skips[name])
        return set(skips)

    def skip_host(self, hostname, reason=None):
        """Skip ``hostname`` as an admin asked; nothing of it may be in
        flight.

        Re-enables nova-compute when this session disabled it (never when
        an operator did), marks the host SKIPPED with the reason, and
        clears the request. A host already maintained or skipped only
        loses the request.
        """
        host = db_api.host_get(self.session_id, hostname)
        details = dict(host['details'] or {})
        reason = reason or details.get('skip_reason') or SKIPPED_BY_ADMIN
        if host['maintained'] or host['state'] == st.HOST_SKIPPED:
            db_api.host_update(self.session_id, hostname,
                               {'skip_requested': False})
            self._control_changed()
            return
        if host['disabled_by_fenix']:
            self.cloud.enable_compute(hostname)
            db_api.host_update(self.session_id, hostname,
                               {'disabled_by_fenix': False})
            self.record(st.EVENT_HOST, 'nova-compute enabled on %s again '
                        '(skipped)' % hostname, host=hostname)
        if host['state'] == st.HOST_IN_MAINTENANCE:
            # Its maintenance did not complete (the session failed in it):
            # it failed, then it is skipped (the host machine's edges).
            db_api.host_update(self.session_id, hostname,
                               {'state': st.HOST_FAILED})
        details.pop('deferred', None)
        details['skipped'] = reason
        with self.transaction():
            db_api.host_update(self.session_id, hostname, {
                'state': st.HOST_SKIPPED, 'skip_requested': False,
                'details': details})
            # Its steps not started are cancelled with it.
            self.steps.cancel_pending(hostname, why=reason)
        self.record(st.EVENT_DECISION, 'host %s skipped: %s; it stays '
                    'unmaintained' % (hostname, reason), host=hostname,
                    state=st.HOST_SKIPPED)
        self._control_changed()

    def _control_changed(self):
        changed = getattr(self.runner, 'control_changed', None)
        if changed is not None:
            changed()

    def restart_step(self):
        """The admin continues a failed session (PUT): the step starts
        afresh, projects are asked again. Forget what the workflow keeps
        of the exchange that was under way; a retry keeps it.

        Nothing to forget here; workflows that keep such state override
        it.
        """

    # --- waiting ----------------------------------------------------------
    def stopping(self):
        """The engine is stopping this session (shutdown or delete): an
        error now is the interruption, not a failure of the step."""
        return bool(getattr(self.runner, 'stopping', False))

    def sleep(self, seconds, holdable=False):
        """Wait ``seconds``, but stop at once if the session is stopped.

        ``holdable``: give way to a pause (raise HoldRequested) at once.
        """
        deadline = timeutils.utcnow() + datetime.timedelta(seconds=seconds)
        while True:
            if holdable:
                self.safe_point()
            left = (deadline - timeutils.utcnow()).total_seconds()
            if left <= 0:
                return
            self.runner.wait(left)

    def wait_until(self, predicate, deadline, topic=None, holdable=False):
        """Call ``predicate`` now and after every wake-up until it returns
        something true or ``deadline`` (naive UTC) passes. Returns the last
        value of the predicate.

        ``topic``: look again only on wake-ups about that (one of
        ``states.WAKE_*``; wake-ups without a topic always count).
        ``holdable``: the wait itself is no step in flight (e.g. for
        replies to an event already recorded): give way to a pause at once
        (:meth:`safe_point`); the caller must be safe to run again.
        """
        while True:
            # Marked before looking: a wake-up while the predicate runs
            # is not lost.
            mark = self.runner.mark(topic)
            value = predicate()
            if value:
                return value
            if holdable:
                self.safe_point()
            left = (deadline - timeutils.utcnow()).total_seconds()
            if left <= 0:
                return predicate()
            self.runner.wait(min(left, WAKE_RECHECK), topic=topic,
                             since=mark)

    # --- project events ---------------------------------------------------
    def project_url(self, project_id, instance_id=None, event_id=None):
        """The project's (or instance's) URL in the API; with ``event_id``
        it names that event (the ``reply_url`` of the event)."""
        url = '%s/v1/maintenance/%s/%s' % (api_base_url(), self.session_id,
                                           project_id)
        if instance_id:
            url += '/' + instance_id
        if event_id:
            url += '?' + urlparse.urlencode({'event_id': event_id})
        return url

    def _event_times(self, event, session, window, actions_at):
        """(now, reply_at, actions_at) of an event sent now.

        ``reply_at`` is a whole second (rounded up): the deadline the
        workflow waits for is then exactly the one every database stores
        and the payload shows, so a reply the engine takes in time is one
        the workflow sees.
        """
        window = window or reply_window(event, session)
        now = timeutils.utcnow()
        reply_at = timeutils.after(window, now)
        if reply_at.microsecond:
            reply_at = reply_at.replace(microsecond=0) + \
                datetime.timedelta(seconds=1)
        # The earliest time Fenix acts on what the event is about (it acts
        # once answered, and never before this); default the deadline.
        return now, reply_at, actions_at or reply_at

    def notify_projects(self, event, project_ids, allowed_actions=(),
                        actions_at=None, window=None, metadata=None,
                        instance_ids=None, on_recorded=None):
        """Send ``event`` to each project, recording it first.

        Each project's event gets an id of its own; the rows (the
        project's, and its instances tagged for the event), the history,
        the events themselves (in the outbox) and whatever
        ``on_recorded(sent)`` writes (a workflow keeps its exchange there,
        so that after a restart it is found exactly when the event was
        recorded) are one transaction; the events go out once it is
        committed (a reply may come back at once), never lost.

        ``instance_ids``: optional {project_id: [ids]} of the instances the
        event is about (tagged so that GET of the project URL lists them);
        without it the event is about all of the project's instances.
        Returns a :class:`SentEvent`.
        """
        session = self.session
        now, reply_at, actions_at = self._event_times(event, session, window,
                                                      actions_at)
        if metadata is None:
            metadata = session.get('meta') or {}
        sent = SentEvent(event, reply_at, {pid: new_event_id()
                                           for pid in project_ids})
        row = {'event': event, 'event_at': now, 'actions_at': actions_at,
               'reply_at': reply_at, 'reply': None, 'replied_at': None}
        with self.notifier.transaction():
            for project_id in project_ids:
                event_id = sent.event_ids[project_id]
                db_api.project_update(self.session_id, project_id,
                                      dict(row, event_id=event_id))
                tagged = (instance_ids or {}).get(project_id)
                if tagged is not None:
                    db_api.instances_update(
                        self.session_id, {'event': None, 'event_id': None},
                        project_id=project_id)
                db_api.instances_update(self.session_id,
                                        dict(row, event_id=event_id),
                                        project_id=project_id,
                                        instance_ids=tagged)
                self.record(st.EVENT_NOTIFY, '%s sent to project %s, reply '
                            'by %s (event_id %s)'
                            % (event, project_id,
                               timeutils.format_time(reply_at), event_id),
                            state=event, project_id=project_id,
                            created_at=now)
                self.notifier.project_event(
                    self.session_id, project_id, event,
                    instance_ids=self.project_url(project_id,
                                                  event_id=event_id),
                    reply_url=self.project_url(project_id,
                                               event_id=event_id),
                    allowed_actions=allowed_actions, actions_at=actions_at,
                    reply_at=reply_at, metadata=metadata, event_id=event_id,
                    fresh=True)
            if on_recorded is not None:
                on_recorded(sent)
        return sent

    def notify_instance(self, event, instance, allowed_actions=(),
                        actions_at=None, window=None, metadata=None,
                        session=None):
        """Per-instance event (nfv workflow): instance_ids holds the one id
        and reply_url is the instance's own URL naming the event. Returns
        a :class:`SentEvent`.

        ``session``: the session's row when the caller has it (saves a
        read per instance). The row (with the event's id), the history
        entry and the event (in the outbox) are one transaction; the event
        goes out once it is committed (a reply may come back at once).
        """
        item = dict(instance, actions_at=actions_at, window=window)
        return self.notify_instances(event, [item], allowed_actions,
                                     metadata=metadata, session=session)[0]

    def notify_instances(self, event, instances, allowed_actions=(),
                         metadata=None, session=None, on_recorded=None):
        """:meth:`notify_instance` of many instances at once: each gets its
        own event (its own id, ``reply_url`` naming it, ``actions_at``
        and reply window), and the rows, the history entries, the events
        (in the outbox) and what ``on_recorded(sents)`` writes (the
        caller's steps) are one transaction, written in bulk
        (:func:`fenix.db.api.instances_notified`, one outbox insert); the
        events go out together once it is committed (one request with
        ``[notification_http] batch``).

        ``instances``: dicts with ``instance_id``, ``project_id``, and
        optionally ``actions_at``, ``window`` (seconds; default the
        event's) and ``create`` (the columns of the instance's row to add
        when it has none; without it such an instance fails them all,
        InstanceNotFound). Returns a :class:`SentEvent` per instance, in
        their order.
        """
        session = session or self.session
        if metadata is None:
            metadata = session.get('meta') or {}
        changes, history, create, sents, messages = {}, [], {}, [], []
        texts = []
        for item in instances:
            iid, pid = item['instance_id'], item['project_id']
            now, reply_at, actions_at = self._event_times(
                event, session, item.get('window'), item.get('actions_at'))
            event_id = new_event_id()
            changes[iid] = {'event': event, 'event_id': event_id,
                            'event_at': now, 'actions_at': actions_at,
                            'reply_at': reply_at, 'reply': None,
                            'replied_at': None}
            if item.get('create') is not None:
                create[iid] = dict(item['create'], project_id=pid)
            text = ('%s sent for instance %s, reply by %s (event_id %s)'
                    % (event, iid, timeutils.format_time(reply_at),
                       event_id))
            texts.append(text)
            history.append(dict(kind=st.EVENT_NOTIFY, message=text,
                                state=event, project_id=pid,
                                instance_id=iid, created_at=now))
            messages.extend(self.notifier.project_event_messages(
                self.session_id, pid, event, instance_ids=[iid],
                reply_url=self.project_url(pid, iid, event_id=event_id),
                allowed_actions=allowed_actions, actions_at=actions_at,
                reply_at=reply_at, metadata=metadata, event_id=event_id))
            sents.append(SentEvent(event, reply_at, {iid: event_id}))
        if not sents:
            return []
        with self.notifier.transaction():
            db_api.instances_notified(self.session_id, changes,
                                      history=history, create=create)
            self.notifier.record(messages)
            if on_recorded is not None:
                on_recorded(sents)
        for text in texts:
            LOG.info('Session %s: %s', self.session_id, text)
        return sents

    def instance_action_done(self, instance, change=None):
        """Informational INSTANCE_ACTION_DONE for one moved instance.

        It is the instance's current event from now on (with an id of its
        own): a late reply to the event that asked about the move is
        refused. It expects no answer (ACK_INSTANCE_ACTION_DONE is
        accepted and ignored). The row, the history entry and the event
        (in the outbox) are one transaction, in the caller's if one is
        open (the write that says the move is done).

        ``change``: ``(values, kind, message, history keyword arguments)``
        of the caller's own update of the instance's row (the move done),
        written with the event's in one update (its history entry first).
        """
        iid, pid = instance['instance_id'], instance['project_id']
        event_id = new_event_id()
        message = '%s sent for instance %s (event_id %s)' % (
            st.INSTANCE_ACTION_DONE, iid, event_id)
        values = {'event': st.INSTANCE_ACTION_DONE, 'event_id': event_id,
                  'event_at': timeutils.utcnow(), 'actions_at': None,
                  'reply_at': None, 'reply': None, 'replied_at': None}
        entry = dict(kind=st.EVENT_NOTIFY, message=message,
                     state=st.INSTANCE_ACTION_DONE, project_id=pid,
                     instance_id=iid)
        with self.notifier.transaction():
            try:
                if change is not None:
                    own, kind, text, kwargs = change
                    LOG.info('Session %s: %s', self.session_id, text)
                    LOG.info('Session %s: %s', self.session_id, message)
                    db_api.instance_update(
                        self.session_id, iid, dict(own, **values),
                        history=[dict(kwargs, kind=kind, message=text,
                                      instance_id=iid), entry])
                else:
                    self.update_instance(
                        iid, values, st.EVENT_NOTIFY, message,
                        state=st.INSTANCE_ACTION_DONE, project_id=pid)
            except exception.NotFound:
                if change is not None:
                    raise
                # No row (any more): the manager is told all the same.
                self.record(st.EVENT_NOTIFY, message, instance_id=iid,
                            state=st.INSTANCE_ACTION_DONE, project_id=pid)
            self.notifier.project_event(
                self.session_id, pid, st.INSTANCE_ACTION_DONE,
                instance_ids=[iid],
                reply_url=self.project_url(pid, iid, event_id=event_id),
                metadata={}, event_id=event_id, fresh=True)
        return event_id

    def wait_project_replies(self, event, project_ids, deadline,
                             event_ids=None):
        """Wait until every project answered ``event`` or ``deadline``.

        ``event_ids``: {project_id: id} of the events sent (the
        :class:`SentEvent`'s): only a reply to that very event counts.
        Without it (a plug-in written before event ids) a reply counts
        when the project's current event has the name ``event``.

        Returns {project_id: reply} with None for a silent project. Wakes
        at once when a reply is stored (the engine wakes the runner). At
        the deadline the rows are read once more with a lock: a reply
        stored meanwhile is seen, one that comes later is refused by the
        engine as late.
        """
        wanted = set(project_ids)
        ids = dict(event_ids or {})

        def ours(row):
            if ids.get(row['project_id']):
                return row['event_id'] == ids[row['project_id']]
            return row['event'] == event

        def replies(for_update=False):
            rows = {p['project_id']: p for p in
                    db_api.projects_get(self.session_id,
                                        for_update=for_update)
                    if p['project_id'] in wanted}
            return {pid: (rows[pid]['reply'] if rows.get(pid) and
                          ours(rows[pid]) else None)
                    for pid in wanted}

        def all_answered():
            return all(replies().values())

        # Waiting is no step in flight: a pause needs not wait for the
        # replies (the exchange is recorded; it is waited for on resume).
        if not self.wait_until(all_answered, deadline, holdable=True):
            with db_api.transaction():
                result = replies(for_update=True)
        else:
            result = replies()
        for pid, reply in result.items():
            if reply is None:
                self.record(st.EVENT_DECISION,
                            'project %s did not answer %s in time'
                            % (pid, event), state=event, project_id=pid)
        return result

    def instance_reply_final(self, instance_id):
        """The instance's row read with a lock: for a workflow about to
        treat it as silent (its deadline passed), so that a reply stored
        at that moment is either seen here or refused as late."""
        with db_api.transaction():
            return db_api.instance_get(self.session_id, instance_id,
                                       for_update=True)

    # --- hosts and action plug-ins ----------------------------------------
    def host_event(self, hostname, state, host_values=None):
        """Announce ``state`` of ``hostname`` (``maintenance.host``).

        The event (in the outbox), the host's ``announced_state``,
        ``host_values`` (the change of the host row the event stands for)
        and the history entry are one transaction: an engine that restarts
        knows what was announced (and sends it if it was not sent yet), so
        it does not announce it again.
        """
        values = dict(host_values or {}, announced_state=state)
        with self.notifier.transaction():
            db_api.host_update(self.session_id, hostname, values)
            # project_id: the admin project that owns the session, so that
            # its event alarms (AODH matches on the project id) fire.
            self.notifier.host_event(self.session_id, hostname, state,
                                     self.session.get('project_id'))
            self.record(st.EVENT_HOST, 'maintenance.host %s %s'
                        % (hostname, state), state=state, host=hostname)

    def begin_host_maintenance(self, host):
        """Put ``host`` (its row) in maintenance: IN_MAINTENANCE, once.

        A host whose IN_MAINTENANCE was announced already (the engine
        restarted while it was in maintenance, or the session is continued
        after one of its plug-ins failed) is resumed: its state is written
        again, nothing is announced. Returns True when resumed.
        """
        hostname = host['hostname']
        values = {'state': st.HOST_IN_MAINTENANCE,
                  'started_at': host['started_at'] or timeutils.utcnow()}
        step = self.steps.get(st.STEP_MAINTAIN_HOST, hostname)
        in_maintenance = host.get('announced_state') == st.IN_MAINTENANCE \
            or (step is not None and step['state'] == st.STEP_RUNNING)
        if not in_maintenance:
            with self.transaction():
                self.mark_step(st.STEP_MAINTAIN_HOST, hostname, event='start',
                               bump_attempt=True)
                self.host_event(hostname, st.IN_MAINTENANCE, values)
            return False
        with self.transaction():
            db_api.host_update(self.session_id, hostname, values)
            self.mark_step(st.STEP_MAINTAIN_HOST, hostname, event='start')
            self.record(st.EVENT_HOST, '%s resumed in maintenance '
                        '(IN_MAINTENANCE was announced before)' % hostname,
                        host=hostname, state=st.HOST_IN_MAINTENANCE)
        return True

    def end_host_maintenance(self, hostname):
        """MAINTENANCE_COMPLETE for ``hostname``, announced with the write
        that marks it maintained (never announced twice), and with its
        maintain_host step done."""
        with self.transaction():
            self.mark_step(st.STEP_MAINTAIN_HOST, hostname, event='done')
            self.host_event(hostname, st.HOST_MAINTENANCE_COMPLETE, {
                'maintained': True, 'state': st.HOST_MAINTAINED,
                'finished_at': timeutils.utcnow()})

    def report_url(self, plugin, hostname=''):
        """Where an agent reports on a run of ``plugin`` (on ``hostname``;
        '' for a session-wide run)."""
        url = '%s/v1/action_plugin_run/%s/%s' % (api_base_url(),
                                                 self.session_id, plugin)
        return url + '/' + hostname if hostname else url

    def run_action_plugins(self, type, host=None):
        """Run every action plug-in of ``type`` (on ``host``), in order.

        Every start of a plug-in is a new attempt, recorded (RUNNING,
        attempt + 1, and the hand-over to an agent when the plug-in
        declares one) before the plug-in is called. A run already DONE is
        not repeated. A run found RUNNING was interrupted by an engine
        restart and is resumed, never simply started again (see
        :meth:`_resume_plugin`). Raises WorkflowError naming the plug-in
        and host on failure.
        """
        hostname = host['hostname'] if host else ''
        for plugin in db_api.action_plugins_get(self.session_id, type=type):
            runs = db_api.action_runs_get(self.session_id,
                                          plugin=plugin['plugin'],
                                          type=type, hostname=hostname)
            previous = runs[0] if runs else None
            if previous and previous['state'] == st.RUN_DONE:
                if self.steps.state(
                        st.STEP_PLUGIN, hostname or None,
                        plugin=plugin['plugin'], type=type) not in (
                        st.STEP_DONE, None):
                    with self.transaction():
                        self._mark_run(previous, 'done')
                continue
            if previous and previous['state'] == st.RUN_RUNNING:
                run, result = self._resume_plugin(plugin, host, previous)
            else:
                run, result = self._run_one_plugin(plugin, host, previous)
            if not result.ok:
                if getattr(self.runner, 'deleting', False):
                    # Deleted meanwhile (the plug-in was stopped): not
                    # the host's failure.
                    self.runner.check_stop()
                raise exception.WorkflowError(
                    reason='%s plug-in %s failed on %s: %s'
                    % (plugin['type'], plugin['plugin'],
                       hostname or 'session', result.message))

    def check_action_plugins(self, type, host=None):
        """A dry run's look at the plug-ins of ``type`` (on ``host``).

        Each one with a check mode (:attr:`~fenix.workflow.actions.base.
        ActionPlugin.supports_check`) runs in it, as a run of its own
        (attempts, history and ``/detail`` as any run; a run already DONE
        is not repeated, one an engine restart interrupted runs again: a
        check changes nothing); the others are not run. A failed check
        does not raise. Returns one dict per plug-in: ``plugin``,
        ``type``, ``host``, ``checked``, ``ok`` (None when not checked),
        ``message``.
        """
        hostname = host['hostname'] if host else ''
        out = []
        for plugin in db_api.action_plugins_get(self.session_id, type=type):
            entry = {'plugin': plugin['plugin'], 'type': type,
                     'host': hostname or None}
            out.append(entry)
            try:
                cls = self._action_class(plugin['plugin'])
            except Exception as e:  # noqa - reported, not raised
                entry.update(checked=False, ok=False,
                             message='cannot be loaded: %s' % e)
                continue
            if not getattr(cls, 'supports_check', False):
                entry.update(checked=False, ok=None,
                             message='no check mode: not run in a dry run')
                continue
            runs = db_api.action_runs_get(self.session_id,
                                          plugin=plugin['plugin'],
                                          type=type, hostname=hostname)
            previous = runs[0] if runs else None
            if previous and previous['state'] == st.RUN_DONE:
                result = action_base.Result(True,
                                            previous.get('message') or '')
            elif previous and previous['state'] == st.RUN_RUNNING:
                _run, result = self._resume_plugin(plugin, host, previous)
            else:
                _run, result = self._run_one_plugin(plugin, host, previous)
            if not result.ok and getattr(self.runner, 'deleting', False):
                self.runner.check_stop()
            entry.update(checked=True, ok=bool(result.ok),
                         message=result.message)
        return out

    def _action_class(self, name):
        return plugins.action_class(name,
                                    session_download_dir(self.session_id))

    def _new_action(self, plugin, host):
        """The plug-in object for a run of ``plugin`` (on ``host``)."""
        cls = self._action_class(plugin['plugin'])
        return cls(self.session, plugin, host,
                   session_download_dir(self.session_id))

    @staticmethod
    def _where(run):
        return run['hostname'] or 'session'

    def _run_one_plugin(self, plugin, host, previous=None):
        """Start a new attempt of ``plugin`` (on ``host``) and see it to
        its end. ``previous``: the run's row as last seen (None: never
        run). Returns (run, Result).

        The attempt and its history entry are one write, before the
        plug-in is called; for a plug-in that hands its work over
        (:attr:`~fenix.workflow.actions.base.ActionPlugin.hands_over`)
        that write records the hand-over too, so that an engine killed
        while the agent takes the job resumes the attempt.
        """
        name = plugin['plugin']
        hostname = host['hostname'] if host else ''
        try:
            action, failure = self._new_action(plugin, host), None
        except Exception as e:  # noqa - a plug-in error fails the run
            LOG.exception('Action plug-in %s cannot be loaded', name)
            action, failure = None, action_base.Result(
                False, '%s: %s' % (e.__class__.__name__, e))
        hands_over = bool(action is not None and action.hands_over)
        run = self._start_attempt(plugin, hostname, previous, hands_over)
        if failure is not None:
            return run, self._finish_run(run, failure)
        return run, self._call_plugin(action, run)

    @db_api.retry_on_deadlock
    def _start_attempt(self, plugin, hostname, previous, hands_over):
        """Record a new attempt (and the hand-over) with its history
        entry, in one transaction. Returns the run's dict."""
        name, ptype = plugin['plugin'], plugin['type']
        with db_api.transaction():
            run = db_api.action_run_start(
                self.session_id, name, ptype, hostname,
                expected_attempt=previous['attempt'] if previous else 0,
                asynchronous=hands_over)
            self._mark_run(run, 'start', bump_attempt=True)
            self.record(st.EVENT_PLUGIN, '%s plug-in %s started on %s '
                        '(attempt %d%s)' % (
                            ptype, name, self._where(run), run['attempt'],
                            ', handed to its agent' if hands_over else ''),
                        host=hostname or None, state=st.RUN_RUNNING)
        return run

    def _call_plugin(self, action, run):
        """Call ``action.run()`` for the attempt ``run`` and see the
        attempt to its end (its report, when it returns ASYNC). Returns
        the Result that stands."""
        action.attempt = run['attempt']
        action.report_url = self.report_url(run['plugin'], run['hostname'])
        # A DELETE of the session while it runs stops the plug-in's work
        # (e.g. kills the play); an engine shutdown lets it go on.
        on_delete = getattr(self.runner, 'on_delete', None)
        forget = on_delete(action.abort) if on_delete is not None else None
        try:
            result = action.run()
        except Exception as e:  # noqa - a plug-in error fails the run
            LOG.exception('Action plug-in %s failed', run['plugin'])
            result = action_base.Result(False, '%s: %s'
                                        % (e.__class__.__name__, e))
        finally:
            if forget is not None:
                forget()
        if result == action_base.ASYNC:
            if not run['asynchronous']:
                # A plug-in that does not declare its hand-over: recorded
                # before the wait, so that a restarted engine waits for
                # this attempt's report instead of starting it again.
                run = db_api.action_run_update_attempt(
                    run['id'], run['attempt'], {'asynchronous': True},
                    expected_state=None)
            return self._wait_plugin_report(run, action.timeout)
        return self._finish_run(run, result)

    def _resume_plugin(self, plugin, host, run):
        """A run found RUNNING: its engine stopped while it ran.

        Handed to an agent: the same attempt goes on. A plug-in that
        declares its hand-over gets that attempt again (the engine may
        have stopped before the agent had it; the agent takes a repeated
        attempt as a re-delivery); either way the agent's report of that
        attempt is waited for (the time-out counts from its start). In
        process: start it again (a new attempt) only if the plug-in
        declares itself ``idempotent``; otherwise fail the run, so that
        an admin checks the host before continuing the session. Returns
        (run, Result).
        """
        name, ptype = plugin['plugin'], plugin['type']
        where = self._where(run)
        try:
            action = self._new_action(plugin, host)
        except Exception as e:  # noqa - decided below without the object
            LOG.warning('Action plug-in %s cannot be loaded: %s', name, e)
            action = None
        if run['asynchronous'] and action is not None and action.hands_over:
            self.record(st.EVENT_PLUGIN, '%s plug-in %s on %s: attempt %d '
                        'was handed to its agent before the engine '
                        'restarted; handed over again (the same attempt) '
                        'and waiting for its report'
                        % (ptype, name, where, run['attempt']),
                        host=run['hostname'] or None)
            return run, self._call_plugin(action, run)
        if run['asynchronous']:
            self.record(st.EVENT_PLUGIN, '%s plug-in %s on %s: attempt %d '
                        'was handed to its agent before the engine '
                        'restarted; waiting for its report'
                        % (ptype, name, where, run['attempt']),
                        host=run['hostname'] or None)
            timeout = (action or action_base.ActionPlugin).timeout
            return run, self._wait_plugin_report(run, timeout)
        if action is not None and action.idempotent:
            self.record(st.EVENT_PLUGIN, '%s plug-in %s on %s: attempt %d '
                        'was interrupted by an engine restart; the plug-in '
                        'is idempotent: started again'
                        % (ptype, name, where, run['attempt']),
                        host=run['hostname'] or None)
            return self._run_one_plugin(plugin, host, previous=run)
        return run, self._finish_run(
            run, action_base.Result(False, INTERRUPTED_NOT_REPEATABLE))

    def _finish_run(self, run, result):
        """Write the outcome of an attempt that ran in process, with its
        history entry; an outcome reported for the same attempt in the
        meantime stands instead. Returns the Result that stands."""
        state = st.RUN_DONE if result.ok else st.RUN_FAILED
        try:
            with db_api.transaction():
                db_api.action_run_update_attempt(run['id'], run['attempt'], {
                    'state': state, 'message': result.message,
                    'result': getattr(result, 'details', None),
                    'finished_at': timeutils.utcnow()})
                self._mark_run(run, 'done' if result.ok else 'fail',
                               values={'message': result.message})
                self._record_outcome(run, state, result.message)
        except exception.ActionRunStateConflict:
            row = self._run_row(run)
            return action_base.Result(row['state'] == st.RUN_DONE,
                                      row.get('message') or '')
        return result

    def _mark_run(self, run, event, **kwargs):
        """The plugin step of ``run`` (its plug-in on its host)."""
        self.mark_step(st.STEP_PLUGIN, run['hostname'] or None, None, event,
                       plugin=run['plugin'], type=run['type'], **kwargs)

    def _record_outcome(self, run, state, message):
        self.record(st.EVENT_PLUGIN, '%s plug-in %s %s on %s (attempt %d)%s'
                    % (run['type'], run['plugin'], state, self._where(run),
                       run['attempt'], (': ' + message) if message else ''),
                    host=run['hostname'] or None, state=state)

    def _run_row(self, run):
        return db_api.action_runs_get(
            self.session_id, plugin=run['plugin'], type=run['type'],
            hostname=run['hostname'])[0]

    def _wait_plugin_report(self, run, timeout):
        """Wait for the report of an attempt handed to an agent.

        Bounded by ``timeout`` seconds from the attempt's start (also when
        the wait is resumed after a restart). No report in time: the
        attempt fails (unless its report wins the race).
        """
        def reported():
            row = self._run_row(run)
            return (row if row['attempt'] != run['attempt'] or
                    row['state'] != st.RUN_RUNNING else None)

        # Many hosts may wait at once (nfv): each looks again only when a
        # plug-in reported, not on every reply or finished move.
        deadline = timeutils.after(timeout, run['started_at'])
        row = self.wait_until(reported, deadline, topic=st.WAKE_REPORT)
        if not row:
            return self._finish_run(run, action_base.Result(
                False, 'no report within %s seconds' % timeout))
        if row['attempt'] != run['attempt']:
            raise exception.WorkflowError(
                reason='%s plug-in %s on %s: attempt %d was replaced by '
                       'attempt %d' % (run['type'], run['plugin'],
                                       self._where(run), run['attempt'],
                                       row['attempt']))
        with self.transaction():
            # The agent's report wrote the run; its step follows here.
            self._mark_run(row, 'done' if row['state'] == st.RUN_DONE
                           else 'fail', values={'message': row.get('message')})
            self._record_outcome(row, row['state'], row.get('message'))
        return action_base.Result(row['state'] == st.RUN_DONE,
                                  row.get('message') or '')

    # --- cleanup ----------------------------------------------------------
    def cleanup(self, why):
        """Undo what must not outlive the session: enable every host this
        session disabled (never one an operator disabled)."""
        for host in self.hosts():
            if not host['disabled_by_fenix']:
                continue
            self.cloud.enable_compute(host['hostname'])
            db_api.host_update(self.session_id, host['hostname'],
                               {'disabled_by_fenix': False})
            self.record(st.EVENT_HOST, 'enabled %s again (%s)'
                        % (host['hostname'], why), host=host['hostname'])

    def remove_downloads(self):
        shutil.rmtree(session_download_dir(self.session_id),
                      ignore_errors=True)
