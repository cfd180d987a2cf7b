# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix.client.v1 against the real API application over HTTP: every
method reaches its route with the body the API validates, and the API's
errors come back as typed exceptions carrying its message."""
import subprocess
import sys
import uuid

from fenix.client import exceptions as exc
from fenix.client import v1
from fenix.common import exception
from fenix.tests import base
from fenix.tests.unit.api import base as api_base
from fenix.tests.unit.client import fixtures_api


class ClientTestCase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(api_base.PolicyFixture())
        self.api = self.useFixture(fixtures_api.LiveAPI())
        self.engine = self.api.engine
        self.client = v1.Client(endpoint=self.api.url + '/v1', retries=0)

    def as_project(self, project_id, roles='member'):
        return v1.Client(endpoint=self.api.url, retries=0,
                         headers={'X-Project-Id': project_id,
                                  'X-User-Id': 'u', 'X-Roles': roles})


class TestSessions(ClientTestCase):

    def test_versions(self):
        self.assertEqual('v1', self.client.get_versions()['versions'][0]
                         ['id'])
        self.assertIn('maintenance', self.client.get_version()['resources'])

    def test_create_sends_every_field_and_a_key(self):
        answer = self.client.create_session(
            hosts=['compute-0'], workflow='nfv',
            maintenance_at='2030-02-28T06:06:03Z',
            metadata={'openstack_version': 'Train'},
            actions=[{'plugin': 'dummy', 'type': 'host'}],
            download=['https://example.com/p.tgz'], dry_run=True,
            max_parallel_hosts=2, max_concurrent_migrations=3,
            nack_policy='skip_host', silent_own_action='move',
            reply_window=30, estimates={'live_migration': 5})
        _, call = self.engine.last_call('create_session')
        self.assertIn(answer['session_id'], self.engine.sessions)
        values = call['values']
        self.assertEqual('MAINTENANCE', values['state'])
        self.assertEqual('2030-02-28 06:06:03', values['maintenance_at'])
        self.assertEqual({'live_migration': 5}, values['estimates'])
        self.assertEqual(2, values['max_parallel_hosts'])
        self.assertTrue(values['dry_run'])
        # A key is always sent, a UUID unless one is given.
        uuid.UUID(call['idempotency_key'])
        self.client.create_session(idempotency_key='my-key')
        self.assertEqual('my-key', self.engine.last_call(
            'create_session')[1]['idempotency_key'])

    def test_create_refuses_unknown_fields_before_sending(self):
        self.assertRaises(TypeError, self.client.create_session, hostz=[])
        self.assertEqual([], self.engine.calls)

    def test_create_bad_request_carries_the_message(self):
        e = self.assertRaises(exc.BadRequest, self.client.create_session,
                              nack_policy='sideways')
        self.assertEqual(400, e.status)
        self.assertIn('nack_policy', e.message)
        self.assertEqual(400, e.body['error']['code'])
        self.assertTrue(e.request_id.startswith('req-'), e.request_id)
        self.assertIn(e.message, str(e))

    def test_list_show_detail(self):
        sid = self.engine.add_session()
        self.assertEqual([sid], [s['session_id']
                                 for s in self.client.list_sessions()])
        self.assertEqual(sid, self.client.get_session(sid)['session_id'])
        self.assertIn('session', self.client.get_session_detail(sid))
        self.assertEqual('get_session_detail', self.engine.calls[-1][0])

    def test_not_found(self):
        e = self.assertRaises(exc.NotFound, self.client.get_session, 'nope')
        self.assertIn('nope', e.message)

    def test_continue(self):
        sid = self.engine.add_session(state='MAINTENANCE_FAILED')
        self.client.continue_session(sid, state='SCALE_IN')
        self.assertEqual({'state': 'SCALE_IN'},
                         self.engine.last_call('update_session')[1]
                         ['values'])
        self.assertEqual('SCALE_IN', self.engine.sessions[sid]['state'])

    def test_continue_conflict(self):
        sid = self.engine.add_session()
        e = self.assertRaises(exc.Conflict, self.client.continue_session,
                              sid)
        self.assertEqual(409, e.status)
        self.assertIn('MAINTENANCE_FAILED', e.message)

    def test_controls(self):
        sid = self.engine.add_session()
        self.assertTrue(self.client.pause_session(
            sid, reason='freeze')['pause_requested'])
        self.assertEqual('freeze', self.engine.last_call(
            'pause_session')[1]['reason'])
        self.client.resume_session(sid)
        self.engine.last_call('resume_session')
        self.client.skip_host(sid, 'compute-3', reason='DIMM')
        self.assertEqual(
            {'session_id': sid, 'hostname': 'compute-3', 'reason': 'DIMM'},
            self.engine.last_call('skip_host')[1])
        self.client.retry_session(sid)
        self.engine.last_call('retry_step')

    def test_delete(self):
        sid = self.engine.add_session()
        self.client.delete_session(sid)
        self.assertNotIn(sid, self.engine.sessions)
        self.assertRaises(exc.NotFound, self.client.delete_session, sid)

    def test_forbidden(self):
        e = self.assertRaises(exc.Forbidden,
                              self.as_project('p1').list_sessions)
        self.assertIn('fenix:maintenance:list', e.message)

    def test_service_unavailable_after_retries(self):
        self.engine.fail_with = exception.EngineUnavailable(
            reason='down for the test')
        client = v1.Client(endpoint=self.api.url, retries=2,
                           retry_delay=0)
        e = self.assertRaises(exc.ServiceUnavailable, client.list_sessions)
        self.assertEqual(503, e.status)
        self.assertIsNotNone(e.retry_after)
        # The first request and two retries.
        self.assertEqual(3, len([c for c in self.engine.calls
                                 if c[0] == 'list_sessions']))

    def test_create_retried_after_503_with_one_key(self):
        calls = []
        real = self.engine.create_session

        def flaky(context, values, idempotency_key=None):
            calls.append(idempotency_key)
            if len(calls) == 1:
                raise exception.EngineUnavailable(reason='first try')
            return real(context, values, idempotency_key=idempotency_key)
        self.engine.create_session = flaky
        client = v1.Client(endpoint=self.api.url, retries=1, retry_delay=0)
        answer = client.create_session(hosts=['compute-0'])
        self.assertIn(answer['session_id'], self.engine.sessions)
        self.assertEqual(2, len(calls))
        self.assertEqual(calls[0], calls[1])

    def test_connection_failure(self):
        client = v1.Client(endpoint='http://127.0.0.1:9', retries=0)
        self.assertRaises(exc.ConnectionFailure, client.list_sessions)

    def test_no_endpoint_without_session(self):
        self.assertRaises(exc.EndpointNotFound, v1.Client)


class TestProjects(ClientTestCase):

    def setUp(self):
        super().setUp()
        self.sid = self.engine.add_session(
            projects={api_base.PROJECT: ['i-1', 'i-2']})
        self.project = self.as_project(api_base.PROJECT)
        self.event = str(uuid.uuid4())

    def test_get_project_with_event(self):
        got = self.project.get_project(self.sid, api_base.PROJECT,
                                       event_id=self.event)
        self.assertEqual(['i-1', 'i-2'], got['instance_ids'])
        self.assertEqual(self.event, self.engine.last_call(
            'get_project')[1]['event_id'])

    def test_project_reply(self):
        got = self.project.project_reply(
            self.sid, api_base.PROJECT, 'ACK_PLANNED_MAINTENANCE',
            instance_actions={'i-1': 'MIGRATE'}, event_id=self.event)
        self.assertEqual('ACK_PLANNED_MAINTENANCE', got['state'])
        _, call = self.engine.last_call('project_reply')
        self.assertEqual({'state': 'ACK_PLANNED_MAINTENANCE',
                          'instance_actions': {'i-1': 'MIGRATE'}},
                         call['reply'])
        self.assertEqual(self.event, call['event_id'])

    def test_refused_reply_is_not_sent_again(self):
        calls = []

        def refuse(*args, **kwargs):
            calls.append(args)
            raise exception.ReplyConflict(reply='ACK_MAINTENANCE',
                                          event='SCALE_IN',
                                          project_id=api_base.PROJECT)
        self.engine.project_reply = refuse
        client = v1.Client(endpoint=self.api.url, retries=3, retry_delay=0,
                           headers={'X-Project-Id': api_base.PROJECT,
                                    'X-Roles': 'member'})
        e = self.assertRaises(exc.Conflict, client.project_reply, self.sid,
                              api_base.PROJECT, 'ACK_MAINTENANCE')
        self.assertIn('does not answer the current event', e.message)
        self.assertEqual(1, len(calls))

    def test_bad_reply_state(self):
        e = self.assertRaises(exc.BadRequest, self.project.project_reply,
                              self.sid, api_base.PROJECT, 'MAYBE')
        self.assertIn('state', e.message)

    def test_instance(self):
        got = self.project.get_project_instance(self.sid, api_base.PROJECT,
                                                'i-1')
        self.assertEqual('i-1', got['instance_id'])
        self.project.project_instance_reply(
            self.sid, api_base.PROJECT, 'i-2', 'ACK_PLANNED_MAINTENANCE',
            instance_action='LIVE_MIGRATE', event_id=self.event)
        _, call = self.engine.last_call('project_instance_reply')
        self.assertEqual({'state': 'ACK_PLANNED_MAINTENANCE',
                          'instance_action': 'LIVE_MIGRATE'}, call['reply'])
        self.assertRaises(exc.NotFound, self.project.get_project_instance,
                          self.sid, api_base.PROJECT, 'i-9')

    def test_other_project_forbidden(self):
        other = self.as_project(api_base.OTHER_PROJECT)
        self.assertRaises(exc.Forbidden, other.get_project, self.sid,
                          api_base.PROJECT)


class TestConstraints(ClientTestCase):

    def test_instance_group(self):
        project = self.as_project(api_base.PROJECT)
        got = project.set_instance_group('g-1', group_name='ha',
                                         anti_affinity_group=True,
                                         max_impacted_members=1)
        self.assertEqual('g-1', got['group_id'])
        self.assertEqual(api_base.PROJECT, got['project_id'])
        self.assertEqual('ha', project.get_instance_group('g-1')
                         ['group_name'])
        self.assertEqual(['g-1'], [g['group_id'] for g in
                                   project.list_instance_groups()])
        self.assertEqual([], self.client.list_instance_groups(
            project_id=api_base.OTHER_PROJECT))
        project.delete_instance_group('g-1')
        self.assertRaises(exc.NotFound, project.get_instance_group, 'g-1')

    def test_instance(self):
        project = self.as_project(api_base.PROJECT)
        project.set_instance('i-1', migration_type='LIVE_MIGRATE',
                             max_interruption_time=5, group_id='g-1')
        self.assertEqual('LIVE_MIGRATE',
                         project.get_instance('i-1')['migration_type'])
        self.assertEqual(['i-1'], [i['instance_id'] for i in
                                   project.list_instances()])
        project.delete_instance('i-1')
        self.assertEqual([], project.list_instances())

    def test_constraint_bad_value(self):
        e = self.assertRaises(exc.BadRequest,
                              self.as_project('p').set_instance, 'i-1',
                              migration_type='TELEPORT')
        self.assertIn('migration_type', e.message)


class TestPluginRuns(ClientTestCase):

    def test_list_and_report(self):
        sid = self.engine.add_session(runs=[
            {'plugin': 'upg', 'hostname': 'compute-0', 'state': 'RUNNING',
             'attempt': 2},
            {'plugin': 'pre', 'hostname': '', 'state': 'RUNNING'}])
        self.assertEqual(['upg', 'pre'], [
            r['plugin'] for r in self.client.list_action_plugin_runs(sid)])
        self.client.report_action_plugin_run(sid, 'upg', 'DONE',
                                             hostname='compute-0',
                                             message='ok', attempt=2)
        _, call = self.engine.last_call('report_action_run')
        self.assertEqual(('compute-0', {'state': 'DONE', 'message': 'ok'},
                          2), (call['hostname'], call['report'],
                               call['attempt']))
        self.client.report_action_plugin_run(sid, 'pre', 'FAILED')
        self.assertEqual('', self.engine.last_call(
            'report_action_run')[1]['hostname'])
        e = self.assertRaises(exc.Conflict,
                              self.client.report_action_plugin_run, sid,
                              'upg', 'DONE', hostname='compute-0',
                              attempt=1)
        self.assertIn('attempt', e.message.lower())


class TestImport(base.TestCase):

    def test_client_needs_no_server_module(self):
        code = ('import sys, fenix.client.v1, fenix.client.progress, '
                'fenix.client.osc.plugin, fenix.client.osc.v1.session, '
                'fenix.client.osc.v1.constraint, '
                'fenix.client.osc.v1.project, '
                'fenix.client.osc.v1.plugin_run; '
                'print(" ".join(sorted(sys.modules)))')
        out = subprocess.run([sys.executable, '-c', code], check=True,
                             capture_output=True, text=True).stdout.split()
        server = [m for m in out if m.split('.')[0] in (
            'pecan', 'sqlalchemy', 'oslo_messaging', 'oslo_db',
            'novaclient', 'fenix_tools') or (
            m.startswith('fenix.') and not m.startswith('fenix.client'))]
        self.assertEqual([], server)
        self.assertIn('fenix.client.v1', out)


class TestErrorMapping(base.TestCase):

    def test_every_documented_status_has_a_class(self):
        for status, cls in ((400, exc.BadRequest), (401, exc.Unauthorized),
                            (403, exc.Forbidden), (404, exc.NotFound),
                            (405, exc.MethodNotAllowed),
                            (408, exc.RequestTimeout), (409, exc.Conflict),
                            (411, exc.LengthRequired),
                            (413, exc.PayloadTooLarge),
                            (414, exc.UriTooLong),
                            (415, exc.UnsupportedMediaType),
                            (431, exc.HeaderFieldsTooLarge),
                            (500, exc.InternalServerError),
                            (503, exc.ServiceUnavailable)):
            self.assertEqual(status, cls.status_code)
            self.assertTrue(issubclass(cls, exc.HttpError))
