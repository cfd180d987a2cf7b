# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A create that reaches a full engine goes, once, to the live engine with
the most room (issue 14, several engines; RPC 1.5)."""
import datetime
import os
from unittest import mock
import uuid

import fixtures
import oslo_messaging as messaging
import sqlalchemy as sa

from fenix.common import context
from fenix.common import exception
from fenix.common import rpc
from fenix.common import states as st
from fenix.db import api as db_api
from fenix.db.sqlalchemy import models
from fenix.engine import coordination
from fenix.engine import manager
from fenix.engine import rpcapi
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.tests.unit.engine import test_manager
from fenix.tests.unit.engine import test_rpc

BODY = {'workflow': 'wait_reply', 'hosts': ['h1'],
        'metadata': {'projects': [test_manager.PROJECT]}}


def run_on(engine, count=1):
    """``count`` active sessions owned by ``engine`` (no runner)."""
    for _ in range(count):
        db_api.session_create({'session_id': str(uuid.uuid4()),
                               'workflow': 'wait_reply',
                               'state': st.MAINTENANCE, 'engine': engine,
                               'meta': {'projects': []}})


def beat(host, dead=False):
    """``host``'s heartbeat: now, or (``dead``) long ago."""
    db_api.engine_heartbeat(host)
    if dead:
        with db_api.transaction() as session:
            session.execute(sa.update(models.Engine).where(
                models.Engine.host == host).values(
                heartbeat_at=datetime.datetime(2020, 1, 1)))


class TestForwardChoice(test_manager.EngineTestCase):
    """Engine e1 is full; the RPC client is mocked at the boundary."""

    def setUp(self):
        super().setUp()
        self.config(group='engine', max_sessions=2)
        self.client = mock.Mock()
        self.client.can_send_version.return_value = True
        self.call = self.client.prepare.return_value.call
        self.call.return_value = {'session_id': 'made-elsewhere'}
        self.get_client = self.useFixture(fixtures.MockPatchObject(
            rpc, 'get_client', return_value=self.client)).mock
        beat('e1')
        run_on('e1', 2)

    def create(self, **kwargs):
        return self.manager.create_session(self.ctx, dict(BODY), **kwargs)

    def assert_refused(self, **kwargs):
        e = self.assertRaises(exception.TooManySessions, self.create,
                              **kwargs)
        self.assertEqual(409, e.code)
        self.assertIn('max_sessions', str(e))
        self.assertEqual(2, len(db_api.session_list_by_states(
            st.ACTIVE_SESSION_STATES, engine='e1')))
        return e

    def test_forwarded_to_the_live_engine_with_the_most_room(self):
        beat('e2')
        run_on('e2', 1)
        beat('e3')
        beat('e4')
        run_on('e4', 1)
        answer = self.create(idempotency_key='key-1')
        self.assertEqual({'session_id': 'made-elsewhere'}, answer)
        # One call, to e3 alone, as 1.5, marked forwarded, with the same
        # values and key.
        (target,), kwargs = self.get_client.call_args
        self.assertEqual(('e3', base.CONF.engine.topic),
                         (target.server, target.topic))
        self.assertEqual(rpcapi.RPC_API_VERSION, kwargs['version_cap'])
        self.client.can_send_version.assert_called_once_with('1.5')
        self.assertEqual('1.5',
                         self.client.prepare.call_args.kwargs['version'])
        self.call.assert_called_once_with(
            mock.ANY, 'create_session', values=BODY,
            idempotency_key='key-1', forwarded=True)
        self.assertEqual('admin', self.call.call_args.args[0].project_id)
        # Nothing created here.
        self.assertEqual(2, len(db_api.session_list_by_states(
            st.ACTIVE_SESSION_STATES, engine='e1')))

    def test_a_dead_engine_is_never_chosen(self):
        beat('e2', dead=True)
        self.assert_refused()
        beat('e3')
        run_on('e3', 1)
        self.create()
        self.assertEqual('e3', self.get_client.call_args.args[0].server)
        self.assertEqual(1, self.call.call_count)

    def test_every_engine_full_is_409(self):
        beat('e2')
        run_on('e2', 2)
        self.assert_refused()
        self.assertFalse(self.call.called)

    def test_a_forwarded_create_is_not_forwarded_again(self):
        beat('e2')
        self.assert_refused(forwarded=True)
        self.assertFalse(self.get_client.called)

    def test_below_1_5_is_409(self):
        # [engine] rpc_version_cap 1.4: a rolling upgrade.
        self.config(group='engine', rpc_version_cap='1.4')
        beat('e2')
        self.client.can_send_version.return_value = False
        self.assert_refused()
        self.assertEqual('1.4',
                         self.get_client.call_args.kwargs['version_cap'])
        self.assertFalse(self.call.called)

    def test_an_engine_that_does_not_answer_is_503(self):
        beat('e2')
        self.call.side_effect = messaging.MessagingTimeout('no reply')
        e = self.assertRaises(exception.EngineUnavailable, self.create)
        self.assertEqual(503, e.code)
        self.assertIn('engine e2', str(e))

    def test_the_chosen_engines_refusal_is_its_answer(self):
        beat('e2')
        self.call.side_effect = exception.TooManySessions(count=2)
        self.assert_refused()

    def test_the_deployment_limit_is_checked_first(self):
        self.config(group='engine', max_sessions_total=3)
        beat('e2')
        run_on('e2', 1)
        self.assertRaises(exception.TooManySessionsTotal, self.create)
        self.assertFalse(self.get_client.called)

    def test_tooz_members_as_of_the_last_beat(self):
        beat('e2')
        coordinator = mock.Mock(spec=coordination.Coordinator)
        coordinator.known_alive.return_value = {'e1', 'e5'}
        self.manager.coordinator = coordinator
        self.create()
        self.assertEqual('e5', self.get_client.call_args.args[0].server)


class TestForwardOverTheBus(base.TestCase):
    """Two engines over the in-process ``fake://`` transport (and the
    local RabbitMQ: TestForwardOverRabbit), each with ``max_sessions`` 1:
    creates sent to the first one."""

    transport_url = 'fake:///'

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database(self.tmpdir))
        self.config(transport_url=self.transport_url)
        self.config(group='engine', topic='fenix-test-%s'
                    % uuid.uuid4().hex[:8], max_sessions=1)
        self.config(group='api', rpc_timeout=5)
        self.config(control_exchange='fenix-test-%s' % uuid.uuid4().hex[:8])
        self.addCleanup(rpc.cleanup)
        self.managers = {}
        for host in ('engine-a', 'engine-b'):
            self.start(host)
        self.ctx = context.RequestContext(user_id='u', project_id='p',
                                          roles=['admin'])
        # To engine-a alone (the API's calls go to any engine).
        self.to_a = rpc.get_client(
            messaging.Target(topic=base.CONF.engine.topic, server='engine-a',
                             version=rpcapi.RPC_API_VERSION),
            version_cap=rpcapi.RPC_API_VERSION, timeout=10)

    def start(self, host, endpoint=manager.RPCEndpoint):
        mgr = manager.EngineManager(test_manager.FakeNotifier(), host=host)
        self.addCleanup(mgr.stop_all, 10)
        server = rpc.get_server(
            messaging.Target(topic=base.CONF.engine.topic, server=host,
                             version=rpcapi.RPC_API_VERSION),
            [endpoint(mgr)])
        server.start()
        self.addCleanup(server.wait)
        self.addCleanup(server.stop)
        beat(host)
        self.managers[host] = mgr

    def create(self, key):
        return self.to_a.prepare(version='1.2').call(
            self.ctx, 'create_session', values=BODY, idempotency_key=key)

    def test_full_engine_forwards_once(self):
        first = self.create('k1')['session_id']
        self.assertEqual('engine-a', db_api.session_get(first)['engine'])
        # engine-a is full: the next one is made and run by engine-b.
        second = self.create('k2')['session_id']
        self.assertEqual('engine-b', db_api.session_get(second)['engine'])
        self.assertEqual([second],
                         self.managers['engine-b'].running_sessions())
        self.assertEqual([first],
                         self.managers['engine-a'].running_sessions())
        # Retried with its key: the same session, not a second one.
        self.assertEqual(second, self.create('k2')['session_id'])
        # Both full: engine-b's own 409, across the bus.
        e = self.assertRaises(exception.TooManySessions, self.create, 'k3')
        self.assertEqual(409, e.code)
        self.assertEqual(2, len(db_api.session_list()))

    def test_an_engine_of_1_4_is_not_sent_1_5(self):
        class OldEndpoint(manager.RPCEndpoint):
            target = messaging.Target(version='1.4')

        self.managers.pop('engine-b').stop_all()
        db_api.engine_delete('engine-b')
        self.start('engine-old', OldEndpoint)
        self.create('k1')
        self.assertRaises(exception.TooManySessions, self.create, 'k2')
        self.assertEqual(['engine-a'], [s['engine'] for s in
                                        db_api.session_list()])


class TestForwardOverRabbit(TestForwardOverTheBus):
    transport_url = 'rabbit://guest:guest@127.0.0.1:5672/'

    def setUp(self):
        if not test_rpc._rabbit_up():
            if os.environ.get('FENIX_REQUIRE_OPPORTUNISTIC_DB') == '1':
                self.fail('RabbitMQ is not running on 127.0.0.1:5672')
            self.skipTest('RabbitMQ is not running on 127.0.0.1:5672')
        super().setUp()
