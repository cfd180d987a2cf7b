# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The engine service: RPC server, session recovery, heartbeat, takeover,
and the outbox dispatcher that sends the engine's notifications.

On start the engine sends what its outbox still holds and resumes every
unfinished session it owns. While it runs it heartbeats (every ``[engine]
heartbeat_interval`` seconds), and takes over its share
(:mod:`fenix.engine.coordination`) of the unfinished sessions of engines
that are no longer alive (no heartbeat for ``[engine] takeover_after``
seconds by the database's clock, or gone from the tooz group) or of no
engine, and the sessions (finished or not) whose notifications such an
engine recorded but did not send. Every claim raises the session's
generation, which fences the runners of the previous owner
(:mod:`fenix.common.fencing`); each beat also stops at once the runners of
this engine whose sessions were claimed by another while it stalled.
"""
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging as messaging

from fenix.common import fencing
from fenix.common import notifier as fenix_notifier
from fenix.common import publisher as fenix_publisher
from fenix.common import rpc
from fenix.common import states as st
from fenix.common import transient
from fenix.db import api as db_api
from fenix.engine import coordination
from fenix.engine import manager as engine_manager
from fenix.engine import outbox
from fenix.engine import rpcapi

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# Times the engine starts again the runner of one session that ended
# unexpectedly (then it logs an error and leaves it to an engine restart).
MAX_RUNNER_RESTARTS = 5


class EngineService(object):

    def __init__(self, local=False, publisher=None):
        """``publisher``: what sends notifications (default: a
        :class:`fenix.common.publisher.Publisher` of the configuration)."""
        self.local = local
        self.host = CONF.engine.host
        self.manager = None
        self.dispatcher = None
        self._publisher = publisher
        self._server = None
        self._stop = threading.Event()
        self._heartbeat = None
        self.coordinator = None
        self._revivals = {}
        self._alive_seen = None
        # Sessions whose takeover found their row locked (logged once).
        self._busy_seen = set()
        self.lease = fencing.Lease()
        self._db_outage = transient.OutageLog(
            'Engine %s heartbeat: the database' % self.host, LOG)

    def start(self):
        self.dispatcher = outbox.Dispatcher(
            self._publisher or fenix_publisher.Publisher(), engine=self.host,
            lease=self.lease)
        self.manager = engine_manager.EngineManager(
            fenix_notifier.Notifier(db_api, self.dispatcher),
            host=self.host)
        if self.local:
            rpc.set_local_manager(self.manager)
        else:
            target = messaging.Target(topic=CONF.engine.topic,
                                      server=self.host,
                                      version=rpcapi.RPC_API_VERSION)
            self._server = rpc.get_server(
                target, [engine_manager.RPCEndpoint(self.manager)])
            self._server.start()
        if CONF.engine.takeover_after < 3 * CONF.engine.heartbeat_interval:
            LOG.warning('[engine] takeover_after (%ss) is less than 3 times '
                        'heartbeat_interval (%ss): a busy engine may be '
                        'taken for dead (its sessions are then fenced and '
                        'taken over)', CONF.engine.takeover_after,
                        CONF.engine.heartbeat_interval)
        self.coordinator = coordination.Coordinator(self.host)
        # A full engine forwards a create to a live engine with room, as
        # the takeover judges them.
        self.manager.coordinator = self.coordinator
        began = time.monotonic()
        self.coordinator.start()
        self._renew_lease(began)
        # First what a killed engine recorded and did not send.
        self.dispatcher.start()
        self.recover()
        self._heartbeat = threading.Thread(target=self._heartbeat_loop,
                                           name='engine-heartbeat',
                                           daemon=True)
        self._heartbeat.start()
        LOG.info('Engine %s started (%s RPC, coordination: %s)', self.host,
                 'local' if self.local else 'oslo.messaging',
                 self.coordinator.mode)

    def recover(self):
        """Resume this engine's unfinished sessions."""
        for session in db_api.session_list_by_states(
                st.ACTIVE_SESSION_STATES, engine=self.host):
            LOG.info('Resuming session %s in %s', session['session_id'],
                     session['state'])
            db_api.event_add(session['session_id'], st.EVENT_STATE,
                             state=session['state'],
                             message='engine %s resumed the session in %s'
                             % (self.host, session['state']))
            self.manager.start_runner(session['session_id'])

    def take_over(self):
        """Claim this engine's share of the unfinished sessions of engines
        that are not alive (or of none), and of the notifications such
        engines recorded but did not send. Returns the ids of the
        sessions taken over."""
        alive = self.coordinator.alive()
        if alive != self._alive_seen:
            LOG.info('Engine %s: live engines now %s (were %s)', self.host,
                     ', '.join(sorted(alive)),
                     ', '.join(sorted(self._alive_seen or ())) or 'unknown')
            self._alive_seen = alive
        ring = self.coordinator.ring(alive)
        taken = []
        for session in db_api.session_list_by_states(
                st.ACTIVE_SESSION_STATES):
            owner = session.get('engine')
            if owner in alive or not self.coordinator.mine(
                    session['session_id'], ring):
                continue
            claimed = db_api.session_set_engine(
                session['session_id'], self.host, expected_engine=owner,
                skip_locked=True)
            if claimed is None:
                # Its row is held by a transaction (of the stalled owner,
                # most likely): the heartbeat waits for nothing; the
                # claim is tried again at the next beat.
                if session['session_id'] not in self._busy_seen:
                    LOG.warning('Session %s of engine %s: its row is locked '
                                'by another transaction; taking it over is '
                                'tried again at each heartbeat',
                                session['session_id'], owner)
                    self._busy_seen.add(session['session_id'])
                continue
            self._busy_seen.discard(session['session_id'])
            if claimed:
                LOG.warning('Taking over session %s from engine %s',
                            session['session_id'], owner)
                db_api.event_add(session['session_id'], st.EVENT_STATE,
                                 state=session['state'],
                                 message='engine %s took over from %s'
                                 % (self.host, owner))
                # What the dead engine did not send goes before what the
                # resumed session sends.
                self.dispatcher.hold(session['session_id'])
                self.manager.start_runner(session['session_id'])
                taken.append(session['session_id'])
        # A finished session is not resumed, but what its dead engine did
        # not announce (its final state, say) must still go out.
        for pending in db_api.outbox_pending_sessions():
            owner = pending['engine']
            if owner in alive or not self.coordinator.mine(
                    pending['session_id'], ring):
                continue
            if db_api.session_set_engine(pending['session_id'], self.host,
                                         expected_engine=owner,
                                         skip_locked=True):
                LOG.warning('Taking over the notifications of session %s '
                            'from engine %s', pending['session_id'], owner)
                self.dispatcher.hold(pending['session_id'])
        return taken

    def revive_runners(self):
        """Start again the runners of this engine that ended unexpectedly
        (a bug, not a stop or the end of the session): at most
        :data:`MAX_RUNNER_RESTARTS` times per session, each logged."""
        for sid in self.manager.take_crashed():
            count = self._revivals.get(sid, 0) + 1
            self._revivals[sid] = count
            if count > MAX_RUNNER_RESTARTS:
                if count == MAX_RUNNER_RESTARTS + 1:
                    LOG.error('The runner of session %s ended unexpectedly '
                              '%d times; not started again (restart the '
                              'engine to resume it)', sid,
                              MAX_RUNNER_RESTARTS + 1)
                continue
            LOG.warning('The runner of session %s ended unexpectedly; '
                        'starting it again (%d of at most %d)', sid, count,
                        MAX_RUNNER_RESTARTS)
            self.manager.start_runner(sid)

    def _heartbeat_loop(self):
        beat_before = True
        last = time.monotonic()
        # A beat every heartbeat_interval from the start of the previous
        # one: a slow round (takeovers, a loaded machine) does not push
        # the next beat a whole interval further (the others take this
        # engine for dead after takeover_after without one).
        while not self._stop.wait(max(0.0, CONF.engine.heartbeat_interval -
                                      (time.monotonic() - last))):
            last = time.monotonic()
            try:
                self.revive_runners()
            except Exception:  # noqa - a bug here must not stop the beat
                LOG.exception('Restarting runners failed')
            try:
                began = time.monotonic()
                self.coordinator.heartbeat()
                # The runners whose sessions were taken over while this
                # engine stalled are fenced before the lease lets
                # anything be sent again.
                self.manager.fence_stale()
                self._renew_lease(began)
                if beat_before:
                    self.take_over()
                # else: the database (or backend) was away; every engine's
                # beats are old. One round for the others to beat again
                # before anyone is taken for dead.
            except Exception as e:  # noqa - keep beating through DB hiccups
                beat_before = False
                if transient.is_transient_db(e):
                    self._db_outage.down('%s: %s' % (type(e).__name__, e))
                else:
                    LOG.exception('Heartbeat failed')
            else:
                beat_before = True
                self._db_outage.up()

    def _renew_lease(self, began):
        """A heartbeat that began at ``began`` succeeded: no other engine
        takes this one's sessions before ``takeover_after`` seconds from
        then. The lease ends one heartbeat earlier (a send checked just
        before the bound is not made after it), and at the latest half
        way."""
        after = CONF.engine.takeover_after
        duration = max(after - CONF.engine.heartbeat_interval, after / 2.0)
        if self.lease.renew(began, duration):
            LOG.warning('Engine %s: its last heartbeat was over %.1fs ago '
                        '(it stalled); notifications waited for this one '
                        'and go out now for the sessions it still owns',
                        self.host, duration)
            if self.dispatcher is not None:
                self.dispatcher.kick()

    def stop(self, timeout=10):
        self._stop.set()
        if self._server is not None:
            self._server.stop()
            self._server.wait()
        if self.manager is not None:
            self.manager.stop_all(timeout=timeout)
        if self._heartbeat is not None:
            self._heartbeat.join(timeout)
        if self.coordinator is not None:
            self.coordinator.stop()
        if self.local:
            # In-process calls no longer reach the stopped manager (they
            # are EngineUnavailable, as with a stopped engine process).
            rpc.clear_local_manager(self.manager)
        if self.dispatcher is not None:
            # A last pass: what the stopped runners recorded goes out now
            # rather than at the next start.
            self.dispatcher.stop(timeout)
            cleanup = getattr(self.dispatcher.publisher, 'cleanup', None)
            if cleanup is not None:
                cleanup()
        LOG.info('Engine %s stopped', self.host)
