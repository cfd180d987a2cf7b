# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A MySQL/MariaDB or PostgreSQL server that cannot be reached is a
transient database error for the engine (DatabaseUnavailable, 503), with
the real drivers: the outage fixture of fenix/tests/unit/engine/
test_outage.py raises oslo.db's DBConnectionError itself, this checks that
pymysql's and psycopg2's own "connection refused" becomes one.

No server is needed: the URLs name a port nothing listens on.
"""
import socket

from oslo_db import exception as db_exc

from fenix.common import exception
from fenix.common import rpc
from fenix.common import transient
from fenix.db import api as db_api
from fenix.tests import base

URLS = {
    'mysql': 'mysql+pymysql://openstack_citest:openstack_citest@'
             '127.0.0.1:%d/openstack_citest',
    'postgresql': 'postgresql+psycopg2://openstack_citest:'
                  'openstack_citest@127.0.0.1:%d/openstack_citest',
}


def _closed_port():
    """A local port nothing listens on (bound, then released)."""
    sock = socket.socket()
    try:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


class UnreachableCases(object):

    DIALECT = None

    def setUp(self):
        super().setUp()
        # No connection test (and its 10 s waits) when the engine is made.
        self.config(group='database', max_retries=0,
                    connection=URLS[self.DIALECT] % _closed_port())
        self.addCleanup(db_api.reset_for_tests())

    def test_refused_connection_is_transient(self):
        e = self.assertRaises(db_exc.DBConnectionError, db_api.ping)
        self.assertTrue(transient.is_transient_db(e))

    def test_engine_endpoint_answers_unavailable(self):
        def get_session(ctxt, session_id):
            return db_api.session_get(session_id)
        call = rpc.guarded('get_session', get_session)
        # The endpoint logs outages once, in a module-wide state: leave it
        # "reachable" for the next test.
        self.addCleanup(rpc.guarded('ping', lambda ctxt: None), None)
        e = self.assertRaises(exception.DatabaseUnavailable, call, None,
                              'f0e1d2c3-b4a5-4687-9123-456789abcdef')
        self.assertEqual(503, e.code)
        self.assertIsInstance(e.__cause__, db_exc.DBConnectionError)

    def test_api_small_reads_answer_unavailable(self):
        # The API's own reads (a Core connection, no ORM session) turn
        # the driver's refusal into the same 503.
        from fenix.api import reads as api_reads
        reader = api_reads.DatabaseReader()
        # Logged once per outage, in a module-wide state: leave it
        # "reachable" for the next test.
        self.addCleanup(api_reads._OUTAGE.call_db, lambda: None)
        sid = 'f0e1d2c3-b4a5-4687-9123-456789abcdef'
        for call, args in ((reader.get_session, (None, sid)),
                           (reader.list_sessions, (None,)),
                           (reader.get_project, (None, sid, 'p1')),
                           (reader.get_project_instance,
                            (None, sid, 'p1', 'i1'))):
            e = self.assertRaises(exception.DatabaseUnavailable, call,
                                  *args)
            self.assertEqual(503, e.code)
            self.assertIsInstance(e.__cause__, db_exc.DBConnectionError)


class TestUnreachableMySQL(UnreachableCases, base.TestCase):
    DIALECT = 'mysql'


class TestUnreachablePostgreSQL(UnreachableCases, base.TestCase):
    DIALECT = 'postgresql'
