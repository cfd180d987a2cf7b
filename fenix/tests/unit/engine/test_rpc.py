# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""EngineAPI <-> EngineManager over a real oslo.messaging RPC server.

The in-process ``fake://`` driver always runs; the same tests run over the
local RabbitMQ when it is there (required in CI, where
FENIX_REQUIRE_OPPORTUNISTIC_DB=1).
"""
import logging
import os
import socket
import threading
from unittest import mock
import uuid

import fixtures
import oslo_messaging as messaging

from fenix.common import context
from fenix.common import exception
from fenix.common import rpc
from fenix.db import api as db_api
from fenix.engine import manager
from fenix.engine import rpcapi
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.tests.unit.engine import test_manager


def _rabbit_up():
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(('127.0.0.1', 5672)) == 0


class RPCTestMixin(object):
    transport_url = None

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database(self.tmpdir))
        self.config(transport_url=self.transport_url)
        self.config(group='engine', topic='fenix-test-%s'
                    % uuid.uuid4().hex[:8], host='engine-test')
        self.config(group='api', rpc_timeout=5)
        self.config(control_exchange='fenix-test-%s' % uuid.uuid4().hex[:8])
        self.addCleanup(rpc.cleanup)
        self.manager = manager.EngineManager(test_manager.FakeNotifier(),
                                             host='engine-test')
        self.addCleanup(self.manager.stop_all, 10)
        target = messaging.Target(topic=self.conf.conf.engine.topic,
                                  server='engine-test',
                                  version=rpcapi.RPC_API_VERSION)
        self.server = rpc.get_server(
            target, [manager.RPCEndpoint(self.manager)])
        self.server.start()
        self.addCleanup(self._stop_server)
        self.api = rpcapi.EngineAPI()
        self.ctx = context.RequestContext(user_id='u', project_id='p',
                                          roles=['admin'],
                                          request_id='req-test')

    def _stop_server(self):
        self.server.stop()
        self.server.wait()

    def test_call_round_trip(self):
        self.assertEqual('engine-test', self.api.ping(self.ctx)['engine'])
        sid = self.api.create_session(self.ctx, {
            'workflow': 'wait_reply', 'metadata': {'projects': []}})[
                'session_id']
        got = self.api.get_session(self.ctx, sid)
        self.assertEqual(sid, got['session_id'])
        self.assertIsInstance(got['maintenance_at'], str)

    def test_remote_exceptions_keep_their_status(self):
        e = self.assertRaises(exception.SessionNotFound,
                              self.api.get_session, self.ctx, 'missing')
        self.assertEqual(404, e.code)
        self.assertIn('missing', str(e))
        e = self.assertRaises(exception.UnknownPlugin,
                              self.api.create_session, self.ctx,
                              {'workflow': 'bogus'})
        self.assertEqual(400, e.code)

    def test_report_names_its_attempt(self):
        # RPC 1.1: the attempt goes beside the report; a report of another
        # attempt comes back as the engine's 409.
        sid = db_api.session_create({})['session_id']
        db_api.action_run_start(sid, 'dummy', 'host', 'c1')
        e = self.assertRaises(exception.ActionRunAttemptConflict,
                              self.api.report_action_run, self.ctx, sid,
                              'dummy', 'c1', {'state': 'DONE'}, attempt=2)
        self.assertEqual(409, e.code)
        self.assertIn('the current attempt is 1', str(e))
        run = self.api.report_action_run(self.ctx, sid, 'dummy', 'c1',
                                         {'state': 'DONE'}, attempt=1)
        self.assertEqual(('DONE', 1), (run['state'], run['attempt']))
        # Without one (1.0), a report on the ended run is refused too.
        e = self.assertRaises(exception.ActionRunStateConflict,
                              self.api.report_action_run, self.ctx, sid,
                              'dummy', 'c1', {'state': 'FAILED'})
        self.assertEqual(409, e.code)

    def test_session_control_calls_are_1_1(self):
        sid = self.api.create_session(self.ctx, {
            'workflow': 'wait_reply', 'hosts': ['h1'],
            'metadata': {'projects': []}})['session_id']
        test_manager.wait_for(
            lambda: self.api.get_session(self.ctx, sid)['state'] ==
            'MAINTENANCE_DONE', what='session done')
        # Each reaches the engine (RPC 1.1) and its answer keeps its
        # status across the bus.
        for call, args, error, code in [
                (self.api.pause_session, (sid,),
                 exception.SessionStateConflict, 409),
                (self.api.resume_session, (sid,),
                 exception.SessionStateConflict, 409),
                (self.api.retry_step, (sid,),
                 exception.SessionStateConflict, 409),
                (self.api.skip_host, (sid, 'h1'),
                 exception.SessionStateConflict, 409),
                (self.api.skip_host, ('missing', 'h1'),
                 exception.SessionNotFound, 404)]:
            e = self.assertRaises(error, call, self.ctx, *args)
            self.assertEqual(code, e.code)
        cctxt = self.api.client.prepare(version='1.1')
        self.assertTrue(cctxt.can_send_version('1.1'))

    def test_reply_naming_its_event(self):
        sid = self.api.create_session(self.ctx, {
            'workflow': 'wait_reply', 'hosts': ['h1'],
            'metadata': {'projects': [test_manager.PROJECT]}})['session_id']
        test_manager.wait_for(
            lambda: self._event_id(sid), what='the MAINTENANCE event')
        current = self._event_id(sid)
        view = self.api.get_project(self.ctx, sid, test_manager.PROJECT,
                                    event_id=current)
        self.assertEqual(current, view['event_id'])
        stale = str(uuid.uuid4())
        # Refusals cross RPC as 409 with the engine's explanation.
        for call, args in (
                (self.api.project_reply, ({'state': 'ACK_MAINTENANCE'},)),
                (self.api.get_project, ())):
            e = self.assertRaises(exception.ReplyConflict, call, self.ctx,
                                  sid, test_manager.PROJECT, *args,
                                  event_id=stale)
            self.assertEqual(409, e.code)
            self.assertIn(current, str(e))
        result = self.api.project_reply(self.ctx, sid, test_manager.PROJECT,
                                        {'state': 'ACK_MAINTENANCE'},
                                        event_id=current)
        self.assertEqual(current, result['event_id'])
        # The copy is refused (answered, or already replaced by the next
        # event: the session goes on at once).
        e = self.assertRaises(exception.ReplyConflict, self.api.project_reply,
                              self.ctx, sid, test_manager.PROJECT,
                              {'state': 'ACK_MAINTENANCE'}, event_id=current)
        self.assertIn(current, str(e))

    def test_wake_session_is_a_cast_naming_its_reply(self):
        """The API's wake-up after a reply it recorded: a 1.4 cast to the
        owner, sent by a thread (the caller never waits); one that cannot
        be sent is logged, never raised."""
        woken = []
        done = threading.Event()

        def wake_session(context, session_id, topic=None, subject=None):
            woken.append((session_id, topic, subject))
            done.set()

        self.manager.wake_session = wake_session
        self.api.wake_session(self.ctx, 's1', 'engine-test',
                              topic='reply', subject='i1')
        self.assertTrue(done.wait(10), 'the wake-up never arrived')
        self.assertEqual([('s1', 'reply', 'i1')], woken)
        log = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))
        broken = mock.Mock()
        broken.prepare.side_effect = messaging.MessageDeliveryFailure('x')
        self.api._wake_clients['gone'] = broken
        self.api.wake_session(self.ctx, 's2', 'gone', topic='reply')
        test_manager.wait_for(lambda: 'Could not wake engine gone' in
                              log.output, what='the lost wake-up logged')

    def test_calls_naming_an_event_are_version_1_1(self):
        versions = []
        real = self.api.client.prepare

        def prepare(**kwargs):
            versions.append(kwargs.get('version'))
            return real(**kwargs)

        self.api.client.prepare = prepare
        for event_id in (None, str(uuid.uuid4())):
            self.assertRaises(exception.SessionNotFound,
                              self.api.project_instance_reply, self.ctx,
                              'missing', 'p', 'i', {'state': 'ACK_X'},
                              event_id=event_id)
        self.assertEqual(['1.0', '1.1'], versions)

    def test_only_the_api_calls_are_exposed(self):
        # Anything on the bus may call only the API's methods: a public
        # manager method that is not one of them is refused, logged, and
        # not run.
        log = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))
        stopped = []
        self.manager.stop_all = lambda *a, **k: stopped.append(a)
        cctxt = self.api.client.prepare()
        for name in ('stop_all', 'start_runner', 'running_sessions',
                     '_wake_all'):
            try:
                cctxt.call(self.ctx, name)
            except Exception as e:
                self.assertIn('NoSuchMethod', type(e).__name__ + str(e),
                              name)
            else:
                self.fail('%s was run' % name)
        self.assertEqual([], stopped)
        self.assertIn("Refused RPC call of 'stop_all'", log.output)
        self.assertIn("Refused RPC call of 'start_runner'", log.output)
        # The API's calls still work.
        self.assertEqual('engine-test', self.api.ping(self.ctx)['engine'])

    def test_healthcheck_pings_over_rpc(self):
        # The API's /healthcheck probe, over the real bus: the engine
        # answers and its database works; then no engine: unreachable.
        from fenix.api import health
        self.config(group='api', healthcheck_timeout=1)
        probe = health.EngineProbe(self.conf.conf)
        probe.cache_seconds = 0
        engine, database = probe.results()
        self.assertTrue(engine.available, engine.details)
        self.assertTrue(database.available, database.details)
        self._stop_server()
        engine, database = probe.results()
        self.assertFalse(engine.available)
        self.assertFalse(database.available)
        self.assertEqual('engine: unreachable', engine.reason)

    def test_ping_reports_the_database(self):
        self.assertEqual('ok', self.api.ping(self.ctx)['database'])
        # The database goes away (a path SQLite cannot open).
        self.config(group='database', connection='sqlite:///%s/no/such/'
                    'dir/fenix.sqlite' % self.tmpdir)
        self.addCleanup(db_api.reset_for_tests())
        answer = self.api.ping(self.ctx)
        self.assertEqual('engine-test', answer['engine'])
        self.assertTrue(answer['database'].startswith('unreachable: '),
                        answer)

    @staticmethod
    def _event_id(sid):
        try:
            return db_api.project_get(sid, test_manager.PROJECT)['event_id']
        except exception.NotFound:
            return None

    def test_no_engine_is_503(self):
        self._stop_server()
        self.server = None
        self.addCleanup(lambda: None)
        api = rpcapi.EngineAPI(timeout=1)
        e = self.assertRaises(exception.EngineUnavailable, api.ping,
                              self.ctx)
        self.assertEqual(503, e.code)

    def _stop_server(self):  # noqa - redefined to tolerate a stopped one
        if self.server is not None:
            self.server.stop()
            self.server.wait()
            self.server = None


class TestFakeTransport(RPCTestMixin, base.TestCase):
    transport_url = 'fake:///'


class TestRabbitTransport(RPCTestMixin, base.TestCase):
    transport_url = 'rabbit://guest:guest@127.0.0.1:5672/'

    def setUp(self):
        if not _rabbit_up():
            if os.environ.get('FENIX_REQUIRE_OPPORTUNISTIC_DB') == '1':
                self.fail('RabbitMQ is not running on 127.0.0.1:5672')
            self.skipTest('RabbitMQ is not running on 127.0.0.1:5672')
        super().setUp()


class TestExposedMethods(base.TestCase):

    def test_allow_list_is_the_api_calls(self):
        import inspect
        public = {n for n, f in inspect.getmembers(rpcapi.EngineAPI,
                                                   inspect.isfunction)
                  if not n.startswith('_')}
        self.assertEqual(public, set(manager.RPC_METHODS))
        for name in manager.EXPOSED_METHODS:
            self.assertTrue(callable(getattr(manager.EngineManager, name)),
                            name)
        endpoint = manager.RPCEndpoint(object())
        self.assertFalse(hasattr(endpoint, 'stop_all'))
        self.assertFalse(hasattr(endpoint, 'start_runner'))
