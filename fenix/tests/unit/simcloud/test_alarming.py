# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""AODH subset through the real aodhclient."""
from aodhclient import exceptions as aodh_exc
import requests

from fenix.tests.unit.simcloud import base

ALARM_KEYS = {'alarm_actions', 'alarm_id', 'description', 'enabled',
              'evaluate_timestamp', 'event_rule', 'insufficient_data_actions',
              'name', 'ok_actions', 'project_id', 'repeat_actions',
              'severity', 'state', 'state_reason', 'state_timestamp',
              'time_constraints', 'timestamp', 'type', 'user_id'}


def event_alarm(name, event_type='maintenance.scheduled', query=None,
                url='http://127.0.0.1:1/maintenance', repeat=True):
    return {'name': name, 'type': 'event',
            'event_rule': {'event_type': event_type, 'query': query or []},
            'alarm_actions': [url], 'repeat_actions': repeat}


class TestAlarms(base.SimCloudTestCase):

    def test_member_creates_owns_shows_deletes(self):
        aodh = self.aodh('vnfm1')
        t1 = self.sim.project_id('tenant1')
        query = [{'field': 'traits.project_id', 'op': 'eq', 'value': t1}]
        alarm = aodh.alarm.create(event_alarm('vnfm1-maint', query=query))
        self.assertEqual(ALARM_KEYS, set(alarm))
        self.assertEqual(t1, alarm['project_id'])
        self.assertEqual(self.sim.identity.user('vnfm1')['id'],
                         alarm['user_id'])
        self.assertEqual('insufficient data', alarm['state'])
        self.assertEqual('low', alarm['severity'])
        self.assertEqual([{'field': 'traits.project_id', 'op': 'eq',
                           'type': '', 'value': t1}],
                         alarm['event_rule']['query'])
        self.assertEqual('Alarm when maintenance.scheduled event occurred.',
                         alarm['description'])
        self.assertTrue(alarm['repeat_actions'])
        self.assertEqual(alarm, dict(aodh.alarm.get(alarm['alarm_id']),
                                     evaluate_timestamp=alarm[
                                         'evaluate_timestamp']))
        self.assertEqual([alarm['alarm_id']],
                         [a['alarm_id'] for a in aodh.alarm.list()])
        self.assertEqual('insufficient data',
                         aodh.alarm.get_state(alarm['alarm_id']))
        history = aodh.alarm_history.get(alarm['alarm_id'])
        self.assertEqual(['creation'], [h['type'] for h in history])
        aodh.alarm.delete(alarm['alarm_id'])
        self.assertRaises(aodh_exc.NotFound, aodh.alarm.get,
                          alarm['alarm_id'])
        self.assertEqual([], aodh.alarm.list())

    def test_reader_may_list_not_create(self):
        self.aodh('vnfm1').alarm.create(event_alarm('a1'))
        reader = self.aodh('reader1')
        self.assertRaises(aodh_exc.Forbidden, reader.alarm.create,
                          event_alarm('r1'))
        self.assertEqual(['a1'], [a['name'] for a in reader.alarm.list()])

    def test_admin_listing_needs_all_projects(self):
        self.aodh('vnfm1').alarm.create(event_alarm('t1'))
        self.aodh('vnfm2').alarm.create(event_alarm('t2'))
        fenix = self.aodh('fenix')
        fenix.alarm.create(event_alarm('own', 'maintenance.host'))
        self.assertEqual(['own'], [a['name'] for a in fenix.alarm.list()])
        everything = fenix.alarm.list(filters={'all_projects': 'true'})
        self.assertEqual(['t1', 't2', 'own'],
                         [a['name'] for a in everything])
        scheduled = fenix.alarm.list(filters={
            'all_projects': 'true', 'type': 'event', 'name': 't2'})
        self.assertEqual(['t2'], [a['name'] for a in scheduled])
        self.assertRaises(aodh_exc.Forbidden, self.aodh('vnfm1').alarm.list,
                          filters={'all_projects': 'true'})
        # The raw call a Fenix-like service makes (real-aodh.md, 5).
        sess = self.session('fenix')
        raw = sess.get('/v2/alarms', endpoint_filter={
            'service_type': 'alarming'}, params={
            'q.field': ['all_projects', 'type'], 'q.op': ['eq', 'eq'],
            'q.value': ['true', 'event']}).json()
        self.assertEqual(3, len(raw))
        by_project = {a['name']: a['project_id'] for a in raw}
        self.assertEqual(self.sim.project_id('tenant2'), by_project['t2'])

    def test_projects_are_isolated(self):
        alarm = self.aodh('vnfm1').alarm.create(event_alarm('mine'))
        other = self.aodh('vnfm2')
        self.assertEqual([], other.alarm.list())
        self.assertRaises(aodh_exc.NotFound, other.alarm.get,
                          alarm['alarm_id'])
        self.assertRaises(aodh_exc.NotFound, other.alarm.delete,
                          alarm['alarm_id'])
        # an admin may read it by id
        self.assertEqual('mine',
                         self.aodh('admin').alarm.get(alarm['alarm_id'])[
                             'name'])

    def test_validation_and_conflicts(self):
        aodh = self.aodh('vnfm1')
        aodh.alarm.create(event_alarm('dup'))
        self.assertRaises(aodh_exc.Conflict, aodh.alarm.create,
                          event_alarm('dup'))
        bad = event_alarm('bad', url='ftp://x/y')
        self.assertRaises(aodh_exc.BadRequest, aodh.alarm.create, bad)
        bad = event_alarm('bad', query=[{'field': 'traits.x', 'op': 'like',
                                         'value': '1'}])
        self.assertRaises(aodh_exc.BadRequest, aodh.alarm.create, bad)
        url = self.sim.alarming_url + '/v2/alarms'
        token = self.session('vnfm1').get_token()
        resp = requests.post(url, json={'name': 'no-type'},
                             headers={'X-Auth-Token': token})
        self.assertEqual(400, resp.status_code)
        self.assertEqual("Mandatory field missing: 'type'",
                         resp.json()['error_message']['faultstring'])
        resp = requests.post(url, json=event_alarm('x'))
        self.assertEqual(401, resp.status_code)

    def test_update_keeps_id_and_owner(self):
        aodh = self.aodh('vnfm1')
        alarm = aodh.alarm.create(event_alarm('upd'))
        new = aodh.alarm.update(alarm['alarm_id'], {
            'alarm_actions': ['http://127.0.0.1:2/new'],
            'event_rule': {'event_type': 'maintenance.*'}})
        self.assertEqual(alarm['alarm_id'], new['alarm_id'])
        self.assertEqual(['http://127.0.0.1:2/new'], new['alarm_actions'])
        self.assertEqual('maintenance.*', new['event_rule']['event_type'])
        self.assertEqual(alarm['project_id'], new['project_id'])

    def test_version_document(self):
        doc = requests.get(self.sim.alarming_url + '/').json()
        self.assertEqual('v2', doc['versions']['values'][0]['id'])
