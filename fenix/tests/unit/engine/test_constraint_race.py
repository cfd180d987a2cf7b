# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""An instance constraint joining a group while the group moves to
another project, at the same time: never both (a group of one project
with a member of another), on every database."""
import threading
import uuid

from oslo_db.sqlalchemy import test_fixtures

from fenix.common import context
from fenix.common import exception
from fenix.db import api as db_api
from fenix.engine import manager
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.tests.unit.db import utils as db_utils
from fenix.tests.unit.engine import test_manager

load_tests = test_fixtures.optimize_module_test_loader()

OWNER = 'a' * 32
NEW_OWNER = 'b' * 32


class RaceCases(object):

    ROUNDS = 8

    def make_manager(self):
        self.manager = manager.EngineManager(test_manager.FakeNotifier(),
                                             host='e1')
        self.ctx = context.RequestContext(user_id='u', project_id=OWNER,
                                          is_admin=True)

    def _together(self, *calls):
        """Run each of ``calls`` in a thread of its own, released at
        once; returns the outcomes in the order of ``calls`` ('ok' or
        'conflict')."""
        barrier = threading.Barrier(len(calls))
        outcomes = [None] * len(calls)

        def one(n, call):
            barrier.wait()
            try:
                call()
                outcomes[n] = 'ok'
            except exception.Conflict:
                outcomes[n] = 'conflict'

        threads = [threading.Thread(target=one, args=(n, call))
                   for n, call in enumerate(calls)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return outcomes

    def test_join_and_move_of_the_group_at_once(self):
        for n in range(self.ROUNDS):
            group = str(uuid.uuid4())
            member = 'i-%d-%s' % (n, uuid.uuid4().hex[:8])
            self.manager.put_instance_group_constraint(
                self.ctx, group, {'project_id': OWNER, 'group_name': 'g'})
            join = (lambda: self.manager.put_instance_constraint(
                self.ctx, member, {'project_id': OWNER, 'group_id': group}))
            move = (lambda: self.manager.put_instance_group_constraint(
                self.ctx, group, {'project_id': NEW_OWNER}))
            calls = (join, move) if n % 2 else (move, join)
            outcomes = self._together(*calls)
            self.assertIn('ok', outcomes)
            owner = db_api.instance_group_constraint_get(group)['project_id']
            members = db_api.instance_constraints_list(group_id=group)
            self.assertEqual(
                [], [m['instance_id'] for m in members
                     if m['project_id'] != owner],
                'round %d: group of %s, outcomes %s' % (n, owner, outcomes))


class TestRaceSQLite(RaceCases, base.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.make_manager()


class TestRaceMySQL(db_utils.OpportunisticTestMixin, RaceCases,
                    base.TestCase):
    FIXTURE = db_utils.MySQLSchemaFixture

    def setUp(self):
        super().setUp()
        self.make_manager()


class TestRacePostgreSQL(db_utils.OpportunisticTestMixin, RaceCases,
                         base.TestCase):
    FIXTURE = db_utils.PostgresqlSchemaFixture

    def setUp(self):
        super().setUp()
        self.make_manager()
