# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The runner's side of the groups' shared budgets: its places in the
groups' queues (fenix.workflow.shared_budget)."""
import datetime


from fenix.common import states
from fenix.db import api as db_api
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.workflow import model
from fenix.workflow import shared_budget


class FakeWorkflow(object):

    def __init__(self, session_id):
        self.session_id = session_id
        self.decisions = []

    def _decision(self, message, instance_id=None):
        self.decisions.append((instance_id, message))


def group(gid, budget=1):
    return model.Group(group_id=gid, max_impacted_members=budget)


class SharedBudgetsTestCase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.sids = [db_api.session_create({
            'maintenance_at': datetime.datetime(2030, 1, 1),
            'state': states.PLANNED_MAINTENANCE})['session_id']
            for _n in range(3)]
        self.runners = [shared_budget.SharedBudgets(FakeWorkflow(sid))
                        for sid in self.sids]

    def _statements(self):
        return db_fixture.record_statements(self)

    def _waiters(self, gid):
        return [(r['session_id'], r['instance_id'])
                for r in db_api.group_impacts_get(gid, waiting=True)]

    def test_wait_lease(self):
        self.assertEqual(10.0, shared_budget.wait_lease())
        self.config(group='workflow', nova_poll_interval=7)
        self.assertEqual(21.0, shared_budget.wait_lease())

    def test_first_waiting_session_served_first(self):
        a, b, c = self.runners
        g = group('g')
        self.assertTrue(a.take('a1', g))
        self.assertFalse(b.take('b1', g))
        self.assertFalse(c.take('c1', g))
        a.release('a1', recover=False)
        # c asks whenever it likes (no retry timer): b waited first.
        for _n in range(3):
            c.retry_at.clear()
            self.assertFalse(c.take('c1', g))
        # b asks again at its retry time.
        b.retry_at.clear()
        self.assertTrue(b.take('b1', g))
        self.assertEqual([(self.sids[2], 'c1')], self._waiters('g'))
        b.release('b1', recover=False)
        c.retry_at.clear()
        self.assertTrue(c.take('c1', g))
        self.assertEqual([], self._waiters('g'))
        self.assertEqual({}, c.waiting)

    def test_places_given_up_when_no_member_waits(self):
        a, b, _c = self.runners
        g, h = group('g'), group('h')
        self.assertTrue(a.take('a1', g))
        self.assertTrue(a.take('a2', h))
        self.assertFalse(b.take('b1', g))
        b.retry_at.clear()
        self.assertFalse(b.take('b2', g))
        self.assertFalse(b.take('b3', h))
        self.assertEqual({'b1': 'g', 'b2': 'g', 'b3': 'h'}, b.waiting)
        # One place for the session in g (b2 asked last).
        self.assertEqual([(self.sids[1], 'b2')], self._waiters('g'))
        # b1 no longer waits (no target now, its host skipped): b2 of the
        # same group still does: the session keeps its place.
        b.release('b1')
        self.assertEqual([(self.sids[1], 'b2')], self._waiters('g'))
        b.release('b2')
        self.assertEqual([], self._waiters('g'))
        # The runner ends: its places everywhere.
        b.release_all()
        self.assertEqual([], self._waiters('h'))
        self.assertEqual({}, b.waiting)

    def test_no_statement_of_the_queues_without_waiting(self):
        a, _b, _c = self.runners
        g = group('g', budget=2)
        statements = self._statements()
        self.assertTrue(a.take('a1', g))
        self.assertTrue(a.take('a2', g))
        a.release('a1', recover=False)
        a.release_all(recover=False)
        # Two takes (the time, the rows, the insert) and two releases.
        self.assertEqual(['SELECT', 'SELECT', 'INSERT'] * 2 + ['DELETE'] * 2,
                         [s.split()[0] for s in statements
                          if s.split()[0] not in ('BEGIN', 'COMMIT')],
                         statements)
        self.assertEqual({}, a.waiting)
