# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Readiness of the stored steps (a step may start once every step of its
``depends_on`` is DONE or SKIPPED), steps added at run time, the cascade of
a cancelled host, and an executor resumed from the rows alone."""
from concurrent import futures
import datetime
from unittest import mock

from fenix.common import state_machine
from fenix.common import states as st
from fenix.db import api as db_api
from fenix.engine import runner as session_runner
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.workflow import base as wf_base
from fenix.workflow import executor
from fenix.workflow.executor import common
from fenix.workflow import steps as plan_steps

T0 = datetime.datetime(2026, 12, 5, 10, 0, 0)

PLAN = {'waves': [
    {'index': 0, 'hosts': ['c1'], 'moves': [
        {'instance_id': 'i1', 'source': 'c1', 'target': 'c3',
         'kind': st.LIVE_MIGRATE, 'project_id': 'p1'},
        {'instance_id': 'i2', 'source': 'c1', 'target': 'c3',
         'kind': st.LIVE_MIGRATE, 'project_id': 'p1'}]},
    {'index': 1, 'hosts': ['c2'], 'moves': [
        {'instance_id': 'i3', 'source': 'c2', 'target': 'c1',
         'kind': st.LIVE_MIGRATE, 'project_id': 'p1'}]},
]}


class StepReadyTest(base.TestCase):
    """The rule itself, as the step machine's module declares it."""

    def test_ready_when_every_dependency_done_or_skipped(self):
        states = {1: st.STEP_DONE, 2: st.STEP_SKIPPED, 3: st.STEP_RUNNING,
                  4: st.STEP_CANCELLED, 5: st.STEP_FAILED}
        ready = state_machine.step_ready
        step = {'state': st.STEP_PENDING, 'depends_on': [1, 2]}
        self.assertTrue(ready(step, states.get))
        self.assertTrue(ready({'state': st.STEP_PENDING, 'depends_on': []},
                              states.get))
        for dep in (3, 4, 5, 99):
            self.assertFalse(ready(dict(step, depends_on=[1, dep]),
                                   states.get), dep)
        # Only a PENDING step is ready (one under way or over is not).
        self.assertFalse(ready(dict(step, state=st.STEP_RUNNING),
                               states.get))

    def test_dependents_are_transitive(self):
        edges = {1: {2, 3}, 3: {4}, 4: {1}}
        self.assertEqual({2, 3, 4}, state_machine.step_dependents(
            [1], lambda i: edges.get(i, ())))
        self.assertEqual(set(), state_machine.step_dependents(
            [2], lambda i: edges.get(i, ())))


class BookTestCase(base.TestCase):
    """A session of hosts c1, c2 and c3 whose book (``self.book``) holds
    the steps of ``PLAN`` (test_scale_indexes shares it)."""

    PLAN = PLAN

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.sid = db_api.session_create({
            'maintenance_at': T0, 'workflow': 'nfv',
            'hosts': [{'hostname': h} for h in ('c1', 'c2', 'c3')]})[
            'session_id']
        self.book = plan_steps.Book(self.sid)
        self.book.add(plan_steps.nfv_plan_steps(self.PLAN, {}, []))


class BookRollbackTest(BookTestCase):
    """The book keeps nothing of a transaction that was rolled back (a
    deadlock's victim, a lost connection at commit): what it wrote is put
    back as the database has it."""

    def stored(self, kind, host, instance_id=None):
        [row] = [r for r in db_api.steps_get(self.sid, kind=kind, host=host)
                 if r['instance_id'] == instance_id]
        return row

    def test_a_mark_rolled_back_is_put_back(self):
        b = self.book
        b.mark(st.STEP_DISABLE_COMPUTE, 'c1')

        def start_then_fail():
            with db_api.transaction():
                b.mark(st.STEP_MOVE, 'c1', 'i1', 'start', bump_attempt=True)
                # The thread that wrote it reads its own change.
                self.assertEqual(st.STEP_RUNNING,
                                 b.state(st.STEP_MOVE, 'c1', 'i1'))
                raise RuntimeError('deadlock')
        self.assertRaises(RuntimeError, start_then_fail)
        self.assertEqual(self.stored(st.STEP_MOVE, 'c1', 'i1'),
                         b.get(st.STEP_MOVE, 'c1', 'i1'))
        self.assertEqual(st.STEP_PENDING, b.state(st.STEP_MOVE, 'c1', 'i1'))
        # Started again, it is written (not taken for "already running").
        b.mark(st.STEP_MOVE, 'c1', 'i1', 'start', bump_attempt=True)
        self.assertEqual((st.STEP_RUNNING, 1), (
            self.stored(st.STEP_MOVE, 'c1', 'i1')['state'],
            self.stored(st.STEP_MOVE, 'c1', 'i1')['attempt']))

    def test_a_step_added_in_a_rolled_back_transaction_is_dropped(self):
        b = self.book
        maintain = b.get(st.STEP_MAINTAIN_HOST, 'c1')

        def add_then_fail():
            with db_api.transaction():
                # An instance the plan did not have: its move is added and
                # the host's maintenance made to wait for it.
                b.mark(st.STEP_MOVE, 'c1', 'i9', 'start',
                       create={'project_id': 'p1'})
                self.assertIsNotNone(b.get(st.STEP_MOVE, 'c1', 'i9'))
                self.assertNotEqual(
                    maintain['depends_on'],
                    b.get(st.STEP_MAINTAIN_HOST, 'c1')['depends_on'])
                raise RuntimeError('lost connection')
        self.assertRaises(RuntimeError, add_then_fail)
        self.assertIsNone(b.get(st.STEP_MOVE, 'c1', 'i9'))
        self.assertEqual(self.stored(st.STEP_MAINTAIN_HOST, 'c1'),
                         b.get(st.STEP_MAINTAIN_HOST, 'c1'))
        self.assertEqual(
            sorted(r['id'] for r in db_api.steps_get(self.sid)),
            sorted(r['id'] for r in b.all()))

    def _another_thread_marks_maintain(self):
        """db_api.steps_depend, with the host's maintenance marked started
        by another thread just before (in its own open transaction: on a
        server database both are open at once, so this one reads the row
        as it was)."""
        b, depend = self.book, db_api.steps_depend

        def depend_racing(sid, links):
            row = b.get(st.STEP_MAINTAIN_HOST, 'c1')
            b._index(dict(row, state=st.STEP_RUNNING))
            return depend(sid, links)
        return mock.patch.object(db_api, 'steps_depend',
                                 side_effect=depend_racing)

    def test_new_dependencies_leave_another_threads_mark(self):
        b = self.book
        before = b.get(st.STEP_MAINTAIN_HOST, 'c1')['depends_on']
        with self._another_thread_marks_maintain():
            with db_api.transaction():
                b.mark(st.STEP_MOVE, 'c1', 'i9', 'start',
                       create={'project_id': 'p1'})
        row = b.get(st.STEP_MAINTAIN_HOST, 'c1')
        self.assertEqual(st.STEP_RUNNING, row['state'])
        self.assertEqual(sorted(before + [b.get(st.STEP_MOVE, 'c1',
                                                'i9')['id']]),
                         sorted(row['depends_on']))

    def test_rolled_back_dependencies_leave_another_threads_mark(self):
        b = self.book
        before = b.get(st.STEP_MAINTAIN_HOST, 'c1')['depends_on']

        def add_then_fail():
            with db_api.transaction():
                b.mark(st.STEP_MOVE, 'c1', 'i9', 'start',
                       create={'project_id': 'p1'})
                raise RuntimeError('deadlock')
        with self._another_thread_marks_maintain():
            self.assertRaises(RuntimeError, add_then_fail)
        row = b.get(st.STEP_MAINTAIN_HOST, 'c1')
        self.assertEqual(st.STEP_RUNNING, row['state'])
        self.assertEqual(before, row['depends_on'])
        self.assertIsNone(b.get(st.STEP_MOVE, 'c1', 'i9'))
        # Nothing waits for the dropped step any more.
        self.assertEqual(before, self.stored(st.STEP_MAINTAIN_HOST,
                                             'c1')['depends_on'])

    def test_a_committed_transaction_is_kept(self):
        b = self.book
        b.mark(st.STEP_DISABLE_COMPUTE, 'c1')
        with db_api.transaction():
            b.mark(st.STEP_MOVE, 'c1', 'i1', 'start', bump_attempt=True)
        self.assertEqual(self.stored(st.STEP_MOVE, 'c1', 'i1'),
                         b.get(st.STEP_MOVE, 'c1', 'i1'))
        self.assertEqual(st.STEP_RUNNING, b.state(st.STEP_MOVE, 'c1', 'i1'))


class BookReadinessTest(BookTestCase):

    def ready(self, host=None):
        return [(s['kind'], s['host'], s['instance_id'])
                for s in self.book.ready(host)]

    def test_plan_order_from_dependencies(self):
        b = self.book
        self.assertEqual([(st.STEP_DISABLE_COMPUTE, 'c1', None),
                          (st.STEP_DISABLE_COMPUTE, 'c2', None)],
                         self.ready())
        b.mark(st.STEP_DISABLE_COMPUTE, 'c1')
        self.assertEqual([(st.STEP_NOTIFY_INSTANCE, 'c1', 'i1'),
                          (st.STEP_NOTIFY_INSTANCE, 'c1', 'i2')],
                         self.ready('c1'))
        self.assertFalse(b.is_ready(st.STEP_MOVE, 'c1', 'i1'))
        b.mark(st.STEP_NOTIFY_INSTANCE, 'c1', 'i1')
        self.assertTrue(b.is_ready(st.STEP_MOVE, 'c1', 'i1'))
        b.mark(st.STEP_MOVE, 'c1', 'i1', 'start')
        self.assertEqual([st.STEP_MOVE], [
            s['kind'] for s in b.in_state(st.STEP_RUNNING)])
        b.mark(st.STEP_MOVE, 'c1', 'i1', 'done')
        # i2's event was never needed (its project has no manager): its
        # move went all the same. The host's maintenance is ready once
        # every move is over; the event left PENDING is skipped.
        b.mark(st.STEP_MOVE, 'c1', 'i2', 'start')
        self.assertFalse(b.is_ready(st.STEP_MAINTAIN_HOST, 'c1'))
        self.assertEqual(
            [(st.STEP_MOVE, 'i2')],
            [(s['kind'], s['instance_id']) for s in b.waiting_on(
                b.get(st.STEP_MAINTAIN_HOST, 'c1'))])
        b.mark(st.STEP_MOVE, 'c1', 'i2', 'done')
        self.assertTrue(b.is_ready(st.STEP_MAINTAIN_HOST, 'c1'))
        self.assertEqual([(st.STEP_NOTIFY_INSTANCE, 'c1', 'i2'),
                          (st.STEP_MAINTAIN_HOST, 'c1', None)],
                         self.ready('c1'))
        b.skip_pending([b.get(st.STEP_NOTIFY_INSTANCE, 'c1', 'i2')],
                       'not needed')
        self.assertEqual([(st.STEP_MAINTAIN_HOST, 'c1', None)],
                         self.ready('c1'))
        self.assertFalse(b.is_ready(st.STEP_ENABLE_COMPUTE, 'c1'))
        b.mark(st.STEP_MAINTAIN_HOST, 'c1', event='start')
        b.mark(st.STEP_MAINTAIN_HOST, 'c1')
        self.assertTrue(b.is_ready(st.STEP_ENABLE_COMPUTE, 'c1'))
        # A new book reads the same from the rows.
        again = plan_steps.Book(self.sid)
        self.assertEqual(
            [(s['kind'], s['host'], s['instance_id']) for s in b.ready()],
            [(s['kind'], s['host'], s['instance_id'])
             for s in again.ready()])

    def test_step_added_at_run_time_extends_dependencies(self):
        b = self.book
        b.mark(st.STEP_DISABLE_COMPUTE, 'c1')
        maintain = b.get(st.STEP_MAINTAIN_HOST, 'c1')
        plugin = b.add([{'kind': st.STEP_PLUGIN, 'host': 'c1',
                         'inputs': {'plugin': 'p', 'type': 'host'},
                         'depends_on': list(maintain['depends_on'])}])[0]
        # An instance that came to c1 after the plan: its move is added
        # when it starts, after the host was disabled, and the host's
        # maintenance (and plug-ins) now wait for it too.
        row = b.mark(st.STEP_MOVE, 'c1', 'i9', 'start',
                     create={'project_id': 'p1'})
        self.assertEqual([b.get(st.STEP_DISABLE_COMPUTE, 'c1')['id']],
                         row['depends_on'])
        for step_id in (maintain['id'], plugin['id']):
            self.assertIn(row['id'], db_api.step_get(step_id)['depends_on'])
        for iid in ('i1', 'i2'):
            b.mark(st.STEP_NOTIFY_INSTANCE, 'c1', iid)
            b.mark(st.STEP_MOVE, 'c1', iid, 'start')
            b.mark(st.STEP_MOVE, 'c1', iid, 'done')
        self.assertFalse(b.is_ready(st.STEP_MAINTAIN_HOST, 'c1'))
        b.mark(st.STEP_MOVE, 'c1', 'i9', 'done')
        self.assertTrue(b.is_ready(st.STEP_MAINTAIN_HOST, 'c1'))
        self.assertTrue(plan_steps.Book(self.sid).is_ready(
            st.STEP_MAINTAIN_HOST, 'c1'))

    def test_cancelled_host_cancels_its_dependents(self):
        b = self.book
        # A step of c2 that waits for c1's maintenance (a later wave
        # that needs c1 maintained first).
        c1_done = b.get(st.STEP_MAINTAIN_HOST, 'c1')['id']
        after = b.get(st.STEP_MOVE, 'c2', 'i3')
        db_api.steps_depend(self.sid, {after['id']: [c1_done]})
        b.reload()
        b.mark(st.STEP_DISABLE_COMPUTE, 'c2')
        b.mark(st.STEP_NOTIFY_INSTANCE, 'c2', 'i3')
        cancelled = b.cancel_pending('c1', why='skipped by an admin')
        self.assertEqual(
            {st.STEP_CANCELLED},
            {s['state'] for s in db_api.steps_get(self.sid, host='c1')})
        # c2's move (and what waits for it) is cancelled with it: it
        # would never become ready; c2's steps over stay as they were.
        self.assertIn(after['id'], {s['id'] for s in cancelled})
        c2 = {s['kind']: s['state']
              for s in db_api.steps_get(self.sid, host='c2')}
        self.assertEqual(st.STEP_CANCELLED, c2[st.STEP_MOVE])
        self.assertEqual(st.STEP_CANCELLED, c2[st.STEP_MAINTAIN_HOST])
        self.assertEqual(st.STEP_DONE, c2[st.STEP_DISABLE_COMPUTE])
        self.assertEqual(st.STEP_DONE, c2[st.STEP_NOTIFY_INSTANCE])
        self.assertEqual([], b.ready())


class ResumeFromRowsTest(base.TestCase):
    """A restarted executor reads where hosts stand from the rows alone:
    it neither plans again, nor reads the plan's JSON, nor asks Nova
    what is on a host."""

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.sid = db_api.session_create({
            'maintenance_at': T0, 'workflow': 'nfv',
            'state': st.PLANNED_MAINTENANCE,
            'hosts': [{'hostname': h, 'type': st.COMPUTE}
                      for h in ('c1', 'c2', 'c3')]})['session_id']
        self.book = plan_steps.Book(self.sid)
        self.book.add(plan_steps.nfv_plan_steps(PLAN, {}, []))

    def _wf(self):
        servers = [{'id': 'i3', 'host': 'c2', 'project_id': 'p1',
                    'status': 'ACTIVE', 'flavor': {'vcpus': 1, 'ram': 1,
                                                   'disk': 1}},
                   {'id': 'i1', 'host': 'c3', 'project_id': 'p1',
                    'status': 'ACTIVE', 'flavor': {'vcpus': 1, 'ram': 1,
                                                   'disk': 1}}]

        def list_servers(host=None):
            if host is not None:
                raise AssertionError('Nova asked what is on %s' % host)
            return servers

        wf = mock.Mock()
        wf.session_id = self.sid
        wf.options = {}
        wf.steps = plan_steps.Book(self.sid)
        wf.session = db_api.session_get(self.sid)
        wf.cloud.servers.side_effect = list_servers
        wf.cloud.server_groups.return_value = []
        wf.cloud.hypervisors.return_value = [
            {'hostname': h, 'vcpus': 8, 'memory_mb': 8192, 'local_gb': 80}
            for h in ('c1', 'c2', 'c3')]
        wf.cloud.compute_services.return_value = [
            {'host': h, 'status': 'enabled', 'state': 'up'}
            for h in ('c1', 'c2', 'c3')]
        wf._computes.side_effect = lambda: db_api.hosts_get(self.sid)
        for name in ('_plan', '_make_plan', '_store_plan', '_occupied'):
            getattr(wf, name).side_effect = AssertionError(
                '%s called on resume' % name)
        return wf

    def test_resume_reads_rows_only(self):
        b = self.book
        # c1: emptied and in maintenance when the engine stopped.
        b.mark(st.STEP_DISABLE_COMPUTE, 'c1')
        for iid in ('i1', 'i2'):
            b.mark(st.STEP_NOTIFY_INSTANCE, 'c1', iid)
            b.mark(st.STEP_MOVE, 'c1', iid, 'start')
            b.mark(st.STEP_MOVE, 'c1', iid, 'done')
        b.mark(st.STEP_MAINTAIN_HOST, 'c1', event='start')
        db_api.host_update(self.sid, 'c1',
                           {'state': st.HOST_IN_MAINTENANCE,
                            'started_at': T0})
        # c2: disabled, its instance's move under way.
        b.mark(st.STEP_DISABLE_COMPUTE, 'c2')
        b.mark(st.STEP_NOTIFY_INSTANCE, 'c2', 'i3')
        b.mark(st.STEP_MOVE, 'c2', 'i3', 'start')
        db_api.host_update(self.sid, 'c2', {'state': st.HOST_EMPTYING,
                                            'started_at': T0})
        ex = executor.Executor(self._wf())
        ex._resume = []
        ex._load_model()
        ex._load_hosts()
        self.assertEqual({'c1': common.H_DOWN, 'c2': common.H_PENDING,
                          'c3': common.H_PENDING}, ex.hstate)
        self.assertEqual(['c2'], ex._resume)
        # The host order and the planned moves are the step rows'.
        self.assertEqual(['c1', 'c2', 'c3'], ex.order)
        self.assertEqual('c1', ex.planned[('i3', 'c2')]['target'])
        # c2's move under way is watched again, from its step: not from
        # the instance rows, not started again. Nova is asked about that
        # one server only (the stopped engine's request may be under way).
        ex.wf.cloud.server.return_value = {
            'id': 'i3', 'host': 'c2', 'status': 'MIGRATING',
            'task_state': 'migrating'}
        job = common.Job('i3', ex.servers['i3'], 'c2')
        with mock.patch.object(db_api, 'instances_get',
                               side_effect=AssertionError('rows read')):
            ex._resume_jobs('c2', {'i3': job})
        ex.wf._finish_interrupted.assert_called_once_with('c2')
        ex.wf.cloud.server.assert_called_once_with('i3')
        self.assertEqual((common.READY, st.LIVE_MIGRATE, True),
                         (job.phase, job.action, job.resume))
        for name in ('_plan', '_make_plan', '_store_plan', '_occupied'):
            getattr(ex.wf, name).assert_not_called()


class MarkManyTest(base.TestCase):
    """Book.mark_many: the notify steps of a pass's events in one write,
    each with its own values, as one mark() each would leave them."""

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.sid = db_api.session_create({
            'maintenance_at': T0, 'workflow': 'nfv'})['session_id']
        self.book = plan_steps.Book(self.sid)
        self.book.add(plan_steps.nfv_plan_steps(PLAN, {}, []))
        self.book.mark(st.STEP_DISABLE_COMPUTE, 'c1')

    def test_marks_adds_and_routes_in_one_write(self):
        b = self.book
        b.mark(st.STEP_NOTIFY_INSTANCE, 'c1', 'i2', 'done',
               values={'event_id': 'old'})
        b.mark(st.STEP_NOTIFY_INSTANCE, 'c2', 'i3', 'skip')
        writes = []
        real = db_api.steps_transition_each

        def each(sid, changes):
            writes.append(len(changes))
            return real(sid, changes)

        with mock.patch.object(db_api, 'step_transition') as one, \
                mock.patch.object(db_api, 'steps_transition_each',
                                  side_effect=each):
            rows = b.mark_many(st.STEP_NOTIFY_INSTANCE, [
                {'host': 'c1', 'instance_id': 'i1',
                 'values': {'event_id': 'e1'}},
                # Its second event (it came back).
                {'host': 'c1', 'instance_id': 'i2',
                 'events': ('again', 'done'), 'values': {'event_id': 'e2'}},
                # Not in the plan (it came onto the host): added, after
                # the host's disable step, before its maintenance.
                {'host': 'c1', 'instance_id': 'i9',
                 'values': {'event_id': 'e9'},
                 'create': {'project_id': 'p1'}},
                # A refused edge (SKIPPED is over): left as it is.
                {'host': 'c2', 'instance_id': 'i3'}])
        one.assert_not_called()
        self.assertEqual([3], writes)
        self.assertEqual([(st.STEP_DONE, 'e1'), (st.STEP_DONE, 'e2'),
                          (st.STEP_DONE, 'e9')],
                         [(r['state'], r['event_id']) for r in rows[:3]])
        self.assertIsNone(rows[3])
        stored = {(s['kind'], s['instance_id']): s
                  for s in db_api.steps_get(self.sid, host='c1')}
        for iid, event_id in (('i1', 'e1'), ('i2', 'e2'), ('i9', 'e9')):
            step = stored[(st.STEP_NOTIFY_INSTANCE, iid)]
            self.assertEqual((st.STEP_DONE, event_id),
                             (step['state'], step['event_id']))
            self.assertEqual(step['state'],
                             b.state(st.STEP_NOTIFY_INSTANCE, 'c1', iid))
        added = stored[(st.STEP_NOTIFY_INSTANCE, 'i9')]
        self.assertEqual([stored[(st.STEP_DISABLE_COMPUTE, None)]['id']],
                         added['depends_on'])
        self.assertIn(added['id'],
                      stored[(st.STEP_MAINTAIN_HOST, None)]['depends_on'])


class MaintainReadyTest(base.TestCase):
    """An emptied host goes down only when its maintain_host step is
    ready: the events and moves the run did not need are skipped; a step
    still under way fails the run instead of leaving the host waiting."""

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.sid = db_api.session_create({
            'maintenance_at': T0, 'workflow': 'nfv'})['session_id']
        book = plan_steps.Book(self.sid)
        book.add(plan_steps.nfv_plan_steps(PLAN, {}, []))
        wf = mock.MagicMock()
        wf.session_id = self.sid
        wf.options = {}
        wf.steps = book
        self.ex = executor.Executor(wf)
        self.book = book
        book.mark(st.STEP_DISABLE_COMPUTE, 'c1')

    def test_unneeded_steps_skipped(self):
        b = self.book
        # i1 moved after its event; i2 left the host before its turn.
        b.mark(st.STEP_NOTIFY_INSTANCE, 'c1', 'i1')
        b.mark(st.STEP_MOVE, 'c1', 'i1', 'start')
        b.mark(st.STEP_MOVE, 'c1', 'i1', 'done')
        self.assertFalse(b.is_ready(st.STEP_MAINTAIN_HOST, 'c1'))
        self.assertTrue(self.ex._maintain_ready('c1'))
        self.assertEqual([], self.ex.failures)
        self.assertEqual(
            {('notify_instance', 'i2'): st.STEP_SKIPPED,
             ('move', 'i2'): st.STEP_SKIPPED},
            {(s['kind'], s['instance_id']): s['state']
             for s in db_api.steps_get(self.sid, host='c1')
             if s['instance_id'] == 'i2'})
        self.assertTrue(b.is_ready(st.STEP_MAINTAIN_HOST, 'c1'))

    def test_step_under_way_fails_the_run(self):
        b = self.book
        b.mark(st.STEP_MOVE, 'c1', 'i1', 'start')
        self.assertFalse(self.ex._maintain_ready('c1'))
        self.assertEqual(1, len(self.ex.failures))
        self.assertIn('waits for step(s) move', self.ex.failures[0])
        self.assertEqual(common.H_DONE, self.ex.hstate['c1'])


class ReadRowsTest(base.TestCase):
    """After a reply the executor reads the rows of the instances that
    replied; all of them only when a wake-up named none."""

    def setUp(self):
        super().setUp()
        wf = mock.MagicMock()
        wf.session_id = 's1'
        wf.options = {}
        wf.runner = session_runner.SessionRunner('s1', notifier=None)
        self.ex = executor.Executor(wf)
        jobs = {}
        for iid in ('i1', 'i2', 'i3'):
            jobs[iid] = common.Job(iid, {'id': iid, 'host': 'c1'}, 'c1')
            jobs[iid].phase = common.NOTIFIED
        self.ex.jobs = {'c1': jobs}
        self.read = []

        def instances_get(sid, instance_ids):
            self.read.append(sorted(instance_ids))
            return [{'instance_id': i, 'reply': 'r'} for i in instance_ids]
        patcher = mock.patch.object(db_api, 'instances_get',
                                    side_effect=instances_get)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_only_the_rows_of_the_replies(self):
        self.ex._read_rows(['c1'])
        self.assertEqual([['i1', 'i2', 'i3']], self.read)
        # No reply since: nothing read.
        self.ex._read_rows(['c1'])
        self.assertEqual(1, len(self.read))
        self.ex.wf.runner.wake(st.WAKE_REPLY, 'i2')
        self.ex._read_rows(['c1'])
        self.assertEqual(['i2'], self.read[-1])
        # A job told since is read with the replies; a job that no longer
        # waits loses its row.
        self.ex.jobs['c1']['i1'].phase = common.DONE
        self.ex.new_notified.add('i3')
        self.ex.wf.runner.wake(st.WAKE_REPLY, 'i1')
        self.ex._read_rows(['c1'])
        self.assertEqual(['i3'], self.read[-1])
        self.assertEqual({'i2', 'i3'}, set(self.ex.rows))

    def test_a_reply_naming_no_instance_reads_all(self):
        self.ex._read_rows(['c1'])
        self.ex.wf.runner.wake(st.WAKE_REPLY)
        self.ex._read_rows(['c1'])
        self.assertEqual([['i1', 'i2', 'i3']] * 2, self.read)

    def test_every_row_read_again_after_the_recheck_time(self):
        """A reply whose wake-up was lost (the API's cast during a broker
        outage) is seen within WAKE_RECHECK seconds: every waiting row is
        read again then, without a wake-up."""
        from fenix.workflow import base as wf_base
        from fenix.workflow.executor import events
        clock = mock.Mock()
        clock.monotonic.return_value = 1000.0
        with mock.patch.object(events, 'time', clock):
            self.ex._read_rows(['c1'])
            self.ex._read_rows(['c1'])
            self.assertEqual([['i1', 'i2', 'i3']], self.read)
            clock.monotonic.return_value += wf_base.WAKE_RECHECK
            self.ex._read_rows(['c1'])
            self.ex._read_rows(['c1'])
        self.assertEqual([['i1', 'i2', 'i3']] * 2, self.read)

    def test_a_job_just_told_is_not_read_back(self):
        """A job's event sent by a worker: its row is what the worker
        wrote, not read again; a reply that woke the engine while the
        event was being sent is read once the job waits for it."""
        from fenix.common import timeutils
        self.ex._read_rows(['c1'])
        self.assertEqual(1, len(self.read))
        jobs = self.ex.jobs['c1']
        for iid in ('i4', 'i5'):
            jobs[iid] = common.Job(iid, {'id': iid, 'host': 'c1'}, 'c1')
            jobs[iid].phase = common.NOTIFYING
        # i4's manager answered before the worker's batch was collected.
        self.ex.wf.runner.wake(st.WAKE_REPLY, 'i4')
        self.ex._read_rows(['c1'])
        self.assertEqual(1, len(self.read))
        future = futures.Future()
        reply_at = timeutils.utcnow()
        future.set_result([wf_base.SentEvent('E', reply_at, {'i4': 'e4'}),
                           wf_base.SentEvent('E', reply_at, {'i5': 'e5'})])
        self.ex._sent(future, [jobs['i4'], jobs['i5']])
        self.assertEqual([(common.NOTIFIED, 'e4', reply_at)] * 1 +
                         [(common.NOTIFIED, 'e5', reply_at)],
                         [(jobs[i].phase, jobs[i].event_id, jobs[i].reply_at)
                          for i in ('i4', 'i5')])
        self.ex._read_rows(['c1'])
        self.assertEqual(['i4'], self.read[-1])
        self.ex._read_rows(['c1'])
        self.assertEqual(2, len(self.read))
        self.assertEqual(set(), self.ex.early_replies)


class SendNotesTest(base.TestCase):
    """The events of a pass go to the workers in batches, each batch one
    transaction (BaseWorkflow.notify_instances) with its notify steps
    (Book.mark_many)."""

    def setUp(self):
        super().setUp()
        wf = mock.MagicMock()
        wf.session_id = 's1'
        wf.options = {}
        wf.steps.state.return_value = None
        self.ex = executor.Executor(wf)
        self.ex.session = {'session_id': 's1'}
        self.submitted = []
        pool = mock.Mock()

        def submit(fn, jobs):
            self.submitted.append((fn, [j.iid for j in jobs]))
            return mock.Mock()
        pool.submit.side_effect = submit
        self.ex.npool = pool

    def _job(self, iid, event=st.PLANNED_MAINTENANCE):
        job = common.Job(iid, {'id': iid, 'project_id': 'p1',
                               'name': 'vm-' + iid}, 'c1')
        job.event, job.window, job.phase = event, 30, common.NOTIFYING
        return job

    def test_batches_of_one_event(self):
        jobs = [self._job('i%d' % n) for n in range(5)]
        jobs.append(self._job('p1', st.PREPARE_MAINTENANCE))
        self.ex.to_notify = list(jobs)
        with mock.patch.object(common, 'NOTIFY_BATCH', 2):
            self.ex._send_notes()
        self.assertEqual([['i0', 'i1'], ['i2', 'i3'], ['i4'], ['p1']],
                         [ids for _fn, ids in self.submitted])
        self.assertEqual([], self.ex.to_notify)
        self.assertEqual([['i0', 'i1'], ['i2', 'i3'], ['i4'], ['p1']],
                         sorted([j.iid for j in b]
                                for b in self.ex.notes.values()))

    def test_one_write_for_a_batch(self):
        jobs = [self._job('i1'), self._job('i2')]
        wf = self.ex.wf
        sents = [wf_base.SentEvent(st.PLANNED_MAINTENANCE, None,
                                   {j.iid: 'e-' + j.iid}) for j in jobs]

        def notify_instances(event, items, allowed_actions, session,
                             on_recorded):
            on_recorded(sents)
            return sents
        wf.notify_instances.side_effect = notify_instances
        self.assertEqual(sents, self.ex._send_events(jobs))
        wf.notify_instances.assert_called_once()
        items = wf.notify_instances.call_args[0][1]
        self.assertEqual([('i1', 'p1', 30, 'vm-i1'), ('i2', 'p1', 30,
                                                      'vm-i2')],
                         [(i['instance_id'], i['project_id'], i['window'],
                           i['create']['instance_name']) for i in items])
        wf.steps.mark_many.assert_called_once()
        kind, marks = wf.steps.mark_many.call_args[0]
        self.assertEqual(st.STEP_NOTIFY_INSTANCE, kind)
        self.assertEqual([('i1', ('done',), 'e-i1'),
                          ('i2', ('done',), 'e-i2')],
                         [(m['instance_id'], m['events'],
                           m['values']['event_id']) for m in marks])


class InterruptedWorkersTest(base.TestCase):
    """What a worker fails with while the engine stops the session is the
    interruption, for every kind of worker: nothing is recorded as a
    failure, the host states stay for the next engine, and what ended
    well in the same batch is still taken in."""

    def setUp(self):
        super().setUp()
        wf = mock.MagicMock()
        wf.session_id = 's1'
        wf.options = {}
        self.wf = wf
        self.ex = executor.Executor(wf)
        self.ex.hstate = {'c1': common.H_DOWN, 'c2': common.H_STARTING,
                          'c3': common.H_DOWN}

    def _future(self, error=None, result=None):
        future = futures.Future()
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
        self.ex.completed.append(future)
        return future

    def _batch(self):
        ex = self.ex
        ex.downs[self._future(RuntimeError('plug-in interrupted'))] = 'c1'
        ex.starts[self._future(RuntimeError('disable interrupted'))] = 'c2'
        ex.downs[self._future(result=None)] = 'c3'

    def test_stopping_raises_the_interruption(self):
        self.wf.stopping.return_value = True
        self._batch()
        error = self.assertRaises(RuntimeError, self.ex._collect)
        self.assertEqual('plug-in interrupted', str(error))
        self.assertEqual([], self.ex.failures)
        self.assertEqual(common.H_DOWN, self.ex.hstate['c1'])
        self.assertEqual(common.H_STARTING, self.ex.hstate['c2'])
        # c3's maintenance ended before the stop: taken in.
        self.assertEqual(common.H_DONE, self.ex.hstate['c3'])
        self.assertFalse(self.ex._in_flight())

    def test_not_stopping_fails_the_steps(self):
        self.wf.stopping.return_value = False
        self._batch()
        self.ex._collect()
        self.assertEqual(2, len(self.ex.failures))
        self.assertIn('could not start host c2', self.ex.failures[0])
        self.assertEqual('plug-in interrupted', self.ex.failures[1])
        self.assertEqual(common.H_DONE, self.ex.hstate['c1'])
