# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The ETA: a plan's estimate corrected by the durations measured."""
import datetime

from fenix.common import estimate
from fenix.common import states as st
from fenix.tests import base
from fenix.workflow import planner

NOW = datetime.datetime(2030, 1, 1, 12, 0, 0)


def ago(seconds):
    return NOW - datetime.timedelta(seconds=seconds)


def host(name, state=st.HOST_PENDING, maintained=False, started=None,
         finished=None, type=st.COMPUTE):
    return {'hostname': name, 'type': type, 'state': state,
            'maintained': maintained,
            'started_at': ago(started) if started is not None else None,
            'finished_at': ago(finished) if finished is not None else None}


def session(estimate_=None, state=st.PLANNED_MAINTENANCE, **kw):
    values = {'session_id': 's', 'state': state, 'options': {},
              'estimate': estimate_, 'maintenance_at': ago(3600),
              'updated_at': ago(10)}
    values.update(kw)
    return values


# A sequential plan: three computes of 100 s each; a controller of 60 s.
SEQUENTIAL = estimate.summary('default', duration=300, host_seconds=300,
                              hosts=3, controller_seconds=60, now=ago(900))


class TestOfPlan(base.TestCase):

    def test_nfv_plan_with_parallel_waves(self):
        plan = {'estimated_duration': 250, 'waves': [
            {'index': 0, 'start': 0, 'end': 150, 'hosts': ['c1', 'c2'],
             'maintenance': [{'host': 'c1', 'start': 40, 'end': 100},
                             {'host': 'c2', 'start': 90, 'end': 150}]},
            {'index': 1, 'start': 150, 'end': 250, 'hosts': ['c3'],
             'maintenance': [{'host': 'c3', 'start': 190, 'end': 250}]}]}
        durations = planner.Durations(by_host_type={st.CONTROLLER: 42})
        got = estimate.of_plan(plan, durations, 'nfv', now=NOW)
        self.assertEqual({'source': 'nfv', 'made_at': '2030-01-01 12:00:00',
                          'duration': 250.0, 'host_seconds': 350.0,
                          'hosts': 3, 'controller_seconds': 42.0}, got)

    def test_waves_without_windows_count_to_the_wave_end(self):
        # The default workflow's waves (see DefaultWorkflow._dry_run_waves).
        plan = {'estimated_duration': 30, 'waves': [
            {'index': 0, 'start': 0, 'end': 10, 'hosts': ['c1']},
            {'index': 1, 'start': 10, 'end': 30, 'hosts': ['c2']}]}
        got = estimate.of_plan(plan, planner.Durations(), 'default')
        self.assertEqual((30.0, 30.0, 2, 900.0),
                         (got['duration'], got['host_seconds'], got['hosts'],
                          got['controller_seconds']))


class TestETA(base.TestCase):

    def eta(self, sess, hosts):
        return estimate.eta(sess, hosts, now=NOW)

    def test_nothing_done_yet_follows_the_plan(self):
        hosts = [host('c1'), host('c2'), host('c3'),
                 host('ctl', type=st.CONTROLLER)]
        got = self.eta(session(SEQUENTIAL), hosts)
        self.assertEqual({'eta': '2030-01-01 12:06:00', 'seconds_left': 360,
                          'estimated_duration': 300.0}, got)

    def test_measured_hosts_scale_the_plan(self):
        # c1 took 200 s where 100 were planned: twice the plan. c2 is under
        # way for 50 s: 150 s left; c3 200 s; the controller 2 x 60 s.
        hosts = [host('c1', st.HOST_MAINTAINED, True, started=400,
                      finished=200),
                 host('c2', st.HOST_EMPTYING, started=50), host('c3'),
                 host('ctl', type=st.CONTROLLER)]
        got = self.eta(session(SEQUENTIAL), hosts)
        self.assertEqual(470, got['seconds_left'])
        self.assertEqual('2030-01-01 12:07:50', got['eta'])

    def test_faster_than_planned(self):
        hosts = [host('c1', st.HOST_MAINTAINED, True, started=100,
                      finished=50),
                 host('c2', st.HOST_MAINTAINED, True, started=50,
                      finished=0),
                 host('c3')]
        # 50 s a host instead of 100.
        self.assertEqual(50, self.eta(session(SEQUENTIAL),
                                      hosts)['seconds_left'])

    def test_parallel_plan_divides_the_work(self):
        parallel = estimate.summary('nfv', duration=100, host_seconds=400,
                                    hosts=4, controller_seconds=0)
        hosts = [host('c%d' % n) for n in range(4)]
        self.assertEqual(100, self.eta(session(parallel),
                                       hosts)['seconds_left'])

    def test_skipped_and_maintained_hosts_are_no_work(self):
        hosts = [host('c1', st.HOST_SKIPPED), host('c2', st.HOST_MAINTAINED,
                                                   True),
                 host('c3')]
        self.assertEqual(100, self.eta(session(SEQUENTIAL),
                                       hosts)['seconds_left'])

    def test_wait_for_maintenance_at_counts(self):
        sess = session(SEQUENTIAL, state=st.MAINTENANCE,
                       maintenance_at=NOW + datetime.timedelta(seconds=600))
        self.assertEqual(900, self.eta(sess, [host('c1'), host('c2'),
                                              host('c3')])['seconds_left'])

    def test_paused_time_stands_still_and_eta_is_unknown(self):
        # Paused 300 s ago while c2 was under way for 20 s.
        sess = session(SEQUENTIAL, state=st.PAUSED, updated_at=ago(300))
        hosts = [host('c1'), host('c2', st.HOST_EMPTYING, started=320)]
        got = self.eta(sess, hosts)
        self.assertIsNone(got['eta'])
        self.assertEqual(180, got['seconds_left'])

    def test_without_a_plan_the_measured_mean(self):
        hosts = [host('c1', st.HOST_MAINTAINED, True, started=90,
                      finished=60),
                 host('c2'), host('c3')]
        got = self.eta(session(None), hosts)
        self.assertEqual((60, None), (got['seconds_left'],
                                      got['estimated_duration']))
        self.assertEqual({'eta': None, 'seconds_left': None,
                          'estimated_duration': None},
                         self.eta(session(None), [host('c1')]))

    def test_final_states_and_dry_runs(self):
        hosts = [host('c1', st.HOST_MAINTAINED, True, started=60,
                      finished=30)]
        done = self.eta(session(SEQUENTIAL, state=st.MAINTENANCE_DONE),
                        hosts)
        self.assertEqual({'eta': '2030-01-01 11:59:50', 'seconds_left': 0,
                          'estimated_duration': 300.0}, done)
        failed = self.eta(session(SEQUENTIAL, state=st.MAINTENANCE_FAILED),
                          hosts)
        self.assertEqual((None, None), (failed['eta'],
                                        failed['seconds_left']))
        dry = self.eta(session(SEQUENTIAL, state=st.MAINTENANCE_DONE,
                               options={'dry_run': True}), [host('c1')])
        # A dry run says what a real run would take, not when it ends.
        self.assertEqual({'eta': None, 'seconds_left': None,
                          'estimated_duration': 300.0}, dry)
