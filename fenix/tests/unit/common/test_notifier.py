# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
import datetime
import http.server
import json
import queue
import threading
from unittest import mock

from oslo_config import cfg
import oslo_messaging as messaging

from fenix.common import notifier
from fenix.common import notify_http
from fenix.common import publisher
from fenix.common import rpc
from fenix.common import states as st
from fenix.db import api as db_api
from fenix.tests import base
from fenix.tests import db_fixture

CONF = cfg.CONF


class Dispatcher(object):
    """Claims every row; records what it is asked to send."""

    def __init__(self):
        self.claimed = []
        self.sends = []
        self.unclaimed = []

    def claim(self, rows):
        self.claimed.extend(r['id'] for r in rows)
        return rows

    def unclaim(self, rows):
        self.unclaimed.extend(r['id'] for r in rows)

    def send(self, rows, left=False):
        self.sends.append(([(r['event_type'], r['id']) for r in rows],
                           left))

    @property
    def kicks(self):
        return len(self.sends)


class TestNotifier(base.TestCase):
    """What the notifier records, and when its dispatcher is woken."""

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.sid = db_api.session_create({})['session_id']
        self.dispatcher = Dispatcher()
        self.n = notifier.Notifier(db_api, self.dispatcher)

    def recorded(self):
        return [(r['event_type'], r['payload'])
                for r in db_api.outbox_unsent()]

    def test_project_event_payload_and_both_types(self):
        at = datetime.datetime(2026, 1, 1, 12, 0, 0)
        payload = self.n.project_event(
            self.sid, 'pid', 'PREPARE_MAINTENANCE',
            instance_ids='http://x/u', reply_url='http://x/u',
            allowed_actions=['MIGRATE'], actions_at=at, reply_at=at,
            metadata={'a': 1})
        expected = {'service': 'fenix', 'project_id': 'pid',
                    'session_id': self.sid,
                    'state': 'PREPARE_MAINTENANCE',
                    'instance_ids': 'http://x/u',
                    'allowed_actions': ['MIGRATE'],
                    'actions_at': '2026-01-01 12:00:00',
                    'reply_at': '2026-01-01 12:00:00',
                    'reply_url': 'http://x/u',
                    'metadata': {'a': 1}, 'event_id': None}
        self.assertEqual(expected, payload)
        self.assertEqual([('maintenance.planned', expected),
                          ('maintenance.scheduled', expected)],
                         self.recorded())
        rows = db_api.outbox_unsent()
        self.assertEqual(['info', 'info'], [r['priority'] for r in rows])
        self.assertNotEqual(rows[0]['message_id'], rows[1]['message_id'])
        # Recorded on its own (no transaction open): committed, then sent,
        # both rows, claimed before the commit.
        self.assertEqual([([('maintenance.planned', rows[0]['id']),
                            ('maintenance.scheduled', rows[1]['id'])],
                           False)], self.dispatcher.sends)
        self.assertEqual([r['id'] for r in rows], self.dispatcher.claimed)

    def test_project_event_names_its_event(self):
        eid = '6f1d4a52-0000-4000-8000-000000000001'
        payload = self.n.project_event(
            self.sid, 'pid', 'PLANNED_MAINTENANCE', instance_ids=['i1'],
            reply_url='http://x/u?event_id=' + eid, event_id=eid)
        self.assertEqual(eid, payload['event_id'])
        for _, recorded in self.recorded():
            self.assertEqual(eid, recorded['event_id'])
        # Every key of payload 1.0 is still there.
        self.assertEqual(
            {'service', 'project_id', 'session_id', 'state', 'instance_ids',
             'allowed_actions', 'actions_at', 'reply_at', 'reply_url',
             'metadata'}, set(payload) - {'event_id'})
        self.assertEqual('1.1', notifier.PAYLOAD_VERSION)

    def test_event_types_configurable(self):
        self.config(group='workflow',
                    project_event_types=['maintenance.scheduled'])
        self.n.project_event(self.sid, 'p', 'MAINTENANCE', 'u', 'u')
        self.assertEqual(['maintenance.scheduled'],
                         [t for t, _ in self.recorded()])

    def test_message_ids_derived_from_the_event_id(self):
        for _ in range(2):
            payload = self.n.project_event(self.sid, 'p', 'MAINTENANCE',
                                           'u', 'u', event_id='e-1')
        self.assertEqual('e-1', payload['event_id'])
        rows = db_api.outbox_unsent()
        # The same event recorded twice is queued (and sent) once per type.
        self.assertEqual(
            [notifier.message_id_of('e-1', 'maintenance.planned'),
             notifier.message_id_of('e-1', 'maintenance.scheduled')],
            [r['message_id'] for r in rows])
        self.assertEqual(2, len(self.dispatcher.claimed))

    def test_fresh_event_is_not_looked_up(self):
        # A new event's id: its messages cannot be in the outbox yet.
        with mock.patch.object(db_api, 'outbox_add',
                               wraps=db_api.outbox_add) as add:
            self.n.project_event(self.sid, 'p', 'MAINTENANCE', 'u', 'u',
                                 event_id='e-2', fresh=True)
            self.n.project_event(self.sid, 'p', 'MAINTENANCE', 'u', 'u',
                                 event_id='e-3')
        self.assertEqual([False, True], [c.kwargs['check_known']
                                         for c in add.call_args_list])
        self.assertEqual(4, len(db_api.outbox_unsent()))

    def test_host_and_session_events(self):
        self.n.host_event(self.sid, 'c1', 'IN_MAINTENANCE', 'admin')
        self.n.session_event(self.sid, 'START_MAINTENANCE', 33, 'admin')
        self.assertEqual([
            ('maintenance.host', {'service': 'fenix', 'host': 'c1',
                                  'state': 'IN_MAINTENANCE',
                                  'session_id': self.sid,
                                  'project_id': 'admin'}),
            ('maintenance.session', {'service': 'fenix',
                                     'session_id': self.sid,
                                     'state': 'START_MAINTENANCE',
                                     'percent_done': 33,
                                     'project_id': 'admin'})],
            self.recorded())

    def test_woken_once_after_the_commit(self):
        db_api.hosts_create(self.sid, [{'hostname': 'c1'}])
        with self.n.transaction():
            db_api.host_update(self.sid, 'c1',
                               {'state': st.HOST_IN_MAINTENANCE})
            self.n.host_event(self.sid, 'c1', 'IN_MAINTENANCE')
            with self.n.transaction():
                self.n.session_event(self.sid, 'START_MAINTENANCE', 0)
            # Not committed yet: nothing sent yet (the inner block
            # joined).
            self.assertEqual(0, self.dispatcher.kicks)
        self.assertEqual([['maintenance.host', 'maintenance.session']],
                         [[t for t, _ in rows]
                          for rows, _ in self.dispatcher.sends])
        self.assertEqual(2, len(self.recorded()))

    def test_rolled_back_records_nothing_and_wakes_nobody(self):
        db_api.hosts_create(self.sid, [{'hostname': 'c1'}])

        def crash():
            with self.n.transaction():
                db_api.host_update(self.sid, 'c1',
                                   {'state': st.HOST_EMPTYING})
                self.n.host_event(self.sid, 'c1', 'IN_MAINTENANCE')
                raise RuntimeError('crash before the commit')

        self.assertRaises(RuntimeError, crash)
        self.assertEqual([], self.recorded())
        self.assertEqual(st.HOST_PENDING,
                         db_api.host_get(self.sid, 'c1')['state'])
        self.assertEqual(0, self.dispatcher.kicks)
        self.assertEqual(self.dispatcher.claimed, self.dispatcher.unclaimed)
        # The next transaction is not mixed up with the failed one.
        self.n.session_event(self.sid, 'MAINTENANCE', 0)
        self.assertEqual(['maintenance.session'],
                         [t for t, _ in self.recorded()])
        self.assertEqual(1, self.dispatcher.kicks)

    def test_not_inside_a_bare_database_transaction(self):
        def misuse():
            with db_api.transaction():
                self.n.session_event(self.sid, 'MAINTENANCE', 0)

        self.assertRaises(notifier.RecordingError, misuse)
        self.assertEqual([], self.recorded())


class TestLayers(base.TestCase):

    def test_common_imports_no_database_layer(self):
        """fenix.common is below the database layer: the notifier is
        given the DB API by its owner (the engine) and imports none."""
        out = base.modules_loaded_by('fenix.common.*')
        self.assertIn('fenix.common.notifier', out)
        self.assertEqual([], [m for m in out if m.startswith((
            'fenix.db', 'fenix.engine', 'fenix.workflow', 'fenix.api'))])


class _Receiver(http.server.BaseHTTPRequestHandler):
    received = None
    clients = None
    status = 204
    protocol_version = 'HTTP/1.1'

    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        if self.clients is not None:
            self.clients.put(self.client_address)
        self.received.put((self.path, self.headers['Content-Type'],
                           json.loads(body)))
        self.send_response(self.status)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def log_message(self, *args):
        pass


class TestHTTPDriver(base.TestCase):

    def test_notification_is_posted(self):
        received = queue.Queue()
        handler = type('H', (_Receiver,), {'received': received})
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.shutdown)
        url = 'http://127.0.0.1:%s/sim/notifications' % server.server_port
        self.config(group='notification_http', url=url)
        self.addCleanup(rpc.cleanup)
        transport = messaging.get_notification_transport(
            CONF, url='fake:///')
        n = messaging.Notifier(transport, publisher_id='fenix',
                               driver='fenix-http')
        n.info({}, 'maintenance.host', {'host': 'c1'})
        path, ctype, body = received.get(timeout=10)
        self.assertEqual('/sim/notifications', path)
        self.assertEqual('application/json', ctype)
        self.assertEqual('maintenance.host', body['event_type'])
        self.assertEqual({'host': 'c1'}, body['payload'])
        self.assertEqual('fenix', body['publisher_id'])
        self.assertEqual('info', body['priority'])
        self.assertTrue(body['message_id'])
        self.assertTrue(body['timestamp'])

    def test_connection_is_kept_for_the_next_notification(self):
        received, clients = queue.Queue(), queue.Queue()
        handler = type('H', (_Receiver,), {'received': received,
                                           'clients': clients})
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.shutdown)
        self.config(group='notification_http',
                    url='http://127.0.0.1:%s/n' % server.server_port)
        self.addCleanup(rpc.cleanup)
        transport = messaging.get_notification_transport(
            CONF, url='fake:///')
        n = messaging.Notifier(transport, publisher_id='fenix',
                               driver='fenix-http')
        for host in ('c1', 'c2', 'c3'):
            n.info({}, 'maintenance.host', {'host': host})
        self.assertEqual(['c1', 'c2', 'c3'], [
            received.get(timeout=10)[2]['payload']['host']
            for _ in range(3)])
        # The same client port: one connection for all three.
        ports = {clients.get(timeout=10)[1] for _ in range(3)}
        self.assertEqual(1, len(ports), ports)

    def test_batch_is_one_post_of_an_array(self):
        received = queue.Queue()
        handler = type('H', (_Receiver,), {'received': received})
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.shutdown)
        self.config(group='notification_http', batch=True,
                    url='http://127.0.0.1:%s/n' % server.server_port)
        self.config(group='oslo_messaging_notifications',
                    driver=['fenix-http'])
        self.addCleanup(rpc.cleanup)
        pub = publisher.Publisher()
        self.assertTrue(pub.batching)
        rows = [{'message_id': 'm-%d' % n, 'event_type': 'maintenance.host',
                 'priority': 'info', 'payload': {'host': 'c%d' % n}}
                for n in (1, 2)]
        pub.send_many(rows)
        path, ctype, body = received.get(timeout=10)
        self.assertEqual(['m-1', 'm-2'], [b['message_id'] for b in body])
        self.assertEqual(['c1', 'c2'], [b['payload']['host'] for b in body])
        self.assertEqual('info', body[0]['priority'])
        self.assertTrue(received.empty())
        self.config(group='notification_http', batch=False)
        self.assertFalse(pub.batching)

    def test_failed_post_raises_after_its_retries(self):
        received = queue.Queue()
        handler = type('H', (_Receiver,), {'received': received,
                                           'status': 503})
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.shutdown)
        self.config(group='notification_http',
                    url='http://127.0.0.1:%s/n' % server.server_port)
        driver = notify_http.HTTPNotifyDriver(CONF, [], None)
        message = {'event_type': 'maintenance.host', 'payload': {},
                   'message_id': 'm-1'}
        e = self.assertRaises(notify_http.HTTPNotifyError, driver.notify,
                              {}, message, 'INFO', 1)
        self.assertIn('503', str(e))
        self.assertIn('m-1', str(e))
        # retry=1: two POSTs.
        self.assertEqual(2, received.qsize())
