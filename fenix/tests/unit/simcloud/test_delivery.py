# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Notification -> event -> alarm -> webhook, as Ceilometer + AODH do."""
import ast
import json
import warnings

from oslo_config import cfg
import requests

from fenix.tests.unit.simcloud import base

SESSION = '11e02075-b62b-4855-be54-cb8ca5714bba'


class DeliveryTestCase(base.SimCloudTestCase):

    def setUp(self):
        super().setUp()
        self.hook = self.receiver()
        self.t1 = self.sim.project_id('tenant1')
        self.t2 = self.sim.project_id('tenant2')

    def alarm(self, user, name, path, event_type='maintenance.scheduled',
              query=None, repeat=True):
        return self.aodh(user).alarm.create({
            'name': name, 'type': 'event',
            'event_rule': {'event_type': event_type,
                           'query': query or []},
            'alarm_actions': [self.hook.url + path],
            'repeat_actions': repeat})

    def scheduled_payload(self, project, **extra):
        url = 'http://127.0.0.1:12333/v1/maintenance/%s/%s' % (
            SESSION, project)
        payload = {
            'service': 'fenix', 'project_id': project,
            'session_id': SESSION, 'state': 'PREPARE_MAINTENANCE',
            'instance_ids': url,
            'allowed_actions': ['MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION'],
            'actions_at': '2026-11-22 13:36:40',
            'reply_at': '2026-11-22T13:32:40Z', 'reply_url': url,
            'metadata': {'openstack_release': '2025.2', 'reason': 'test'}}
        payload.update(extra)
        return payload


class TestWebhookBody(DeliveryTestCase):

    def test_scheduled_body_and_traits_exactly(self):
        alarm = self.alarm('vnfm1', 'vnfm1-maint', '/maintenance', query=[
            {'field': 'traits.project_id', 'op': 'eq', 'value': self.t1}])
        payload = self.scheduled_payload(self.t1)
        result = self.sim.notify('maintenance.scheduled', payload,
                                 timestamp='2026-11-22 13:31:40.045252')
        self.assertEqual([alarm['alarm_id']], result['alarms'])
        record = self.hook.wait(1)[0]
        self.assertEqual('/maintenance', record['path'])
        self.assertEqual('application/json',
                         record['headers']['Content-Type'])
        self.assertTrue(record['headers']['X-Openstack-Request-Id']
                        .startswith('req-'))
        self.assertNotIn('X-Auth-Token', record['headers'])
        body = record['body']
        self.assertEqual(['alarm_name', 'alarm_id', 'severity', 'previous',
                          'current', 'reason', 'reason_data'], list(body))
        self.assertEqual(('vnfm1-maint', alarm['alarm_id'], 'low',
                          'insufficient data', 'alarm'),
                         (body['alarm_name'], body['alarm_id'],
                          body['severity'], body['previous'],
                          body['current']))
        event = body['reason_data']['event']
        self.assertEqual('event', body['reason_data']['type'])
        self.assertEqual(['message_id', 'event_type', 'generated', 'traits',
                          'raw', 'message_signature'], list(event))
        self.assertEqual('maintenance.scheduled', event['event_type'])
        self.assertEqual('2026-11-22T13:31:40.045252', event['generated'])
        self.assertEqual({}, event['raw'])
        self.assertEqual(64, len(event['message_signature']))
        self.assertEqual(
            'Event <id=%s,event_type=maintenance.scheduled> hits the query '
            '<query=[{"field": "traits.project_id", "op": "eq", "type": "", '
            '"value": "%s"}]>.' % (event['message_id'], self.t1),
            body['reason'])
        url = payload['reply_url']
        self.assertEqual([
            # Ceilometer's order: its default traits first (a definition's
            # trait of the same name takes its place), then the rest of
            # the definition in its order.
            ['service', 1, 'fenix'],
            ['project_id', 1, self.t1],
            ['session_id', 1, SESSION],
            ['state', 1, 'PREPARE_MAINTENANCE'],
            ['instance_ids', 1, url],
            ['allowed_actions', 1, "['MIGRATE', 'LIVE_MIGRATE', "
                                   "'OWN_ACTION']"],
            ['actions_at', 4, '2026-11-22T13:36:40'],
            ['reply_at', 4, '2026-11-22T13:32:40'],
            ['reply_url', 1, url],
            ['metadata', 1, "{'openstack_release': '2025.2', "
                            "'reason': 'test'}"],
        ], event['traits'])
        traits = {t[0]: t[2] for t in event['traits']}
        self.assertEqual(payload['metadata'],
                         ast.literal_eval(traits['metadata']))
        # the next delivery of the same alarm says previous: alarm
        self.sim.notify('maintenance.scheduled', payload)
        second = self.hook.wait(2)[1]['body']
        self.assertEqual(('alarm', 'alarm'), (second['previous'],
                                              second['current']))
        self.assertEqual('alarm', self.aodh('vnfm1').alarm.get(
            alarm['alarm_id'])['state'])

    def test_text_is_cut_at_255(self):
        self.alarm('vnfm1', 'a', '/m')
        metadata = {'k%d' % i: 'v' * 20 for i in range(20)}
        self.assertGreater(len(repr(metadata)), 400)
        self.sim.notify('maintenance.scheduled',
                        self.scheduled_payload(self.t1, metadata=metadata))
        traits = {t[0]: t[2] for t in
                  self.hook.wait(1)[0]['body']['reason_data']['event'][
                      'traits']}
        self.assertEqual(255, len(traits['metadata']))
        self.assertEqual(repr(metadata)[:255], traits['metadata'])
        self.assertRaises(SyntaxError, ast.literal_eval, traits['metadata'])

    def test_host_and_session_events(self):
        self.alarm('fenix', 'hosts', '/host', event_type='maintenance.host')
        self.alarm('fenix', 'sessions', '/session',
                   event_type='maintenance.session')
        service = self.sim.project_id('service')
        self.sim.notify('maintenance.host', {
            'service': 'fenix', 'project_id': service,
            'session_id': SESSION, 'state': 'IN_MAINTENANCE',
            'host': 'compute-1'})
        self.sim.notify('maintenance.session', {
            'service': 'fenix', 'project_id': service,
            'session_id': SESSION, 'state': 'START_MAINTENANCE',
            'percent_done': 33})
        host = self.hook.wait(1, '/host')[0]['body']
        self.assertEqual([['service', 1, 'fenix'], ['project_id', 1, service],
                          ['host', 1, 'compute-1'],
                          ['session_id', 1, SESSION],
                          ['state', 1, 'IN_MAINTENANCE']],
                         host['reason_data']['event']['traits'])
        session = self.hook.wait(1, '/session')[0]['body']
        self.assertEqual([['service', 1, 'fenix'], ['project_id', 1, service],
                          ['session_id', 1, SESSION],
                          ['state', 1, 'START_MAINTENANCE'],
                          ['percent_done', 2, 33]],
                         session['reason_data']['event']['traits'])

    def test_missing_traits_are_left_out_and_bad_datetime_drops(self):
        self.alarm('vnfm1', 'a', '/m')
        payload = self.scheduled_payload(self.t1, reply_at=None,
                                         actions_at=None, metadata={})
        self.sim.notify('maintenance.scheduled', payload)
        names = [t[0] for t in self.hook.wait(1)[0]['body'][
            'reason_data']['event']['traits']]
        self.assertNotIn('reply_at', names)
        self.assertIn('metadata', names)
        result = self.sim.notify('maintenance.scheduled',
                                 self.scheduled_payload(self.t1,
                                                        reply_at='bogus'))
        self.assertIsNone(result['event'])
        self.assertIn('reply_at', result['dropped'])
        self.assertEqual(1, len(self.sim.get_events(
            kind='notification.drop')))


class TestMatching(DeliveryTestCase):

    def test_project_isolation_and_queries(self):
        mine = self.alarm('vnfm1', 'v1', '/v1')
        snoop = self.alarm('vnfm1', 'snoop', '/snoop', query=[
            {'field': 'traits.project_id', 'op': 'eq', 'value': self.t2}])
        other = self.alarm('vnfm2', 'v2', '/v2',
                           event_type='maintenance.*')
        r1 = self.sim.notify('maintenance.scheduled',
                             self.scheduled_payload(self.t1))
        r2 = self.sim.notify('maintenance.host', {
            'project_id': self.t2, 'host': 'compute-0', 'state': 'X',
            'session_id': SESSION})
        r3 = self.sim.notify('maintenance.planned',
                             self.scheduled_payload(self.t2))
        nobody = self.sim.notify('maintenance.scheduled',
                                 self.scheduled_payload('0' * 32))
        self.assertEqual([mine['alarm_id']], r1['alarms'])
        self.assertEqual([other['alarm_id']], r2['alarms'])
        self.assertEqual([other['alarm_id']], r3['alarms'])
        self.assertEqual([], nobody['alarms'])
        self.assertTrue(self.sim.wait_idle(base.WAIT))
        self.assertEqual(1, len(self.hook.wait(1, '/v1')))
        self.assertEqual(2, len(self.hook.wait(2, '/v2')))
        self.assertEqual([], [r for r in self.hook.records
                              if r['path'] == '/snoop'])
        self.assertEqual('insufficient data', self.aodh('vnfm1').alarm.get(
            snoop['alarm_id'])['state'])

    def test_query_ops_and_types(self):
        self.alarm('fenix', 'late', '/late', event_type='maintenance.session',
                   query=[{'field': 'traits.percent_done', 'op': 'ge',
                           'value': '50', 'type': 'integer'},
                          {'field': 'traits.state', 'op': 'ne',
                           'value': 'MAINTENANCE_FAILED'}])
        service = self.sim.project_id('service')

        def send(percent, state='RUNNING'):
            return self.sim.notify('maintenance.session', {
                'service': 'fenix', 'project_id': service,
                'session_id': SESSION, 'state': state,
                'percent_done': percent})['alarms']
        self.assertEqual([], send(10))
        self.assertEqual(1, len(send(50)))
        self.assertEqual([], send(90, 'MAINTENANCE_FAILED'))
        self.assertEqual(1, len(send(100)))

    def test_repeat_actions_false_fires_once(self):
        once = self.alarm('vnfm1', 'once', '/once', repeat=False)
        always = self.alarm('vnfm1', 'always', '/always')
        for _ in range(3):
            self.sim.notify('maintenance.scheduled',
                            self.scheduled_payload(self.t1))
        self.assertEqual(3, len(self.hook.wait(3, '/always')))
        self.assertTrue(self.sim.wait_idle(base.WAIT))
        self.assertEqual(1, len([r for r in self.hook.records
                                 if r['path'] == '/once']))
        fired = self.sim.get_events(kind='alarm.fire')
        self.assertEqual(1, len([e for e in fired
                                 if e['alarm'] == once['alarm_id']]))
        self.assertEqual(3, len([e for e in fired
                                 if e['alarm'] == always['alarm_id']]))

    def test_disabled_alarm_and_non_trait_query_never_fire(self):
        alarm = self.alarm('vnfm1', 'off', '/off')
        self.aodh('vnfm1').alarm.update(alarm['alarm_id'],
                                        {'enabled': False})
        self.alarm('vnfm1', 'odd', '/odd', query=[
            {'field': 'event_type', 'op': 'eq',
             'value': 'maintenance.scheduled'}])
        result = self.sim.notify('maintenance.scheduled',
                                 self.scheduled_payload(self.t1))
        self.assertEqual([], result['alarms'])
        self.assertEqual(1, len(self.sim.get_events(kind='alarm.error')))


class TestDeliveryMechanics(DeliveryTestCase):

    def test_hanging_webhook_blocks_only_its_alarm_and_order_is_kept(self):
        self.hook.block('/slow')
        self.alarm('vnfm1', 'slow', '/slow')
        self.alarm('vnfm1', 'fast', '/fast')
        states = ['S%d' % i for i in range(5)]
        for state in states:
            self.sim.notify('maintenance.scheduled',
                            self.scheduled_payload(self.t1, state=state))
        fast = self.hook.wait(5, '/fast')
        self.assertEqual(5, len(fast))
        self.assertEqual([], [r for r in self.hook.records
                              if r['path'] == '/slow'])
        self.hook.release('/slow')
        slow = self.hook.wait(5, '/slow')

        def order(records):
            return [{t[0]: t[2] for t in r['body']['reason_data']['event'][
                'traits']}['state'] for r in records]
        self.assertEqual(states, order(slow))
        self.assertEqual(states, order(fast))
        self.assertTrue(self.sim.wait_idle(base.WAIT))
        done = self.sim.deliveries()
        self.assertEqual(10, len(done))
        self.assertTrue(all(d['ok'] and d['status'] == 200 for d in done))

    def test_unreachable_webhook_is_recorded(self):
        self.aodh('vnfm1').alarm.create({
            'name': 'dead', 'type': 'event',
            'event_rule': {'event_type': 'maintenance.*'},
            'alarm_actions': ['http://127.0.0.1:9/nothing', 'log://'],
            'repeat_actions': True})
        self.sim.notify('maintenance.scheduled',
                        self.scheduled_payload(self.t1))
        self.assertTrue(self.sim.wait_idle(base.WAIT))
        done = self.sim.deliveries()
        self.assertEqual(['http://127.0.0.1:9/nothing', 'log://'],
                         [d['url'] for d in done])
        self.assertEqual([False, True], [d['ok'] for d in done])
        events = self.sim.get_events(kind='alarm.delivery')
        self.assertEqual(2, len(events))

    def test_http_intake(self):
        self.alarm('vnfm1', 'a', '/m')
        notification = {'event_type': 'maintenance.scheduled',
                        'payload': self.scheduled_payload(self.t1),
                        'publisher_id': 'fenix',
                        'timestamp': '2026-11-22 13:31:40.000001',
                        'priority': 'INFO'}
        resp = requests.post(self.sim.control_url + '/notifications',
                             data=json.dumps(notification),
                             headers={'Content-Type': 'application/json'})
        self.assertEqual(202, resp.status_code)
        self.assertEqual(1, len(resp.json()['alarms']))
        body = self.hook.wait(1)[0]['body']
        self.assertEqual('2026-11-22T13:31:40.000001',
                         body['reason_data']['event']['generated'])
        received = self.sim.get_events(kind='notification.receive')
        self.assertEqual(['http'], [e['intake'] for e in received])
        bad = requests.post(self.sim.control_url + '/notifications',
                            json={'payload': {}})
        self.assertEqual(400, bad.status_code)

    def test_http_intake_of_an_array(self):
        self.alarm('vnfm1', 'a', '/m')
        one = {'event_type': 'maintenance.scheduled',
               'payload': self.scheduled_payload(self.t1),
               'publisher_id': 'fenix', 'priority': 'INFO'}
        other = dict(one, event_type='maintenance.planned')
        resp = requests.post(self.sim.control_url + '/notifications',
                             json=[one, other])
        self.assertEqual(202, resp.status_code)
        self.assertEqual([1, 0], [len(r['alarms'])
                                  for r in resp.json()['notifications']])
        received = self.sim.get_events(kind='notification.receive')
        self.assertEqual(['maintenance.scheduled', 'maintenance.planned'],
                         [e['event_type'] for e in received])
        # One bad item: none is taken.
        for bad in ([one, {'payload': {}}], []):
            resp = requests.post(self.sim.control_url + '/notifications',
                                 json=bad)
            self.assertEqual(400, resp.status_code)
        self.assertEqual(2, len(self.sim.get_events(
            kind='notification.receive')))


class TestMessagingIntake(DeliveryTestCase):
    """The oslo.messaging listener (a shared in-process fake transport)."""

    def sim_kwargs(self):
        with warnings.catch_warnings():
            # oslo.messaging pulls in eventlet, which warns on import
            warnings.simplefilter('ignore')
            import oslo_messaging
        self.messaging = oslo_messaging
        conf = cfg.ConfigOpts()
        conf([], project='simcloud-test', default_config_files=[])
        self.transport = self.messaging.get_notification_transport(
            conf, url='fake:/')
        self.addCleanup(self.transport.cleanup)
        return {'notification_transport': self.transport}

    def test_notifier_to_webhook(self):
        self.alarm('vnfm1', 'bus', '/bus')
        notifier = self.messaging.Notifier(
            self.transport, publisher_id='fenix', driver='messagingv2',
            topics=['notifications'])
        notifier.info({}, 'maintenance.scheduled',
                      self.scheduled_payload(self.t1))
        records = self.hook.wait(1, '/bus')
        self.assertEqual(1, len(records))
        event = records[0]['body']['reason_data']['event']
        self.assertEqual('maintenance.scheduled', event['event_type'])
        received = self.sim.get_events(kind='notification.receive')
        self.assertEqual(['messaging'], [e['intake'] for e in received])
        self.assertEqual('INFO', received[0]['priority'])
