# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Tests of the migrations, run on every database backend.

A test case class mixes :class:`MigrationTests` (and oslo.db's
ModelsMigrationsSync) with a base whose ``get_engine()`` gives an engine on
an empty database.
"""
import sqlalchemy as sa

from fenix.common import states
from fenix.db import migration
from fenix.db.sqlalchemy import models


class MigrationTests:

    # --- for oslo.db's ModelsMigrationsSync -----------------------------

    def db_sync(self, engine):
        migration.upgrade('head', engine=engine)

    def get_metadata(self):
        return models.Base.metadata

    # --- hooks ----------------------------------------------------------

    def fk_engine(self):
        """An engine on the same database that enforces foreign keys."""
        return self.get_engine()

    # --- tests ----------------------------------------------------------

    def _tables(self):
        return set(sa.inspect(self.get_engine()).get_table_names())

    def test_walk_versions(self):
        engine = self.get_engine()
        self.assertIsNone(migration.version(engine=engine))
        revisions = migration.revisions()
        self.assertEqual(migration.head(), revisions[-1])
        for revision in revisions:
            migration.upgrade(revision, engine=engine)
            self.assertEqual(revision, migration.version(engine=engine))
        self.assertEqual(
            set(models.Base.metadata.tables) | {'alembic_version'},
            self._tables())

    def test_upgrade_twice(self):
        engine = self.get_engine()
        migration.upgrade(engine=engine)
        migration.upgrade('head', engine=engine)
        self.assertEqual(migration.head(), migration.version(engine=engine))

    def test_stamp(self):
        engine = self.get_engine()
        migration.stamp('head', engine=engine)
        self.assertEqual(migration.head(), migration.version(engine=engine))
        # Stamping migrates nothing.
        self.assertEqual({'alembic_version'}, self._tables())
        migration.stamp('base', engine=engine)
        self.assertIsNone(migration.version(engine=engine))

    def test_constraints(self):
        engine = self.get_engine()
        migration.upgrade(engine=engine)
        inspector = sa.inspect(engine)
        for table in models.Base.metadata.sorted_tables:
            fks = inspector.get_foreign_keys(table.name)
            if 'session_id' in table.c and table.name != 'sessions':
                self.assertEqual(1, len(fks), table.name)
                self.assertEqual(
                    ('sessions', ['session_id'], ['session_id'], 'CASCADE'),
                    (fks[0]['referred_table'], fks[0]['referred_columns'],
                     fks[0]['constrained_columns'],
                     (fks[0]['options'].get('ondelete') or '').upper()),
                    table.name)
            else:
                self.assertEqual([], fks, table.name)
            expected = {tuple(c.columns.keys()) for c in table.constraints
                        if isinstance(c, sa.UniqueConstraint)}
            reflected = {tuple(u['column_names'])
                         for u in inspector.get_unique_constraints(
                             table.name)}
            self.assertEqual(expected, reflected, table.name)
            expected = {(i.name, tuple(i.columns.keys()))
                        for i in table.indexes}
            reflected = {(i['name'], tuple(i['column_names']))
                         for i in inspector.get_indexes(table.name)
                         if i['name'].startswith('ix_')}
            self.assertEqual(expected, reflected, table.name)

    def test_delete_cascades(self):
        migration.upgrade(engine=self.get_engine())
        engine = self.fk_engine()
        tables = models.Base.metadata.tables
        now = sa.func.now()
        with engine.begin() as conn:
            conn.execute(tables['sessions'].insert().values(
                session_id='s1', state=states.MAINTENANCE,
                workflow='default', maintenance_at=now, meta={},
                options={}, download=[], version=0, created_at=now))
            conn.execute(tables['hosts'].insert().values(
                session_id='s1', hostname='c1', type='compute',
                state='PENDING', maintained=False, disabled_by_fenix=False,
                disabled_by_operator=False, details={}, created_at=now))
            conn.execute(tables['session_events'].insert().values(
                session_id='s1', kind='state', data={}, created_at=now))
        with engine.begin() as conn:
            conn.execute(tables['sessions'].delete())
            for name in ('hosts', 'session_events'):
                self.assertEqual(0, conn.execute(
                    sa.select(sa.func.count()).select_from(tables[name])
                ).scalar(), name)
