# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The queue of a process's SQLite writers (WriterQueue): urgent writers
(a manager's reply, a move's start) go before the others waiting."""
import threading
from unittest import mock

from fenix.common import states as st
from fenix.db import api as db_api
from fenix.db import replies as reply_db
from fenix.db.sqlalchemy import facade
from fenix.db.sqlalchemy import transactions
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.workflow import executor
from fenix.workflow.executor import common

TIMEOUT = 10


def _until(predicate):
    """Wait (at most TIMEOUT seconds) until ``predicate()`` holds."""
    tick = threading.Event()
    for _ in range(int(TIMEOUT / 0.005)):
        if predicate():
            return True
        tick.wait(0.005)
    return predicate()


class WriterQueueTestCase(base.TestCase):

    def _waiter(self, queue, name, urgent, order):
        def run():
            queue.acquire(urgent=urgent)
            order.append(name)
            queue.release()
        thread = threading.Thread(target=run)
        thread.start()
        self.addCleanup(thread.join, TIMEOUT)
        return thread

    def test_an_urgent_writer_goes_before_others_waiting(self):
        queue = facade.WriterQueue()
        order = []
        queue.acquire()
        self.assertTrue(queue.locked())
        first = self._waiter(queue, 'other', False, order)
        self.assertTrue(_until(lambda: queue._other == 1))
        second = self._waiter(queue, 'urgent', True, order)
        self.assertTrue(_until(lambda: queue._urgent == 1))
        self.assertEqual([], order)
        queue.release()
        first.join(TIMEOUT)
        second.join(TIMEOUT)
        # The other writer came first and still waited for the urgent one.
        self.assertEqual(['urgent', 'other'], order)
        self.assertFalse(queue.locked())

    def test_others_in_turn_when_no_urgent_one_waits(self):
        queue = facade.WriterQueue()
        order = []
        queue.acquire()
        threads = [self._waiter(queue, 'o%d' % n, False, order)
                   for n in range(3)]
        self.assertTrue(_until(lambda: queue._other == 3))
        queue.release()
        for thread in threads:
            thread.join(TIMEOUT)
        self.assertEqual(['o0', 'o1', 'o2'], sorted(order))

    def test_one_writer_at_a_time_and_none_left_waiting(self):
        queue = facade.WriterQueue()
        inside = []
        overlaps = []
        done = []

        def work(n):
            for i in range(200):
                queue.acquire(urgent=(n + i) % 3 == 0)
                inside.append(n)
                if len(inside) > 1:
                    overlaps.append(list(inside))
                inside.remove(n)
                queue.release()
            done.append(n)

        threads = [threading.Thread(target=work, args=(n,))
                   for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        self.assertEqual(list(range(8)), sorted(done))
        self.assertEqual([], overlaps)
        self.assertFalse(queue.locked())
        self.assertEqual((0, 0), (queue._urgent, queue._other))


class _Recorder(object):
    """A WriterQueue that records the ``urgent`` of each acquire."""

    def __init__(self):
        self.queue = facade.WriterQueue()
        self.urgent = []

    def acquire(self, urgent=False):
        self.urgent.append(urgent)
        self.queue.acquire(urgent=urgent)

    def release(self):
        self.queue.release()


class UrgentWritesTestCase(base.TestCase):
    """Which writers are urgent (SQLite, the process's queue)."""

    def setUp(self):
        super(UrgentWritesTestCase, self).setUp()
        self.useFixture(db_fixture.Database())
        self.recorder = _Recorder()
        patcher = mock.patch.object(transactions, '_SQLITE_WRITER',
                                    self.recorder)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_urgent_block_marks_its_outermost_transaction(self):
        sid = db_api.session_create({})['session_id']
        db_api.session_update(sid, {'error': 'a'})
        with db_api.urgent():
            db_api.session_update(sid, {'error': 'b'})
            with db_api.transaction():
                db_api.session_update(sid, {'error': 'c'})
        db_api.session_update(sid, {'error': 'd'})
        # create, a, b, the block (c joins it), d.
        self.assertEqual([False, False, True, True, False],
                         self.recorder.urgent)
        self.assertEqual('d', db_api.session_get(sid)['error'])

    def test_replies_are_urgent(self):
        sid = db_api.session_create({
            'state': st.PLANNED_MAINTENANCE, 'engine': 'e1'})['session_id']
        db_api.project_create_or_update(sid, 'p1', {
            'has_manager': True, 'event': st.PLANNED_MAINTENANCE})
        db_api.instances_put(sid, {'i1': {
            'project_id': 'p1', 'host': 'c1',
            'event': st.PLANNED_MAINTENANCE}})
        ack = st.ack(st.PLANNED_MAINTENANCE)
        del self.recorder.urgent[:]
        reply_db.record_project_reply(sid, 'p1', {'state': ack}, None)
        reply_db.record_instance_reply(sid, 'p1', 'i1', {'state': ack},
                                       None)
        self.assertEqual([True, True], self.recorder.urgent)

    def test_a_move_start_is_urgent(self):
        # The executor records a move's start in an urgent transaction: its
        # manager's reply waits for it.
        wf = mock.MagicMock()
        wf.session_id = 's1'
        wf.options = {}
        ex = executor.Executor(wf)
        seen = []

        def take(job, group):
            seen.append(getattr(facade._WRITING, 'urgent', False))
            return False, 3.0
        job = common.Job('i1', {'id': 'i1', 'host': 'c1'}, 'c1')
        with mock.patch.object(ex, '_take_shared_here', side_effect=take):
            self.assertEqual((False, 3.0), ex._record_start(job, {}, None))
        self.assertEqual([True], seen)
        self.assertFalse(getattr(facade._WRITING, 'urgent', False))


class EndHooksTestCase(base.TestCase):
    """db_api.on_end: called once the outermost writer block ends."""

    def setUp(self):
        super(EndHooksTestCase, self).setUp()
        self.useFixture(db_fixture.Database())
        self.ends = []

    def test_committed_rolled_back_and_outside(self):
        sid = db_api.session_create({})['session_id']
        with db_api.transaction():
            db_api.on_end(self.ends.append)
            with db_api.transaction():
                db_api.on_end(self.ends.append)
                db_api.session_update(sid, {'error': 'kept'})
            self.assertEqual([], self.ends)
        self.assertEqual([True, True], self.ends)

        def fail():
            with db_api.transaction():
                db_api.on_end(self.ends.append)
                db_api.session_update(sid, {'error': 'undone'})
                raise RuntimeError('deadlock')
        self.assertRaises(RuntimeError, fail)
        self.assertEqual([True, True, False], self.ends)
        self.assertEqual('kept', db_api.session_get(sid)['error'])
        # Outside a writer block: what was written is committed.
        db_api.on_end(self.ends.append)
        self.assertEqual([True, True, False, True], self.ends)

    def test_a_failing_hook_changes_nothing(self):
        sid = db_api.session_create({})['session_id']

        def broken(committed):
            raise ValueError('hook')
        with db_api.transaction():
            db_api.on_end(broken)
            db_api.on_end(self.ends.append)
            db_api.session_update(sid, {'error': 'kept'})
        self.assertEqual([True], self.ends)
        self.assertEqual('kept', db_api.session_get(sid)['error'])
