# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The migrations on MySQL/MariaDB and PostgreSQL, and the models-vs-
migrations sync test there (oslo.db opportunistic fixtures)."""
from oslo_db.sqlalchemy import test_fixtures
from oslo_db.sqlalchemy import test_migrations

from fenix.tests import base
from fenix.tests.unit.db import migration_cases
from fenix.tests.unit.db import utils

load_tests = test_fixtures.optimize_module_test_loader()


class MySQLMigrationTestCase(utils.OpportunisticTestMixin,
                             migration_cases.MigrationTests,
                             test_migrations.ModelsMigrationsSync,
                             base.TestCase):
    FIXTURE = utils.MySQLEmptyFixture

    def get_engine(self):
        return self.engine

    def test_tables_are_innodb(self):
        self.db_sync(self.engine)
        with self.engine.connect() as conn:
            engines = set(conn.exec_driver_sql(
                "SELECT engine FROM information_schema.tables "
                "WHERE table_schema = DATABASE()").scalars())
        self.assertEqual({'InnoDB'}, engines)


class PostgreSQLMigrationTestCase(utils.OpportunisticTestMixin,
                                  migration_cases.MigrationTests,
                                  test_migrations.ModelsMigrationsSync,
                                  base.TestCase):
    FIXTURE = utils.PostgresqlEmptyFixture

    def get_engine(self):
        return self.engine
