# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""oslo.db opportunistic fixtures wired to the Fenix DB API.

The MySQL/MariaDB and PostgreSQL test cases use the databases oslo.db finds
with the 'openstack_citest' user (see tools/setup-test-dbs.sh). A backend
that is not there skips its tests, unless FENIX_REQUIRE_OPPORTUNISTIC_DB=1
is set (CI): then they fail.
"""
import os

from oslo_db.sqlalchemy import test_fixtures

from fenix.db import api as db_api
from fenix.db import migration
from fenix.db.sqlalchemy import models

REQUIRE_ENV = 'FENIX_REQUIRE_OPPORTUNISTIC_DB'


def opportunistic_db_required():
    return os.environ.get(REQUIRE_ENV, '').strip().lower() in (
        '1', 'true', 'yes')


class _FenixFacade:
    """Provision through, and patch, the DB API's transaction context."""

    def get_enginefacade(self):
        return db_api.transaction_context


class _MigratedSchema(test_fixtures.GeneratesSchemaFromMigrations,
                      test_fixtures.DeletesFromSchema):
    """The schema is built once by the migrations.

    Between tests only the rows are deleted.
    """

    def generate_schema_migrations(self, engine):
        migration.upgrade('head', engine=engine)

    def delete_from_schema(self, engine):
        with engine.begin() as conn:
            for table in reversed(models.Base.metadata.sorted_tables):
                conn.execute(table.delete())


class MySQLSchemaFixture(_FenixFacade, _MigratedSchema,
                         test_fixtures.MySQLOpportunisticFixture):
    pass


class PostgresqlSchemaFixture(_FenixFacade, _MigratedSchema,
                              test_fixtures.PostgresqlOpportunisticFixture):
    pass


class MySQLEmptyFixture(_FenixFacade,
                        test_fixtures.MySQLOpportunisticFixture):
    """An empty database; every object is dropped after each test."""


class PostgresqlEmptyFixture(_FenixFacade,
                             test_fixtures.PostgresqlOpportunisticFixture):
    """An empty database; every object is dropped after each test."""


class OpportunisticTestMixin(test_fixtures.OpportunisticDBTestMixin):
    """Put first in the bases of a test case; set FIXTURE."""

    @property
    def SKIP_ON_UNAVAILABLE_DB(self):
        return not opportunistic_db_required()

    @property
    def engine(self):
        return self._get_default_provisioned_db().engine
