# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The database of a functional test's all-in-one: mixins giving
``database_url()``, a fresh database of its own (dropped at the end) on
the machine's MariaDB (127.0.0.1:3306) or PostgreSQL (127.0.0.1:5432), as
the ``openstack_citest`` user (tools/setup-test-dbs.sh), or SQLite (None:
the fixture's file).

Without the server the test is skipped, or fails when
FENIX_REQUIRE_OPPORTUNISTIC_DB=1 (CI).
"""
import os
import uuid

import sqlalchemy as sa

from fenix.tests.functional import base

CITEST = 'openstack_citest'
MYSQL_URL = 'mysql+pymysql://%s:%s@127.0.0.1/%%s' % (CITEST, CITEST)
POSTGRESQL_URL = 'postgresql+psycopg2://%s:%s@127.0.0.1/%%s' % (CITEST,
                                                                CITEST)


def extra_config(test, **groups):
    """The all-in-one's extra configuration: ``groups`` (group -> options)
    and the connection of ``test``'s database (from its mixin)."""
    url = test.database_url()
    if url:
        groups['database'] = {'connection': url}
    return groups


class SQLiteMixin(object):

    def database_url(self):
        return None


class _ServerMixin(object):

    PORT = None
    NAME = None
    URL = None
    CREATE = None
    SUFFIX = ''

    def database_url(self):
        if not base.port_open(self.PORT):
            msg = '%s not running on localhost' % self.NAME
            if os.environ.get('FENIX_REQUIRE_OPPORTUNISTIC_DB') == '1':
                self.fail(msg)
            self.skipTest(msg)
        name = 'fenix_ft_%s' % uuid.uuid4().hex[:10]
        admin = sa.create_engine(self.URL % CITEST,
                                 isolation_level='AUTOCOMMIT')
        with admin.connect() as conn:
            conn.execute(sa.text(self.CREATE % name))
        self.addCleanup(self._drop_database, admin, name)
        return self.URL % name + self.SUFFIX

    def _drop_database(self, admin, name):
        # The all-in-one has stopped (its cleanup ran first).
        with admin.connect() as conn:
            conn.execute(sa.text('DROP DATABASE IF EXISTS %s' % name))
        admin.dispose()


class MariaDBMixin(_ServerMixin):
    PORT = 3306
    NAME = 'MariaDB'
    URL = MYSQL_URL
    CREATE = 'CREATE DATABASE %s CHARACTER SET utf8mb4'
    SUFFIX = '?charset=utf8mb4'


class PostgreSQLMixin(_ServerMixin):
    PORT = 5432
    NAME = 'PostgreSQL'
    URL = POSTGRESQL_URL
    CREATE = "CREATE DATABASE %s ENCODING 'UTF8' TEMPLATE template0"
