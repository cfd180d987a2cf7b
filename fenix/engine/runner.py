# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Runs one session: drives its workflow plug-in through the state machine.

Every transition is checked against :mod:`fenix.common.state_machine` and
written to the database (compare-and-set on the previous state) before the
next handler runs, so an engine that restarts continues where it stood.
A handler that raises ends the session in MAINTENANCE_FAILED with the
reason recorded, after the workflow has undone what it must (re-enabling
hosts it disabled).

A runner claims its session when it starts (the session's generation goes
up; see :mod:`fenix.common.fencing`) and binds the fence to its thread:
once another engine took the session over, the runner's next write or
Nova action is refused and the runner ends quietly, leaving the session
and its hosts to the new owner (no failure recorded, nothing undone).

An admin's pause (the session's ``hold_requested``) is honoured between
handlers and at the workflow's safe points (HoldRequested); the runner
then shows the session PAUSED (``hold_state`` keeps where it was) and runs
no handler until the pause is lifted, also after an engine restart.
"""
import threading

from oslo_config import cfg
from oslo_log import log as logging

from fenix.common import exception
from fenix.common import fencing
from fenix.common import state_machine
from fenix.common import states as st
from fenix.common import transient
from fenix.db import api as db_api
from fenix.workflow import base as workflow_base
from fenix.workflow import download
from fenix.workflow import plugins

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

STOP_SHUTDOWN = 'shutdown'
STOP_DELETE = 'delete'

# Seconds a paused session's runner sleeps before it looks at the database
# again by itself (a resume wakes it at once; this only covers a wake-up
# lost between engines).
PAUSED_POLL = 30


class SessionStopped(Exception):
    """Raised inside a waiting workflow when its session is stopped."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class SessionRunner(object):
    """One thread per running session."""

    def __init__(self, session_id, notifier, on_exit=None, engine=None):
        self.session_id = session_id
        self.notifier = notifier
        # The engine that runs it (None: tests without an engine; no
        # claim, no fence).
        self.engine = engine
        self.fence = None
        self._on_exit = on_exit
        self._cond = threading.Condition()
        self._wakeups = 0      # every wake-up
        self._generic = 0      # wake-ups without a topic
        self._topics = {}      # topic -> wake-ups with that topic
        # Instances whose reply woke the runner (see take_replied); True
        # once a wake-up said no instance (anything may have changed).
        self._replied = set()
        self._replied_all = True
        self._stop_reason = None
        # Called when the session is deleted (see on_delete).
        self._delete_hooks = []
        # The admin's pause and host skips, read again from the database
        # after a control (or untopical) wake-up.
        self._control = (False, {})
        self._control_stale = True
        self._thread = threading.Thread(
            target=self._run, name='session-%s' % session_id[:8],
            daemon=True)
        self.workflow = None
        # True once the run ended as it should (final state recorded,
        # session gone, stopped); a thread that ends without it ended
        # unexpectedly and the engine starts the session again.
        self.ended = False

    # --- control from the engine -----------------------------------------
    def start(self):
        self._thread.start()

    def is_alive(self):
        return self._thread.is_alive()

    def join(self, timeout):
        """Wait for the thread to end; True when it has."""
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def wake(self, topic=None, subject=None):
        """Something changed (a reply, a report, a constraint): look again.

        ``topic`` (one of ``fenix.common.states.WAKE_*``) says what changed: a
        waiter for another topic sleeps on. Without one, every waiter wakes.
        ``subject``: the instance whose reply it is (WAKE_REPLY), so that
        the workflow may read that instance's row only (see
        :meth:`take_replied`).
        """
        with self._cond:
            self._wakeups += 1
            if topic is None:
                self._generic += 1
            else:
                self._topics[topic] = self._topics.get(topic, 0) + 1
            if topic is None or (topic == st.WAKE_REPLY and subject is None):
                self._replied_all = True
            elif topic == st.WAKE_REPLY:
                self._replied.add(subject)
            if topic in (None, st.WAKE_CONTROL):
                self._control_stale = True
            self._cond.notify_all()

    def stop(self, reason, timeout=None):
        with self._cond:
            self._stop_reason = reason
            self._cond.notify_all()
            hooks = list(self._delete_hooks) if reason == STOP_DELETE else []
        for hook in hooks:
            self._call_hook(hook)
        current = threading.current_thread()
        if timeout is not None and self._thread is not current:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- used by the workflow ---------------------------------------------
    @property
    def deleting(self):
        """True once the session is being deleted."""
        return self._stop_reason == STOP_DELETE

    def on_delete(self, hook):
        """Call ``hook()`` (from the deleting thread) when the session is
        deleted while the work it belongs to runs: e.g. kill a program an
        action plug-in runs. At once when the deletion came already.
        Returns a callable that removes the hook (call it when the work is
        over). A shutdown of the engine does not call it: that work goes
        on (SPEC: an engine restart resumes it)."""
        with self._cond:
            deleted = self._stop_reason == STOP_DELETE
            if not deleted:
                self._delete_hooks.append(hook)
        if deleted:
            self._call_hook(hook)

        def remove():
            with self._cond:
                if hook in self._delete_hooks:
                    self._delete_hooks.remove(hook)
        return remove

    def _call_hook(self, hook):
        try:
            hook()
        except Exception:  # noqa - the deletion goes on
            LOG.exception('Session %s: a deletion hook failed',
                          self.session_id)

    @property
    def stopping(self):
        """True once the session was asked to stop (engine shutdown,
        delete): what is interrupted now has not failed."""
        return self._stop_reason is not None

    def control(self):
        """(pause requested, {hostname: reason} of hosts to skip).

        Cached: the database is read again only after a control wake-up
        (or one without a topic), so workflows may ask before every step.
        """
        with self._cond:
            stale = self._control_stale
            # Cleared before reading: a change while reading marks it
            # stale again.
            self._control_stale = False
        if stale:
            try:
                session = db_api.session_get(self.session_id,
                                             with_plan=False)
                skips = {h['hostname']: (h['details'] or {}).get(
                    'skip_reason') for h in db_api.hosts_get(
                        self.session_id) if h['skip_requested']}
            except Exception:
                self.control_changed()
                raise
            with self._cond:
                self._control = (bool(session.get('hold_requested')), skips)
        with self._cond:
            return self._control[0], dict(self._control[1])

    def control_changed(self):
        """Read the admin's requests again at the next :meth:`control`."""
        with self._cond:
            self._control_stale = True

    def check_stop(self):
        if self._stop_reason:
            raise SessionStopped(self._stop_reason)
        if self.fence is not None:
            self.fence.check_lost('going on')

    @property
    def fenced(self):
        """True once another engine owns the session (see the module
        doc)."""
        return self.fence is not None and self.fence.lost

    def fence_lost(self, why):
        """The engine found that the session is no longer its own: refuse
        whatever the runner does next and wake it so that it ends."""
        if self.fence is not None and not self.fence.lost:
            self.fence.refuse(why)
        self.wake()

    def _count(self, topic):
        if topic is None:
            return self._wakeups
        return (self._generic, self._topics.get(topic, 0))

    def take_replied(self):
        """(the instances whose replies woke the runner since the last
        call, True when a wake-up named none: a project's reply, another
        engine's wake-up, any untopical one, or the first call), and
        start over."""
        with self._cond:
            out = (self._replied, self._replied_all)
            self._replied, self._replied_all = set(), False
            return out

    def mark(self, topic=None):
        """Where the wake-ups (of ``topic``) stand now; see :meth:`wait`."""
        with self._cond:
            return self._count(topic)

    def wait(self, timeout, topic=None, since=None):
        """Block until woken, stopped or ``timeout`` seconds passed.

        ``topic``: wake only for wake-ups of that topic (or without one).
        ``since``: a :meth:`mark` taken before the caller last looked; a
        wake-up after it returns at once (none is lost while the caller
        was busy looking). Returns True when woken. Raises SessionStopped
        when stopped.
        """
        with self._cond:
            self.check_stop()
            seen = self._count(topic) if since is None else since
            if timeout > 0:
                self._cond.wait_for(
                    lambda: (self._count(topic) != seen or
                             self._stop_reason or self.fenced),
                    timeout)
            self.check_stop()
            return self._count(topic) != seen

    # --- the loop ---------------------------------------------------------
    def _claim(self):
        """Claim the session (its generation goes up) and hold the fence
        of that claim. False when another engine owns it now."""
        if self.engine is None:
            return True
        generation = db_api.session_claim(self.session_id, self.engine)
        if generation is None:
            LOG.info('Session %s is owned by another engine; engine %s '
                     'does not run it', self.session_id, self.engine)
            return False
        self.fence = fencing.Fence(self.session_id, self.engine, generation,
                                   verify=_still_owner)
        return True

    def _run(self):
        try:
            if not self._claim_waiting():
                self.ended = True
                return
            with fencing.bound(self.fence):
                self._run_bound()
        except exception.SessionFenced:
            # The warning was logged (once) where it was refused.
            LOG.info('Session %s: the runner of engine %s ended (fenced)',
                     self.session_id, self.engine)
            self.ended = True
        except exception.SessionNotFound:
            LOG.info('Session %s is gone', self.session_id)
            self.ended = True
        except SessionStopped as e:
            LOG.info('Session %s stopped (%s)', self.session_id, e.reason)
            self.ended = True
        except Exception:  # noqa - never let a session thread die mute
            # Only what _fail itself could not record ends up here: the
            # engine starts the runner again (see EngineManager).
            LOG.exception('Session %s runner crashed', self.session_id)
        finally:
            if self._on_exit:
                self._on_exit(self)

    def _claim_waiting(self):
        """:meth:`_claim`, waiting for the database if it is away."""
        while True:
            try:
                return self._claim()
            except Exception as e:  # noqa
                if not transient.is_transient_db(e):
                    raise
                self._await_db(e)

    def _run_bound(self):
        try:
            self._run_until_done()
        except SessionStopped as e:
            LOG.info('Session %s stopped (%s)', self.session_id, e.reason)
            self.ended = True
            if e.reason == STOP_DELETE and self.workflow is not None:
                self._safe_cleanup('session deleted')

    def _run_until_done(self):
        """Run the session to its end. The database going away never ends
        it: the runner waits for it and goes on where the session stood
        (as a restarted engine would)."""
        while True:
            try:
                self._start_and_loop()
                self.ended = True
                return
            except (SessionStopped, exception.SessionFenced):
                raise
            except exception.SessionNotFound:
                LOG.info('Session %s is gone', self.session_id)
                self.ended = True
                return
            except Exception as e:  # noqa
                self._raise_if_fenced()
                if transient.is_transient_db(e):
                    self._await_db(e)
                    continue
                LOG.exception('Session %s runner hit an unexpected error',
                              self.session_id)
                self._fail(None, e)
                self.ended = True
                return

    def _start_and_loop(self):
        session = db_api.session_get(self.session_id)
        if self.workflow is None:
            try:
                cls = self._workflow_class(session)
            except Exception as e:
                if transient.is_transient_db(e):
                    raise
                self._fail(session['state'], e)
                return
            self.workflow = cls(self.session_id, self, self.notifier)
        self._loop()

    def _await_db(self, error):
        """Wait (bounded back-off, stoppable) until the database answers
        again. One log line when the wait starts, one when it ends."""
        LOG.warning('Session %s waits for the database (%s: %s); it goes '
                    'on where it stood once the database is back',
                    self.session_id, type(error).__name__, error)
        self.control_changed()
        attempt = 0
        while True:
            attempt += 1
            self.wait(transient.backoff(attempt))
            try:
                db_api.ping()
            except Exception as e:  # noqa
                if not transient.is_transient_db(e):
                    raise
                continue
            LOG.info('Session %s: the database is back after %d tries; '
                     'going on', self.session_id, attempt)
            return

    def _workflow_class(self, session):
        """Fetch the session's downloads (before anything is touched; a
        restarted engine finds them in place), then find its workflow,
        which may be one of them."""
        directory = workflow_base.session_download_dir(self.session_id)
        if session.get('download'):
            try:
                self._record_downloads(download.fetch_all(
                    directory, session['download'],
                    stopping=lambda: self.stopping))
            except exception.DownloadStopped:
                self.check_stop()
                raise
        return plugins.workflow_class(session['workflow'], directory,
                                      base_class=workflow_base.BaseWorkflow)

    def _record_downloads(self, results):
        for item in results:
            if not item['fetched']:
                continue
            db_api.event_add(
                self.session_id, st.EVENT_ACTION,
                message='downloaded %s as %s (%d bytes, sha256 %s)' % (
                    item['url'], item['name'], item['size'],
                    item['sha256']))
            if item['code']:
                db_api.event_add(
                    self.session_id, st.EVENT_DECISION,
                    message='%s holds Python code: %s' % (
                        item['name'],
                        'a plug-in of that name may be loaded from it '
                        '([download] allow_plugin_code is on)'
                        if CONF.download.allow_plugin_code else
                        'not loaded ([download] allow_plugin_code is off)'))

    def _loop(self):
        while True:
            self.check_stop()
            session = db_api.session_get(self.session_id, with_plan=False)
            state = session['state']
            if state in st.FINAL_SESSION_STATES:
                return
            if state == st.PAUSED:
                self._paused()
                continue
            if session.get('hold_requested'):
                # Between two handlers nothing is in flight.
                self._pause(state)
                continue
            handler = self.workflow.handler(state)
            try:
                next_state = handler()
                if next_state == st.PAUSED:
                    raise exception.WorkflowError(
                        reason='a workflow does not pause a session by '
                               'itself; an admin does')
            except (SessionStopped, exception.SessionFenced):
                raise
            except workflow_base.HoldRequested:
                self._pause(state)
                continue
            except Exception as e:
                # A workflow may have wrapped the refusal: the runner's
                # fence says it all.
                self._raise_if_fenced()
                if transient.is_transient_db(e):
                    # Not the step's failure: wait for the database and run
                    # the step's handler again (see _run_until_done).
                    raise
                LOG.warning('Session %s failed in %s: %s', self.session_id,
                            state, e, exc_info=not isinstance(
                                e, exception.FenixException))
                self._fail(state, e)
                return
            self.transition(state, next_state)

    # --- pause -----------------------------------------------------------
    def _pause(self, state):
        """Nothing of the session is in flight: show it PAUSED (unless the
        pause was lifted meanwhile: then the handler simply runs again)."""
        self.workflow.apply_skips()
        if not db_api.session_get(self.session_id,
                                  with_plan=False).get('hold_requested'):
            return
        self.transition(state, st.PAUSED, values={'hold_state': state},
                        message='%s -> %s: paused by an admin; nothing is '
                                'in flight, no step starts until it is '
                                'resumed' % (state, st.PAUSED))

    def _paused(self):
        """Run no handler until the pause is lifted; then go back to the
        state the session was paused in. Skips asked for meanwhile are
        applied at once (nothing is in flight)."""
        while True:
            mark = self.mark()
            self.workflow.apply_skips()
            session = db_api.session_get(self.session_id, with_plan=False)
            if session['state'] != st.PAUSED:
                return
            if not session.get('hold_requested'):
                target = session.get('hold_state') or st.MAINTENANCE
                self.transition(st.PAUSED, target,
                                values={'hold_state': None},
                                hold_state=target,
                                message='%s -> %s: resumed' % (st.PAUSED,
                                                               target))
                return
            self.wait(PAUSED_POLL, since=mark)

    def transition(self, src, dst, message=None, values=None,
                   hold_state=None):
        """Write ``src`` -> ``dst`` (and ``values``), record, announce."""
        state_machine.check_transition(src, dst, hold_state=hold_state)
        if dst == st.MAINTENANCE_DONE:
            # Undone before the session shows DONE: whoever sees the final
            # state sees a clean cloud.
            self._safe_cleanup('session done')
        # The state, its history entry and its announcement are committed
        # together: an engine that dies right after still announces it
        # when it restarts.
        with self.notifier.transaction():
            db_api.session_update(self.session_id,
                                  dict(values or {}, state=dst),
                                  expected_state=src)
            db_api.event_add(self.session_id, st.EVENT_STATE, state=dst,
                             message=message or '%s -> %s' % (src, dst))
            self._announce(dst)

    def _announce(self, state, session=None):
        """Record maintenance.session for ``state``, in the caller's
        transaction (it reads the new state and progress)."""
        try:
            percent = (self.workflow.percent_done() if self.workflow
                       else 0)
        except Exception:  # noqa - a plug-in's bug must not block a state
            LOG.exception('Progress of session %s unknown',
                          self.session_id)
            percent = 0
        owner = (session or db_api.session_get(
            self.session_id, with_plan=False)).get('project_id')
        self.notifier.session_event(self.session_id, state, percent, owner)

    def _raise_if_fenced(self):
        if self.fenced:
            raise self.fence.refuse('going on')

    def _fail(self, state, error):
        """Record the session MAINTENANCE_FAILED (after the workflow's
        cleanup). When the database is away meanwhile, wait for it and
        record it then: the failure is never lost and the thread never
        dies of it. A fenced runner records nothing and undoes nothing:
        the session and its hosts are the new owner's."""
        while True:
            self._raise_if_fenced()
            try:
                return self._record_failure(state, error)
            except (SessionStopped, exception.SessionFenced):
                raise
            except Exception as e:  # noqa
                self._raise_if_fenced()
                if not transient.is_transient_db(e):
                    raise
                self._await_db(e)

    def _record_failure(self, state, error):
        reason = str(error) or type(error).__name__
        try:
            current = db_api.session_get(self.session_id, with_plan=False)
        except exception.SessionNotFound:
            return
        if self.workflow is not None:
            # Undone before the session shows FAILED (see transition).
            self._safe_cleanup('session failed')
        values = {'state': st.MAINTENANCE_FAILED, 'error': reason,
                  'failed_state': state or current['state']}
        if current['state'] == st.MAINTENANCE_FAILED:
            values.pop('failed_state')
        with self.notifier.transaction():
            db_api.session_update(self.session_id, values)
            db_api.event_add(self.session_id, st.EVENT_ERROR,
                             state=st.MAINTENANCE_FAILED, message=reason)
            self._announce(st.MAINTENANCE_FAILED, session=current)

    def _safe_cleanup(self, why):
        self._raise_if_fenced()
        try:
            self.workflow.cleanup(why)
        except Exception as e:  # noqa
            self._raise_if_fenced()
            if transient.is_transient_db(e):
                # Not done: the caller waits for the database and does it
                # again (hosts are never left disabled).
                raise
            LOG.exception('Cleanup of session %s failed', self.session_id)
            try:
                db_api.event_add(self.session_id, st.EVENT_ERROR,
                                 message='cleanup after %s failed: %s'
                                 % (why, e))
            except Exception:  # noqa
                pass


def _still_owner(fence):
    """Right before a Nova action: does the database still have the
    fence's owner and generation? (One narrow read.)

    A session deleted meanwhile has no other owner to act against: the
    move its runner had under way is seen through (a resize confirmed,
    not left in VERIFY_RESIZE).
    """
    try:
        return db_api.session_generation(fence.session_id) == (
            fence.engine, fence.generation)
    except exception.SessionNotFound:
        return True
