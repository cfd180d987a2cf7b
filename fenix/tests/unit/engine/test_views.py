# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What GET /v1/maintenance/{id} shows of the admin's control, the
progress and the ETA."""
import datetime

from fenix.common import estimate
from fenix.common import states as st
from fenix.engine import views
from fenix.tests import base

NOW = datetime.datetime(2030, 1, 1, 12, 0, 0)


def _session(**values):
    row = {'session_id': 's1', 'state': st.PLANNED_MAINTENANCE,
           'workflow': 'nfv', 'maintenance_at': NOW, 'meta': {},
           'options': {}, 'error': None, 'failed_state': None,
           'engine': 'e1', 'project_id': 'admin', 'created_at': NOW,
           'updated_at': NOW, 'hold_requested': False, 'hold_state': None,
           'estimate': estimate.summary('nfv', 200, 200, 2, 50)}
    row.update(values)
    return row


def _host(name, state=st.HOST_PENDING, maintained=False):
    return {'hostname': name, 'type': st.COMPUTE, 'state': state,
            'maintained': maintained, 'started_at': None,
            'finished_at': None}


class TestSessionSummary(base.TestCase):

    def summary(self, hosts=None, **values):
        return views.session_summary(
            _session(**values), hosts if hosts is not None else
            [_host('c1'), _host('c2')], now=NOW)

    def test_running(self):
        got = self.summary()
        self.assertEqual((False, None, False),
                         (got['pause_requested'], got['hold_state'],
                          got['dry_run']))
        self.assertEqual((200, '2030-01-01 12:03:20', 200.0),
                         (got['seconds_left'], got['eta'],
                          got['estimated_duration']))

    def test_pausing_and_paused(self):
        pausing = self.summary(hold_requested=True)
        self.assertTrue(pausing['pause_requested'])
        self.assertIsNone(pausing['hold_state'])
        paused = self.summary(state=st.PAUSED, hold_requested=True,
                              hold_state=st.PLANNED_MAINTENANCE)
        self.assertEqual((False, st.PLANNED_MAINTENANCE, None, 200),
                         (paused['pause_requested'], paused['hold_state'],
                          paused['eta'], paused['seconds_left']))
        # A request left on an ended session is not shown as pending.
        done = self.summary(state=st.MAINTENANCE_DONE, hold_requested=True)
        self.assertFalse(done['pause_requested'])

    def test_dry_run_says_so(self):
        got = self.summary(state=st.MAINTENANCE_DONE,
                           options={'dry_run': True})
        self.assertTrue(got['dry_run'])
        self.assertIsNone(got['eta'])
        self.assertEqual(200.0, got['estimated_duration'])

    def test_skipped_hosts_are_not_work_left(self):
        got = self.summary(hosts=[_host('c1', st.HOST_MAINTAINED, True),
                                  _host('c2', st.HOST_SKIPPED)],
                           state=st.MAINTENANCE_DONE)
        self.assertEqual((1, 1, 1, 100),
                         (got['hosts_done'], got['hosts_total'],
                          got['hosts_skipped'], got['percent_done']))


class TestSessionDetailSteps(base.TestCase):
    """GET /detail lists the stored plan's steps, compact."""

    def setUp(self):
        super().setUp()
        from fenix.tests import db_fixture
        self.useFixture(db_fixture.Database())

    def test_steps_in_detail(self):
        from fenix.db import api as db_api
        sid = db_api.session_create({'workflow': 'nfv',
                                     'hosts': [{'hostname': 'c1'}]})[
            'session_id']
        steps = db_api.steps_create(sid, [
            {'ref': 'a', 'kind': st.STEP_DISABLE_COMPUTE, 'host': 'c1',
             'wave': 0},
            {'kind': st.STEP_MOVE, 'host': 'c1', 'instance_id': 'i1',
             'project_id': 'p1', 'wave': 0, 'depends_on': ['a'],
             'inputs': {'target': 'c2'}}])
        db_api.step_transition(steps[0]['id'], 'start', bump_attempt=True)
        db_api.step_transition(steps[0]['id'], 'done')
        detail = views.session_detail(db_api.session_get(sid))
        self.assertEqual(
            [(st.STEP_DISABLE_COMPUTE, 'c1', None, st.STEP_DONE, 1),
             (st.STEP_MOVE, 'c1', 'i1', st.STEP_PENDING, 0)],
            [(s['kind'], s['host'], s['instance_id'], s['state'],
              s['attempt']) for s in detail['steps']])
        self.assertIsInstance(detail['steps'][0]['started_at'], str)
        self.assertIsInstance(detail['steps'][0]['finished_at'], str)
        self.assertIsNone(detail['steps'][1]['started_at'])
        self.assertEqual([steps[0]['id']], detail['steps'][1]['depends_on'])
        # Compact: no inputs or results.
        self.assertNotIn('inputs', detail['steps'][1])
