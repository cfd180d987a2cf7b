# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""SessionRunner's wake-ups: topics, stop, and the admin's requests."""
import threading

from fenix.common import states as st
from fenix.db import api as db_api
from fenix.engine import runner as session_runner
from fenix.tests import base
from fenix.tests import db_fixture

WAIT = 10


class WakeTopicsTest(base.TestCase):

    def setUp(self):
        super().setUp()
        # Not started: only its wake/wait are used here.
        self.runner = session_runner.SessionRunner('s1', notifier=None)

    def waiter(self, topic):
        """A thread in wait(topic=...); returns (thread, result).

        Returns once the thread has read the wake-up count under the
        runner's lock: a wake() from here then comes after it.
        """
        entered = threading.Event()
        count = self.runner._count

        def counting(t):
            entered.set()
            return count(t)
        self.runner._count = counting
        result = []
        thread = threading.Thread(
            target=lambda: result.append(self.runner.wait(WAIT,
                                                          topic=topic)))
        thread.start()
        self.assertTrue(entered.wait(WAIT))
        self.addCleanup(thread.join, WAIT)
        return thread, result

    def test_wait_without_topic_wakes_for_any(self):
        thread, result = self.waiter(None)
        self.runner.wake(st.WAKE_INTERNAL)
        thread.join(WAIT)
        self.assertEqual([True], result)

    def test_topic_waiter_sleeps_through_other_topics(self):
        thread, result = self.waiter(st.WAKE_REPORT)
        self.runner.wake(st.WAKE_REPLY)
        self.runner.wake(st.WAKE_INTERNAL)
        # Still waiting: a wait of its own on the same condition times out
        # while the first one has not returned.
        self.assertFalse(self.runner.wait(0.1, topic=st.WAKE_REPORT))
        self.assertTrue(thread.is_alive())
        self.runner.wake(st.WAKE_REPORT)
        thread.join(WAIT)
        self.assertEqual([True], result)

    def test_untopical_wake_wakes_topic_waiters(self):
        thread, result = self.waiter(st.WAKE_REPORT)
        self.runner.wake()
        thread.join(WAIT)
        self.assertEqual([True], result)

    def test_stop_interrupts_a_topic_wait(self):
        errors = []

        def run():
            try:
                self.runner.wait(WAIT, topic=st.WAKE_REPORT)
            except session_runner.SessionStopped as e:
                errors.append(e)
        thread = threading.Thread(target=run)
        thread.start()
        self.runner.stop('deleted')
        thread.join(WAIT)
        self.assertFalse(thread.is_alive())
        self.assertEqual(1, len(errors))

    def test_stopping_says_a_stop_was_asked(self):
        self.assertFalse(self.runner.stopping)
        self.runner.stop(session_runner.STOP_SHUTDOWN)
        self.assertTrue(self.runner.stopping)

    def test_wake_while_looking_is_not_lost(self):
        # A wake-up between mark() and wait() (the caller was busy
        # looking) ends the wait at once, whatever its timeout.
        for topic in (None, st.WAKE_REPORT):
            mark = self.runner.mark(topic)
            self.runner.wake(topic)
            self.assertTrue(self.runner.wait(WAIT * 100, topic=topic,
                                             since=mark))
        mark = self.runner.mark(st.WAKE_REPORT)
        self.runner.wake(st.WAKE_REPLY)
        self.assertFalse(self.runner.wait(0.05, topic=st.WAKE_REPORT,
                                          since=mark))


class RepliedTest(base.TestCase):
    """take_replied: the instances whose replies woke the runner."""

    def setUp(self):
        super().setUp()
        self.runner = session_runner.SessionRunner('s1', notifier=None)
        # A new runner knows nothing yet: every row is to be read.
        self.assertEqual((set(), True), self.runner.take_replied())

    def test_replies_name_their_instances_once(self):
        self.runner.wake(st.WAKE_REPLY, 'i1')
        self.runner.wake(st.WAKE_REPLY, 'i2')
        self.runner.wake(st.WAKE_REPORT)
        self.assertEqual(({'i1', 'i2'}, False), self.runner.take_replied())
        self.assertEqual((set(), False), self.runner.take_replied())

    def test_a_wake_up_naming_no_instance_asks_for_all(self):
        for topic in (st.WAKE_REPLY, None):
            self.runner.wake(st.WAKE_REPLY, 'i1')
            self.runner.wake(topic)
            self.assertEqual(({'i1'}, True), self.runner.take_replied())
            self.assertEqual((set(), False), self.runner.take_replied())


class ControlCacheTest(base.TestCase):
    """SessionRunner.control(): the admin's requests, read from the
    database again only after a control (or untopical) wake-up."""

    def setUp(self):
        super().setUp()
        self.db = db_api
        self.useFixture(db_fixture.Database(self.tmpdir))
        self.sid = db_api.session_create({
            'state': st.MAINTENANCE, 'workflow': 'wait_reply',
            'hosts': [{'hostname': 'h1'}, {'hostname': 'h2'}]})[
                'session_id']
        self.runner = session_runner.SessionRunner(self.sid, notifier=None)

    def test_read_again_only_after_a_control_wake_up(self):
        self.assertEqual((False, {}), self.runner.control())
        self.db.session_update(self.sid, {'hold_requested': True})
        self.db.host_update(self.sid, 'h2', {
            'skip_requested': True, 'details': {'skip_reason': 'RMA'}})
        # Other wake-ups do not make it look again.
        self.runner.wake(st.WAKE_REPLY)
        self.runner.wake(st.WAKE_INTERNAL)
        self.assertEqual((False, {}), self.runner.control())
        self.runner.wake(st.WAKE_CONTROL)
        self.assertEqual((True, {'h2': 'RMA'}), self.runner.control())
        self.db.session_update(self.sid, {'hold_requested': False})
        self.runner.wake()
        self.assertEqual((False, {'h2': 'RMA'}), self.runner.control())
