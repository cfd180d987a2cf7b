# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
import datetime


from fenix.tests.unit.tools import base
from fenix.tests.unit.tools import fakes
from fenix_tools.vnfm import traits

URL = 'http://127.0.0.1:12347/v1/maintenance/s-1/p-1'


def real_body():
    """The body seen from a real aodh-notifier (research, real-aodh §6)."""
    return {
        'alarm_name': 'vnfm1-maint', 'alarm_id': 'a-1', 'severity': 'low',
        'previous': 'insufficient data', 'current': 'alarm',
        'reason': 'Event hits the query',
        'reason_data': {'type': 'event', 'event': {
            'message_id': 'm-1', 'event_type': 'maintenance.scheduled',
            'generated': '2026-11-22T13:31:40.045252',
            'traits': [
                ['service', 1, 'fenix'],
                ['project_id', 1, 'p-1'],
                ['allowed_actions', 1,
                 "['MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION']"],
                ['instance_ids', 1, URL],
                ['reply_url', 1, URL],
                ['state', 1, 'PREPARE_MAINTENANCE'],
                ['session_id', 1, 's-1'],
                ['actions_at', 4, '2026-11-22T13:36:40'],
                ['reply_at', 4, '2026-11-22T13:32:40'],
                ['metadata', 1,
                 "{'openstack_release': '2025.2', 'reason': 'test'}"]],
            'raw': {}, 'message_signature': 'b345'}}}


class TestDecodeBody(base.TestCase):

    def test_real_body(self):
        event = traits.decode_body(real_body())
        self.assertEqual('maintenance.scheduled', event.event_type)
        self.assertEqual('PREPARE_MAINTENANCE', event.state)
        self.assertEqual('s-1', event.session_id)
        self.assertEqual('p-1', event.project_id)
        self.assertEqual(['MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION'],
                         event.allowed_actions)
        self.assertEqual({'openstack_release': '2025.2', 'reason': 'test'},
                         event.metadata)
        self.assertEqual(URL, event.instances_url)
        self.assertFalse(event.per_instance)
        self.assertEqual(datetime.datetime(2026, 11, 22, 13, 32, 40),
                         event.reply_at)
        self.assertEqual(datetime.datetime(2026, 11, 22, 13, 36, 40),
                         event.actions_at)
        self.assertEqual(datetime.datetime(2026, 11, 22, 13, 31, 40,
                                           45252), event.generated)
        self.assertEqual({}, event.problems)
        self.assertEqual('a-1', event.alarm_id)

    def test_per_instance_repr_list(self):
        body = fakes.aodh_body({'state': 'PLANNED_MAINTENANCE',
                                'instance_ids': ['i-1'],
                                'reply_url': URL + '/i-1'})
        event = traits.decode_body(body)
        self.assertTrue(event.per_instance)
        self.assertEqual(['i-1'], event.instance_ids)
        self.assertIsNone(event.instances_url)

    def test_event_id_names_the_event(self):
        eid = '5e1c2f0a-0000-4000-8000-00000000000e'
        url = URL + '/i-1?event_id=' + eid
        body = fakes.aodh_body({'state': 'PLANNED_MAINTENANCE',
                                'instance_ids': ['i-1'], 'reply_url': url,
                                'event_id': eid})
        event = traits.decode_body(body)
        self.assertEqual((eid, eid, url),
                         (event.event_id, event.key, event.reply_url))
        # Two events alike but for their ids are two events.
        other = traits.decode_body(fakes.aodh_body(
            {'state': 'PLANNED_MAINTENANCE', 'instance_ids': ['i-1'],
             'reply_url': url, 'event_id': 'another'}))
        self.assertNotEqual(event.signature(), other.signature())
        # An older Fenix: no id; the key is what the event says.
        old = traits.decode_body(fakes.aodh_body(
            {'state': 'PLANNED_MAINTENANCE', 'instance_ids': ['i-1'],
             'reply_url': URL + '/i-1'}))
        self.assertIsNone(old.event_id)
        self.assertEqual(repr(old.signature()), old.key)

    def test_cut_metadata_is_reported_not_fatal(self):
        metadata = {'key%d' % i: 'x' * 20 for i in range(20)}
        body = fakes.aodh_body({'state': 'PLANNED_MAINTENANCE',
                                'metadata': metadata, 'reply_url': URL})
        raw = [t for t in body['reason_data']['event']['traits']
               if t[0] == 'metadata'][0][2]
        self.assertEqual(255, len(raw))
        event = traits.decode_body(body)
        self.assertIn('metadata', event.problems)
        self.assertIn('cut at 255', event.problems['metadata'])
        # The rest of the event is still usable.
        self.assertEqual({}, event.metadata)
        self.assertEqual(URL, event.reply_url)
        self.assertEqual('PLANNED_MAINTENANCE', event.state)

    def test_json_list_also_read(self):
        values, problems = traits.decode_traits(
            [['instance_ids', 1, '["a", "b"]']])
        self.assertEqual(['a', 'b'], values['instance_ids'])
        self.assertEqual({}, problems)

    def test_number_types(self):
        values, _ = traits.decode_traits([['n', 2, '5'], ['f', 3, '1.5']])
        self.assertEqual(5, values['n'])
        self.assertEqual(1.5, values['f'])

    def test_times(self):
        for text in ('2026-01-02 03:04:05', '2026-01-02T03:04:05',
                     '2026-01-02T03:04:05Z', '2026-01-02T04:04:05+01:00'):
            self.assertEqual(datetime.datetime(2026, 1, 2, 3, 4, 5),
                             traits.parse_time(text), text)
        self.assertIsNone(traits.parse_time(None))
        self.assertRaises(ValueError, traits.parse_time, 'bogus')

    def test_time_field_as_text_trait(self):
        values, problems = traits.decode_traits(
            [['reply_at', 1, '2026-01-02 03:04:05'],
             ['actions_at', 4, 'never']])
        self.assertEqual(datetime.datetime(2026, 1, 2, 3, 4, 5),
                         values['reply_at'])
        self.assertIn('actions_at', problems)
        self.assertEqual('never', values['actions_at'])

    def test_notification_shape(self):
        event = traits.decode_body({
            'event_type': 'maintenance.planned',
            'payload': {'state': 'MAINTENANCE', 'instance_ids': URL,
                        'reply_url': URL,
                        'reply_at': '2026-01-02 03:04:05',
                        'allowed_actions': [], 'metadata': {}},
            'timestamp': '2026-01-02 03:00:00.123456'})
        self.assertEqual('MAINTENANCE', event.state)
        self.assertEqual(datetime.datetime(2026, 1, 2, 3, 4, 5),
                         event.reply_at)
        self.assertEqual(URL, event.instances_url)

    def test_dict_traits(self):
        values, _ = traits.decode_traits(
            [{'name': 'state', 'dtype': 1, 'value': 'SCALE_IN'}])
        self.assertEqual('SCALE_IN', values['state'])

    def test_bad_bodies(self):
        self.assertRaises(traits.DecodeError, traits.decode_body, [])
        self.assertRaises(traits.DecodeError, traits.decode_body,
                          {'alarm_id': 'x'})
        self.assertRaises(traits.DecodeError, traits.decode_body,
                          fakes.aodh_body({}) | {'reason_data': {
                              'event': {'traits': [['a', 1]]}}})

    def test_same_event_under_two_types_has_one_signature(self):
        payload = {'state': 'MAINTENANCE', 'session_id': 's',
                   'instance_ids': URL, 'reply_url': URL,
                   'reply_at': datetime.datetime(2026, 1, 1)}
        one = traits.decode_body(fakes.aodh_body(payload))
        two = traits.decode_body(fakes.aodh_body(
            payload, event_type='maintenance.scheduled'))
        self.assertEqual(one.signature(), two.signature())
        payload['state'] = 'SCALE_IN'
        three = traits.decode_body(fakes.aodh_body(payload))
        self.assertNotEqual(one.signature(), three.signature())

    def test_to_dict_is_json_friendly(self):
        import json
        event = traits.decode_body(real_body())
        data = json.loads(json.dumps(event.to_dict()))
        self.assertEqual('2026-11-22T13:32:40', data['payload']['reply_at'])
