# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Record, then send: the outbox dispatcher, and the state changes whose
notifications are committed with them."""
import datetime
import threading
from unittest import mock

import fixtures
import sqlalchemy as sa

from fenix.common import context
from fenix.common import exception
from fenix.common import faults
from fenix.common import fencing
from fenix.common import notifier
from fenix.common import publisher
from fenix.common import rpc
from fenix.common import states as st
from fenix.db import api as db_api
from fenix.db.sqlalchemy import models
from fenix.engine import manager
from fenix.engine import outbox
from fenix.engine import runner as session_runner
from fenix.engine import service
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.tests import outbox_fixture

# Seconds a test waits for the dispatcher thread (a bound, not a sleep).
WAIT = 30


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class OutboxTestCase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.publisher = outbox_fixture.RecordingPublisher()

    def session(self, engine='e1', state=st.MAINTENANCE):
        return db_api.session_create({'engine': engine, 'state': state,
                                      'project_id': 'admin'})['session_id']

    def record(self, sid, state, event_type=notifier.SESSION_EVENT_TYPE):
        payload = {'session_id': sid, 'state': state}
        message = notifier.message(sid, event_type, payload)
        db_api.outbox_add([message])
        return message['message_id']

    def dispatcher(self, engine='e1'):
        d = outbox.Dispatcher(self.publisher, engine=engine)
        d.clock = Clock()
        return d

    def sent(self):
        return [(m['session_id'], m['payload']['state'])
                for m in self.publisher.sent]


class TestDispatcher(OutboxTestCase):

    def test_sends_in_the_order_recorded_and_marks_in_bulk(self):
        s1, s2 = self.session(), self.session()
        for state in ('A', 'B', 'C'):
            self.record(s1, state)
            self.record(s2, state)
        d = self.dispatcher()
        with mock.patch.object(db_api, 'outbox_mark_sent',
                               wraps=db_api.outbox_mark_sent) as mark:
            self.assertEqual(0, d.flush())
        self.assertEqual([(s, x) for x in 'ABC' for s in (s1, s2)],
                         self.sent())
        # One statement for the six.
        self.assertEqual(1, mark.call_count)
        self.assertEqual(6, len(mark.call_args[0][0]))
        self.assertEqual([], db_api.outbox_unsent())

    def test_pages_through_a_long_outbox(self):
        self.config(group='outbox', batch_size=2)
        sid = self.session()
        for n in range(5):
            self.record(sid, str(n))
        self.assertEqual(0, self.dispatcher().flush())
        self.assertEqual([str(n) for n in range(5)],
                         [s for _, s in self.sent()])

    def test_nothing_sent_twice(self):
        sid = self.session()
        d = self.dispatcher()
        for n in range(4):
            self.record(sid, str(n))
            d.flush()
            d.flush()
        ids = [m['message_id'] for m in self.publisher.sent]
        self.assertEqual(4, len(ids))
        self.assertEqual(len(ids), len(set(ids)))

    def test_failed_send_is_retried_later_and_keeps_session_order(self):
        self.config(group='outbox', retry_interval=2, max_retry_interval=5)
        s1, s2 = self.session(), self.session()
        self.record(s1, 'A')
        self.record(s1, 'B')
        self.record(s2, 'A')
        d = self.dispatcher()
        self.publisher.fail = lambda row: (
            RuntimeError('bus down') if row['session_id'] == s1 else None)
        self.assertEqual(2, d.flush())
        # s1's B waits behind its A; s2 is not held up.
        self.assertEqual([(s2, 'A')], self.sent())
        row = db_api.outbox_unsent(session_id=s1)[0]
        self.assertEqual((1, 'recorder: bus down'),
                         (row['attempts'], row['last_error']))
        self.assertEqual(2.0, d._next_wait())
        # Not tried again before it is due, even when woken.
        self.publisher.fail = None
        self.assertEqual(2, d.flush())
        self.assertEqual([(s2, 'A')], self.sent())
        d.clock.now += 2
        self.assertEqual(0, d.flush())
        self.assertEqual([(s2, 'A'), (s1, 'A'), (s1, 'B')], self.sent())
        self.assertIsNone(d._next_wait())

    def test_backoff_grows_to_its_bound(self):
        self.config(group='outbox', retry_interval=1, max_retry_interval=3)
        sid = self.session()
        self.record(sid, 'A')
        d = self.dispatcher()
        self.publisher.fail = RuntimeError('down')
        waits = []
        for _ in range(4):
            d.flush()
            waits.append(d._next_wait())
            d.clock.now += waits[-1]
        self.assertEqual([1, 2, 3, 3], waits)
        self.assertEqual(4, db_api.outbox_unsent()[0]['attempts'])

    def test_a_way_done_is_not_taken_again(self):
        sid = self.session()
        self.record(sid, 'A')
        ways = []

        class TwoWays(object):
            fail = True

            def send(self, row, skip=()):
                ways.append(sorted(set(['bus', 'aodh']) - set(skip)))
                if self.fail:
                    raise publisher.PublishError(
                        {'aodh': RuntimeError('down')}, {'bus'})

        two = TwoWays()
        d = outbox.Dispatcher(two, engine='e1')
        d.clock = Clock()
        d.flush()
        two.fail = False
        d.clock.now += 60
        d.flush()
        self.assertEqual([['aodh', 'bus'], ['aodh']], ways)
        self.assertEqual([], db_api.outbox_unsent())

    def test_sent_but_not_marked_is_not_sent_again(self):
        sid = self.session()
        self.record(sid, 'A')
        d = self.dispatcher()
        with mock.patch.object(db_api, 'outbox_mark_sent',
                               side_effect=RuntimeError('db away')):
            self.assertRaises(RuntimeError, d.flush)
        self.assertEqual(1, len(db_api.outbox_unsent()))
        # The thread looks again at once (the marking is owed).
        self.assertEqual(0, d._next_wait())
        self.assertEqual(0, d.flush())
        self.assertEqual([(sid, 'A')], self.sent())
        self.assertEqual([], db_api.outbox_unsent())

    def test_only_the_sessions_of_its_engine(self):
        mine, theirs = self.session('e1'), self.session('e2')
        self.record(mine, 'A')
        self.record(theirs, 'A')
        self.dispatcher('e1').flush()
        self.assertEqual([(mine, 'A')], self.sent())
        # Once the session is its, its rows are.
        db_api.session_set_engine(theirs, 'e1')
        self.dispatcher('e1').flush()
        self.assertEqual([(mine, 'A'), (theirs, 'A')], self.sent())

    def test_restart_sends_what_was_recorded_and_not_sent(self):
        sid = self.session()
        self.record(sid, st.MAINTENANCE_DONE)
        got = threading.Event()
        self.publisher.on_send = lambda row: got.set()
        d = outbox.Dispatcher(self.publisher, engine='e1')
        d.start()
        self.addCleanup(d.stop)
        self.assertTrue(got.wait(WAIT))
        self.assertEqual([(sid, st.MAINTENANCE_DONE)], self.sent())

    def test_a_commit_sends_at_once_and_the_thread_marks(self):
        sid = self.session()
        d = outbox.Dispatcher(self.publisher, engine='e1')
        marked = threading.Event()
        real_mark = db_api.outbox_mark_sent

        def mark(ids):
            real_mark(ids)
            marked.set()

        self.useFixture(fixtures.MockPatchObject(db_api, 'outbox_mark_sent',
                                                 side_effect=mark))
        d.start()
        self.addCleanup(d.stop)
        # Once the thread read what was there, a commit sends itself.
        self.assertTrue(d.ready.wait(WAIT))
        n = notifier.Notifier(db_api, d)
        n.session_event(sid, st.SCALE_IN, 0)
        self.assertEqual([(sid, st.SCALE_IN)], self.sent())
        self.assertEqual(threading.current_thread().name,
                         self.publisher.threads[0])
        self.assertTrue(marked.wait(WAIT))
        self.assertEqual([], db_api.outbox_unsent())

    def test_started_again_after_a_stop(self):
        sid = self.session()
        d = outbox.Dispatcher(self.publisher, engine='e1')
        d.start()
        d.stop()
        self.record(sid, 'late')
        d.start()
        d.stop()
        self.assertEqual([(sid, 'late')], self.sent())

    def test_flush_session_ignores_owner_and_is_bounded(self):
        sid = self.session('e2')
        self.record(sid, 'A')
        d = self.dispatcher('e1')
        self.publisher.fail = RuntimeError('down')
        self.assertFalse(d.flush_session(sid, 0))
        self.publisher.fail = None
        d.clock.now += 3600
        self.assertTrue(d.flush_session(sid, 0))
        self.assertEqual([(sid, 'A')], self.sent())


class TestSentByTheCommittingThread(OutboxTestCase):
    """After the commit the recording thread sends; the dispatcher only
    what that did not."""

    def setUp(self):
        super().setUp()
        self.d = self.dispatcher()
        self.n = notifier.Notifier(db_api, self.d)
        self.sid = self.session()

    def test_sent_without_reading_the_table(self):
        self.d.ready.set()
        with mock.patch.object(db_api, 'outbox_unsent',
                               side_effect=AssertionError('read')):
            self.n.session_event(self.sid, 'A', 0)
        self.assertEqual([(self.sid, 'A')], self.sent())
        # Sent, to be marked by the thread (nothing to send for a pass).
        self.assertEqual(0, self.d._next_wait())
        self.assertEqual(0, self.d.flush())
        self.assertEqual([(self.sid, 'A')], self.sent())
        self.assertEqual([], db_api.outbox_unsent())

    def test_a_pass_leaves_a_claimed_row_to_its_thread(self):
        self.d.ready.set()
        self.record(self.sid, 'A')
        [row] = db_api.outbox_unsent()
        self.assertEqual([row], self.d.claim([row]))
        self.assertEqual(1, self.d.flush())
        self.assertEqual([], self.sent())
        self.d.send([row])
        self.assertEqual(0, self.d.flush())
        self.assertEqual([(self.sid, 'A')], self.sent())

    def test_rolled_back_claims_are_released(self):
        self.d.ready.set()

        def crash():
            with self.n.transaction():
                self.n.session_event(self.sid, 'A', 0)
                self.assertEqual(1, len(self.d._claimed))
                raise RuntimeError('crash')

        self.assertRaises(RuntimeError, crash)
        self.assertEqual(set(), self.d._claimed)
        self.assertEqual([], self.sent())

    def test_before_the_first_pass_older_rows_go_first(self):
        self.record(self.sid, 'left by a killed engine')
        self.n.session_event(self.sid, 'new', 0)
        self.assertEqual([], self.sent())
        self.assertEqual(0, self.d.flush())
        self.assertEqual([(self.sid, 'left by a killed engine'),
                          (self.sid, 'new')], self.sent())
        # Then each commit sends its own again.
        self.n.session_event(self.sid, 'newer', 0)
        self.assertEqual((self.sid, 'newer'), self.sent()[-1])
        self.assertEqual(3, len(self.sent()))

    def test_after_a_failure_the_session_waits_behind_it(self):
        self.config(group='outbox', retry_interval=5)
        other = self.session()
        self.d.ready.set()
        self.publisher.fail = RuntimeError('bus down')
        self.n.session_event(self.sid, 'A', 0)
        self.publisher.fail = None
        # B would overtake A: it waits; another session does not.
        self.n.session_event(self.sid, 'B', 0)
        self.n.session_event(other, 'X', 0)
        self.assertEqual([(other, 'X')], self.sent())
        self.assertEqual(2, self.d.flush())
        self.d.clock.now += 5
        self.assertEqual(0, self.d.flush())
        self.assertEqual([(other, 'X'), (self.sid, 'A'), (self.sid, 'B')],
                         self.sent())
        # The session is released: its next commit sends itself.
        self.n.session_event(self.sid, 'C', 0)
        self.assertEqual((self.sid, 'C'), self.sent()[-1])
        self.assertEqual(0, self.d.flush())
        self.assertEqual([], db_api.outbox_unsent())

    def test_a_held_session_is_released_only_by_a_later_pass(self):
        self.d.ready.set()
        self.record(self.sid, 'left by a dead engine')
        # Taken over: held before its runner records anything.
        self.d.hold(self.sid)
        self.n.session_event(self.sid, 'resumed', 0)
        self.assertEqual([], self.sent())
        self.assertEqual(0, self.d.flush())
        self.assertEqual([(self.sid, 'left by a dead engine'),
                          (self.sid, 'resumed')], self.sent())
        # Held until a pass found nothing deferred since it began.
        self.assertEqual(0, self.d.flush())
        self.n.session_event(self.sid, 'next', 0)
        self.assertEqual((self.sid, 'next'), self.sent()[-1])


class TestLease(OutboxTestCase):
    """An engine whose lease expired (it stalled past the bound within
    which no other engine can have taken its sessions) sends nothing
    until the lease is renewed."""

    def setUp(self):
        super().setUp()
        self.clock = Clock()
        self.lease = fencing.Lease(clock=self.clock)
        self.d = outbox.Dispatcher(self.publisher, engine='e1',
                                   lease=self.lease)
        self.d.clock = self.clock
        self.n = notifier.Notifier(db_api, self.d)
        self.sid = self.session()
        self.d.ready.set()

    def test_never_renewed_is_valid(self):
        self.assertTrue(fencing.Lease().valid())

    def test_bound_from_the_start_of_the_beat(self):
        self.assertFalse(self.lease.renew(self.clock.now - 1, 3))
        self.clock.now += 1.9
        self.assertTrue(self.lease.valid())
        self.clock.now += 0.1
        self.assertFalse(self.lease.valid())
        # Renewed after it expired: says so (the dispatcher is kicked).
        self.assertTrue(self.lease.renew(self.clock.now, 3))
        self.assertTrue(self.lease.valid())

    def test_committing_thread_leaves_its_rows_when_expired(self):
        self.lease.renew(self.clock.now, 3)
        self.clock.now += 3
        self.n.session_event(self.sid, 'A', 0)
        self.assertEqual([], self.sent())
        # A pass neither, while it has expired.
        self.assertEqual(1, self.d.flush())
        self.assertEqual([], self.sent())
        self.lease.renew(self.clock.now, 3)
        self.assertEqual(0, self.d.flush())
        self.assertEqual([(self.sid, 'A')], self.sent())

    def test_rows_read_before_a_stall_are_not_sent_after_it(self):
        # A pass reads the rows, the engine stalls past its lease and its
        # heartbeat renews it before the pass goes on: what it read under
        # the lease that expired is left to a new pass.
        self.record(self.sid, 'A')
        self.lease.renew(self.clock.now, 3)
        read = db_api.outbox_unsent

        def stalled_after_read(**kwargs):
            rows = read(**kwargs)
            if rows:
                self.clock.now += 10
                db_api.session_set_engine(self.sid, 'e2')
                self.assertTrue(self.lease.renew(self.clock.now, 3))
            return rows

        with mock.patch.object(db_api, 'outbox_unsent',
                               side_effect=stalled_after_read):
            self.d.flush()
        self.assertEqual([], self.sent())
        # The next pass reads what this engine still owns: nothing.
        self.assertEqual(0, self.d.flush())
        self.assertEqual([], self.sent())

    def test_a_fenced_runner_does_not_send(self):
        fence = fencing.Fence(self.sid, 'e1', 1)
        fence.refuse('a write')
        self.record(self.sid, 'A')
        [row] = db_api.outbox_unsent()
        self.assertEqual([row], self.d.claim([row]))
        with fencing.bound(fence):
            self.d.send([row])
        self.assertEqual([], self.sent())

    def test_rows_taken_over_meanwhile_are_not_sent(self):
        # Recorded and claimed by a runner's thread; the engine stalls
        # before the send, another engine takes the session over.
        self.record(self.sid, 'A')
        [row] = db_api.outbox_unsent()
        self.assertEqual([row], self.d.claim([row]))
        self.lease.renew(self.clock.now, 3)
        self.clock.now += 10
        db_api.session_set_engine(self.sid, 'e2')
        self.d.send([row])
        self.lease.renew(self.clock.now, 3)
        self.assertEqual(0, self.d.flush())
        self.assertEqual([], self.sent())
        # Its new owner sends it.
        self.assertEqual(0, self.dispatcher(engine='e2').flush())
        self.assertEqual([(self.sid, 'A')], self.sent())


class BatchingPublisher(outbox_fixture.RecordingPublisher):
    """Sends the rows of one commit in one request (send_many)."""

    batching = True

    def __init__(self):
        super().__init__()
        self.requests = []

    def send(self, row, skip=()):
        self.requests.append([row['payload']['state']])
        super().send(row, skip)

    def send_many(self, rows):
        self.requests.append([row['payload']['state'] for row in rows])
        error = self.fail(rows[0]) if callable(self.fail) else self.fail
        if error is not None:
            raise publisher.PublishError({self.WAY: error}, ())
        for row in rows:
            super().send(row)


class TestSentTogether(OutboxTestCase):
    """A publisher that batches gets the rows of one commit at once."""

    def setUp(self):
        super().setUp()
        self.publisher = BatchingPublisher()
        self.d = self.dispatcher()
        self.n = notifier.Notifier(db_api, self.d)
        self.sid = self.session()
        self.d.ready.set()

    def commit(self, *states):
        with self.n.transaction():
            for state in states:
                self.n.session_event(self.sid, state, 0)

    def test_one_request_for_one_commit(self):
        self.commit('A', 'B')
        self.commit('C')
        self.assertEqual([['A', 'B'], ['C']], self.publisher.requests)
        self.assertEqual([(self.sid, 'A'), (self.sid, 'B'),
                          (self.sid, 'C')], self.sent())
        self.assertEqual(0, self.d.flush())
        self.assertEqual([], db_api.outbox_unsent())

    def test_a_failed_request_fails_all_and_each_is_sent_again(self):
        self.config(group='outbox', retry_interval=5)
        self.publisher.fail = RuntimeError('receiver down')
        self.commit('A', 'B')
        self.publisher.fail = None
        self.assertEqual([], self.sent())
        # The session waits behind them; a pass sends each by itself.
        self.commit('C')
        self.assertEqual([], self.sent())
        self.d.clock.now += 5
        self.assertEqual(0, self.d.flush())
        self.assertEqual([(self.sid, 'A'), (self.sid, 'B'),
                          (self.sid, 'C')], self.sent())
        self.assertEqual([['A', 'B'], ['A'], ['B'], ['C']],
                         self.publisher.requests)


class TestPassSendsTogether(OutboxTestCase):
    """A pass of the dispatcher (rows left by a restart, a stalled lease,
    a held session) sends the rows it reads in one request per page when
    the publisher batches; a row that failed before goes by itself."""

    def setUp(self):
        super().setUp()
        self.publisher = BatchingPublisher()

    def test_one_request_per_page_in_order(self):
        self.config(group='outbox', batch_size=4)
        s1, s2 = self.session(), self.session()
        for state in 'ABC':
            self.record(s1, state)
            self.record(s2, state)
        d = self.dispatcher()
        self.assertEqual(0, d.flush())
        self.assertEqual([['A', 'A', 'B', 'B'], ['C', 'C']],
                         self.publisher.requests)
        self.assertEqual([(s, x) for x in 'ABC' for s in (s1, s2)],
                         self.sent())
        self.assertEqual([], db_api.outbox_unsent())

    def test_a_failed_request_waits_and_its_rows_go_one_by_one(self):
        self.config(group='outbox', retry_interval=5)
        s1, s2 = self.session(), self.session()
        self.record(s1, 'A')
        self.record(s2, 'B')
        d = self.dispatcher()
        self.publisher.fail = RuntimeError('receiver down')
        self.assertEqual(2, d.flush())
        self.publisher.fail = None
        self.record(s1, 'C')
        self.record(s2, 'D')
        # Not due yet: nothing of either session goes out (order kept).
        self.assertEqual(4, d.flush())
        self.assertEqual([], self.sent())
        d.clock.now += 5
        self.assertEqual(0, d.flush())
        self.assertEqual([(s1, 'A'), (s2, 'B'), (s1, 'C'), (s2, 'D')],
                         self.sent())
        self.assertEqual([['A', 'B'], ['A'], ['B'], ['C', 'D']],
                         self.publisher.requests)
        self.assertEqual([], db_api.outbox_unsent())


class Killed(BaseException):
    """Stands for the SIGKILL of fault injection."""


class StubWorkflow(object):
    def cleanup(self, why):
        pass

    def percent_done(self):
        return 100


class TestRecordThenSend(OutboxTestCase):
    """A state, its history entry and its maintenance.session are one
    transaction."""

    def setUp(self):
        super().setUp()
        self.notifier = outbox_fixture.InlineNotifier(engine='e1')
        self.publisher = self.notifier.publisher
        self.sid = self.session(state=st.MAINTENANCE_COMPLETE)
        self.runner = session_runner.SessionRunner(self.sid, self.notifier)
        self.runner.workflow = StubWorkflow()

    def states(self):
        return [e['state'] for e in db_api.events_get(self.sid)
                if e['kind'] == st.EVENT_STATE]

    def test_transition_announced_once_committed(self):
        self.runner.transition(st.MAINTENANCE_COMPLETE, st.MAINTENANCE_DONE)
        self.assertEqual([st.MAINTENANCE_DONE], self.states())
        self.assertEqual([{'service': 'fenix', 'session_id': self.sid,
                           'state': st.MAINTENANCE_DONE,
                           'percent_done': 100, 'project_id': 'admin'}],
                         self.notifier.payloads())

    def test_failure_before_commit_leaves_neither_state_nor_message(self):
        with mock.patch.object(db_api, 'event_add',
                               side_effect=RuntimeError('crash')):
            self.assertRaises(RuntimeError, self.runner.transition,
                              st.MAINTENANCE_COMPLETE, st.MAINTENANCE_DONE)
        self.assertEqual(st.MAINTENANCE_COMPLETE,
                         db_api.session_get(self.sid)['state'])
        self.assertEqual([], self.states())
        self.assertEqual([], db_api.outbox_unsent())
        self.assertEqual([], self.notifier.messages)

    def test_kill_after_commit_leaves_both_and_restart_announces(self):
        self.config(group='fault_injection',
                    kill_after_commit=['maintenance.session:'
                                       'MAINTENANCE_DONE'])
        with mock.patch.object(faults, '_kill', side_effect=Killed):
            self.assertRaises(Killed, self.runner.transition,
                              st.MAINTENANCE_COMPLETE, st.MAINTENANCE_DONE)
        # Committed: the state, its history entry, its message unsent.
        self.assertEqual(st.MAINTENANCE_DONE,
                         db_api.session_get(self.sid)['state'])
        self.assertEqual([st.MAINTENANCE_DONE], self.states())
        self.assertEqual([], self.notifier.messages)
        [row] = db_api.outbox_unsent(engine='e1')
        self.assertEqual(st.MAINTENANCE_DONE, row['payload']['state'])
        # The restarted engine's dispatcher sends it.
        self.assertEqual(0, self.dispatcher('e1').flush())
        self.assertEqual([(self.sid, st.MAINTENANCE_DONE)], self.sent())

    def test_other_commits_do_not_kill(self):
        self.config(group='fault_injection',
                    kill_after_commit=['maintenance.session:'
                                       'MAINTENANCE_FAILED'])
        with mock.patch.object(faults, '_kill', side_effect=Killed) as kill:
            self.runner.transition(st.MAINTENANCE_COMPLETE,
                                   st.MAINTENANCE_DONE)
        kill.assert_not_called()
        self.assertEqual(1, len(self.notifier.messages))

    def test_failure_announced_with_its_state(self):
        self.runner._fail(st.MAINTENANCE_COMPLETE, RuntimeError('boom'))
        session = db_api.session_get(self.sid)
        self.assertEqual((st.MAINTENANCE_FAILED, 'boom'),
                         (session['state'], session['error']))
        self.assertEqual([st.MAINTENANCE_FAILED],
                         [p['state'] for p in self.notifier.payloads()])


class TestEngine(OutboxTestCase):
    """The manager's announcements, delete and takeover."""

    def setUp(self):
        super().setUp()
        self.config(group='download', directory=self.tmpdir + '/dl')
        self.ctx = context.RequestContext(user_id='admin',
                                          project_id='admin',
                                          roles=['admin'])

    def test_create_announces_with_the_new_session(self):
        n = outbox_fixture.InlineNotifier()
        m = manager.EngineManager(n, host='e1')
        with mock.patch.object(m, 'start_runner'):
            sid = m.create_session(self.ctx, {'workflow': 'wait_reply'})[
                'session_id']
        self.assertEqual([(sid, st.MAINTENANCE)],
                         [(p['session_id'], p['state'])
                          for p in n.payloads()])

    def test_failed_create_announces_nothing(self):
        n = outbox_fixture.InlineNotifier()
        m = manager.EngineManager(n, host='e1')
        with mock.patch.object(db_api, 'event_add',
                               side_effect=RuntimeError('crash')):
            self.assertRaises(RuntimeError, m.create_session, self.ctx,
                              {'workflow': 'wait_reply'})
        self.assertEqual([], db_api.session_list())
        self.assertEqual([], n.messages)

    def test_delete_sends_the_session_outbox_first(self):
        n = outbox_fixture.InlineNotifier()
        m = manager.EngineManager(n, host='e1')
        sid = self.session(state=st.MAINTENANCE_DONE)
        self.record(sid, st.MAINTENANCE_DONE)
        self.config(group='outbox', delete_timeout=0)
        n.publisher.fail = RuntimeError('down')
        e = self.assertRaises(exception.Conflict, m.delete_session,
                              self.ctx, sid)
        self.assertIn('could not be sent', str(e))
        self.assertEqual(st.MAINTENANCE_DONE,
                         db_api.session_get(sid)['state'])
        n.publisher.fail = None
        n.dispatcher.clock = lambda: float('inf')
        m.delete_session(self.ctx, sid)
        self.assertEqual([st.MAINTENANCE_DONE],
                         [p['state'] for p in n.payloads()])
        self.assertRaises(exception.SessionNotFound, db_api.session_get,
                          sid)

    def test_takeover_sends_a_dead_engines_unsent_messages(self):
        self.config(group='oslo_messaging_notifications', driver=['noop'])
        # 'alive' beats once: alive for the whole test, however slow.
        self.config(group='engine', takeover_after=3600)
        self.addCleanup(rpc.cleanup)
        # Finished (not resumed) and active sessions of a dead engine.
        done = self.session('dead', state=st.MAINTENANCE_DONE)
        self.record(done, st.MAINTENANCE_DONE)
        alive = self.session('alive', state=st.MAINTENANCE_DONE)
        self.record(alive, st.MAINTENANCE_DONE)
        db_api.engine_heartbeat('alive')
        db_api.engine_heartbeat('dead')
        with db_api.transaction() as session:
            session.execute(sa.update(models.Engine).where(
                models.Engine.host == 'dead').values(
                heartbeat_at=datetime.datetime(2020, 1, 1)))
        got = threading.Event()
        self.publisher.on_send = lambda row: got.set()
        svc = service.EngineService(local=True, publisher=self.publisher)
        svc.host = 'e1'
        svc.start()
        self.addCleanup(svc.stop)
        # The dead engine's orphans are shared over the live engines by a
        # hash ring: 'alive' (which only beat, and runs nothing here)
        # would be given about half of them. Here every orphan is e1's.
        self.useFixture(fixtures.MockPatchObject(
            svc.coordinator, 'mine', return_value=True))
        self.assertEqual([], self.sent())
        svc.take_over()
        self.assertTrue(got.wait(WAIT))
        self.assertEqual([(done, st.MAINTENANCE_DONE)], self.sent())
        self.assertEqual('e1', db_api.session_get(done)['engine'])
        self.assertEqual('alive', db_api.session_get(alive)['engine'])
