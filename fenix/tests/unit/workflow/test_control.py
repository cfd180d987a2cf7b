# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""An admin's pause, host skip and retry (SPEC 3.7) in the ``default`` and
``nfv`` workflows: real DB, the engine manager and its session runner, a
fake cloud whose moves a test can hold in flight."""
import threading
import time

import testscenarios

from fenix.common import context
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.engine import manager
from fenix.tests.unit.workflow import fakes
from fenix.workflow import executor
from fenix.workflow import nfv_plan

load_tests = testscenarios.load_tests_apply_scenarios

# Seconds a test waits for the session to get somewhere (bounded; the
# sessions here take well under a second).
WAIT = 20


def wait_for(predicate, what):
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for %s' % what)
        time.sleep(0.01)


class Gate(object):
    """Holds the move of one server (None: the first move) in flight until
    released."""

    def __init__(self, cloud, server=None):
        self.server = server
        self.entered = threading.Event()
        self.released = threading.Event()
        self.held = None
        cloud.move_hook = self.hook

    def hook(self, server_id, kind, host):
        if self.server in (None, server_id) and \
                not self.released.is_set() and \
                self.held in (None, server_id):
            self.held = server_id
            self.entered.set()
            self.released.wait(WAIT)
        return None

    def wait_entered(self):
        if not self.entered.wait(WAIT):
            raise AssertionError('the move of %s never started'
                                 % self.server)


class ControlTestBase(fakes.FakeCloudTestCase):

    workflow = 'default'

    def setUp(self):
        super().setUp()
        self.config(group='workflow', reply_window_maintenance=1,
                    reply_window_planned_maintenance=1,
                    reply_window_prepare_maintenance=1,
                    reply_window_maintenance_complete=1)
        self.engine = manager.EngineManager(self.notifier, host='e1')
        self.addCleanup(self.engine.stop_all, 10)
        self.ctx = context.RequestContext(user_id='ops', project_id='admin',
                                          roles=['admin'])
        # c1 empty, c2 holding a and b (a project without a manager: the
        # default move, a cold migration, one at a time).
        self.cloud.add_host('c1')
        self.cloud.add_host('c2')
        self.cloud.add_server('a', 'c2')
        self.cloud.add_server('b', 'c2')

    def start(self, **options):
        opts = dict({'max_concurrent_migrations': 1,
                     'requested_hosts': []}, **options)
        sid = db_api.session_create({
            'workflow': self.workflow, 'state': st.MAINTENANCE,
            'maintenance_at': timeutils.utcnow(),
            'meta': {}, 'options': opts, 'download': []})['session_id']
        self.engine.start_runner(sid)
        return sid

    def state(self, sid):
        return db_api.session_get(sid, with_plan=False)['state']

    def wait_state(self, sid, *states):
        wait_for(lambda: self.state(sid) in states, 'state %s' % (states,))
        return self.state(sid)

    def moves_of(self, server):
        return [c for c in self.cloud.calls
                if c[0] == 'move' and c[1] == server]

    def host(self, sid, name):
        return db_api.host_get(sid, name)


class ControlTest(ControlTestBase):

    scenarios = [('default', {'workflow': 'default'}),
                 ('nfv', {'workflow': 'nfv'})]

    def test_pause_lets_the_move_in_flight_finish_and_starts_none(self):
        gate = Gate(self.cloud, 'a')
        sid = self.start()
        gate.wait_entered()
        summary = self.engine.pause_session(self.ctx, sid)
        self.assertTrue(summary['pause_requested'])
        self.assertNotEqual(st.PAUSED, summary['state'])
        gate.released.set()
        self.assertEqual(st.PAUSED, self.wait_state(
            sid, st.PAUSED, st.MAINTENANCE_FAILED, st.MAINTENANCE_DONE))
        # The move in flight finished and was recorded; b was not started.
        self.assertEqual('c1', self.cloud.server('a')['host'])
        self.assertEqual(st.ACTION_DONE,
                         db_api.instance_get(sid, 'a')['action_state'])
        self.assertEqual([], self.moves_of('b'))
        self.assertEqual('c2', self.cloud.server('b')['host'])
        # c2 stays disabled (nothing lands on it while paused) and is not
        # maintained; what it is doing is reported.
        self.assertEqual('disabled', self.cloud.hosts['c2']['status'])
        c2 = self.host(sid, 'c2')
        self.assertFalse(c2['maintained'])
        self.assertEqual(st.HOST_EMPTYING, c2['state'])
        self.assertNotIn(('c2', st.IN_MAINTENANCE),
                         self.notifier.host_events)
        session = db_api.session_get(sid)
        self.assertIn(session['hold_state'], st.WORKFLOW_STATES)
        self.engine.resume_session(self.ctx, sid)
        self.assertEqual(st.MAINTENANCE_DONE, self.wait_state(
            sid, st.MAINTENANCE_DONE, st.MAINTENANCE_FAILED),
            db_api.session_get(sid)['error'])
        self.assertEqual(1, len(self.moves_of('a')))
        self.assertEqual(1, len(self.moves_of('b')))
        self.assertTrue(self.host(sid, 'c2')['maintained'])
        self.assertEqual([], self.notifier.violations)
        for name, host in self.cloud.hosts.items():
            self.assertEqual('enabled', host['status'], name)

    def test_skip_the_host_being_emptied(self):
        gate = Gate(self.cloud, 'a')
        sid = self.start()
        gate.wait_entered()
        self.engine.skip_host(self.ctx, sid, 'c2', reason='bad DIMM')
        gate.released.set()
        self.assertEqual(st.MAINTENANCE_DONE, self.wait_state(
            sid, st.MAINTENANCE_DONE, st.MAINTENANCE_FAILED),
            db_api.session_get(sid)['error'])
        c2 = self.host(sid, 'c2')
        self.assertEqual(st.HOST_SKIPPED, c2['state'])
        self.assertEqual('bad DIMM', c2['details']['skipped'])
        self.assertFalse(c2['maintained'])
        self.assertFalse(c2['skip_requested'])
        # The move in flight finished; none other started from it; the
        # host is in service again and never went down.
        self.assertEqual('c1', self.cloud.server('a')['host'])
        self.assertEqual([], self.moves_of('b'))
        self.assertEqual('c2', self.cloud.server('b')['host'])
        self.assertEqual('enabled', self.cloud.hosts['c2']['status'])
        self.assertNotIn('c2', [h for h, _s in self.notifier.host_events])
        self.assertTrue(self.host(sid, 'c1')['maintained'])
        summary = self.engine.get_session(self.ctx, sid)
        self.assertEqual(100, summary['percent_done'])
        self.assertEqual(1, summary['hosts_skipped'])
        # Its steps: the move in flight done, the rest cancelled.
        steps = {(s['kind'], s['instance_id']): s['state'] for s in sorted(
            db_api.steps_get(sid, host='c2'), key=lambda s: s['id'])}
        self.assertEqual(st.STEP_DONE, steps[(st.STEP_MOVE, 'a')])
        self.assertEqual(st.STEP_CANCELLED, steps[(st.STEP_MOVE, 'b')])
        self.assertEqual(st.STEP_CANCELLED,
                         steps[(st.STEP_MAINTAIN_HOST, None)])

    def test_retry_a_failed_move(self):
        self.cloud.fail_moves['b'] = 'injected: always'
        sid = self.start()
        self.wait_state(sid, st.MAINTENANCE_FAILED)
        self.assertIn('instance(s) b' if self.workflow == 'nfv' else
                      'instance b', db_api.session_get(sid)['error'])
        self.assertNotEqual(st.ACTION_DONE,
                            db_api.instance_get(sid, 'b')['action_state'])
        self.assertEqual('enabled', self.cloud.hosts['c2']['status'])
        del self.cloud.fail_moves['b']
        summary = self.engine.retry_step(self.ctx, sid)
        self.assertEqual(st.PLANNED_MAINTENANCE, summary['state'])
        self.assertEqual(st.MAINTENANCE_DONE, self.wait_state(
            sid, st.MAINTENANCE_DONE, st.MAINTENANCE_FAILED),
            db_api.session_get(sid)['error'])
        self.assertEqual('c1', self.cloud.server('b')['host'])
        self.assertEqual(1, len(self.moves_of('a')))
        self.assertEqual(1, len([m for m in self.cloud.moves
                                 if m[0] == 'a']))
        self.assertTrue(self.host(sid, 'c2')['maintained'])
        self.assertEqual([], self.notifier.violations)

    def test_retry_acts_on_the_step_rows(self):
        # The failed move's step: FAILED (nfv: PENDING, waiting for a
        # target when the session failed), never left RUNNING; attempt 1
        # or more (nfv tries another target).
        self.cloud.fail_moves['b'] = 'injected: always'
        sid = self.start()
        self.wait_state(sid, st.MAINTENANCE_FAILED)

        def move_b():
            steps = [s for s in db_api.steps_get(sid, instance_id='b')
                     if s['kind'] == st.STEP_MOVE and
                     s['state'] != st.STEP_CANCELLED]
            self.assertEqual(1, len(steps), steps)
            return steps[0]

        failed = move_b()
        self.assertEqual(st.STEP_FAILED if self.workflow == 'default' else
                         st.STEP_PENDING, failed['state'])
        self.assertGreaterEqual(failed['attempt'], 1)
        del self.cloud.fail_moves['b']
        # The retried move is held in flight: its row shows the new
        # attempt, running, the failure cleared by the step machine.
        gate = Gate(self.cloud, 'b')
        self.engine.retry_step(self.ctx, sid)
        gate.wait_entered()
        running = move_b()
        self.assertEqual((failed['id'], st.STEP_RUNNING,
                          failed['attempt'] + 1),
                         (running['id'], running['state'],
                          running['attempt']))
        self.assertIsNone(running['finished_at'])
        self.assertIn('retried by ops after: ' if self.workflow ==
                      'default' else 'to c1: injected', running['message'])
        gate.released.set()
        self.assertEqual(st.MAINTENANCE_DONE, self.wait_state(
            sid, st.MAINTENANCE_DONE, st.MAINTENANCE_FAILED),
            db_api.session_get(sid)['error'])
        done = move_b()
        self.assertEqual((st.STEP_DONE, failed['attempt'] + 1),
                         (done['state'], done['attempt']))
        self.assertEqual([], db_api.steps_get(sid, state=st.STEP_FAILED))
        if self.workflow == 'default':
            history = '\n'.join(e['message'] or ''
                                for e in db_api.events_get(sid))
            self.assertIn('step %d move of b retried' % failed['id'],
                          history)

    def test_retry_takes_the_machine_edge(self):
        # Every FAILED step goes back to PENDING along the 'retry' edge
        # (a step in another state is left alone), in one transaction.
        sid = self.start(dry_run=True)
        self.wait_state(sid, st.MAINTENANCE_DONE)
        rows = db_api.steps_create(sid, [
            {'kind': st.STEP_MOVE, 'host': 'c2', 'instance_id': 'x',
             'state': st.STEP_FAILED, 'attempt': 2, 'message': 'boom'},
            {'kind': st.STEP_MOVE, 'host': 'c2', 'instance_id': 'y',
             'state': st.STEP_DONE, 'attempt': 1}])
        retried = db_api.steps_retry_failed(sid, 'retried by ops')
        self.assertEqual([(rows[0]['id'], st.STEP_PENDING, 2,
                           'retried by ops after: boom')],
                         [(s['id'], s['state'], s['attempt'], s['message'])
                          for s in retried])
        self.assertEqual(st.STEP_DONE, db_api.step_get(rows[1]['id'])['state'])


class RetryVersusContinueTest(ControlTestBase):
    """A retry keeps the answers projects gave; a continue asks again
    (the ``default`` workflow, whose project-wide events FakeVNFM
    answers)."""

    def run_to_failure(self):
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        self.cloud.fail_moves['b'] = 'injected: always'
        sid = self.start()
        self.wait_state(sid, st.MAINTENANCE_FAILED)
        del self.cloud.fail_moves['b']
        return sid

    def planned_events(self):
        return len(self.notifier.events_of('p1', st.PLANNED_MAINTENANCE))

    def test_retry_does_not_ask_again(self):
        sid = self.run_to_failure()
        self.assertEqual(1, self.planned_events())
        self.engine.retry_step(self.ctx, sid)
        self.assertEqual(st.MAINTENANCE_DONE, self.wait_state(
            sid, st.MAINTENANCE_DONE, st.MAINTENANCE_FAILED))
        self.assertEqual(1, self.planned_events())
        self.assertEqual('c1', self.cloud.server('b')['host'])

    def test_continue_asks_again(self):
        sid = self.run_to_failure()
        self.engine.update_session(self.ctx, sid, {})
        self.assertEqual(st.MAINTENANCE_DONE, self.wait_state(
            sid, st.MAINTENANCE_DONE, st.MAINTENANCE_FAILED))
        self.assertEqual(2, self.planned_events())
        self.assertEqual('c1', self.cloud.server('b')['host'])


class NFVSkipTargetTest(ControlTestBase):
    """A skipped host is no target of the nfv executor (it is not
    maintained), though the executor is done with it."""

    workflow = 'nfv'

    def test_skipped_host_receives_nothing(self):
        # c1 empty and large; c2, c3 and c4 hold one instance each. The
        # best fit (fewest free vCPUs) for a move is a small host holding
        # one instance: the skipped one, but for its skip.
        self.cloud.servers_.pop('b')
        self.cloud.hosts['c1'].update(vcpus=8, ram=16384, disk=160)
        for name, server in (('c3', 'b'), ('c4', 'c')):
            self.cloud.add_host(name)
            self.cloud.add_server(server, name)
        gate = Gate(self.cloud)
        sid = self.start(max_parallel_hosts=1)
        gate.wait_entered()
        order = [h for h, _w in nfv_plan.host_order(
            db_api.session_get(sid)['plan']['nfv'])]
        skipped = order[-1]
        self.assertNotIn(skipped, ('c1', self.cloud.server(gate.held)['host']))
        self.engine.skip_host(self.ctx, sid, skipped)
        gate.released.set()
        self.assertEqual(st.MAINTENANCE_DONE, self.wait_state(
            sid, st.MAINTENANCE_DONE, st.MAINTENANCE_FAILED),
            db_api.session_get(sid)['error'])
        self.assertEqual(st.HOST_SKIPPED, self.host(sid, skipped)['state'])
        self.assertEqual([], [m for m in self.cloud.moves
                              if skipped in m[2:]], order)
        for name in order[:-1]:
            self.assertTrue(self.host(sid, name)['maintained'], name)


class FakeWorkflow(object):
    """What Executor._skip_requested and _targets ask of the workflow."""

    session_id = 's1'
    options = {}

    def __init__(self, rows, skips):
        self.rows = rows
        self.skips = dict(skips)
        self.skipped = []

    def skip_requests(self):
        return dict(self.skips)

    def skip_host(self, hostname, reason):
        self.skipped.append((hostname, reason))
        self.rows[hostname] = dict(self.rows[hostname],
                                   state=st.HOST_SKIPPED)
        self.skips.pop(hostname)

    def _host(self, hostname):
        return self.rows[hostname]


class ExecutorSkipTest(fakes.FakeCloudTestCase):
    """The nfv executor's handling of a skip request, piece by piece."""

    def executor(self, skips):
        rows = {name: {'hostname': name, 'state': st.HOST_PENDING,
                       'maintained': False, 'disabled_by_operator': False}
                for name in ('c1', 'c2', 'c3')}
        rows['c1'].update(state=st.HOST_MAINTAINED, maintained=True)
        wf = FakeWorkflow(rows, skips)
        ex = executor.Executor(wf)
        ex.session_hosts = {n: dict(r) for n, r in rows.items()}
        ex.hstate = {'c1': executor.H_DONE, 'c2': executor.H_EMPTYING,
                     'c3': executor.H_PENDING}
        ex.capacity = {n: (4, 8192, 80) for n in rows}
        ex.services = {}
        ex.reserved = {}
        ex.used, ex.gcount = {}, {}
        ex.groups, ex.member_of = {}, {}
        ex.constraints = {}
        ex.servers = {}
        return wf, ex

    def job(self, ex, iid, host, phase):
        job = executor.Job(iid, {'id': iid, 'host': host, 'flavor': {}}, host)
        job.phase = phase
        ex.jobs.setdefault(host, {})[iid] = job
        return job

    def test_pending_jobs_cancelled_then_skipped_once_idle(self):
        wf, ex = self.executor({'c2': 'RMA'})
        moving = self.job(ex, 'a', 'c2', executor.MOVING)
        waiting = self.job(ex, 'b', 'c2', executor.NOTIFIED)
        ex._skip_requested()
        # b gets no move; a is in flight: the host waits.
        self.assertEqual(executor.DONE, waiting.phase)
        self.assertEqual([], wf.skipped)
        self.assertEqual(executor.H_EMPTYING, ex.hstate['c2'])
        moving.phase = executor.DONE
        ex._skip_requested()
        self.assertEqual([('c2', 'RMA')], wf.skipped)
        self.assertEqual(executor.H_DONE, ex.hstate['c2'])
        self.assertNotIn('c2', ex.jobs)
        # Done, but no target: only the maintained c1 and the pending c3.
        self.assertEqual((['c1'], ['c3']), ex._targets())

    def test_pending_host_skipped_at_once(self):
        wf, ex = self.executor({'c3': None})
        ex._skip_requested()
        self.assertEqual([('c3', None)], wf.skipped)
        self.assertEqual(executor.H_DONE, ex.hstate['c3'])
        self.assertEqual((['c1'], []), ex._targets())
