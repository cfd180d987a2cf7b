# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
import datetime
import io
import json

import fixtures

from fenix.client import progress as client_progress
from fenix.tests.unit.tools import base
from fenix.tests.unit.tools import fakes
from fenix_tools.admin import cmd
from fenix_tools.admin import progress
from fenix_tools import common


def detail(state, done=0, total=3, project_event=None, reply=None,
           error=None):
    hosts = [{'hostname': 'compute-%d' % i, 'type': 'compute',
              'state': 'MAINTAINED' if i < done else 'PENDING',
              'maintained': i < done} for i in range(total)]
    doc = {'session_id': 'S', 'state': state, 'workflow': 'default',
           'hosts_total': total, 'hosts_done': done,
           'percent_done': int(100 * done / total) if total else 0,
           'created_at': '2026-01-01 00:00:00',
           'updated_at': '2026-01-01 00:01:30', 'error': error,
           'failed_state': None, 'hosts': hosts,
           'projects': [{'project_id': 'abcdef0123456789',
                         'event': project_event, 'reply': reply}],
           'instances': [{'instance_id': 'i-1', 'host': 'compute-0',
                          'action': 'MIGRATE', 'action_state': 'DONE'},
                         {'instance_id': 'i-2', 'host': 'compute-1',
                          'action': None, 'action_state': None}],
           'history': []}
    if error:
        doc['history'] = [{'kind': 'error', 'message': error}]
    return doc


class TestParsing(base.TestCase):

    def parse(self, *argv):
        return cmd.build_parser().parse_args(list(argv))

    def test_create_body(self):
        args = self.parse('create', '--hosts', 'c1,c2', 'c3',
                          '--maintenance-at', '2026-01-02T03:04:05Z',
                          '--metadata', '{"openstack_version": "Train"}',
                          '--action', 'dummy:host',
                          '--action', 'dummy:post:{"x": 1}',
                          '--download', 'http://x/p.tgz')
        body = cmd.create_body(args.hosts, args.workflow,
                               args.maintenance_at, args.in_seconds,
                               args.metadata, args.actions, args.download)
        self.assertEqual({
            'state': 'MAINTENANCE', 'hosts': ['c1', 'c2', 'c3'],
            'workflow': 'default', 'maintenance_at': '2026-01-02 03:04:05',
            'metadata': {'openstack_version': 'Train'},
            'actions': [{'plugin': 'dummy', 'type': 'host'},
                        {'plugin': 'dummy', 'type': 'post',
                         'metadata': {'x': 1}}],
            'download': ['http://x/p.tgz']}, body)

    def test_in_seconds(self):
        now = datetime.datetime(2026, 1, 1, 12, 0, 0)
        body = cmd.create_body(in_seconds=30, now=now)
        self.assertEqual('2026-01-01 12:00:30', body['maintenance_at'])
        self.assertEqual([], body['hosts'])

    def test_offset_time_converted_to_utc(self):
        args = self.parse('create', '--maintenance-at',
                          '2026-01-02T05:04:05+02:00')
        self.assertEqual('2026-01-02 03:04:05', args.maintenance_at)

    def test_bad_input_rejected(self):
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', io.StringIO()))
        for argv in (['create', '--metadata', '[1]'],
                     ['create', '--metadata', '{bad'],
                     ['create', '--action', 'dummy'],
                     ['create', '--maintenance-at', 'tomorrow'],
                     ['create', '--in', '-1'],
                     ['create', '--in', '5', '--maintenance-at',
                      '2026-01-01 00:00:00'],
                     ['follow'],
                     ['follow', 'S', '--interval', '0'],
                     []):
            self.assertRaises(SystemExit, self.parse, *argv)

    def test_json_before_or_after_command(self):
        self.assertTrue(self.parse('--json', 'list').json)
        self.assertTrue(self.parse('list', '--json').json)
        self.assertFalse(self.parse('list').json)

    def test_keystone_options_from_env(self):
        self.useFixture(fixtures.EnvironmentVariable(
            'OS_AUTH_URL', 'http://k:5000/v3'))
        self.useFixture(fixtures.EnvironmentVariable('OS_USERNAME', 'adm'))
        args = self.parse('list')
        self.assertEqual('http://k:5000/v3', args.os_auth_url)
        self.assertEqual('adm', args.os_username)
        self.assertEqual('Default', args.os_user_domain_name)
        self.assertRaises(ValueError, common.session_from_args, args)


class TestRendering(base.TestCase):

    def test_counts_from_summary_only(self):
        doc = {'session_id': 'S', 'state': 'SCALE_IN',
               'hosts_done': 2, 'hosts_total': 4, 'percent_done': 50}
        self.assertEqual((2, 4), progress.host_counts(doc))

    def test_summary(self):
        summary = progress.summarize(detail('MAINTENANCE_DONE', done=3))
        self.assertEqual('MAINTENANCE_DONE', summary['state'])
        self.assertEqual(['compute-0', 'compute-1', 'compute-2'],
                         summary['hosts_maintained'])
        self.assertEqual({'MIGRATE:DONE': 1}, summary['instance_actions'])
        self.assertEqual('i-1', summary['instances_moved'][0]['instance_id'])
        self.assertEqual(90.0, summary['session_duration'])
        text = progress.render_summary(summary)
        self.assertIn('hosts maintained: 3/3', text)
        self.assertIn('MIGRATE:DONE x1', text)

    def test_summary_of_failure(self):
        summary = progress.summarize(detail('MAINTENANCE_FAILED', done=1,
                                            error='project p silent'))
        self.assertEqual(['project p silent'], summary['errors'])
        self.assertEqual(['compute-1', 'compute-2'],
                         summary['hosts_not_maintained'])
        self.assertIn('error: project p silent',
                      progress.render_summary(summary))

    def test_summary_of_projects(self):
        summary = progress.summarize(
            detail('PLANNED_MAINTENANCE', project_event='PLANNED_MAINTENANCE'))
        self.assertEqual({'abcdef0123456789': 'PLANNED_MAINTENANCE?'},
                         summary['projects'])
        summary = progress.summarize(
            detail('PLANNED_MAINTENANCE', project_event='PLANNED_MAINTENANCE',
                   reply='ACK_PLANNED_MAINTENANCE'))
        self.assertEqual({'abcdef0123456789': 'ACK_PLANNED_MAINTENANCE'},
                         summary['projects'])


class TestAgainstFakeFenix(base.TestCase):

    def setUp(self):
        super().setUp()
        self.fenix = fakes.FakeFenix().start()
        self.addCleanup(self.fenix.stop)
        self.stderr = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.stderr))

    def run_cmd(self, *argv):
        out = io.StringIO()
        code = cmd.main(['--fenix-url', self.fenix.url + '/v1'] +
                        list(argv), out=out)
        return code, out.getvalue()

    def test_create(self):
        code, out = self.run_cmd('create', '--hosts', 'c1', '--in', '10')
        self.assertEqual(0, code)
        self.assertIn('Created session ', out)
        body = self.fenix.created[0]
        self.assertEqual(['c1'], body['hosts'])
        self.assertEqual('default', body['workflow'])
        self.assertIn('maintenance_at', body)

    def test_create_json(self):
        code, out = self.run_cmd('create', '--json')
        self.assertEqual(0, code)
        self.assertIn('session_id', json.loads(out))

    def test_follow_to_done(self):
        self.fenix.details['S'] = [
            detail('MAINTENANCE', project_event='MAINTENANCE'),
            detail('SCALE_IN', project_event='SCALE_IN',
                   reply='ACK_SCALE_IN'),
            detail('PLANNED_MAINTENANCE', done=1),
            detail('MAINTENANCE_DONE', done=3)]
        code, out = self.run_cmd('follow', 'S', '--interval', '0.01')
        self.assertEqual(0, code)
        lines = out.splitlines()
        self.assertIn('0/3 hosts', lines[0])
        self.assertIn('MAINTENANCE_DONE', lines[3])
        self.assertIn('Session S: MAINTENANCE_DONE', out)
        self.assertIn('hosts maintained: 3/3', out)

    def test_follow_failed(self):
        self.fenix.details['S'] = [
            detail('MAINTENANCE'),
            detail('MAINTENANCE_FAILED', error='no reply from p')]
        code, out = self.run_cmd('follow', 'S', '--interval', '0.01')
        self.assertEqual(1, code)
        self.assertIn('error: no reply from p', out)

    def test_follow_timeout(self):
        self.fenix.details['S'] = [detail('PLANNED_MAINTENANCE', done=1)]
        code, out = self.run_cmd('follow', 'S', '--interval', '0.01',
                                 '--timeout', '0.2')
        self.assertEqual(1, code)
        self.assertIn('gave up following', out)

    def test_follow_json(self):
        self.fenix.details['S'] = [detail('MAINTENANCE_DONE', done=3)]
        code, out = self.run_cmd('follow', 'S', '--json')
        self.assertEqual(0, code)
        summary = json.loads(out.splitlines()[-1])
        self.assertEqual('MAINTENANCE_DONE', summary['state'])
        self.assertFalse(summary['timed_out'])

    def test_follow_unknown_session(self):
        code, out = self.run_cmd('follow', 'nope', '--interval', '0.01')
        self.assertEqual(1, code)
        self.assertIn('not found', out)

    def test_follow_with_the_tools_client(self):
        # The demo and the integration tier follow with FenixClient.
        self.fenix.details['S'] = [detail('MAINTENANCE'),
                                   detail('MAINTENANCE_DONE', done=3)]
        client = common.FenixClient(url=self.fenix.url)
        out = io.StringIO()
        result = progress.follow(client, 'S', interval=0.01, timeout=30,
                                 display=client_progress.Display(
                                     out, tty=False))
        self.assertEqual((0, 'MAINTENANCE_DONE'),
                         (result.exit_code, result.state))
        self.assertEqual(2, len(out.getvalue().splitlines()))

    def test_create_and_follow(self):
        self.fenix.next_session_id = 'S'
        self.fenix.details['S'] = [detail('MAINTENANCE_DONE', done=3)]
        code, out = self.run_cmd('create', '--follow', '--interval', '0.01')
        self.assertEqual(0, code)
        self.assertIn('Created session S', out)
        self.assertIn('MAINTENANCE_DONE', out)

    def test_show_list_continue_delete(self):
        self.fenix.details['S'] = [detail('MAINTENANCE_FAILED', done=1)]
        code, out = self.run_cmd('show', 'S')
        self.assertEqual(0, code)
        self.assertIn('1/3 hosts', out)
        code, out = self.run_cmd('show', 'S', '--detail')
        self.assertEqual('S', json.loads(out)['session_id'])
        self.run_cmd('create')
        code, out = self.run_cmd('list')
        self.assertEqual(0, code)
        self.assertEqual(2, len(out.splitlines()))
        code, out = self.run_cmd('continue', 'S', '--state',
                                 'PLANNED_MAINTENANCE')
        self.assertEqual(0, code)
        self.assertIn('from PLANNED_MAINTENANCE', out)
        put = [c for c in self.fenix.calls if c[0] == 'PUT'][0]
        self.assertEqual(('/v1/maintenance/S',
                          {'state': 'PLANNED_MAINTENANCE'}), put[1:3])
        code, out = self.run_cmd('delete', 'S')
        self.assertEqual(0, code)
        code, out = self.run_cmd('delete', 'S')
        self.assertEqual(2, code)
        self.assertIn('HTTP 404', self.stderr.getvalue())
        self.assertIn('Session S not found', self.stderr.getvalue())

    def test_pause_resume_skip_retry(self):
        self.fenix.details['S'] = [detail('MAINTENANCE_DONE', done=3)]
        for argv, body, words in [
                (('pause', 'S', '--reason', 'freeze'),
                 {'action': 'pause', 'reason': 'freeze'},
                 'pause requested'),
                (('resume', 'S'), {'action': 'resume'}, 'resumed'),
                (('skip', 'S', 'compute-2', '--reason', 'RMA'),
                 {'action': 'skip_host', 'host': 'compute-2',
                  'reason': 'RMA'}, 'host compute-2 to be skipped'),
                (('retry', 'S', '--follow', '--interval', '0.01'),
                 {'action': 'retry'}, 'retried')]:
            code, out = self.run_cmd(*argv)
            self.assertEqual(0, code, out)
            self.assertIn(words, out)
            post = [c for c in self.fenix.calls if c[0] == 'POST'][-1]
            self.assertEqual(('/v1/maintenance/S', body), post[1:3])
        # --follow followed the session to its end.
        self.assertIn('Session S: MAINTENANCE_DONE', out)

    def test_unreachable(self):
        port = common.free_port()
        out = io.StringIO()
        code = cmd.main(['--fenix-url', 'http://127.0.0.1:%d' % port,
                         'list'], out=out)
        self.assertEqual(2, code)
        self.assertIn('fenix-admin:', self.stderr.getvalue())


class TestClient(base.TestCase):

    def test_base_url(self):
        for url in ('http://h:1', 'http://h:1/', 'http://h:1/v1',
                    'http://h:1/v1/'):
            self.assertEqual('http://h:1', common.base_url(url))
        client = common.FenixClient(url='http://h:1/v1')
        self.assertEqual('http://h:1/v1/maintenance',
                         client.absolute('/v1/maintenance'))
        self.assertEqual('http://o/x', client.absolute('http://o/x'))

    def test_catalog_lookup(self):
        class Session(object):
            def get_endpoint(self, **kw):
                self.kw = kw
                return 'http://fenix:12347/v1'
        session = Session()
        client = common.FenixClient(session=session, interface='internal')
        self.assertEqual('http://fenix:12347', client.url)
        self.assertEqual('maintenance', session.kw['service_type'])
        self.assertEqual('internal', session.kw['interface'])
