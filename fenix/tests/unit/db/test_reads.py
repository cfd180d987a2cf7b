# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The read-only DB API on SQLite, and the SQL it sends."""
import json
from unittest import mock

import sqlalchemy as sa

from fenix.common import states as st
from fenix.db import api as db_api
from fenix.db import reads
from fenix.db.sqlalchemy import models
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

    def test_small_reads_make_no_orm_session(self):
        sid = self._full_session()
        expected = [reads.session_summary(sid), reads.session_list(),
                    reads.project(sid, 'p1'),
                    reads.project_instance(sid, 'p1', 'i1')]
        from sqlalchemy import orm
        with mock.patch.object(orm.Session, 'execute',
                               side_effect=AssertionError('ORM session')):
            self.assertEqual(expected, [
                reads.session_summary(sid), reads.session_list(),
                reads.project(sid, 'p1'),
                reads.project_instance(sid, 'p1', 'i1')])

    def test_small_read_joins_the_transaction_of_its_thread(self):
        sid = self._full_session()
        with db_api._writer() as session:
            session.execute(sa.update(models.Project.__table__).where(
                models.Project.__table__.c.project_id == 'p1'
            ).values(reply='ACK_MAINTENANCE'))
            # Not committed yet: seen only by a read of this transaction.
            self.assertEqual('ACK_MAINTENANCE',
                             reads.project(sid, 'p1')['reply'])
            with db_api._core_reader() as conn:
                self.assertIs(session, conn)

    def test_small_read_joins_a_read_transaction_of_its_thread(self):
        with db_api._reader() as session:
            with db_api._core_reader() as conn:
                self.assertIs(session, conn)
        # Out of any transaction: a Core connection of its own.
        with db_api._core_reader() as conn:
            self.assertIsInstance(conn, sa.engine.Connection)

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

    def test_detail_json_rows_written_by_sqlite(self):
        # SQLite writes each table's rows (one text per row) when it can
        # write json.dumps' bytes; a table with a character it does not
        # escape as json.dumps does is written by Python.
        sid = self._full_session()
        expected = json.dumps(reads.session_detail(sid))
        with mock.patch.object(reads, '_rows_json',
                               wraps=reads._rows_json) as python:
            self.assertEqual(expected, reads.session_detail_json(sid))
        self.assertEqual(0, python.call_count)
        for text in ('caf\u00e9', 'del\x7f'):
            db_api.event_add(sid, st.EVENT_STATE, message=text)
            expected = json.dumps(reads.session_detail(sid))
            with mock.patch.object(reads, '_rows_json',
                                   wraps=reads._rows_json) as python:
                self.assertEqual(expected, reads.session_detail_json(sid))
            # The history only.
            self.assertEqual(1, python.call_count)
            self.assertEqual('session_events',
                             python.call_args[0][0].__tablename__)

    def test_detail_json_without_json_quote(self):
        # An SQLite built without JSON functions: Python writes the rows.
        sid = self._full_session()
        expected = json.dumps(reads.session_detail(sid))
        self.addCleanup(setattr, reads, '_sqlite_json_quote',
                        reads._sqlite_json_quote)
        reads._sqlite_json_quote = None
        real = reads._has_json_quote

        def missing(session):
            # The probe fails as it does without the function.
            with mock.patch.object(session, 'execute',
                                   side_effect=sa.exc.OperationalError(
                                       'SELECT', {}, 'no such function')):
                return real(session)

        with mock.patch.object(reads, '_has_json_quote', missing):
            self.assertEqual(expected, reads.session_detail_json(sid))
        self.assertFalse(reads._sqlite_json_quote)
        self.assertEqual(expected, reads.session_detail_json(sid))

    def test_sqlite_escapes_ascii_as_json_dumps(self):
        # What the SQLite path relies on, for every ASCII character.
        engine = db_api.get_engine()
        with engine.connect() as conn:
            for code in range(0, 127):
                text = 'a%sb' % chr(code)
                self.assertEqual(json.dumps(text), conn.execute(
                    sa.text('SELECT json_quote(:t)'), {'t': text}).scalar(),
                    code)

    def test_detail_page_is_the_page_query(self):
        sid = self._full_session()
        selects = self._statements(reads.session_detail_page_json, sid, 2,
                                   marker='i1')
        page = [s for s in selects if 'from instances' in s]
        # The marker's row, then the page (one more than the limit).
        self.assertEqual(2, len(page))
        self.assertIn('instances.id >', page[1])
        self.assertIn('limit', page[1])
