# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The publisher: a recorded message on the wire, and a failure seen."""
import datetime
from unittest import mock

from oslo_config import cfg
import oslo_messaging as messaging

from fenix.common import aodh_events
from fenix.common import publisher
from fenix.common import rpc
from fenix.tests import base
from fenix.tests.unit.common import test_aodh_events as aev_cases

CONF = cfg.CONF
RECORDED = datetime.datetime(2026, 11, 22, 13, 30, 0, 123456)


def row(event_type='maintenance.host', payload=None, message_id='m-1'):
    return {'id': 1, 'message_id': message_id, 'session_id': aev_cases.SID,
            'event_type': event_type, 'priority': 'info',
            'payload': payload if payload is not None else
            {'service': 'fenix', 'host': 'c1', 'state': 'IN_MAINTENANCE',
             'session_id': aev_cases.SID, 'project_id': 'admin'},
            'created_at': RECORDED, 'attempts': 0}


class PublisherTestCase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.config(transport_url='fake:///')
        self.addCleanup(rpc.cleanup)
        self.sent = []
        self.calls = []
        # Sends to a topic starting with fail_topic fail with failure.
        self.failure = None
        self.fail_topic = ''

        def send(transport, target, ctxt, message, version, retry=None):
            self.calls.append(target.topic)
            if self.failure is not None and \
                    target.topic.startswith(self.fail_topic):
                raise self.failure
            self.sent.append((target.topic, message, version, retry))

        patcher = mock.patch.object(messaging.Transport,
                                    '_send_notification', autospec=True,
                                    side_effect=send)
        patcher.start()
        self.addCleanup(patcher.stop)

    def publisher(self, drivers=('messagingv2',), **aodh):
        self.config(group='oslo_messaging_notifications',
                    driver=list(drivers))
        for key, value in aodh.items():
            self.config(group='notification_aodh', **{key: value})
        return publisher.Publisher()


class TestPublisher(PublisherTestCase):

    def test_message_carries_the_outbox_id_and_recorded_time(self):
        self.config(group='outbox', send_retry=2)
        self.publisher().send(row())
        [(topic, message, version, retry)] = self.sent
        self.assertEqual('notifications.info', topic)
        self.assertEqual((2.0, 2), (version, retry))
        self.assertEqual({'message_id': 'm-1', 'publisher_id': 'fenix',
                          'event_type': 'maintenance.host',
                          'priority': 'INFO',
                          'payload': row()['payload'],
                          'timestamp': '2026-11-22 13:30:00.123456'},
                         message)

    def test_messaging_v1_driver(self):
        self.publisher(drivers=['messaging']).send(row())
        self.assertEqual(1.0, self.sent[0][2])

    def test_failed_send_raises(self):
        # oslo.messaging's own driver would log this and return.
        self.failure = messaging.MessageDeliveryFailure('broker down')
        e = self.assertRaises(publisher.PublishError,
                              self.publisher().send, row())
        self.assertEqual(['messagingv2'], list(e.failed))
        self.assertIn('broker down', str(e))
        self.assertEqual(frozenset(), e.done)

    def test_ways_done_are_not_taken_again(self):
        pub = self.publisher(drivers=['messagingv2', 'log'])
        self.assertEqual(['messagingv2', 'log'], pub.ways)
        with mock.patch.object(pub._ways['log'], 'notify') as log:
            self.failure = messaging.MessageDeliveryFailure('down')
            e = self.assertRaises(publisher.PublishError, pub.send, row())
            self.assertEqual(frozenset(['log']), e.done)
            self.assertEqual(1, log.call_count)
            self.failure = None
            pub.send(row(), skip=e.done)
            self.assertEqual(1, log.call_count)
        self.assertEqual(1, len(self.sent))

    def test_default_driver_follows_mode(self):
        self.assertEqual('messagingv2', publisher.default_driver())
        self.config(group='notification_http', url='http://127.0.0.1:1/')
        self.assertEqual('fenix-http', publisher.default_driver())
        self.config(group='oslo_messaging_notifications', driver=['noop'])
        self.assertIsNone(publisher.default_driver())

    def test_default_driver_used_when_none_configured(self):
        self.config(group='notification_http', url='http://127.0.0.1:1/')
        pub = publisher.Publisher()
        self.assertEqual(['fenix-http'], pub.ways)


class TestPublisherToAodh(PublisherTestCase):

    def test_off_by_default(self):
        pub = self.publisher()
        self.assertEqual(['messagingv2'], pub.ways)
        pub.send(row())
        self.assertEqual(['notifications.info'], [s[0] for s in self.sent])

    def test_each_notification_also_goes_to_aodh(self):
        pub = self.publisher(enabled=True, topic='alarm.all',
                             telemetry_secret=aev_cases.SECRET)
        self.assertEqual(['messagingv2', publisher.AODH_SINK], pub.ways)
        project = aev_cases.project_payload()
        session = {'service': 'fenix', 'session_id': aev_cases.SID,
                   'state': 'START_MAINTENANCE', 'percent_done': 33,
                   'project_id': 'admin'}
        pub.send(row('maintenance.scheduled', project, 'm-p'))
        pub.send(row('maintenance.host'))
        pub.send(row('maintenance.session', session, 'm-s'))
        self.assertEqual(['notifications.info', 'alarm.all.sample'] * 3,
                         [s[0] for s in self.sent])
        events = [s[1] for s in self.sent if s[0] == 'alarm.all.sample']
        for message in events:
            self.assertEqual('event', message['event_type'])
            self.assertEqual('SAMPLE', message['priority'])
            self.assertEqual(1, len(message['payload']))
            self.assertEqual(64,
                             len(message['payload'][0]['message_signature']))
        # The event is the one Ceilometer makes of the notification: its
        # message id and time.
        first = events[0]['payload'][0]
        self.assertEqual(aev_cases.event(
            'maintenance.scheduled', project,
            aodh_events.PROJECT_EVENT_TRAITS, 'm-p',
            '2026-11-22 13:30:00.123456'), first)
        self.assertEqual(['percent_done', 2, 33],
                         events[2]['payload'][0]['traits'][-1])
        self.assertEqual(['host', 1, 'c1'], [
            t for t in events[1]['payload'][0]['traits']
            if t[0] == 'host'][0])
        # The same message sent again is the same event message.
        pub.send(row('maintenance.scheduled', project, 'm-p'))
        self.assertEqual(events[0], self.sent[-1][1])

    def test_event_ceilometer_would_drop_is_logged_not_sent(self):
        pub = self.publisher(enabled=True)
        pub.send(row('maintenance.scheduled',
                     aev_cases.project_payload(reply_at='bogus')))
        self.assertEqual(['notifications.info'], [s[0] for s in self.sent])

    def test_aodh_failure_is_a_failure(self):
        pub = self.publisher(enabled=True)
        self.failure = messaging.MessageDeliveryFailure('aodh bus down')
        self.fail_topic = 'alarm'
        e = self.assertRaises(publisher.PublishError, pub.send, row())
        self.assertEqual([publisher.AODH_SINK], list(e.failed))
        self.assertEqual(frozenset(['messagingv2']), e.done)
        self.assertEqual(['notifications.info', 'alarm.all.sample'],
                         self.calls)
