# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A fresh, migrated SQLite database for each test.

Usage, in a test's ``setUp``::

    self.db = self.useFixture(db_fixture.Database())
    # fenix.db.api now works on the test's own database file
    # (self.db.url, self.db.path); CONF.database.connection points at it.

The schema is made by running the alembic migrations, once per process:
the migrated file is kept in memory and written out for every test, which
costs a file copy instead of a migration. Many threads may use the database
at once (it is a file, not ``sqlite://`` in memory).
"""
import os
import tempfile
import threading

import fixtures
from oslo_db.sqlalchemy import engines
import sqlalchemy

from fenix import conf as fenix_conf
from fenix.db import api as db_api
from fenix.db import migration

CONF = fenix_conf.CONF

_TEMPLATE_LOCK = threading.Lock()
_TEMPLATE = None


def migrated_template():
    """The bytes of an SQLite database migrated to the newest revision."""
    global _TEMPLATE
    with _TEMPLATE_LOCK:
        if _TEMPLATE is None:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, 'template.sqlite')
                engine = engines.create_engine('sqlite:///' + path)
                try:
                    migration.upgrade('head', engine=engine)
                finally:
                    engine.dispose()
                with open(path, 'rb') as f:
                    _TEMPLATE = f.read()
        return _TEMPLATE


class Database(fixtures.Fixture):
    """A new SQLite file with the migrated schema and no rows.

    The DB API and ``CONF.database.connection`` point at it.
    """

    def __init__(self, directory=None):
        super().__init__()
        self._directory = directory

    def _setUp(self):
        directory = (self._directory or
                     self.useFixture(fixtures.TempDir()).path)
        self.path = os.path.join(directory, 'fenix.sqlite')
        with open(self.path, 'wb') as f:
            f.write(migrated_template())
        self.url = 'sqlite:///' + self.path
        CONF.set_override('connection', self.url, group='database')
        self.addCleanup(CONF.clear_override, 'connection', group='database')
        self.addCleanup(db_api.reset_for_tests())

    @property
    def engine(self):
        """The engine of the DB API, connected to this database."""
        return db_api.get_engine()


def record_statements(test):
    """The SQL statements the DB API's engine runs from now on (upper
    case), as a list that grows until ``test`` ends."""
    statements = []

    def record(conn, cursor, statement, params, context, many):
        statements.append(statement.upper())

    engine = db_api.get_engine()
    sqlalchemy.event.listen(engine, 'before_cursor_execute', record)
    test.addCleanup(sqlalchemy.event.remove, engine, 'before_cursor_execute',
                    record)
    return statements
