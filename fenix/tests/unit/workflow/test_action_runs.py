# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Action plug-in runs are acted once: attempts, agents' reports, restarts.

BaseWorkflow.run_action_plugins on a real DB with plug-in classes of the
tests' own; an engine restart is an engine that finds the rows as the
previous one left them (a run RUNNING, a host IN_MAINTENANCE).
"""
import datetime
import threading
from unittest import mock

from fenix.common import context
from fenix.common import exception
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.engine import manager
from fenix.engine import runner as session_runner
from fenix.tests.unit.workflow import fakes
from fenix.workflow.actions import base as action_base
from fenix.workflow import base as wf_base


class Recording(action_base.ActionPlugin):
    """Records every call of run(), with the run's row as run() saw it."""

    calls = None
    result = None

    def run(self):
        row = db_api.action_runs_get(self.session['session_id'],
                                     plugin=self.plugin['plugin'])[0]
        type(self).calls.append({'attempt': self.attempt,
                                 'report_url': self.report_url,
                                 'row': row})
        return type(self).result


class Unsafe(Recording):
    idempotent = False


class Safe(Recording):
    idempotent = True


class Agent(Recording):
    """Hands its work to an agent (ASYNC)."""
    timeout = 600


class HandsOver(Agent):
    """Declares its hand-over: the engine records it before run()."""
    hands_over = True


class ActionRunTestCase(fakes.FakeCloudTestCase):

    def setUp(self):
        super().setUp()
        self.ctx = context.get_admin_context()
        self.sid = db_api.session_create({
            'state': st.START_MAINTENANCE,
            'hosts': [{'hostname': 'c1', 'type': st.COMPUTE,
                       'state': st.HOST_PENDING}],
            'action_plugins': [{'plugin': 'tool', 'type': st.PLUGIN_HOST}],
        })['session_id']
        self.engine = manager.EngineManager(self.notifier, host='e1')
        self.runner = session_runner.SessionRunner(self.sid, self.notifier)
        # Reports wake this runner as they would the engine's own.
        self.engine._runners[self.sid] = self.runner
        self.wf = wf_base.BaseWorkflow(self.sid, self.runner, self.notifier)

    def use(self, cls, result=None):
        cls.calls = []
        cls.result = result if result is not None else \
            action_base.Result(True, 'ok')
        patcher = mock.patch('fenix.workflow.plugins.action_class',
                             return_value=cls)
        patcher.start()
        self.addCleanup(patcher.stop)
        return cls

    def host(self):
        return db_api.host_get(self.sid, 'c1')

    def run_plugins(self):
        self.wf.run_action_plugins(st.PLUGIN_HOST, self.host())

    def row(self):
        return db_api.action_runs_get(self.sid, plugin='tool')[0]

    def report(self, state=st.RUN_DONE, attempt=None, message='agent'):
        return self.engine.report_action_run(
            self.ctx, self.sid, 'tool', 'c1',
            {'state': state, 'message': message}, attempt=attempt)

    def interrupted(self, asynchronous, started_at=None):
        """The rows an engine killed while attempt 1 ran leaves behind."""
        run = db_api.action_run_start(self.sid, 'tool', st.PLUGIN_HOST, 'c1')
        values = {'asynchronous': asynchronous}
        if started_at is not None:
            values['started_at'] = started_at
        db_api.action_run_update_attempt(run['id'], 1, values)
        db_api.host_update(self.sid, 'c1', {
            'state': st.HOST_IN_MAINTENANCE,
            'announced_state': st.IN_MAINTENANCE,
            'started_at': timeutils.utcnow()})
        return run

    def history(self):
        return [e['message'] for e in db_api.events_get(self.sid)]


class TestAttempts(ActionRunTestCase):

    def test_attempt_recorded_before_the_plugin_runs(self):
        cls = self.use(Unsafe)
        self.run_plugins()
        [call] = cls.calls
        # run() already saw its attempt RUNNING in the DB.
        self.assertEqual((st.RUN_RUNNING, 1), (call['row']['state'],
                                               call['row']['attempt']))
        self.assertIsNotNone(call['row']['started_at'])
        self.assertEqual(1, call['attempt'])
        self.assertEqual('http://%s:%s/v1/action_plugin_run/%s/tool/c1'
                         % (wf_base.CONF.api.host, wf_base.CONF.api.port,
                            self.sid), call['report_url'])
        row = self.row()
        self.assertEqual((st.RUN_DONE, 1, False, 'ok'),
                         (row['state'], row['attempt'], row['asynchronous'],
                          row['message']))

    def test_each_start_is_a_new_attempt(self):
        cls = self.use(Unsafe, action_base.Result(False, 'disk full'))
        e = self.assertRaises(exception.WorkflowError, self.run_plugins)
        self.assertIn('host plug-in tool failed on c1: disk full', str(e))
        self.assertEqual((st.RUN_FAILED, 1), (self.row()['state'],
                                              self.row()['attempt']))
        cls.result = action_base.Result(True, 'fixed')
        self.run_plugins()
        self.assertEqual([1, 2], [c['attempt'] for c in cls.calls])
        self.assertEqual((st.RUN_DONE, 2), (self.row()['state'],
                                            self.row()['attempt']))
        # DONE: not run again.
        self.run_plugins()
        self.assertEqual(2, len(cls.calls))

    def test_report_body_names_the_attempt(self):
        plugin = Agent({}, {'plugin': 'tool'})
        plugin.attempt = 3
        self.assertEqual({'state': 'DONE', 'message': 'm', 'attempt': 3},
                         plugin.report_body('DONE', 'm'))


class TestReports(ActionRunTestCase):

    def start_async(self):
        """Attempt 1 handed to an agent; the engine waits in a thread."""
        cls = self.use(Agent, action_base.ASYNC)
        errors = []

        def work():
            try:
                self.run_plugins()
            except Exception as e:
                errors.append(e)

        # The engine waits for the report (the hand-over is recorded).
        waiting = threading.Event()
        real_wait = self.runner.wait

        def wait(*args, **kwargs):
            waiting.set()
            return real_wait(*args, **kwargs)

        patcher = mock.patch.object(self.runner, 'wait', side_effect=wait)
        patcher.start()
        self.addCleanup(patcher.stop)
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(self.runner.stop, session_runner.STOP_SHUTDOWN)
        self.assertTrue(waiting.wait(10))
        self.assertTrue(self.row()['asynchronous'])
        return cls, thread, errors

    def test_report_of_the_current_attempt_completes_the_run(self):
        cls, thread, errors = self.start_async()
        self.assertEqual([1], [c['attempt'] for c in cls.calls])
        view = self.report(attempt=1)
        self.assertEqual((st.RUN_DONE, 1, True),
                         (view['state'], view['attempt'],
                          view['asynchronous']))
        thread.join(10)
        self.assertFalse(thread.is_alive())
        self.assertEqual([], errors)
        self.assertIn('host plug-in tool reported DONE on c1 (attempt 1)',
                      self.history())
        self.assertIn('host plug-in tool DONE on c1 (attempt 1): agent',
                      self.history())

    def test_report_of_another_attempt_is_refused(self):
        self.start_async()
        for attempt in (2, 7):
            e = self.assertRaises(exception.ActionRunAttemptConflict,
                                  self.report, attempt=attempt)
            self.assertEqual(409, e.code)
            self.assertIn('the current attempt is 1 (RUNNING)', str(e))
        # Nothing changed; the right report still goes through.
        self.assertEqual(st.RUN_RUNNING, self.row()['state'])
        self.assertEqual(st.RUN_DONE, self.report(attempt=1)['state'])

    def test_report_without_attempt_applies_to_the_current_one(self):
        self.start_async()
        self.assertEqual((st.RUN_FAILED, 1),
                         (self.report(st.RUN_FAILED)['state'],
                          self.row()['attempt']))

    def test_report_on_a_finished_run_is_refused(self):
        self.start_async()
        self.report(attempt=1)
        for attempt in (1, None):
            e = self.assertRaises(exception.ActionRunStateConflict,
                                  self.report, st.RUN_FAILED,
                                  attempt=attempt)
            self.assertIn('(attempt 1) is DONE, not RUNNING', str(e))
        self.assertEqual(st.RUN_DONE, self.row()['state'])

    def test_old_attempts_report_after_a_new_start_is_refused(self):
        self.interrupted(asynchronous=False)
        cls = self.use(Safe)
        self.run_plugins()
        self.assertEqual([2], [c['attempt'] for c in cls.calls])
        e = self.assertRaises(exception.ActionRunAttemptConflict,
                              self.report, st.RUN_FAILED, attempt=1)
        self.assertIn('Attempt 1 of action plug-in tool on c1 is not the '
                      'current one: the current attempt is 2 (DONE)',
                      str(e))
        self.assertEqual(st.RUN_DONE, self.row()['state'])

    def test_late_report_of_another_type_does_not_end_this_run(self):
        # The host run's agent was given up on (time-out); the same
        # plug-in now runs as ``compute`` on the host. The old agent's
        # report names its attempt and cannot end the compute run.
        old = db_api.action_run_start(self.sid, 'tool', st.PLUGIN_HOST, 'c1')
        db_api.action_run_update_attempt(old['id'], 1, {
            'state': st.RUN_FAILED, 'message': 'no report within 1 seconds'})
        new = db_api.action_run_start(self.sid, 'tool', st.PLUGIN_COMPUTE,
                                      'c1')
        self.assertEqual(2, new['attempt'])
        e = self.assertRaises(exception.ActionRunAttemptConflict,
                              self.report, attempt=old['attempt'])
        self.assertIn('the current attempt is 2 (RUNNING)', str(e))
        runs = {r['type']: r['state']
                for r in db_api.action_runs_get(self.sid)}
        self.assertEqual({st.PLUGIN_HOST: st.RUN_FAILED,
                          st.PLUGIN_COMPUTE: st.RUN_RUNNING}, runs)
        view = self.report(attempt=2)
        self.assertEqual((st.PLUGIN_COMPUTE, st.RUN_DONE),
                         (view['type'], view['state']))
        # Both ended: each attempt is told about its own run.
        for attempt, state in ((1, st.RUN_FAILED), (2, st.RUN_DONE)):
            e = self.assertRaises(exception.ActionRunStateConflict,
                                  self.report, attempt=attempt)
            self.assertIn('(attempt %d) is %s, not RUNNING'
                          % (attempt, state), str(e))
        e = self.assertRaises(exception.ActionRunAttemptConflict,
                              self.report, attempt=5)
        self.assertIn('the current attempt is 2 (DONE)', str(e))

    def test_concurrent_reports_exactly_one_wins(self):
        self.start_async()
        barrier = threading.Barrier(6)
        won, refused = [], []

        def report(i):
            barrier.wait()
            try:
                won.append(self.report(
                    st.RUN_DONE if i % 2 else st.RUN_FAILED,
                    attempt=1 if i < 3 else None, message=str(i)))
            except exception.Conflict as e:
                refused.append(e)

        threads = [threading.Thread(target=report, args=(i,))
                   for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        self.assertEqual((1, 5), (len(won), len(refused)))
        row = self.row()
        self.assertEqual((won[0]['state'], won[0]['message']),
                         (row['state'], row['message']))
        reported = [m for m in self.history() if 'reported' in m]
        self.assertEqual(1, len(reported))

    def test_report_races_the_hand_over(self):
        # The agent answers before run() has even returned ASYNC: the
        # report stands and the engine does not wait for another one.
        test = self

        class Quick(Agent):
            def run(self):
                test.report(attempt=self.attempt)
                return action_base.ASYNC

        self.use(Quick)
        self.run_plugins()
        row = self.row()
        self.assertEqual((st.RUN_DONE, 1, True),
                         (row['state'], row['attempt'], row['asynchronous']))

    def test_declared_hand_over_recorded_before_the_agent_is_called(self):
        # run() (the call to the agent) already sees its attempt handed
        # over: an engine killed during the call resumes the attempt.
        test = self

        class Handing(HandsOver):
            def run(self):
                result = super().run()
                test.report(attempt=self.attempt)
                return result

        cls = self.use(Handing, action_base.ASYNC)
        self.run_plugins()
        [call] = cls.calls
        self.assertEqual((st.RUN_RUNNING, 1, True),
                         (call['row']['state'], call['row']['attempt'],
                          call['row']['asynchronous']))
        self.assertEqual((st.RUN_DONE, 1), (self.row()['state'],
                                            self.row()['attempt']))
        self.assertIn('host plug-in tool started on c1 (attempt 1, handed '
                      'to its agent)', self.history())

    def test_undeclared_hand_over_recorded_after_run(self):
        cls = self.use(Agent, action_base.Result(True, 'in process'))
        self.run_plugins()
        self.assertFalse(cls.calls[0]['row']['asynchronous'])
        self.assertFalse(self.row()['asynchronous'])

    def test_in_process_outcome_loses_to_a_report(self):
        test = self

        class Reported(Unsafe):
            def run(self):
                test.report(st.RUN_FAILED, attempt=self.attempt,
                            message='agent says no')
                return action_base.Result(True, 'fine')

        self.use(Reported)
        e = self.assertRaises(exception.WorkflowError, self.run_plugins)
        self.assertIn('agent says no', str(e))
        self.assertEqual(st.RUN_FAILED, self.row()['state'])


class TestRestart(ActionRunTestCase):
    """The runner starts again with the rows of an interrupted run."""

    def test_async_run_is_waited_for_not_started_again(self):
        self.interrupted(asynchronous=True)
        cls = self.use(Agent, action_base.ASYNC)
        # The agent reports once the engine waits for it again.
        waits = []
        real_wait = self.runner.wait

        def wait(*args, **kwargs):
            if not waits:
                waits.append(self.report(attempt=1))
            return real_wait(*args, **kwargs)

        with mock.patch.object(self.runner, 'wait', side_effect=wait):
            self.run_plugins()
        self.assertEqual(1, len(waits))
        self.assertEqual([], cls.calls)
        row = self.row()
        self.assertEqual((st.RUN_DONE, 1, 'agent'),
                         (row['state'], row['attempt'], row['message']))
        self.assertIn('host plug-in tool on c1: attempt 1 was handed to its '
                      'agent before the engine restarted; waiting for its '
                      'report', self.history())

    def test_declared_hand_over_is_given_the_same_attempt_again(self):
        # The engine died during the hand-over (the agent may not have
        # the job): the same attempt is handed over again, never a new
        # one, and that attempt's report completes the run.
        self.interrupted(asynchronous=True)
        test = self
        waited = []

        class Redelivered(HandsOver):
            def run(self):
                super().run()
                # The agent has the job (again): it reports once the
                # engine waits.
                waited.append(self.attempt)
                return action_base.ASYNC

        cls = self.use(Redelivered)
        real_wait = self.runner.wait

        def wait(*args, **kwargs):
            if len(waited) == 1:
                waited.append(test.report(attempt=1))
            return real_wait(*args, **kwargs)

        with mock.patch.object(self.runner, 'wait', side_effect=wait):
            self.run_plugins()
        self.assertEqual([1], [c['attempt'] for c in cls.calls])
        self.assertEqual(1, cls.calls[0]['row']['attempt'])
        row = self.row()
        self.assertEqual((st.RUN_DONE, 1, 'agent'),
                         (row['state'], row['attempt'], row['message']))
        self.assertIn('host plug-in tool on c1: attempt 1 was handed to its '
                      'agent before the engine restarted; handed over again '
                      '(the same attempt) and waiting for its report',
                      self.history())

    def test_async_run_timeout_counts_from_its_start(self):
        started = timeutils.utcnow() - datetime.timedelta(
            seconds=Agent.timeout + 1)
        self.interrupted(asynchronous=True, started_at=started)
        cls = self.use(Agent, action_base.ASYNC)
        e = self.assertRaises(exception.WorkflowError, self.run_plugins)
        self.assertIn('no report within 600 seconds', str(e))
        self.assertEqual([], cls.calls)
        self.assertEqual((st.RUN_FAILED, 1), (self.row()['state'],
                                              self.row()['attempt']))

    def test_unsafe_in_process_run_fails_with_the_reason(self):
        self.interrupted(asynchronous=False)
        cls = self.use(Unsafe)
        e = self.assertRaises(exception.WorkflowError, self.run_plugins)
        self.assertEqual('host plug-in tool failed on c1: interrupted by an '
                         'engine restart; not safe to repeat: retry it after '
                         'checking the host', str(e))
        self.assertEqual([], cls.calls)
        row = self.row()
        self.assertEqual(
            (st.RUN_FAILED, 1, wf_base.INTERRUPTED_NOT_REPEATABLE),
            (row['state'], row['attempt'], row['message']))
        # Continuing the session runs it again, as a new attempt.
        self.run_plugins()
        self.assertEqual([2], [c['attempt'] for c in cls.calls])
        self.assertEqual((st.RUN_DONE, 2), (self.row()['state'],
                                            self.row()['attempt']))

    def test_idempotent_in_process_run_starts_again(self):
        self.interrupted(asynchronous=False)
        cls = self.use(Safe)
        self.run_plugins()
        self.assertEqual([2], [c['attempt'] for c in cls.calls])
        self.assertEqual((st.RUN_DONE, 2), (self.row()['state'],
                                            self.row()['attempt']))
        self.assertIn('host plug-in tool on c1: attempt 1 was interrupted by '
                      'an engine restart; the plug-in is idempotent: started '
                      'again', self.history())

    def test_dummy_declares_itself_idempotent(self):
        from fenix.workflow.actions import dummy
        self.assertTrue(dummy.DummyAction.idempotent)
        self.assertFalse(action_base.ActionPlugin.idempotent)

    def test_dummy_declares_its_hand_over_when_async(self):
        from fenix.workflow.actions import dummy
        self.assertFalse(action_base.ActionPlugin.hands_over)
        plugin = {'plugin': 'dummy', 'type': st.PLUGIN_HOST}
        self.assertFalse(dummy.DummyAction({}, plugin).hands_over)
        self.assertTrue(dummy.DummyAction(
            {}, dict(plugin, meta={'async': True})).hands_over)


class TestHostMaintenance(ActionRunTestCase):

    def test_in_maintenance_announced_once(self):
        self.assertFalse(self.wf.begin_host_maintenance(self.host()))
        host = self.host()
        self.assertEqual((st.HOST_IN_MAINTENANCE, st.IN_MAINTENANCE),
                         (host['state'], host['announced_state']))
        started = host['started_at']
        # A restart (or a continued session) resumes the host.
        db_api.host_update(self.sid, 'c1', {'state': st.HOST_FAILED})
        self.assertTrue(self.wf.begin_host_maintenance(self.host()))
        self.assertEqual([('c1', st.IN_MAINTENANCE)],
                         self.notifier.host_events)
        self.assertEqual((st.HOST_IN_MAINTENANCE, started),
                         (self.host()['state'], self.host()['started_at']))
        self.assertIn('c1 resumed in maintenance (IN_MAINTENANCE was '
                      'announced before)', self.history())

    def test_complete_announced_with_the_maintained_write(self):
        self.wf.begin_host_maintenance(self.host())
        self.wf.end_host_maintenance('c1')
        host = self.host()
        self.assertEqual((True, st.HOST_MAINTAINED,
                          st.HOST_MAINTENANCE_COMPLETE),
                         (host['maintained'], host['state'],
                          host['announced_state']))
        self.assertIsNotNone(host['finished_at'])
        self.assertEqual([('c1', st.IN_MAINTENANCE),
                          ('c1', st.HOST_MAINTENANCE_COMPLETE)],
                         self.notifier.host_events)

    def test_failed_write_leaves_the_event_unrecorded(self):
        # The row and its history entry go together or not at all.
        with mock.patch.object(db_api, 'event_add',
                               side_effect=RuntimeError('db gone')):
            self.assertRaises(RuntimeError, self.wf.begin_host_maintenance,
                              self.host())
        host = self.host()
        self.assertEqual((st.HOST_PENDING, None),
                         (host['state'], host['announced_state']))
