# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The DB API on SQLite (the database of the all-in-one and of most unit
tests), through the Database fixture."""
import threading

import sqlalchemy as sa

from fenix import conf as fenix_conf
from fenix.db import api as db_api
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.tests.unit.db import api_cases


class SQLiteDBAPITestCase(api_cases.DBAPITests, base.TestCase):

    def setUp(self):
        super().setUp()
        self.db = self.useFixture(db_fixture.Database())

    def _statements(self, fn, *args):
        statements = []

        def record(conn, cursor, statement, params, context, many):
            statements.append(statement.strip().upper())

        engine = db_api.get_engine()
        sa.event.listen(engine, 'before_cursor_execute', record)
        try:
            fn(*args)
        finally:
            sa.event.remove(engine, 'before_cursor_execute', record)
        return statements

    def test_instance_update_does_not_read_the_row_back(self):
        # One read of the row (for the machine's check), its update and
        # the history entry: no read-back for the returned dict.
        sid = self._session()['session_id']
        db_api.instance_create_or_update(sid, 'i1', {'project_id': 'p1'})
        statements = self._statements(
            lambda: db_api.instance_update(
                sid, 'i1', {'host': 'c2'},
                history={'kind': 'action', 'message': 'moved'}))
        selects = [s for s in statements if s.startswith('SELECT')]
        self.assertEqual(1, len(selects), statements)
        self.assertEqual(
            ['UPDATE', 'INSERT'],
            [s.split()[0] for s in statements
             if s.split()[0] in ('UPDATE', 'INSERT')])

    def test_fixture_points_the_api_at_its_file(self):
        self.assertEqual(self.db.url,
                         fenix_conf.CONF.database.connection)
        self.assertEqual(self.db.path, db_api.get_engine().url.database)
        db_api.session_create({'session_id': 's1'})
        engine = sa.create_engine(self.db.url)
        self.addCleanup(engine.dispose)
        with engine.connect() as conn:
            self.assertEqual(['s1'], list(conn.execute(
                sa.text('SELECT session_id FROM sessions')).scalars()))

    def test_each_test_starts_empty(self):
        # Whatever another test wrote, this database has no rows.
        engine = db_api.get_engine()
        with engine.connect() as conn:
            for table in sa.inspect(engine).get_table_names():
                if table == 'alembic_version':
                    continue
                self.assertEqual(0, conn.execute(sa.text(
                    'SELECT COUNT(*) FROM %s' % table)).scalar(), table)

    def test_foreign_keys_are_enforced(self):
        with db_api.get_engine().connect() as conn:
            self.assertEqual(
                1, conn.execute(sa.text('PRAGMA foreign_keys')).scalar())

    def test_database_file_in_wal_mode(self):
        with db_api.get_engine().connect() as conn:
            self.assertEqual('wal', conn.execute(
                sa.text('PRAGMA journal_mode')).scalar())

    def test_bulk_put_is_one_transaction(self):
        sid = db_api.session_create({})['session_id']
        items = {'i%d' % n: {'project_id': 'p', 'host': 'c1'}
                 for n in range(50)}
        statements = self._statements(db_api.instances_put, sid, items)
        self.assertEqual(1, statements.count('BEGIN IMMEDIATE'))
        # Unchanged values are not written again.
        statements = self._statements(db_api.instances_put, sid, items)
        self.assertEqual([], [s for s in statements
                              if s.startswith(('UPDATE', 'INSERT'))])

    def test_writers_of_a_process_queue_on_a_lock(self):
        # A second writer waits on the process's lock, not in SQLite's
        # busy handler: it starts right after the first one commits.
        sid = db_api.session_create({})['session_id']
        inside = threading.Event()
        release = threading.Event()
        order = []

        def first():
            with db_api._writer():
                inside.set()
                release.wait(10)
                order.append('first')

        def second():
            db_api.session_update(sid, {'error': 'second'})
            order.append('second')

        t1 = threading.Thread(target=first)
        t1.start()
        self.assertTrue(inside.wait(10))
        t2 = threading.Thread(target=second)
        t2.start()
        self.assertTrue(db_api._SQLITE_WRITER.locked())
        self.assertEqual([], order)
        release.set()
        t1.join(10)
        t2.join(10)
        self.assertEqual(['first', 'second'], order)
        self.assertEqual('second', db_api.session_get(sid)['error'])

    def test_writers_begin_immediate(self):
        sid = db_api.session_create({})['session_id']
        writes = self._statements(db_api.session_update, sid,
                                  {'error': 'x'})
        self.assertEqual('BEGIN IMMEDIATE', writes[0])
        reads = self._statements(db_api.session_get, sid)
        self.assertEqual('BEGIN', reads[0])
        self.assertNotIn('BEGIN IMMEDIATE', reads)


class ResetForTestsTestCase(base.TestCase):

    def test_reset_reads_the_configuration_again(self):
        first = self.useFixture(db_fixture.Database())
        db_api.session_create({'session_id': 'in-first'})
        second = db_fixture.Database()
        second.setUp()
        self.assertNotEqual(first.path, second.path)
        self.assertEqual(second.path, db_api.get_engine().url.database)
        self.assertEqual([], db_api.session_list())
        db_api.session_create({'session_id': 'in-second'})
        second.cleanUp()
        # Back on the first database.
        self.assertEqual(first.path, db_api.get_engine().url.database)
        self.assertEqual(['in-first'],
                         [s['session_id'] for s in db_api.session_list()])
