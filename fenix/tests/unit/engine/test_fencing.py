# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Fencing of a stale session owner: its runner, its outbox, its Nova
actions (fenix.common.fencing), and the share of sessions an engine takes
over (fenix.engine.service with fenix.engine.coordination)."""
import concurrent.futures
import logging
import threading
import time
from unittest import mock
import uuid

import fixtures

from fenix.common import cloud
from fenix.common import exception
from fenix.common import fencing
from fenix.common import rpc
from fenix.common import states as st
from fenix.db import api as db_api
from fenix.engine import coordination
from fenix.engine import manager as engine_manager
from fenix.engine import runner as session_runner
from fenix.engine import service
from fenix.tests import base
from fenix.tests.unit.engine import test_manager
from fenix.tests.unit.engine import test_outbox
from fenix.workflow.executor import common as executor_common
from fenix.workflow.executor import moves as executor_moves
from fenix.workflow import session_flow

WAIT = 30
FENCED_LOG = 'no longer owns it'


class TestStaleRunner(test_manager.EngineTestCase):
    """A runner whose session another engine took over while it stalled."""

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(
            level=logging.INFO, name='fenix'))

    def _waiting_session(self):
        sid = self.create()
        self.wait_event(sid, st.MAINTENANCE)
        runner = self.manager._runners[sid]
        self.assertEqual(('e1', runner.fence.generation),
                         db_api.session_generation(sid))
        return sid, runner

    def _assert_ended_quietly(self, sid, runner, state):
        self.assertTrue(runner.join(WAIT))
        self.assertTrue(runner.ended)
        self.assertTrue(runner.fenced)
        session = db_api.session_get(sid)
        # Nothing of the stale owner: no failure, no state, no clean-up.
        self.assertEqual(state, session['state'])
        self.assertIsNone(session['error'])
        self.assertEqual('e2', session['engine'])
        self.assertEqual([], self.manager.running_sessions())
        self.assertEqual([], self.manager.take_crashed())
        self.assertEqual(1, self.log.output.count(FENCED_LOG),
                         self.log.output)
        self.assertNotIn('crashed', self.log.output)

    def test_late_write_is_refused_and_the_runner_stops(self):
        sid, runner = self._waiting_session()
        # e2 takes the session over while e1 stalls (its runner waits for
        # the replies and knows nothing).
        self.assertTrue(db_api.session_set_engine(sid, 'e2',
                                                  expected_engine='e1'))
        # The reply wakes e1's runner: its next write (the move on to
        # START_MAINTENANCE) is refused.
        self.reply(sid, 'ACK_MAINTENANCE')
        self._assert_ended_quietly(sid, runner, st.MAINTENANCE)
        # The reply is recorded (by the manager); nothing of the runner.
        self.assertEqual([st.EVENT_STATE, st.EVENT_NOTIFY, st.EVENT_REPLY],
                         [e['kind'] for e in db_api.events_get(sid)])
        self.assertNotIn(('session', st.START_MAINTENANCE, mock.ANY),
                         self.notifier.sent)

    def _wake_with_rpc(self, sid):
        """The manager's wake-up of ``sid`` (as a report or reply does)
        with RPC between engines; the casts it made."""
        client = mock.Mock()
        with mock.patch.object(engine_manager.rpc, 'local_mode',
                               return_value=False), \
                mock.patch.object(engine_manager.rpc, 'get_client',
                                  return_value=client) as get_client:
            self.manager._wake(self.ctx,
                               db_api.session_get(sid, with_plan=False),
                               st.WAKE_REPORT)
        return [c[0][0].server for c in get_client.call_args_list], client

    def test_wake_up_goes_to_the_owner_not_the_stale_runner(self):
        # e1 stalled; e2 took the session over. A report that reaches e1
        # (its runner not yet fenced) must wake e2's runner: e1's stale
        # one would only end, and e2's wait for the report till its
        # deadline.
        sid, runner = self._waiting_session()
        self.assertTrue(db_api.session_set_engine(sid, 'e2',
                                                  expected_engine='e1'))
        servers, client = self._wake_with_rpc(sid)
        self.assertEqual(['e2'], servers)
        client.prepare.return_value.cast.assert_called_once_with(
            mock.ANY, 'wake_session', session_id=sid)
        # The same once e1's runner is fenced.
        self.assertEqual([sid], self.manager.fence_stale())
        servers, _client = self._wake_with_rpc(sid)
        self.assertEqual(['e2'], servers)
        self.assertTrue(runner.join(WAIT))

    def test_wake_up_sent_on_does_not_carry_the_request_deadline(self):
        # The request (a report that reached e1 just before the API gave
        # up) was carried out: the owner must look, however late.
        sid, runner = self._waiting_session()
        self.assertTrue(db_api.session_set_engine(sid, 'e2',
                                                  expected_engine='e1'))
        self.ctx = rpc.with_deadline(self.ctx, time.time() + 0.5)
        _servers, client = self._wake_with_rpc(sid)
        (ctx, method), kwargs = client.prepare.return_value.cast.call_args
        self.assertEqual('wake_session', method)
        self.assertIsNone(getattr(ctx, rpc.DEADLINE_KEY, None))
        self.assertNotIn(rpc.DEADLINE_KEY,
                         rpc.RequestContextSerializer().serialize_context(
                             ctx))
        # The request's own context is left as it was.
        self.assertIsNotNone(getattr(self.ctx, rpc.DEADLINE_KEY))

    def test_wake_up_of_an_own_session_stays_here(self):
        sid, runner = self._waiting_session()
        servers, client = self._wake_with_rpc(sid)
        self.assertEqual([], servers)
        self.assertFalse(client.prepare.called)
        self.assertFalse(runner.fenced)

    def test_heartbeat_stops_a_stale_runner_at_once(self):
        sid, runner = self._waiting_session()
        self.assertEqual([], self.manager.fence_stale())
        self.assertTrue(db_api.session_set_engine(sid, 'e2',
                                                  expected_engine='e1'))
        self.assertEqual([sid], self.manager.fence_stale())
        self._assert_ended_quietly(sid, runner, st.MAINTENANCE)

    def test_a_new_claim_on_the_same_engine_fences_the_old_runner(self):
        sid, runner = self._waiting_session()
        generation = runner.fence.generation
        self.assertEqual(generation + 1, db_api.session_claim(sid, 'e1'))
        self.assertEqual([sid], self.manager.fence_stale())
        self.assertTrue(runner.join(WAIT))
        self.assertEqual(st.MAINTENANCE, self.state(sid))

    def test_runner_of_a_session_owned_elsewhere_does_not_start(self):
        sid = self.create()
        self.wait_event(sid, st.MAINTENANCE)
        self.manager.stop_all(WAIT)
        db_api.session_set_engine(sid, 'e2')
        generation = db_api.session_generation(sid)
        runner = self.manager.start_runner(sid)
        self.assertTrue(runner.join(WAIT))
        self.assertTrue(runner.ended)
        self.assertIsNone(runner.fence)
        self.assertEqual(generation, db_api.session_generation(sid))


class TestNovaActions(test_manager.EngineTestCase):

    def test_stale_owner_does_not_act_on_nova(self):
        sid = db_api.session_create({'engine': 'e1'})['session_id']
        fence = fencing.Fence(sid, 'e1', db_api.session_claim(sid, 'e1'),
                              verify=session_runner._still_owner)
        nova = cloud.Cloud(session=mock.Mock())
        self.useFixture(fixtures.MockPatchObject(nova, '_remember_move'))
        novaclient = self.useFixture(fixtures.MockPatchObject(
            nova, '_nova')).mock
        self.useFixture(fixtures.MockPatchObject(
            nova, '_supports', return_value=True))
        self.useFixture(fixtures.MockPatchObject(nova, '_started'))
        with fencing.bound(fence):
            nova.live_migrate('vm1', 'c2')
        self.assertEqual(1, novaclient.call_count)
        # Another engine takes the session over.
        db_api.session_set_engine(sid, 'e2')
        with fencing.bound(fence):
            self.assertRaises(exception.SessionFenced, nova.live_migrate,
                              'vm1', 'c2')
        self.assertEqual(1, novaclient.call_count)
        self.assertTrue(fence.lost)
        # Outside a runner's thread nothing is checked.
        nova.live_migrate('vm1', 'c2')
        self.assertEqual(2, novaclient.call_count)

    def test_move_of_a_deleted_session_is_seen_through(self):
        # DELETE of a running session: its move under way is confirmed,
        # not left in VERIFY_RESIZE (no other owner to act against).
        sid = db_api.session_create({'engine': 'e1'})['session_id']
        fence = fencing.Fence(sid, 'e1', db_api.session_claim(sid, 'e1'),
                              verify=session_runner._still_owner)
        nova = cloud.Cloud(session=mock.Mock())
        novaclient = self.useFixture(fixtures.MockPatchObject(
            nova, '_nova')).mock
        db_api.session_delete(sid)
        with fencing.bound(fence):
            nova.confirm_resize('vm1')
        novaclient.return_value.servers.confirm_resize.assert_called_once_with(
            'vm1')
        self.assertFalse(fence.lost)


class TestStaleOutbox(test_outbox.OutboxTestCase):

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(
            level=logging.WARNING, name='fenix'))

    def test_stale_engine_sends_nothing_of_a_session_taken_over(self):
        sid = self.session('e1')
        self.record(sid, st.MAINTENANCE)
        db_api.session_set_engine(sid, 'e2')
        stale = self.dispatcher('e1')
        self.assertEqual(0, stale.flush())
        self.assertEqual([], self.sent())
        self.assertEqual(1, len(db_api.outbox_unsent()))
        self.dispatcher('e2').flush()
        self.assertEqual([(sid, st.MAINTENANCE)], self.sent())
        self.assertEqual([], db_api.outbox_unsent())

    def test_stale_engine_does_not_mark_what_it_sent(self):
        sid = self.session('e1')
        self.record(sid, st.MAINTENANCE)
        taken = threading.Event()

        def take_over(row):
            # e1 stalls after reading the row; e2 takes the session over
            # before e1 marks it.
            if not taken.is_set():
                db_api.session_set_engine(sid, 'e2')
                taken.set()
        self.publisher.on_send = take_over
        self.dispatcher('e1').flush()
        self.assertTrue(taken.is_set())
        # Sent by e1, not marked: e2 sends it again (a duplicate, never a
        # loss).
        self.assertEqual(1, len(db_api.outbox_unsent(engine='e2')))
        self.assertIn('not marked sent', self.log.output)
        self.dispatcher('e2').flush()
        self.assertEqual([(sid, st.MAINTENANCE)] * 2, self.sent())
        self.assertEqual([], db_api.outbox_unsent())


class TestTakeoverShare(test_manager.EngineTestCase):
    """Each live engine takes over its share of the orphan sessions."""

    def _orphans(self, count, session_ids=None):
        return [db_api.session_create({
            'session_id': sid or str(uuid.uuid4()), 'workflow': 'wait_reply',
            'engine': 'dead',
            'meta': {'projects': []}})['session_id']
            for sid in (session_ids or [None] * count)]

    def test_share_of_the_ring_then_all_when_alone(self):
        self.config(group='oslo_messaging_notifications', driver=['noop'])
        # Only this test's calls take over (no beat meanwhile).
        self.config(group='engine', takeover_after=3600,
                    heartbeat_interval=3600)
        ring = coordination.HashRing({'e1', 'e2'},
                                     base.CONF.coordination.hash_replicas)
        # Three sessions the ring gives each engine.
        share = {'e1': [], 'e2': []}
        while min(len(v) for v in share.values()) < 3:
            sid = str(uuid.uuid4())
            if len(share[ring.owner(sid)]) < 3:
                share[ring.owner(sid)].append(sid)
        sids = self._orphans(0, share['e1'] + share['e2'])
        db_api.engine_heartbeat('e2')
        svc = service.EngineService(local=True,
                                    publisher=self.notifier.publisher)
        svc.host = 'e1'
        svc.start()
        self.addCleanup(svc.stop)
        mine = sorted(share['e1'])
        self.assertEqual(mine, sorted(svc.take_over()))
        for sid in mine:
            self.assertEqual('e1', db_api.session_get(sid)['engine'])
            self.assertTrue(any('took over from dead' in (e['message'] or '')
                                for e in db_api.events_get(sid)))
        # e2 dies: e1 takes the rest.
        db_api.engine_delete('e2')
        self.assertEqual(sorted(set(sids) - set(mine)),
                         sorted(svc.take_over()))
        self.assertEqual({'e1'}, {db_api.session_get(s)['engine']
                                  for s in sids})
        for sid in sids:
            self.wait_state(sid, st.MAINTENANCE_DONE)

    def test_a_locked_session_row_does_not_hold_the_takeover(self):
        self.config(group='oslo_messaging_notifications', driver=['noop'])
        self.config(group='engine', takeover_after=3600,
                    heartbeat_interval=3600)
        busy, free = self._orphans(2)
        log = self.useFixture(fixtures.FakeLogger(level=logging.INFO,
                                                  name='fenix'))
        svc = service.EngineService(local=True,
                                    publisher=self.notifier.publisher)
        svc.host = 'e1'
        svc.start()
        self.addCleanup(svc.stop)
        real = db_api.session_set_engine

        def claim(sid, *args, **kwargs):
            # The stalled owner's transaction holds busy's row.
            self.assertTrue(kwargs.get('skip_locked'))
            if sid == busy:
                return None
            return real(sid, *args, **kwargs)

        with mock.patch.object(db_api, 'session_set_engine',
                               side_effect=claim):
            self.assertEqual([free], svc.take_over())
            self.assertEqual([], svc.take_over())
        self.assertEqual(1, log.output.count('row is locked'), log.output)
        self.assertEqual('dead', db_api.session_get(busy)['engine'])
        # The row free again: taken over at the next beat.
        self.assertEqual([busy], svc.take_over())
        for sid in (busy, free):
            self.wait_state(sid, st.MAINTENANCE_DONE)

    def test_max_sessions_total(self):
        self.config(group='engine', max_sessions_total=2)
        self._orphans(1)
        self.create()
        e = self.assertRaises(exception.TooManySessionsTotal, self.create)
        self.assertEqual(409, e.code)
        self.assertIn('max_sessions_total', str(e))


class TestFencedMove(base.TestCase):
    """A move refused by the fence (the session was taken over while it
    was asked of Nova) is left to the new owner: no failure recorded, no
    error logged."""

    def _refused(self):
        future = concurrent.futures.Future()
        future.set_exception(exception.SessionFenced(
            session_id='s', engine='e1', generation=3))
        return future

    def test_session_flow_records_nothing(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.INFO,
                                                  name='fenix'))
        flow = mock.Mock()
        failures = []
        self.assertRaises(
            exception.SessionFenced, session_flow.SessionFlow._move_finished,
            flow, 'c1', {'instance_id': 'vm1', 'action_attempts': 0,
                         'project_id': 'p1'},
            st.MIGRATE, self._refused(), failures)
        self.assertEqual([], failures)
        flow.transaction.assert_not_called()
        flow.update_instance.assert_not_called()
        self.assertEqual('', log.output)

    def test_executor_leaves_the_job(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.INFO,
                                                  name='fenix'))
        executor = mock.Mock(failures=[])
        job = executor_common.Job('vm1', {'id': 'vm1', 'host': 'c1'}, 'c1')
        job.phase = executor_common.MOVING
        executor_moves.MovesMixin._move_finished(executor, self._refused(),
                                                 job)
        self.assertEqual(executor_common.DONE, job.phase)
        self.assertEqual([], executor.failures)
        executor.wf.transaction.assert_not_called()
        executor._release.assert_not_called()
        self.assertEqual('', log.output)
