# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The engine through database and broker outages: runners wait for the
database and go on, crashed runners are started again, the RPC endpoint
answers "unavailable" and drops expired requests, creates are idempotent.

A database outage is made by refusing every transaction the DB API opens
(what oslo.db raises when the server is gone); the functional outage tier
(fenix/tests/functional/test_outage.py) stops a real MariaDB and RabbitMQ.
"""
import sys
import threading
from unittest import mock

import fixtures
from oslo_db import exception as db_exc
import oslo_messaging as messaging

from fenix.common import exception
from fenix.common import rpc
from fenix.common import states as st
from fenix.common import transient
from fenix.db import api as db_api
from fenix.engine import rpcapi
from fenix.engine import runner as session_runner
from fenix.engine import service
from fenix.tests import base
from fenix.tests.unit.engine import test_manager

WAIT = 30


class DatabaseOutage(fixtures.Fixture):
    """While ``down``, every transaction the DB API opens raises
    DBConnectionError; ``refused`` counts them."""

    def __init__(self):
        self.down = threading.Event()
        self.refused = 0
        self._lock = threading.Lock()

    def _setUp(self):
        # Every module of the database layer that holds the two (the DB
        # API's modules import them from fenix.db.sqlalchemy.transactions;
        # fenix.db.reads and fenix.db.replies call them through
        # fenix.db.api).
        for name in ('_reader', '_writer'):
            real = getattr(db_api, name)
            guard = self._guard(real)
            for module_name, module in sorted(sys.modules.items()):
                if (module_name.startswith('fenix.db.') and
                        getattr(module, name, None) is real):
                    self.useFixture(fixtures.MonkeyPatch(
                        '%s.%s' % (module_name, name), guard))

    def _guard(self, real):
        def opened(*args, **kwargs):
            if self.down.is_set():
                with self._lock:
                    self.refused += 1
                raise db_exc.DBConnectionError(
                    'Can\'t connect to MySQL server (outage fixture)')
            return real(*args, **kwargs)
        return opened

    def refused_more_than(self, count):
        with self._lock:
            return self.refused > count


class TestRunnerThroughOutage(test_manager.EngineTestCase):

    def setUp(self):
        super().setUp()
        self.outage = self.useFixture(DatabaseOutage())

    def test_waits_for_the_database_and_goes_on(self):
        sid = self.create()
        self.wait_event(sid, st.MAINTENANCE)
        runner = self.manager._runners[sid]
        self.outage.down.set()
        runner.wake()
        # It tried the database several times (its reads, then pings).
        test_manager.wait_for(lambda: self.outage.refused_more_than(4),
                              WAIT, what='the runner to try the database')
        self.assertTrue(runner.is_alive())
        self.outage.down.clear()
        self.reply(sid, 'ACK_MAINTENANCE')
        self.wait_event(sid, st.MAINTENANCE_COMPLETE)
        self.reply(sid, 'ACK_MAINTENANCE_COMPLETE')
        self.wait_state(sid, st.MAINTENANCE_DONE)
        self.assertEqual([], self.manager.take_crashed())
        self.assertIsNone(db_api.session_get(sid)['error'])

    def test_a_failure_is_recorded_once_the_database_is_back(self):
        sid = self.create()
        self.wait_event(sid, st.MAINTENANCE)
        real = session_runner.SessionRunner._record_failure
        calls = []

        def record(runner, state, error):
            calls.append(state)
            if len(calls) == 1:
                # The database goes away just as the failure is written.
                self.outage.down.set()
            return real(runner, state, error)
        self.useFixture(fixtures.MonkeyPatch(
            'fenix.engine.runner.SessionRunner._record_failure', record))
        runner = self.manager._runners[sid]
        self.reply(sid, 'NACK_MAINTENANCE')
        test_manager.wait_for(lambda: self.outage.refused_more_than(3),
                              WAIT, what='the failure to meet the outage')
        self.assertTrue(runner.is_alive())
        self.outage.down.clear()
        self.wait_state(sid, st.MAINTENANCE_FAILED)
        self.assertTrue(runner.join(WAIT))
        session = db_api.session_get(sid)
        self.assertIn('NACK', session['error'])
        self.assertEqual(2, len(calls))
        self.assertEqual([], self.manager.take_crashed())


class TestCrashedRunners(test_manager.EngineTestCase):

    def _service(self):
        svc = service.EngineService(local=True)
        svc.manager = self.manager
        return svc

    def _crash(self, sid):
        """The runner of ``sid`` crashes (a bug in the loop and in
        recording the failure); returns once its thread ended."""
        runner = self.manager._runners[sid]
        with mock.patch.object(session_runner.SessionRunner, '_loop',
                               side_effect=RuntimeError('bug')), \
                mock.patch.object(session_runner.SessionRunner,
                                  '_record_failure',
                                  side_effect=RuntimeError('bug in fail')):
            runner.stop('test')  # the current thread ends normally
            self.assertTrue(runner.join(WAIT))
            self.manager.take_crashed()
            crashing = self.manager.start_runner(sid)
            self.assertTrue(crashing.join(WAIT))
        self.assertFalse(crashing.ended)

    def test_a_crashed_runner_is_started_again(self):
        sid = self.create()
        self.wait_event(sid, st.MAINTENANCE)
        self._crash(sid)
        self.assertEqual([], self.manager.running_sessions())
        svc = self._service()
        svc.revive_runners()
        self.assertEqual([sid], self.manager.running_sessions())
        self.reply(sid, 'ACK_MAINTENANCE')
        self.wait_event(sid, st.MAINTENANCE_COMPLETE)
        self.reply(sid, 'ACK_MAINTENANCE_COMPLETE')
        self.wait_state(sid, st.MAINTENANCE_DONE)

    def test_restarts_are_bounded(self):
        sid = self.create()
        self.wait_event(sid, st.MAINTENANCE)
        svc = self._service()
        for _ in range(service.MAX_RUNNER_RESTARTS):
            self._crash(sid)
            self.manager._crashed.add(sid)
            svc.revive_runners()
            self.assertEqual([sid], self.manager.running_sessions())
        self._crash(sid)
        self.manager._crashed.add(sid)
        svc.revive_runners()
        self.assertEqual([], self.manager.running_sessions())

    def test_stopped_and_finished_runners_are_not_crashes(self):
        sid = self.create()
        self.wait_event(sid, st.MAINTENANCE)
        self.manager.delete_session(self.ctx, sid)
        sid = self.create(hosts=['h1'], metadata={'projects': []})
        self.wait_state(sid, st.MAINTENANCE_DONE)
        self.assertTrue(test_manager.wait_for(
            lambda: not self.manager.running_sessions(), WAIT,
            what='the runner to end') is None)
        self.assertEqual([], self.manager.take_crashed())


class TestEndpointGuard(base.TestCase):

    def test_expired_request_is_dropped(self):
        fn = mock.Mock(return_value='done')
        ctxt = mock.Mock(spec=[])
        setattr(ctxt, rpc.DEADLINE_KEY, 1.0)  # long ago
        self.assertRaises(exception.RequestExpired,
                          rpc.guarded('create_session', fn), ctxt)
        fn.assert_not_called()
        setattr(ctxt, rpc.DEADLINE_KEY, None)
        self.assertEqual('done', rpc.guarded('create_session', fn)(ctxt))

    def test_database_errors_are_unavailable_logged_once(self):
        log = self.useFixture(fixtures.FakeLogger(level='INFO'))
        fn = mock.Mock(side_effect=db_exc.DBConnectionError('gone away'))
        ctxt = mock.Mock(spec=[])
        for _ in range(3):
            e = self.assertRaises(exception.DatabaseUnavailable,
                                  rpc.guarded('get_session', fn), ctxt)
            self.assertEqual(503, e.code)
        fn.side_effect = None
        rpc.guarded('get_session', fn)(ctxt)
        rpc.guarded('get_session', fn)(ctxt)
        self.assertEqual(1, log.output.count('unreachable'), log.output)
        self.assertEqual(1, log.output.count('reachable again'),
                         log.output)

    def test_other_errors_pass(self):
        fn = mock.Mock(side_effect=exception.SessionNotFound(
            session_id='x'))
        self.assertRaises(exception.SessionNotFound,
                          rpc.guarded('get_session', fn), mock.Mock(spec=[]))

    def test_deadline_crosses_the_serializer(self):
        ser = rpc.RequestContextSerializer()
        ctxt = rpc.with_deadline(test_manager.context.RequestContext(
            user_id='u', project_id='p'), 1234.5)
        back = ser.deserialize_context(ser.serialize_context(ctxt))
        self.assertEqual(1234.5, getattr(back, rpc.DEADLINE_KEY))
        self.assertEqual('p', back.project_id)


class HangingClient(object):
    """An RPC client whose calls hang until released (a broker that does
    not answer)."""

    def __init__(self, error=None):
        self.release = threading.Event()
        self.error = error
        self.contexts = []

    def prepare(self, **kwargs):
        return self

    def call(self, ctxt, method, **kwargs):
        self.contexts.append(ctxt)
        if self.error is not None:
            raise self.error
        self.release.wait(WAIT)
        return 'late'


class TestEngineAPIBounds(base.TestCase):

    def _api(self, client):
        self.config(group='api', rpc_timeout=1)
        api = rpcapi.EngineAPI.__new__(rpcapi.EngineAPI)
        api.timeout = 1
        api.client = client
        return api

    def test_a_hanging_call_is_unavailable_within_the_timeout(self):
        client = HangingClient()
        self.addCleanup(client.release.set)
        api = self._api(client)
        ctx = test_manager.context.RequestContext(user_id='u')
        e = self.assertRaises(exception.EngineUnavailable, api.ping, ctx)
        self.assertIn('rpc_timeout', str(e))
        # The message said by when it must be carried out.
        self.assertIsNotNone(getattr(client.contexts[0], rpc.DEADLINE_KEY))
        self.assertIsNone(getattr(ctx, rpc.DEADLINE_KEY, None))

    def test_remote_database_errors_are_unavailable(self):
        api = self._api(HangingClient(messaging.RemoteError(
            'DBConnectionError', 'gone', '')))
        self.assertRaises(exception.DatabaseUnavailable, api.ping,
                          test_manager.context.RequestContext())

    def test_publish_retries_are_bounded(self):
        self.config(group='api', rpc_publish_retries=1)
        with mock.patch.object(rpc, 'get_client') as get_client:
            rpcapi.EngineAPI()
        self.assertEqual(1, get_client.call_args.kwargs['retry'])


class TestIdempotentCreate(test_manager.EngineTestCase):

    BODY = {'workflow': 'wait_reply', 'hosts': ['h1'],
            'metadata': {'projects': [test_manager.PROJECT]}}

    def test_same_key_same_body_is_the_first_session(self):
        first = self.manager.create_session(self.ctx, dict(self.BODY),
                                            idempotency_key='k1')
        again = self.manager.create_session(self.ctx, dict(self.BODY),
                                            idempotency_key='k1')
        self.assertEqual(first, again)
        self.assertEqual(1, len(db_api.session_list()))
        other = self.manager.create_session(self.ctx, dict(self.BODY),
                                            idempotency_key='k2')
        self.assertNotEqual(first, other)

    def test_same_key_other_body_is_409(self):
        self.manager.create_session(self.ctx, dict(self.BODY),
                                    idempotency_key='k1')
        e = self.assertRaises(exception.IdempotencyConflict,
                              self.manager.create_session, self.ctx,
                              dict(self.BODY, hosts=['h2']),
                              idempotency_key='k1')
        self.assertEqual(409, e.code)

    def test_keys_are_per_project(self):
        first = self.manager.create_session(self.ctx, dict(self.BODY),
                                            idempotency_key='k1')
        other_ctx = test_manager.context.RequestContext(
            user_id='u2', project_id='other', roles=['admin'])
        second = self.manager.create_session(other_ctx, dict(self.BODY),
                                             idempotency_key='k1')
        self.assertNotEqual(first, second)

    def test_a_lost_race_answers_the_winner(self):
        first = self.manager.create_session(self.ctx, dict(self.BODY),
                                            idempotency_key='k1')
        winner = db_api.session_get(first['session_id'])
        looked = []

        def lookup(key):
            # The look-up before the insert misses the winner's row (it
            # was not committed yet); the one after the refused insert
            # finds it.
            looked.append(key)
            return None if len(looked) == 1 else winner
        with mock.patch.object(db_api, 'session_find_by_idempotency_key',
                               side_effect=lookup):
            again = self.manager.create_session(self.ctx, dict(self.BODY),
                                                idempotency_key='k1')
        self.assertEqual(first, again)
        self.assertEqual(2, len(looked))
        self.assertEqual(1, len(db_api.session_list()))


class TestOutageLog(base.TestCase):

    def test_logs_each_change_once(self):
        log = self.useFixture(fixtures.FakeLogger(level='INFO'))
        outage = transient.OutageLog('The thing')
        self.assertFalse(outage.up())
        self.assertTrue(outage.down('gone'))
        self.assertFalse(outage.down('gone'))
        self.assertTrue(outage.up())
        self.assertFalse(outage.up())
        self.assertEqual(['The thing unreachable: gone',
                          'The thing reachable again'],
                         log.output.splitlines())


class TestTransportErrors(base.TestCase):

    def test_driver_connection_errors_are_unavailable(self):
        import amqp.exceptions
        import kombu.exceptions
        for error in (ConnectionRefusedError(111, 'refused'),
                      amqp.exceptions.RecoverableConnectionError('gone'),
                      kombu.exceptions.OperationalError('gone')):
            api = TestEngineAPIBounds._api(self, HangingClient(error))
            self.assertRaises(exception.EngineUnavailable, api.ping,
                              test_manager.context.RequestContext())

    def test_other_errors_are_not_hidden(self):
        api = TestEngineAPIBounds._api(self, HangingClient(
            TypeError('a bug')))
        self.assertRaises(TypeError, api.ping,
                          test_manager.context.RequestContext())


class TestDriverLogThrottle(base.TestCase):

    def test_one_line_per_interval_then_a_count(self):
        import logging as std_logging

        from fenix.common import config
        now = [0.0]
        throttle = config.Throttle(interval=60, clock=lambda: now[0])

        def record(level=std_logging.ERROR):
            return std_logging.LogRecord('x', level, 'p', 1,
                                         'AMQP server %s unreachable',
                                         ('h:1',), None)
        self.assertTrue(throttle.filter(record()))
        now[0] = 10
        self.assertFalse(throttle.filter(record()))
        self.assertFalse(throttle.filter(record()))
        self.assertTrue(throttle.filter(record(std_logging.INFO)))
        now[0] = 61
        passed = record()
        self.assertTrue(throttle.filter(passed))
        self.assertEqual('AMQP server h:1 unreachable [2 similar line(s) '
                         'of the last 60 s not logged]', passed.getMessage())
