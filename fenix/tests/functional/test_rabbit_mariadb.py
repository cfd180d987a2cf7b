# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Production shape: fenix-api and fenix-engine as separate processes over
the local RabbitMQ, with MariaDB; the engine is killed mid-session and a new
one continues the session.

Needs RabbitMQ on 127.0.0.1:5672 (guest/guest) and MariaDB with the
``openstack_citest`` user (tools/setup-test-dbs.sh). Skipped when they are
not there, unless FENIX_REQUIRE_OPPORTUNISTIC_DB=1 (CI), where that fails.
"""
import os
import subprocess
import sys
import threading
import uuid

from oslo_config import cfg
import oslo_messaging as messaging
import sqlalchemy as sa

from fenix.tests.functional import base

MYSQL_URL = ('mysql+pymysql://openstack_citest:openstack_citest@'
             '127.0.0.1/%s')
MYSQL_ADMIN = MYSQL_URL % 'openstack_citest'
RABBIT = 'rabbit://guest:guest@127.0.0.1:5672/'
PROJECT = uuid.uuid4().hex


class NotificationCollector(object):
    """A notification listener's endpoint: keeps every message."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received = []

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        with self.lock:
            self.received.append((metadata['message_id'], event_type,
                                  payload))

    def messages(self):
        with self.lock:
            return list(self.received)


class TestSeparateProcesses(base.FunctionalTestCase):

    def setUp(self):
        super().setUp()
        missing = [name for name, port in (('RabbitMQ', 5672),
                                           ('MariaDB', 3306))
                   if not base.port_open(port)]
        if missing:
            msg = '%s not running on localhost' % ', '.join(missing)
            if os.environ.get('FENIX_REQUIRE_OPPORTUNISTIC_DB') == '1':
                self.fail(msg)
            self.skipTest(msg)
        self.db_name = 'fenix_ft_%s' % uuid.uuid4().hex[:10]
        admin = sa.create_engine(MYSQL_ADMIN)
        with admin.connect() as conn:
            conn.execute(sa.text('CREATE DATABASE %s' % self.db_name))
        self.addCleanup(self._drop_db, admin)
        self.port = base.free_port()
        exchange = self.unique('fenix-ft')
        topic = self.unique('fenix-ft-notifications')
        self.collector = self._listen(exchange, topic)
        self.conf = base.write_config(
            os.path.join(self.workdir, 'fenix.conf'), {
                'DEFAULT': {'transport_url': RABBIT,
                            'control_exchange': exchange},
                'api': {'port': self.port, 'auth_strategy': 'noauth',
                        'rpc_timeout': 5},
                'engine': {'topic': self.unique('fenix-engine'),
                           'host': 'engine-a',
                           'heartbeat_interval': 1},
                'database': {'connection': MYSQL_URL % self.db_name},
                'download': {'directory': self.workdir + '/downloads'},
                'workflow': {'reply_window_maintenance': 120,
                             'reply_window_maintenance_complete': 120},
                'oslo_messaging_notifications': {'driver': 'messagingv2',
                                                 'topics': topic},
            })
        subprocess.run([sys.executable, '-m', 'fenix.cmd.manage',
                        '--config-file', self.conf, 'db', 'upgrade'],
                       check=True, capture_output=True, timeout=120)
        self.engine = self.start_process('fenix.cmd.engine', self.conf,
                                         'engine-1')
        self.api = self.start_process('fenix.cmd.api', self.conf, 'api')
        self.wait_api(self.port, self.api)
        self.client = base.FenixClient('http://127.0.0.1:%s' % self.port)

    def _listen(self, exchange, topic):
        """Listen to Fenix's notifications (bound before Fenix sends)."""
        conf = cfg.ConfigOpts()
        conf([], project='fenix-ft', default_config_files=[])
        transport = messaging.get_notification_transport(conf, url=RABBIT)
        self.addCleanup(transport.cleanup)
        collector = NotificationCollector()
        listener = messaging.get_notification_listener(
            transport, [messaging.Target(topic=topic, exchange=exchange)],
            [collector], executor='threading')
        listener.start()
        self.addCleanup(listener.wait)
        self.addCleanup(listener.stop)
        return collector

    def _drop_db(self, admin):
        with admin.connect() as conn:
            conn.execute(sa.text('DROP DATABASE IF EXISTS %s'
                                 % self.db_name))
        admin.dispose()

    def _reply(self, sid, state):
        return self.client.put('/v1/maintenance/%s/%s' % (sid, PROJECT),
                               {'state': state})

    def test_engine_killed_and_restarted_mid_session(self):
        resp = base.wait_for(
            lambda: (lambda r: r if r.status_code == 200 else None)(
                self.client.post('/v1/maintenance', {
                    'workflow': 'wait_reply', 'hosts': ['h1'],
                    'metadata': {'projects': [PROJECT]}})),
            60, interval=0.5, what='the engine to answer a create')
        sid = resp.json()['session_id']
        self.client.wait_project_event(sid, PROJECT, 'MAINTENANCE')

        # The engine dies while the session waits for the project: the
        # reply is recorded all the same (the API records it in the
        # database; its wake-up cast finds no engine), once.
        self.engine.kill()
        resp = self._reply(sid, 'ACK_MAINTENANCE')
        self.assertEqual(200, resp.status_code, resp.text)
        resp = self._reply(sid, 'ACK_MAINTENANCE')
        self.assertEqual(409, resp.status_code, resp.text)
        self.assertIn('already answered', resp.text)

        # A new engine (same host name) resumes the session where it stood
        # and acts on the reply recorded while none ran.
        self.engine = self.start_process('fenix.cmd.engine', self.conf,
                                         'engine-2')
        self.client.wait_project_event(sid, PROJECT, 'MAINTENANCE_COMPLETE')
        self.assertEqual(200, self._reply(
            sid, 'ACK_MAINTENANCE_COMPLETE').status_code)
        self.client.wait_state(sid, 'MAINTENANCE_DONE')

        detail = self.client.get('/v1/maintenance/%s/detail' % sid).json()
        messages = [e['message'] for e in detail['history']]
        self.assertTrue(any('resumed' in m for m in messages), messages)
        self.assertTrue(detail['hosts'][0]['maintained'])

        # Every notification recorded went out on the bus with its outbox
        # message id; the final state's among them.
        def announced():
            return any(p.get('session_id') == sid and
                       p.get('state') == 'MAINTENANCE_DONE'
                       for _m, t, p in self.collector.messages()
                       if t == 'maintenance.session')
        base.wait_for(announced, 60, what='maintenance.session DONE')
        engine = sa.create_engine(MYSQL_URL % self.db_name)
        self.addCleanup(engine.dispose)

        def outbox():
            with engine.connect() as conn:
                return conn.execute(sa.text(
                    'SELECT message_id, event_type, sent_at FROM outbox '
                    'WHERE session_id = :sid'), {'sid': sid}).fetchall()
        # A row is marked sent a moment after it went out (the dispatcher
        # marks what was sent meanwhile in one statement, MARK_DELAY).
        base.wait_for(lambda: all(r.sent_at for r in outbox()), 30,
                      what='every outbox row marked sent')
        rows = outbox()
        self.assertTrue(rows)
        self.assertEqual([], [r for r in rows if r.sent_at is None])
        received = {m for m, _t, _p in self.collector.messages()}
        self.assertEqual([], [r for r in rows
                              if r.message_id not in received])
        # SIGTERM stops both cleanly.
        self.assertEqual(0, self.engine.terminate())
        self.assertEqual(0, self.api.terminate())
