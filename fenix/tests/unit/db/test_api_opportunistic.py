# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The whole DB API test suite on MySQL/MariaDB and on PostgreSQL.

The schema is built by the migrations once per database (testresources
shares it between the tests of a class); each test then deletes its rows.
"""
import fixtures
from oslo_db.sqlalchemy import test_fixtures
import sqlalchemy
import testtools

from fenix.db import api as db_api
from fenix.tests import base
from fenix.tests.unit.db import api_cases
from fenix.tests.unit.db import utils

load_tests = test_fixtures.optimize_module_test_loader()


def _engine_of_fenix(url):
    """A new engine of the test database set up as the DB API sets up
    its own (the fixtures' shared engine is not)."""
    engine = sqlalchemy.create_engine(url)
    # As oslo.db does when it makes an engine: a first connection, pooled
    # before the DB API's listeners exist (it went without the bound).
    with engine.connect() as conn:
        conn.exec_driver_sql('SELECT 1')
    db_api._idle_transaction_timeout(engine)
    return engine


class MySQLDBAPITestCase(utils.OpportunisticTestMixin,
                         api_cases.DBAPITests, base.TestCase):
    FIXTURE = utils.MySQLSchemaFixture

    def test_backend(self):
        self.assertEqual('mysql', self.engine.name)
        self.assertIs(self.engine, db_api.get_engine())

    def test_idle_transaction_timeout(self):
        # A process stopped inside a transaction must not hold its row
        # locks (a takeover's claim would wait for them): MariaDB ends the
        # transaction after [engine] idle_transaction_timeout.
        engine = _engine_of_fenix(self.engine.url)
        self.addCleanup(engine.dispose)
        with engine.connect() as conn:
            version = conn.exec_driver_sql('SELECT VERSION()').scalar()
            if 'mariadb' not in version.lower():
                self.skipTest('MySQL has no idle_transaction_timeout')
            self.assertEqual(5, conn.exec_driver_sql(
                'SELECT @@SESSION.idle_transaction_timeout').scalar())


class PostgreSQLDBAPITestCase(utils.OpportunisticTestMixin,
                              api_cases.DBAPITests, base.TestCase):
    FIXTURE = utils.PostgresqlSchemaFixture

    def test_backend(self):
        self.assertEqual('postgresql', self.engine.name)
        self.assertIs(self.engine, db_api.get_engine())

    def test_idle_transaction_timeout(self):
        engine = _engine_of_fenix(self.engine.url)
        self.addCleanup(engine.dispose)
        # A transaction rolled back does not undo the bound.
        with engine.connect() as conn:
            conn.exec_driver_sql('SELECT 1')
            conn.rollback()
        with engine.connect() as conn:
            self.assertEqual('5s', conn.exec_driver_sql(
                'SHOW idle_in_transaction_session_timeout').scalar())
        self.assertEqual(1, engine.pool.checkedin())


class _NoSuchBackendFixture(utils.MySQLEmptyFixture):
    DRIVER = 'nosuchdb'


class RequireOpportunisticTestCase(base.TestCase):
    """FENIX_REQUIRE_OPPORTUNISTIC_DB=1: a missing backend fails."""

    def _run_probe(self):
        class Probe(utils.OpportunisticTestMixin, testtools.TestCase):
            FIXTURE = _NoSuchBackendFixture

            def test_probe(self):
                pass

        result = testtools.TestResult()
        Probe('test_probe').run(result)
        return result

    def test_missing_backend_skips_by_default(self):
        self.useFixture(fixtures.EnvironmentVariable(utils.REQUIRE_ENV))
        result = self._run_probe()
        self.assertTrue(result.wasSuccessful())
        self.assertEqual(1, sum(len(t) for t in
                                result.skip_reasons.values()))

    def test_missing_backend_fails_when_required(self):
        self.useFixture(fixtures.EnvironmentVariable(utils.REQUIRE_ENV,
                                                     '1'))
        result = self._run_probe()
        self.assertFalse(result.wasSuccessful())
        self.assertEqual(1, len(result.failures) + len(result.errors))
        self.assertEqual({}, result.skip_reasons)
        self.assertIn('nosuchdb', str(result.failures + result.errors))
