# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A host in maintenance when the engine stops is resumed, not redone.

Both workflows, on a real DB with the session runner and a fake cloud:
the engine stops (or dies) while a host's action plug-in runs; the next
runner must not announce IN_MAINTENANCE again, must not start an agent's
run again (it waits for that attempt's report), must start an in-process
run again only when the plug-in is idempotent, and otherwise fail the
host with the reason, so that continuing the session runs it again.
"""
import threading
from unittest import mock

from fenix.common import context
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.engine import manager
from fenix.engine import runner as session_runner
from fenix.tests.unit.workflow import fakes
from fenix.workflow.actions import base as action_base
from fenix.workflow.actions import dummy
from fenix.workflow import base as wf_base

# Seconds a session of these tests may take (bounded waits only).
TIMEOUT = 60


class Killed(BaseException):
    """The engine process dies: nothing of Fenix catches it."""


class Plugin(dummy.DummyAction):
    """The session's ``dummy`` plug-in, watched by the test.

    ``starts``: (hostname, attempt) of every call of run(). ``victim``:
    the first host it runs on, where ``on_victim`` happens (once).
    """

    starts = None
    victim = None
    on_victim = None
    agent = None

    def run(self):
        cls = type(self)
        hostname = self.host['hostname']
        cls.starts.append((hostname, self.attempt))
        if cls.victim is None:
            cls.victim = hostname
            cls.on_victim(self)
        if cls.agent is not None:
            cls.agent.start(self)
            return action_base.ASYNC
        return action_base.Result(True, 'done')


class Agent(object):
    """Agents on the hosts: each reports DONE for the attempt it was
    given, except on the victim until the test says so."""

    def __init__(self, engine, sid):
        self.engine = engine
        self.sid = sid
        self.held = {}
        self.threads = []

    def start(self, plugin):
        hostname = plugin.host['hostname']
        if hostname == type(plugin).victim:
            self.held[hostname] = plugin.attempt
            return
        thread = threading.Thread(target=self.report,
                                  args=(hostname, plugin.attempt))
        thread.start()
        self.threads.append(thread)

    def report(self, hostname, attempt):
        self.engine.report_action_run(
            context.get_admin_context(), self.sid, 'dummy', hostname,
            {'state': st.RUN_DONE, 'message': 'agent done'},
            attempt=attempt)

    def join(self):
        for thread in self.threads:
            thread.join(TIMEOUT)


class ActOnceMixin(object):

    workflow = None

    def setUp(self):
        super().setUp()
        for event in ('maintenance', 'prepare_maintenance',
                      'planned_maintenance', 'maintenance_complete',
                      'scale_in'):
            self.config(group='workflow', **{'reply_window_%s' % event: 1})
        self.cloud.add_host('c1')
        self.cloud.add_host('c2')
        self.cloud.add_server('a', 'c2')
        self.ctx = context.get_admin_context()
        self.engine = manager.EngineManager(self.notifier, host='e1')
        self.addCleanup(self.engine.stop_all, 10)
        self.sid = db_api.session_create({
            'workflow': self.workflow, 'state': st.MAINTENANCE,
            'maintenance_at': timeutils.utcnow(), 'engine': 'e1',
            'options': {'requested_hosts': []},
            'action_plugins': [{'plugin': 'dummy', 'type': st.PLUGIN_HOST}],
        })['session_id']
        Plugin.starts = []
        Plugin.victim = None
        Plugin.agent = None
        patcher = mock.patch('fenix.workflow.plugins.action_class',
                             return_value=Plugin)
        patcher.start()
        self.addCleanup(patcher.stop)

    # --- helpers ------------------------------------------------------------
    def run_to_end(self):
        runner = self.engine.start_runner(self.sid)
        self.assertTrue(runner.join(TIMEOUT), 'session still running')
        return db_api.session_get(self.sid)

    def run_here(self):
        """A runner in this thread (an exception it raises reaches us)."""
        session_runner.SessionRunner(self.sid, self.notifier)._run()
        return db_api.session_get(self.sid)

    def victim_run(self):
        return db_api.action_runs_get(self.sid, hostname=Plugin.victim)[0]

    def host_events(self, hostname):
        return [s for h, s in self.notifier.host_events if h == hostname]

    def assertEachMaintainedOnce(self):
        for hostname in ('c1', 'c2'):
            self.assertEqual([st.IN_MAINTENANCE,
                              st.HOST_MAINTENANCE_COMPLETE],
                             self.host_events(hostname), hostname)
        self.assertEqual([], self.notifier.violations)

    def assertDone(self, session):
        self.assertEqual(st.MAINTENANCE_DONE, session['state'],
                         session.get('error'))
        for host in db_api.hosts_get(self.sid):
            self.assertEqual((True, st.HOST_MAINTAINED),
                             (host['maintained'], host['state']), host)
        for name, host in self.cloud.hosts.items():
            self.assertEqual('enabled', host['status'], name)

    def history(self):
        return [e['message'] or '' for e in db_api.events_get(self.sid)]

    def crash_in_run(self, idempotent):
        """The engine dies inside the victim's run(); a new one starts."""
        Plugin.idempotent = idempotent
        self.addCleanup(setattr, Plugin, 'idempotent', True)

        def die(plugin):
            raise Killed()

        Plugin.on_victim = die
        self.assertRaises(Killed, self.run_here)
        run = self.victim_run()
        self.assertEqual((st.RUN_RUNNING, 1, False),
                         (run['state'], run['attempt'],
                          run['asynchronous']))
        self.assertEqual([st.IN_MAINTENANCE], self.host_events(Plugin.victim))
        return self.run_here()

    # --- tests --------------------------------------------------------------
    def test_restart_waits_for_the_agent_of_the_running_attempt(self):
        agent = Plugin.agent = Agent(self.engine, self.sid)
        stopped = []

        def stop_engine(plugin):
            # The engine shuts down while the agent works: the runner
            # records the hand-over and stops at its wait for the report.
            stopped.append(self.engine._runners[self.sid])
            stopped[0].stop(session_runner.STOP_SHUTDOWN)

        Plugin.on_victim = stop_engine
        runner = self.engine.start_runner(self.sid)
        self.assertTrue(runner.join(TIMEOUT))
        self.assertEqual([runner], stopped)
        session = db_api.session_get(self.sid)
        self.assertIn(session['state'], st.ACTIVE_SESSION_STATES)
        run = self.victim_run()
        self.assertEqual((st.RUN_RUNNING, 1, True),
                         (run['state'], run['attempt'],
                          run['asynchronous']))
        self.assertEqual({Plugin.victim: 1}, agent.held)
        # Interrupted, not failed: still in maintenance.
        self.assertEqual(st.HOST_IN_MAINTENANCE,
                         db_api.host_get(self.sid, Plugin.victim)['state'])

        # The next engine resumes the host and waits for that report; the
        # agent sends it once the engine waits for it.
        runner = session_runner.SessionRunner(
            self.sid, self.notifier, on_exit=self.engine._runner_exited)
        real_wait = runner.wait
        reported = []

        def wait(timeout, topic=None, since=None):
            if topic == st.WAKE_REPORT and not reported:
                reported.append(threading.Thread(
                    target=agent.report, args=(Plugin.victim, 1)))
                reported[0].start()
            return real_wait(timeout, topic=topic, since=since)

        runner.wait = wait
        with self.engine._lock:
            self.engine._runners[self.sid] = runner
        runner.start()
        self.assertTrue(runner.join(TIMEOUT))
        reported[0].join(TIMEOUT)
        agent.join()
        session = db_api.session_get(self.sid)
        self.assertDone(session)
        # Not started again on the victim; one attempt everywhere.
        self.assertEqual(1, Plugin.starts.count((Plugin.victim, 1)))
        self.assertEqual([(Plugin.victim, 1)],
                         [s for s in Plugin.starts if s[0] == Plugin.victim])
        self.assertEqual({1}, {r['attempt']
                               for r in db_api.action_runs_get(self.sid)})
        self.assertEachMaintainedOnce()
        self.assertIn('host plug-in dummy on %s: attempt 1 was handed to '
                      'its agent before the engine restarted; waiting for '
                      'its report' % Plugin.victim, self.history())
        self.assertIn('%s resumed in maintenance (IN_MAINTENANCE was '
                      'announced before)' % Plugin.victim, self.history())

    def test_killed_during_a_declared_hand_over_resumes_the_attempt(self):
        # The agent took the job and the engine died before run()
        # returned. The hand-over was recorded first: the next engine
        # hands the same attempt over again (a re-delivery, which the
        # agent takes as the job it has) and that attempt's report
        # completes the host; no new attempt, no failed session.
        agent = Plugin.agent = Agent(self.engine, self.sid)
        Plugin.hands_over = True
        self.addCleanup(delattr, Plugin, 'hands_over')

        def handed_then_killed(plugin):
            agent.start(plugin)
            raise Killed()

        Plugin.on_victim = handed_then_killed
        self.assertRaises(Killed, self.run_here)
        run = self.victim_run()
        self.assertEqual((st.RUN_RUNNING, 1, True),
                         (run['state'], run['attempt'], run['asynchronous']))
        self.assertEqual({Plugin.victim: 1}, agent.held)
        # The agent finishes the job it has when it is given it again
        # (it holds no host's report any more).
        Plugin.victim, victim = '(none held)', Plugin.victim
        session = self.run_to_end()
        agent.join()
        Plugin.victim = victim
        self.assertDone(session)
        self.assertEqual([(victim, 1), (victim, 1)],
                         [s for s in Plugin.starts if s[0] == victim])
        self.assertEqual({1}, {r['attempt']
                               for r in db_api.action_runs_get(self.sid)})
        self.assertEachMaintainedOnce()
        self.assertIn('host plug-in dummy on %s: attempt 1 was handed to '
                      'its agent before the engine restarted; handed over '
                      'again (the same attempt) and waiting for its report'
                      % victim, self.history())

    def test_unsafe_run_interrupted_fails_the_host_until_continued(self):
        session = self.crash_in_run(idempotent=False)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertEqual('host plug-in dummy failed on %s: %s'
                         % (Plugin.victim, wf_base.INTERRUPTED_NOT_REPEATABLE),
                         session['error'])
        run = self.victim_run()
        self.assertEqual((st.RUN_FAILED, 1), (run['state'], run['attempt']))
        self.assertEqual([(Plugin.victim, 1)], Plugin.starts)
        host = db_api.host_get(self.sid, Plugin.victim)
        self.assertEqual((st.HOST_FAILED, False),
                         (host['state'], host['maintained']))
        # Hosts re-enabled as for any failure; no second IN_MAINTENANCE.
        for name, h in self.cloud.hosts.items():
            self.assertEqual('enabled', h['status'], name)
        self.assertEqual([st.IN_MAINTENANCE], self.host_events(Plugin.victim))

        # The admin checked the host and continues: a new attempt.
        self.engine.update_session(self.ctx, self.sid, {})
        with self.engine._lock:
            runner = self.engine._runners.get(self.sid)
        if runner is not None:
            self.assertTrue(runner.join(TIMEOUT))
        self.assertDone(db_api.session_get(self.sid))
        self.assertEqual((st.RUN_DONE, 2), (self.victim_run()['state'],
                                            self.victim_run()['attempt']))
        self.assertEqual([(Plugin.victim, 1), (Plugin.victim, 2)],
                         [s for s in Plugin.starts if s[0] == Plugin.victim])
        self.assertEachMaintainedOnce()

    def test_idempotent_run_interrupted_starts_again(self):
        session = self.crash_in_run(idempotent=True)
        self.assertDone(session)
        self.assertEqual((st.RUN_DONE, 2), (self.victim_run()['state'],
                                            self.victim_run()['attempt']))
        self.assertEqual([(Plugin.victim, 1), (Plugin.victim, 2)],
                         [s for s in Plugin.starts if s[0] == Plugin.victim])
        self.assertEachMaintainedOnce()

    def test_crash_between_complete_and_enable(self):
        # MAINTENANCE_COMPLETE was announced (and the host marked
        # maintained) but the engine died before enabling it: the next
        # engine enables it and announces nothing again.
        real_enable = self.cloud.enable_compute
        died = []

        def enable(host):
            if not died:
                died.append(host)
                raise Killed()
            return real_enable(host)

        Plugin.on_victim = lambda plugin: None
        with mock.patch.object(self.cloud, 'enable_compute',
                               side_effect=enable):
            self.assertRaises(Killed, self.run_here)
            host = db_api.host_get(self.sid, died[0])
            self.assertEqual((True, True), (host['maintained'],
                                            host['disabled_by_fenix']))
            session = self.run_here()
        self.assertDone(session)
        self.assertEachMaintainedOnce()
        self.assertIn('nova-compute enabled on %s again (maintained before '
                      'the engine restarted)' % died[0], self.history())


class TestDefaultActOnce(ActOnceMixin, fakes.FakeCloudTestCase):
    workflow = 'default'


class TestNFVActOnce(ActOnceMixin, fakes.FakeCloudTestCase):
    workflow = 'nfv'
