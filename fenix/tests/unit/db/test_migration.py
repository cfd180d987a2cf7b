# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The migrations on SQLite, and the API of fenix.db.migration."""
import os
import py_compile
import shutil

from alembic import util as alembic_util
import fixtures
from oslo_db.sqlalchemy import engines
from oslo_db.sqlalchemy import test_migrations
import sqlalchemy as sa

from fenix.db import migration
from fenix.db.sqlalchemy import models
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.tests.unit.db import migration_cases

INITIAL = '83becb684cf7'


class SQLiteMigrationTestCase(migration_cases.MigrationTests,
                              test_migrations.ModelsMigrationsSync,
                              base.TestCase):

    def setUp(self):
        super().setUp()
        self.url = 'sqlite:///' + os.path.join(self.tmpdir, 'm.sqlite')
        self.engine = engines.create_engine(self.url)
        self.addCleanup(self.engine.dispose)

    def get_engine(self):
        return self.engine

    def fk_engine(self):
        engine = engines.create_engine(self.url, sqlite_fk=True)
        self.addCleanup(engine.dispose)
        return engine


class MigrationAPITestCase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.path = os.path.join(self.tmpdir, 'fenix.sqlite')
        self.url = 'sqlite:///' + self.path
        self.config(group='database', connection=self.url)

    def _tables(self):
        engine = sa.create_engine(self.url)
        self.addCleanup(engine.dispose)
        return set(sa.inspect(engine).get_table_names())

    def test_package_data(self):
        self.assertTrue(os.path.isfile(migration.INI_PATH))
        script_dir = os.path.join(os.path.dirname(migration.INI_PATH),
                                  'alembic')
        for name in ('env.py', 'script.py.mako'):
            self.assertTrue(os.path.isfile(os.path.join(script_dir, name)))
        self.assertEqual(INITIAL, migration.revisions()[0])

    def test_functions_use_configured_connection(self):
        self.assertIsNone(migration.version())
        migration.upgrade()
        self.assertEqual(migration.head(), migration.version())
        self.assertIn('sessions', self._tables())
        migration.stamp('base')
        self.assertIsNone(migration.version())

    def test_functions_take_a_connection(self):
        engine = engines.create_engine(self.url)
        self.addCleanup(engine.dispose)
        with engine.begin() as conn:
            migration.upgrade(INITIAL, connection=conn)
            self.assertEqual(INITIAL, migration.version(connection=conn))
        self.assertEqual(INITIAL, migration.version())

    def test_schema_is_not_made_by_create_all(self):
        def refuse(*args, **kwargs):
            raise AssertionError('create_all() used')

        self.useFixture(fixtures.MonkeyPatch(
            'sqlalchemy.sql.schema.MetaData.create_all', refuse))
        self.assertRaises(AssertionError, models.Base.metadata.create_all,
                          None)
        migration.upgrade()
        self.assertEqual(set(models.Base.metadata.tables) |
                         {'alembic_version'}, self._tables())

    def test_upgrade_to_unknown_revision(self):
        self.assertRaises(alembic_util.CommandError, migration.upgrade,
                          'abcdef123456')
        self.assertIsNone(migration.version())

    def _scratch_scripts(self):
        """A copy of the migration scripts that revision() may write to."""
        src = os.path.join(os.path.dirname(migration.INI_PATH), 'alembic')
        dst = os.path.join(self.tmpdir, 'alembic')
        shutil.copytree(src, dst,
                        ignore=shutil.ignore_patterns('__pycache__'))
        ini = os.path.join(self.tmpdir, 'alembic.ini')
        with open(migration.INI_PATH) as f:
            text = f.read()
        with open(ini, 'w') as f:
            f.write(text.replace('fenix.db.migration:alembic', dst))
        self.useFixture(fixtures.MonkeyPatch(
            'fenix.db.migration.INI_PATH', ini))
        return os.path.join(dst, 'versions')

    def test_revision(self):
        versions = self._scratch_scripts()
        previous = migration.head()
        path = migration.revision('add widgets')
        self.assertEqual(versions, os.path.dirname(path))
        new = migration.head()
        self.assertNotEqual(INITIAL, new)
        self.assertTrue(os.path.basename(path).startswith(new + '_add'))
        with open(path) as f:
            text = f.read()
        self.assertTrue(text.startswith('# Licensed under the Apache'))
        self.assertIn("down_revision = '%s'" % previous, text)
        py_compile.compile(path, doraise=True)
        # The empty revision applies.
        migration.upgrade()
        self.assertEqual(new, migration.version())

    def test_revision_autogenerate(self):
        self._scratch_scripts()
        # The database must be at the newest revision first.
        self.assertRaises(alembic_util.CommandError, migration.revision,
                          'too early', autogenerate=True)
        migration.upgrade()
        path = migration.revision('nothing to do', autogenerate=True)
        with open(path) as f:
            text = f.read()
        # The models and the migrations agree: nothing to generate.
        self.assertNotIn('op.', text)
        self.assertIn('pass', text)


class DatabaseFixtureTestCase(base.TestCase):

    def test_schema_comes_from_the_migrations(self):
        db = self.useFixture(db_fixture.Database())
        self.assertEqual(migration.head(), migration.version())
        self.assertEqual(migration.head(),
                         migration.version(engine=db.engine))

    def test_template_is_made_once(self):
        db_fixture.migrated_template()
        calls = []
        self.useFixture(fixtures.MonkeyPatch(
            'fenix.db.migration.upgrade',
            lambda *a, **kw: calls.append(a)))
        self.useFixture(db_fixture.Database())
        self.useFixture(db_fixture.Database())
        self.assertEqual([], calls)
