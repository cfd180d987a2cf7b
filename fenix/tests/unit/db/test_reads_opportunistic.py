# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The read-only DB API on MySQL/MariaDB and on PostgreSQL."""
from oslo_db.sqlalchemy import test_fixtures

from fenix.tests import base
from fenix.tests.unit.db import reads_cases
from fenix.tests.unit.db import utils

load_tests = test_fixtures.optimize_module_test_loader()


class MySQLReadsTestCase(utils.OpportunisticTestMixin,
                         reads_cases.ReadsTests, base.TestCase):
    FIXTURE = utils.MySQLSchemaFixture

    def test_backend(self):
        self.assertEqual('mysql', self.engine.name)


class PostgreSQLReadsTestCase(utils.OpportunisticTestMixin,
                              reads_cases.ReadsTests, base.TestCase):
    FIXTURE = utils.PostgresqlSchemaFixture

    def test_backend(self):
        self.assertEqual('postgresql', self.engine.name)
