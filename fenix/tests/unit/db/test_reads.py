# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The read-only DB API on SQLite, and the SQL it sends."""
import sqlalchemy as sa

from fenix.common import states as st
from fenix.db import api as db_api
from fenix.db import reads
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.tests.unit.db import reads_cases


class SQLiteReadsTestCase(reads_cases.ReadsTests, base.TestCase):

    def setUp(self):
        super().setUp()
        self.db = self.useFixture(db_fixture.Database())

    def _statements(self, fn, *args, **kwargs):
        statements = []

        def record(conn, cursor, statement, params, context, many):
            statements.append(' '.join(statement.split()).lower())

        engine = db_api.get_engine()
        sa.event.listen(engine, 'before_cursor_execute', record)
        try:
            fn(*args, **kwargs)
        finally:
            sa.event.remove(engine, 'before_cursor_execute', record)
        return [s for s in statements if s.startswith('select')]

    def test_list_and_heartbeat_reads_never_select_the_plan(self):
        self._sessions()
        for fn, args in ((reads.session_list, ()),
                         (db_api.session_list, ()),
                         (db_api.session_list_by_states,
                          (st.ACTIVE_SESSION_STATES,)),
                         (reads.session_summary, (
                             db_api.session_list()[0]['session_id'],))):
            selects = self._statements(fn, *args)
            self.assertTrue(selects, fn)
            self.assertFalse([s for s in selects if 'sessions.plan' in s],
                             fn)

    def test_list_is_two_queries_whatever_the_sessions(self):
        self._sessions()
        # The sessions, then the hosts of all of them: no query per
        # session.
        self.assertEqual(2, len(self._statements(reads.session_list)))
        self.assertEqual(3, len(self._statements(
            reads.session_list, marker=db_api.session_list()[0][
                'session_id'])))

    def test_detail_is_one_query_per_table(self):
        sid = self._full_session()
        # session, hosts, projects, instances, plug-ins, runs, steps,
        # history.
        self.assertEqual(8, len(self._statements(reads.session_detail,
                                                 sid)))
