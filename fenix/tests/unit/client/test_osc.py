# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The ``openstack maintenance`` commands in cliff's App against the real
API application (noauth, in-memory engine) over HTTP: what each command
sends, what it prints, and its exit status. The commands against a real
engine and cloud are in fenix.tests.functional.test_client_cli."""
import io
import json
import uuid

from fenix.client.osc import plugin
from fenix.common import exception
from fenix.tests import base
from fenix.tests import osc_app
from fenix.tests.unit.api import base as api_base
from fenix.tests.unit.client import fixtures_api


class OscTestCase(base.TestCase):

    headers = None

    def setUp(self):
        super().setUp()
        self.useFixture(api_base.PolicyFixture())
        self.api = self.useFixture(fixtures_api.LiveAPI())
        self.engine = self.api.engine
        session = osc_app.noauth_session(self.api.url)
        if self.headers:
            session.additional_headers.update(self.headers)
        self.client = osc_app.make_client(session)
        self.client.retries = 0

    def openstack(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        try:
            status = osc_app.MaintenanceApp(self.client, out, err).run(
                ['maintenance'] + list(argv))
        except SystemExit as e:  # argparse refused the arguments
            status = e.code
        return status, out.getvalue(), err.getvalue()

    def ok(self, *argv):
        status, out, err = self.openstack(*argv)
        self.assertEqual(0, status, 'stdout: %s\nstderr: %s' % (out, err))
        return out

    def json(self, *argv):
        return json.loads(self.ok(*(argv + ('-f', 'json'))))


class TestPlugin(base.TestCase):

    def test_every_entry_point_loads(self):
        names = osc_app.entry_points()
        self.assertIn('maintenance_session_create', names)
        for name, target in names.items():
            self.assertTrue(name.startswith(plugin.API_NAME + '_'), name)
            self.assertTrue(callable(osc_app.load(target)), target)
        extension = osc_app.entry_points('openstack.cli.extension')
        self.assertEqual({'maintenance': 'fenix.client.osc.plugin'},
                         extension)

    def test_version_option(self):
        import argparse
        parser = plugin.build_option_parser(argparse.ArgumentParser())
        self.assertEqual('1', parser.parse_args(
            []).os_maintenance_api_version)


class TestSessionCommands(OscTestCase):

    def test_create_sends_every_option(self):
        session = self.json(
            'session', 'create', '--hosts', 'c0,c1', '--hosts', 'c2',
            '--workflow', 'nfv',
            '--maintenance-at', '2030-01-01T10:00:00+02:00',
            '--metadata', 'openstack_version=Train', '--metadata', 'a=b',
            '--action', 'dummy:host', '--action',
            'os_upgrade:pre:{"to": "2.1"}',
            '--download', 'https://example.com/p.tgz',
            '--max-parallel-hosts', '2', '--max-concurrent-migrations', '3',
            '--nack-policy', 'skip_host', '--silent-own-action', 'move',
            '--reply-window', '30', '--estimate', 'live_migration=5',
            '--estimate', 'host_maintenance=600',
            '--idempotency-key', 'k-1')
        _, call = self.engine.last_call('create_session')
        self.assertEqual({
            'state': 'MAINTENANCE', 'hosts': ['c0', 'c1', 'c2'],
            'workflow': 'nfv', 'maintenance_at': '2030-01-01 08:00:00',
            'metadata': {'openstack_version': 'Train', 'a': 'b'},
            'actions': [{'plugin': 'dummy', 'type': 'host'},
                        {'plugin': 'os_upgrade', 'type': 'pre',
                         'metadata': {'to': '2.1'}}],
            'download': ['https://example.com/p.tgz'],
            'max_parallel_hosts': 2, 'max_concurrent_migrations': 3,
            'nack_policy': 'skip_host', 'silent_own_action': 'move',
            'reply_window': 30,
            'estimates': {'live_migration': 5.0,
                          'host_maintenance': 600.0}}, call['values'])
        self.assertEqual('k-1', call['idempotency_key'])
        self.assertIn(session['session_id'], self.engine.sessions)

    def test_create_minimal(self):
        self.ok('session', 'create')
        _, call = self.engine.last_call('create_session')
        self.assertEqual({'state': 'MAINTENANCE', 'hosts': []},
                         call['values'])
        uuid.UUID(call['idempotency_key'])

    def test_bad_options_refused_before_sending(self):
        for argv in (('--action', 'dummy:sideways'),
                     ('--maintenance-at', 'tomorrow'),
                     ('--estimate', 'coffee=3'),
                     ('--max-parallel-hosts', '0'),
                     ('--nack-policy', 'maybe'),
                     ('--dry-run', '--wait')):
            status, _, err = self.openstack('session', 'create', *argv)
            self.assertIn(status, (1, 2), argv)
        self.assertEqual([], self.engine.calls)

    def test_api_error_printed_with_its_message(self):
        status, out, err = self.openstack('session', 'create', '--download',
                                          'ftp://x/y')
        self.assertEqual(1, status)
        self.assertIn('download', err)
        self.assertIn('(HTTP 400)', err)

    def test_list_show_detail(self):
        sid = self.engine.add_session()
        listed = self.json('session', 'list')
        self.assertEqual([sid], [s['session_id'] for s in listed])
        self.assertEqual(sid, self.json('session', 'show', sid)
                         ['session_id'])
        self.assertIn('action_plugin_runs',
                      self.json('session', 'detail', sid))
        status, _, err = self.openstack('session', 'show', 'nope')
        self.assertEqual(1, status)
        self.assertIn('nope', err)
        self.assertIn('(HTTP 404)', err)

    def test_continue(self):
        sid = self.engine.add_session(state='MAINTENANCE_FAILED')
        shown = self.json('session', 'continue', sid, '--state', 'SCALE_IN')
        self.assertEqual('SCALE_IN', shown['state'])
        status, _, err = self.openstack('session', 'continue', sid)
        self.assertEqual(1, status)
        self.assertIn('(HTTP 409)', err)

    def test_controls(self):
        sid = self.engine.add_session()
        self.assertTrue(self.json('session', 'pause', sid, '--reason',
                                  'freeze')['pause_requested'])
        self.assertEqual('freeze', self.engine.last_call(
            'pause_session')[1]['reason'])
        self.ok('session', 'resume', sid)
        self.engine.last_call('resume_session')
        self.ok('session', 'skip', sid, 'compute-1', '--reason', 'RMA')
        self.assertEqual(('compute-1', 'RMA'), tuple(
            self.engine.last_call('skip_host')[1][k]
            for k in ('hostname', 'reason')))
        self.ok('session', 'retry', sid)
        self.engine.last_call('retry_step')

    def test_delete(self):
        one, two = self.engine.add_session(), self.engine.add_session()
        self.assertEqual('', self.ok('session', 'delete', one, two))
        self.assertEqual({}, self.engine.sessions)

    def test_engine_down(self):
        self.engine.fail_with = exception.EngineUnavailable(reason='test')
        status, _, err = self.openstack('session', 'list')
        self.assertEqual(1, status)
        self.assertIn('(HTTP 503)', err)


class TestProjectCommands(OscTestCase):

    headers = {'X-Project-Id': api_base.PROJECT, 'X-User-Id': 'vnfm',
               'X-Roles': 'member'}

    def setUp(self):
        super().setUp()
        self.sid = self.engine.add_session(
            projects={api_base.PROJECT: ['i-1', 'i-2']})

    def test_show_and_reply(self):
        event = str(uuid.uuid4())
        shown = self.json('project', 'show', self.sid, api_base.PROJECT,
                          '--event-id', event)
        self.assertEqual(['i-1', 'i-2'], shown['instance_ids'])
        self.assertEqual(event, self.engine.last_call('get_project')[1]
                         ['event_id'])
        self.ok('project', 'reply', self.sid, api_base.PROJECT,
                'ACK_PLANNED_MAINTENANCE', '--instance-action', 'i-1=MIGRATE',
                '--instance-action', 'i-2=OWN_ACTION', '--event-id', event)
        _, call = self.engine.last_call('project_reply')
        self.assertEqual({'state': 'ACK_PLANNED_MAINTENANCE',
                          'instance_actions': {'i-1': 'MIGRATE',
                                               'i-2': 'OWN_ACTION'}},
                         call['reply'])
        self.assertEqual(event, call['event_id'])

    def test_instance_show_and_reply(self):
        self.assertEqual('i-2', self.json(
            'project', 'instance', 'show', self.sid, api_base.PROJECT,
            'i-2')['instance_id'])
        self.ok('project', 'instance', 'reply', self.sid, api_base.PROJECT,
                'i-2', 'ACK_PLANNED_MAINTENANCE', '--action', 'LIVE_MIGRATE')
        self.assertEqual({'state': 'ACK_PLANNED_MAINTENANCE',
                          'instance_action': 'LIVE_MIGRATE'},
                         self.engine.last_call('project_instance_reply')[1]
                         ['reply'])

    def test_refused_reply(self):
        status, _, err = self.openstack('project', 'reply', self.sid,
                                        api_base.PROJECT, 'MAYBE')
        self.assertEqual(1, status)
        self.assertIn('(HTTP 400)', err)

    def test_constraints_of_own_project(self):
        group = self.json('instance-group', 'set', 'g-1', '--name', 'ha',
                          '--no-anti-affinity-group',
                          '--max-instances-per-host', '2')
        self.assertEqual((api_base.PROJECT, False, 2), (
            group['project_id'], group['anti_affinity_group'],
            group['max_instances_per_host']))
        self.assertEqual([('g-1', 'ha')], [
            (g['group_id'], g['group_name'])
            for g in self.json('instance-group', 'list')])
        self.json('instance-constraint', 'set', 'i-1', '--lead-time', '30',
                  '--resource-mitigation', '--name', 'vm1')
        self.assertEqual((30, True, 'vm1'), tuple(self.json(
            'instance-constraint', 'show', 'i-1')[k] for k in (
                'lead_time', 'resource_mitigation', 'instance_name')))
        self.ok('instance-constraint', 'delete', 'i-1')
        status, _, err = self.openstack('instance-constraint', 'show',
                                        'i-1')
        self.assertEqual(1, status)
        self.assertIn('(HTTP 404)', err)


class TestPluginRunCommands(OscTestCase):

    def test_list_and_report(self):
        sid = self.engine.add_session(runs=[
            {'plugin': 'upg', 'type': 'host', 'hostname': 'c0',
             'state': 'RUNNING', 'attempt': 1}])
        self.assertEqual([('upg', 'c0', 'RUNNING')], [
            (r['plugin'], r['hostname'], r['state'])
            for r in self.json('plugin-run', 'list', sid)])
        self.ok('plugin-run', 'report', sid, 'upg', '--host', 'c0',
                '--state', 'DONE', '--message', 'ok', '--attempt', '1')
        _, call = self.engine.last_call('report_action_run')
        self.assertEqual(('c0', {'state': 'DONE', 'message': 'ok'}, 1),
                         (call['hostname'], call['report'],
                          call['attempt']))
        status, _, err = self.openstack('plugin-run', 'report', sid, 'upg',
                                        '--host', 'c0', '--state', 'DONE',
                                        '--attempt', '2')
        self.assertEqual(1, status)
        self.assertIn('(HTTP 409)', err)
