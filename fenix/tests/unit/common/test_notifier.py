# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
import http.server
import json
import queue
import threading

from oslo_config import cfg
import oslo_messaging as messaging

from fenix.common import notifier
from fenix.common import rpc
from fenix.tests import base

CONF = cfg.CONF


class CapturingNotifier(object):
    def __init__(self):
        self.sent = []

    def info(self, ctxt, event_type, payload):
        self.sent.append((event_type, payload))


class TestNotifier(base.TestCase):

    def setUp(self):
        super().setUp()
        self.addCleanup(rpc.cleanup)
        self.n = notifier.Notifier()
        self.capture = CapturingNotifier()
        self.n._notifier = self.capture

    def test_project_event_payload_and_both_types(self):
        import datetime
        at = datetime.datetime(2026, 1, 1, 12, 0, 0)
        payload = self.n.project_event(
            'sid', 'pid', 'PREPARE_MAINTENANCE', instance_ids='http://x/u',
            reply_url='http://x/u', allowed_actions=['MIGRATE'],
            actions_at=at, reply_at=at, metadata={'a': 1})
        self.assertEqual(['maintenance.planned', 'maintenance.scheduled'],
                         [t for t, _ in self.capture.sent])
        self.assertEqual({'service': 'fenix', 'project_id': 'pid',
                          'session_id': 'sid',
                          'state': 'PREPARE_MAINTENANCE',
                          'instance_ids': 'http://x/u',
                          'allowed_actions': ['MIGRATE'],
                          'actions_at': '2026-01-01 12:00:00',
                          'reply_at': '2026-01-01 12:00:00',
                          'reply_url': 'http://x/u',
                          'metadata': {'a': 1}, 'event_id': None}, payload)

    def test_project_event_names_its_event(self):
        eid = '6f1d4a52-0000-4000-8000-000000000001'
        payload = self.n.project_event(
            'sid', 'pid', 'PLANNED_MAINTENANCE', instance_ids=['i1'],
            reply_url='http://x/u?event_id=' + eid, event_id=eid)
        self.assertEqual(eid, payload['event_id'])
        for _, sent in self.capture.sent:
            self.assertEqual(eid, sent['event_id'])
        # Every key of payload 1.0 is still there.
        self.assertEqual(
            {'service', 'project_id', 'session_id', 'state', 'instance_ids',
             'allowed_actions', 'actions_at', 'reply_at', 'reply_url',
             'metadata'}, set(payload) - {'event_id'})
        self.assertEqual('1.1', notifier.PAYLOAD_VERSION)

    def test_event_types_configurable(self):
        self.config(group='workflow',
                    project_event_types=['maintenance.scheduled'])
        self.n.project_event('s', 'p', 'MAINTENANCE', 'u', 'u')
        self.assertEqual(['maintenance.scheduled'],
                         [t for t, _ in self.capture.sent])

    def test_host_and_session_events(self):
        self.n.host_event('sid', 'c1', 'IN_MAINTENANCE', 'admin')
        self.n.session_event('sid', 'START_MAINTENANCE', 33, 'admin')
        self.assertEqual([
            ('maintenance.host', {'service': 'fenix', 'host': 'c1',
                                  'state': 'IN_MAINTENANCE',
                                  'session_id': 'sid',
                                  'project_id': 'admin'}),
            ('maintenance.session', {'service': 'fenix',
                                     'session_id': 'sid',
                                     'state': 'START_MAINTENANCE',
                                     'percent_done': 33,
                                     'project_id': 'admin'})],
            self.capture.sent)


class _Receiver(http.server.BaseHTTPRequestHandler):
    received = None
    clients = None
    protocol_version = 'HTTP/1.1'

    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        if self.clients is not None:
            self.clients.put(self.client_address)
        self.received.put((self.path, self.headers['Content-Type'],
                           json.loads(body)))
        self.send_response(204)
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

    def test_default_driver_follows_mode(self):
        self.assertEqual('messagingv2', notifier._driver())
        self.config(group='notification_http', url='http://127.0.0.1:1/')
        self.assertEqual('fenix-http', notifier._driver())
        self.config(group='oslo_messaging_notifications', driver=['noop'])
        self.assertIsNone(notifier._driver())
