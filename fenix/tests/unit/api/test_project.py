# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""/v1/maintenance/{session_id}/{project_id}[/{instance_id}]: the VNFM API."""
from fenix.common import exception
from fenix.tests.unit.api import base

INSTANCE = '8a3f6b1c-2d4e-4f5a-9b8c-7d6e5f4a3b2c'
EVENT = '0b6c6a4e-7f2d-4c1e-9a3b-5d8e7f6a1b2c'
BAD_EVENT_IDS = ('nope', '', '0b6c6a4e-7f2d-4c1e-9a3b', 'x' * 300)


class TestProject(base.APITestCase):

    def setUp(self):
        super().setUp()
        self.sid = self.engine.add_session(
            projects={base.PROJECT: [INSTANCE, 'i2']})
        self.url = '/v1/maintenance/%s/%s' % (self.sid, base.PROJECT)

    def test_get(self):
        doc = self.get(self.url, headers=base.OWNER_MEMBER, status=200).json
        self.assertEqual({'instance_ids': [INSTANCE, 'i2']}, doc)
        _, kwargs = self.engine.last_call('get_project')
        self.assertEqual({'session_id': self.sid,
                          'project_id': base.PROJECT, 'event_id': None},
                         kwargs)

    def test_get_unknown(self):
        self.assertError(
            self.get('/v1/maintenance/nope/%s' % base.PROJECT,
                     headers=base.OWNER_MEMBER), 404,
            'Maintenance session nope not found.')
        self.assertError(
            self.get('/v1/maintenance/%s/%s' % (self.sid,
                                                base.OTHER_PROJECT),
                     headers=base.OTHER_MEMBER), 404,
            'Project %s has no instances' % base.OTHER_PROJECT)

    def test_reply(self):
        body = {'state': 'ACK_PREPARE_MAINTENANCE',
                'instance_actions': {INSTANCE: 'MIGRATE',
                                     'i2': 'LIVE_MIGRATE'}}
        self.put(self.url, body, headers=base.OWNER_MEMBER, status=200)
        _, kwargs = self.engine.last_call('project_reply')
        self.assertEqual(body, kwargs['reply'])
        self.assertEqual(base.PROJECT, kwargs['project_id'])

    def test_reply_drops_extra_keys_of_existing_managers(self):
        # Tacker sends session_id and instance_ids; others send more.
        body = {'state': 'ACK_MAINTENANCE', 'session_id': self.sid,
                'instance_ids': [INSTANCE], 'anything': {'x': 1},
                'instance_actions': None}
        self.put(self.url, body, headers=base.OWNER_MEMBER, status=200)
        _, kwargs = self.engine.last_call('project_reply')
        self.assertEqual({'state': 'ACK_MAINTENANCE'}, kwargs['reply'])

    def test_reply_to_informational_event(self):
        self.put(self.url, {'state': 'ACK_INSTANCE_ACTION_DONE'},
                 headers=base.OWNER_MEMBER, status=200)

    def test_reply_bad_bodies(self):
        cases = [
            ({}, "Missing required field(s) in request body: 'state'"),
            ({'instance_actions': {}}, "Missing required field(s)"),
            ({'state': 'ACK'}, 'state: "ACK" is not one of'),
            ({'state': 'NACK_INSTANCE_ACTION_DONE'},
             'state: "NACK_INSTANCE_ACTION_DONE" is not one of'),
            ({'state': None}, 'state: null is not of type string'),
            ({'state': 'ACK_MAINTENANCE', 'instance_actions': []},
             'instance_actions: [] is not of type object or null'),
            ({'state': 'ACK_MAINTENANCE',
              'instance_actions': {INSTANCE: 'MIGRATION'}},
             'instance_actions.%s: "MIGRATION" is not one of MIGRATE, '
             'LIVE_MIGRATE, OWN_ACTION' % INSTANCE),
            ({'state': 'ACK_MAINTENANCE',
              'instance_actions': {'': 'MIGRATE'}}, 'instance_actions'),
        ]
        for body, fragment in cases:
            resp = self.put(self.url, body, headers=base.OWNER_MEMBER)
            self.assertError(resp, 400, fragment)
        for raw in (b'{"state":', b'[]', b'"ACK_MAINTENANCE"', b'null'):
            resp = self.request('PUT', self.url, raw=raw,
                                headers=base.OWNER_MEMBER)
            self.assertError(resp, 400, 'Request body')
        self.assertEqual([], self.engine.calls)

    def test_reply_conflict_is_409(self):
        self.engine.fail_with = exception.ReplyConflict(
            reply='ACK_SCALE_IN', event='MAINTENANCE',
            project_id=base.PROJECT)
        resp = self.put(self.url, {'state': 'ACK_SCALE_IN'},
                        headers=base.OWNER_MEMBER)
        self.assertError(resp, 409, 'ACK_SCALE_IN', 'MAINTENANCE')
        # The engine's own explanation reaches the manager as it is.
        self.engine.fail_with = exception.ReplyConflict(
            message='Reply ACK_MAINTENANCE refused: the current event of '
                    'project p, MAINTENANCE (event_id e), was already '
                    'answered')
        resp = self.put(self.url + '?event_id=' + EVENT,
                        {'state': 'ACK_MAINTENANCE'},
                        headers=base.OWNER_MEMBER)
        self.assertError(resp, 409, 'already answered', 'event_id e')

    def test_reply_names_its_event(self):
        body = {'state': 'ACK_MAINTENANCE'}
        self.put(self.url + '?event_id=' + EVENT, body,
                 headers=base.OWNER_MEMBER, status=200)
        _, kwargs = self.engine.last_call('project_reply')
        self.assertEqual((EVENT, body), (kwargs['event_id'],
                                         kwargs['reply']))
        # Any spelling of the UUID is the one Fenix wrote.
        self.put(self.url + '?event_id=' + EVENT.upper().replace('-', ''),
                 body, headers=base.OWNER_MEMBER, status=200)
        self.assertEqual(EVENT,
                         self.engine.last_call('project_reply')[1][
                             'event_id'])
        self.put(self.url, body, headers=base.OWNER_MEMBER, status=200)
        self.assertIsNone(
            self.engine.last_call('project_reply')[1]['event_id'])

    def test_get_names_its_event(self):
        self.get(self.url + '?event_id=' + EVENT,
                 headers=base.OWNER_MEMBER, status=200)
        self.assertEqual(EVENT, self.engine.last_call('get_project')[1][
            'event_id'])

    def test_bad_event_id_is_400(self):
        for value in BAD_EVENT_IDS:
            for method in ('GET', 'PUT'):
                resp = self.request(method, self.url + '?event_id=' + value,
                                    body={'state': 'ACK_MAINTENANCE'},
                                    headers=base.OWNER_MEMBER)
                self.assertError(resp, 400, "query parameter 'event_id'",
                                 'not the id of an event')
        resp = self.put('%s?event_id=%s&event_id=%s' % (self.url, EVENT,
                                                        EVENT),
                        {'state': 'ACK_MAINTENANCE'},
                        headers=base.OWNER_MEMBER)
        self.assertError(resp, 400, "'event_id' is given more than once")
        resp = self.put(self.url + '?event=' + EVENT,
                        {'state': 'ACK_MAINTENANCE'},
                        headers=base.OWNER_MEMBER)
        self.assertError(resp, 400, "Unknown query parameter(s): 'event'")
        self.assertEqual([], self.engine.calls)


class TestProjectInstance(base.APITestCase):

    def setUp(self):
        super().setUp()
        self.sid = self.engine.add_session(projects={base.PROJECT: [INSTANCE]})
        self.url = '/v1/maintenance/%s/%s/%s' % (self.sid, base.PROJECT,
                                                 INSTANCE)

    def test_get(self):
        doc = self.get(self.url, headers=base.OWNER_READER, status=200).json
        self.assertEqual(INSTANCE, doc['instance_id'])
        self.assertError(self.get(self.url[:-3] + 'xyz',
                                  headers=base.OWNER_READER), 404,
                         'is not in maintenance session')

    def test_reply(self):
        body = {'state': 'ACK_PLANNED_MAINTENANCE',
                'instance_action': 'LIVE_MIGRATE',
                'session_id': self.sid, 'instance_ids': [INSTANCE]}
        self.put(self.url, body, headers=base.OWNER_MEMBER, status=200)
        _, kwargs = self.engine.last_call('project_instance_reply')
        self.assertEqual({'state': 'ACK_PLANNED_MAINTENANCE',
                          'instance_action': 'LIVE_MIGRATE'},
                         kwargs['reply'])
        self.assertEqual(INSTANCE, kwargs['instance_id'])

    def test_event_id_passed_on(self):
        self.get(self.url + '?event_id=' + EVENT,
                 headers=base.OWNER_READER, status=200)
        self.assertEqual(EVENT, self.engine.last_call(
            'get_project_instance')[1]['event_id'])
        self.put(self.url + '?event_id=' + EVENT,
                 {'state': 'ACK_PLANNED_MAINTENANCE'},
                 headers=base.OWNER_MEMBER, status=200)
        self.assertEqual(EVENT, self.engine.last_call(
            'project_instance_reply')[1]['event_id'])
        for value in BAD_EVENT_IDS:
            self.assertError(
                self.put(self.url + '?event_id=' + value,
                         {'state': 'ACK_PLANNED_MAINTENANCE'},
                         headers=base.OWNER_MEMBER), 400, 'event_id')

    def test_reply_without_action(self):
        for body in ({'state': 'ACK_PLANNED_MAINTENANCE'},
                     {'state': 'NACK_PLANNED_MAINTENANCE',
                      'instance_action': None}):
            self.put(self.url, body, headers=base.OWNER_MEMBER, status=200)
            _, kwargs = self.engine.last_call('project_instance_reply')
            self.assertEqual({'state': body['state']}, kwargs['reply'])

    def test_reply_bad_bodies(self):
        for body, fragment in [
                ({'instance_action': 'MIGRATE'}, "'state'"),
                ({'state': 'ACK_PLANNED_MAINTENANCE',
                  'instance_action': 'MIGRATION'},
                 'instance_action: "MIGRATION" is not one of')]:
            self.assertError(self.put(self.url, body,
                                      headers=base.OWNER_MEMBER),
                             400, fragment)
