# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Fenix's notifications as Ceilometer events ([notification_aodh]).

The expected events below are what Ceilometer 27's own converter and
notifier publisher made of the same notifications with
tools/integration/etc/event_definitions.yaml and the secret 'change this
for valid signing' (tools/integration/helpers/ceilometer_event.py in the
integration venv), through JSON as on the bus.
"""
import datetime
import json
import os

from oslo_config import cfg
import yaml

from fenix.common import aodh_events
from fenix.tests import base

CONF = cfg.CONF
SECRET = 'change this for valid signing'
SID = '11e02075-b62b-4855-be54-cb8ca5714bba'
PID = '685927f321eb47d0b4bfbd6412332941'
URL = 'http://127.0.0.1:12333/v1/maintenance/%s/%s' % (SID, PID)
DEFINITIONS = os.path.join(os.path.dirname(__file__), '..', '..', '..',
                           '..', 'tools', 'integration', 'etc',
                           'event_definitions.yaml')


def project_payload(**changes):
    payload = {'service': 'fenix', 'project_id': PID, 'session_id': SID,
               'state': 'PREPARE_MAINTENANCE', 'instance_ids': URL,
               'allowed_actions': ['MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION'],
               'actions_at': '2026-11-22 13:36:40',
               'reply_at': '2026-11-22 13:32:40', 'reply_url': URL,
               'metadata': {'openstack_version': 'Train',
                            'reason': 'test'}}
    payload.update(changes)
    return payload


def event(event_type, payload, traits, message_id, generated,
          secret=SECRET):
    return json.loads(json.dumps(aodh_events.ceilometer_event(
        event_type, payload, traits, message_id=message_id,
        generated=datetime.datetime.strptime(generated,
                                             '%Y-%m-%d %H:%M:%S.%f'),
        secret=secret)))


class TestCeilometerEvent(base.TestCase):

    def test_project_event_as_ceilometer_makes_it(self):
        self.assertEqual({
            'message_id': '6f1d4a52-0000-4000-8000-000000000001',
            'event_type': 'maintenance.scheduled',
            'generated': '2026-11-22T13:31:40.045252',
            'traits': [
                ['service', 1, 'fenix'],
                ['project_id', 1, PID],
                ['session_id', 1, SID],
                ['state', 1, 'PREPARE_MAINTENANCE'],
                ['instance_ids', 1, URL],
                ['allowed_actions', 1,
                 "['MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION']"],
                ['actions_at', 4, '2026-11-22T13:36:40'],
                ['reply_at', 4, '2026-11-22T13:32:40'],
                ['reply_url', 1, URL],
                ['metadata', 1,
                 "{'openstack_version': 'Train', 'reason': 'test'}"]],
            'raw': {},
            'message_signature': '7fb6f86efbac3896eccd631ff902a654e82da45'
                                 '19ec7d466e82823d782949b5d'},
            event('maintenance.scheduled', project_payload(),
                  aodh_events.PROJECT_EVENT_TRAITS,
                  '6f1d4a52-0000-4000-8000-000000000001',
                  '2026-11-22 13:31:40.045252'))

    def test_host_event_leaves_missing_traits_out(self):
        payload = {'service': 'fenix', 'host': 'compute-1',
                   'state': 'IN_MAINTENANCE', 'session_id': SID,
                   'project_id': None}
        self.assertEqual({
            'message_id': '6f1d4a52-0000-4000-8000-000000000002',
            'event_type': 'maintenance.host',
            'generated': '2026-11-22T13:33:41.481150',
            'traits': [['service', 1, 'fenix'], ['host', 1, 'compute-1'],
                       ['session_id', 1, SID],
                       ['state', 1, 'IN_MAINTENANCE']],
            'raw': {},
            'message_signature': '48d4384a3cf87031ac314fc073b8bba7bccf55c'
                                 '6880d34027057ff90707bc1c1'},
            event('maintenance.host', payload, aodh_events.HOST_EVENT_TRAITS,
                  '6f1d4a52-0000-4000-8000-000000000002',
                  '2026-11-22 13:33:41.481150'))

    def test_session_event_int_trait(self):
        payload = {'service': 'fenix', 'session_id': SID,
                   'state': 'START_MAINTENANCE', 'percent_done': 33,
                   'project_id': 'abc'}
        got = event('maintenance.session', payload,
                    aodh_events.SESSION_EVENT_TRAITS,
                    '6f1d4a52-0000-4000-8000-000000000003',
                    '2026-11-22 13:33:42.000001')
        self.assertEqual([['service', 1, 'fenix'], ['project_id', 1, 'abc'],
                          ['session_id', 1, SID],
                          ['state', 1, 'START_MAINTENANCE'],
                          ['percent_done', 2, 33]], got['traits'])
        self.assertEqual('1e06de1f9c9ac6a94a284946699fbfacd669b9d0c60dd7033'
                         'd939d57461b3c79', got['message_signature'])

    def test_lists_none_datetimes_and_long_text(self):
        payload = project_payload(
            state='INSTANCE_ACTION_DONE', instance_ids=['i1'],
            allowed_actions=[], actions_at=None, reply_at=None,
            metadata={'k': 'x' * 300})
        got = event('maintenance.planned', payload,
                    aodh_events.PROJECT_EVENT_TRAITS,
                    '6f1d4a52-0000-4000-8000-000000000004',
                    '2026-11-22 13:33:43.000000')
        traits = {name: (ttype, value) for name, ttype, value in
                  got['traits']}
        self.assertEqual((1, "['i1']"), traits['instance_ids'])
        self.assertEqual((1, '[]'), traits['allowed_actions'])
        self.assertNotIn('actions_at', traits)
        self.assertNotIn('reply_at', traits)
        self.assertEqual(255, len(traits['metadata'][1]))
        self.assertTrue(traits['metadata'][1].startswith("{'k': 'xxx"))
        # A whole second: Ceilometer's isoformat drops the fraction.
        self.assertEqual('2026-11-22T13:33:43', got['generated'])

    def test_conversions(self):
        self.assertIsNone(aodh_events.convert_trait(aodh_events.DATETIME, ''))
        self.assertEqual('', aodh_events.convert_trait(aodh_events.TEXT, ''))
        self.assertEqual('2026-01-02T03:04:05', aodh_events.convert_trait(
            aodh_events.DATETIME, '2026-01-02T04:04:05+01:00'))
        self.assertEqual(7, aodh_events.convert_trait(aodh_events.INT, '7'))
        self.assertEqual(0.5, aodh_events.convert_trait(aodh_events.FLOAT,
                                                        '0.5'))
        self.assertRaises(ValueError, aodh_events.convert_trait,
                          aodh_events.DATETIME, 'bogus')

    def test_defaults_come_first_and_from_the_context(self):
        got = aodh_events.ceilometer_event(
            'x.y', {'tenant_id': 't', 'other': 1},
            ctxt={'request_id': 'req-1', 'user_id': 'u'})
        self.assertEqual([('service', 1, 'fenix'),
                          ('request_id', 1, 'req-1'),
                          ('project_id', 1, 't'), ('user_id', 1, 'u'),
                          ('tenant_id', 1, 't')],
                         [tuple(t) for t in got['traits']])
        self.assertEqual('', got['message_signature'])
        self.assertTrue(got['message_id'])

    def test_definitions_match_the_ceilometer_file(self):
        """Fenix's traits are those of the event definitions Ceilometer
        operators load (same names, order, fields and types)."""
        with open(DEFINITIONS) as f:
            definitions = yaml.safe_load(f)
        codes = {'text': 1, 'int': 2, 'float': 3, 'datetime': 4}
        ours = {'maintenance.planned': aodh_events.PROJECT_EVENT_TRAITS,
                'maintenance.scheduled': aodh_events.PROJECT_EVENT_TRAITS,
                'maintenance.host': aodh_events.HOST_EVENT_TRAITS,
                'maintenance.session': aodh_events.SESSION_EVENT_TRAITS}
        seen = set()
        for definition in definitions:
            types = definition['event_type']
            for event_type in [types] if isinstance(types, str) else types:
                seen.add(event_type)
                self.assertEqual(
                    [(name, codes[spec.get('type', 'text')],
                      (spec['fields'],))
                     for name, spec in definition['traits'].items()],
                    list(ours[event_type]), event_type)
        self.assertEqual(set(ours), seen)
