# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix-demo: its pieces, a full run, and its cleanup on failure and on
SIGTERM. The full runs start the real all-in-one as a child process."""
import configparser
import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading

import fixtures

from fenix.tests.unit.tools import base
from fenix_tools.admin import cmd
from fenix_tools import common
from fenix_tools import demo
from fenix_tools import demo_cloud

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..', '..'))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill 0; look at its state.
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except OSError:
        return False


class TestPieces(base.TestCase):

    def write_config(self, **kwargs):
        """The demo's fenix.conf for a cloud whose simulator is at
        http://sim; (the cloud, its directory, the parsed file)."""
        tmp = self.useFixture(fixtures.TempDir()).path
        cloud = demo_cloud.DemoCloud()
        cloud.sim = type('Sim', (), {
            'auth_url': 'http://sim/identity/v3',
            'control_url': 'http://sim/sim'})()
        path = demo.write_fenix_config(os.path.join(tmp, 'f.conf'), tmp,
                                       4242, cloud, 15, **kwargs)
        conf = configparser.ConfigParser()
        conf.read(path)
        return cloud, tmp, conf

    def test_fenix_config(self):
        _, tmp, conf = self.write_config()
        self.assertEqual('4242', conf['api']['port'])
        self.assertEqual('noauth', conf['api']['auth_strategy'])
        su = conf['service_user']
        self.assertEqual(('password', 'http://sim/identity/v3', 'fenix',
                          'service', 'Default', 'Default'),
                         (su['auth_type'], su['auth_url'], su['username'],
                          su['project_name'], su['user_domain_name'],
                          su['project_domain_name']))
        self.assertEqual('sqlite:///%s/fenix.sqlite' % tmp,
                         conf['database']['connection'])
        self.assertEqual('fenix-http',
                         conf['oslo_messaging_notifications']['driver'])
        self.assertEqual('http://sim/sim/notifications',
                         conf['notification_http']['url'])
        self.assertEqual('15',
                         conf['workflow']['reply_window_scale_in'])
        self.assertEqual(os.path.join(tmp, 'downloads'),
                         conf['download']['directory'])

    def test_upgrade_config_and_checks(self):
        cloud, _, conf = self.write_config(
            playbooks=demo.playbook_directory())
        self.assertTrue(os.path.isfile(os.path.join(
            conf['action_plugins']['playbook_directories'],
            demo.UPGRADE_PLAYBOOK)))
        action = demo.upgrade_action(cloud)
        self.assertEqual(('ansible', 'compute', 'http://sim/sim'),
                         (action['plugin'], action['type'],
                          action['metadata']['extra_vars'][
                              'sim_control_url']))
        good = {'version': '2', 'servers': [], 'disabled': True}
        self.assertEqual([], demo.upgrade_problems(
            [dict(good, host='c0'), dict(good, host='c1')], ['c0', 'c1'],
            '2'))
        self.assertEqual(
            ['c0 upgraded 2 times', 'c0 upgraded while it held 1 '
             'server(s)', 'c0 upgraded while its nova-compute was enabled',
             'c1 upgraded 0 times'],
            demo.upgrade_problems(
                [dict(good, host='c0'),
                 dict(good, host='c0', servers=['s'], disabled=False)],
                ['c0', 'c1'], '2'))

    def test_entry_point_shim(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        self.useFixture(fixtures.MonkeyPatch(
            'fenix_tools.demo._entry_points_installed', lambda: False))
        shim = demo.entry_point_shim(ROOT, os.path.join(tmp, 'ep'))
        text = open(os.path.join(shim, 'fenix-0.0.0.dist-info',
                                 'entry_points.txt')).read()
        self.assertIn('[oslo.messaging.notify.drivers]\n'
                      'fenix-http = fenix.common.notify_http:'
                      'HTTPNotifyDriver', text)
        self.assertIn('[fenix.workflow.plugins]', text)
        self.assertIsNone(demo.entry_point_shim(None, tmp))

    def test_fenix_command(self):
        self.assertEqual(['my', 'aio'], demo.fenix_command('my aio'))
        argv = demo.fenix_command()
        self.assertTrue(argv[0].endswith('fenix-all-in-one') or
                        argv[:2] == [sys.executable, '-c'], argv)

    def test_topology_fills_three_computes(self):
        topo = demo_cloud.seed004_topology()
        computes = [h for h in topo['hosts'] if h['type'] == 'compute']
        flavor = topo['flavors'][0]
        self.assertEqual(3, computes[0]['count'])
        self.assertEqual(2, computes[0]['vcpus'] // flavor['vcpus'])
        self.assertEqual(2, computes[0]['memory_mb'] // flavor['ram'])


class TestDemoRuns(base.TestCase):
    timeout = 240

    def setUp(self):
        super().setUp()
        self.err = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.err))

    def run_demo(self, *argv):
        args = demo.build_parser().parse_args(list(argv))
        runner = demo.Demo(args, out=io.StringIO())
        code = runner.run()
        return code, runner, runner.out.getvalue()

    def assert_cleaned(self, runner):
        self.assertFalse(os.path.exists(runner.tmpdir))
        if runner.fenix is not None:
            self.assertFalse(runner.fenix.alive())
            self.assertFalse(pid_alive(runner.fenix.pid))
        self.assertIsNone(runner.cloud.sim)

    def test_seed004_end_to_end(self):
        # Created and watched with the openstack maintenance commands.
        code, runner, out = self.run_demo('--json', '--timeout', '120',
                                          '--start-in', '2',
                                          '--client', 'openstack')
        summary = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(0, code, '%s\n%s' % (summary, self.err.getvalue()))
        self.assertTrue(summary['ok'])
        self.assertEqual('openstack', summary['client'])
        self.assertEqual('MAINTENANCE_DONE', summary['state'])
        self.assertEqual(['compute-0', 'compute-1', 'compute-2'],
                         summary['hosts_maintained'])
        self.assertEqual([], summary['violations'])
        self.assertEqual([], summary['computes_left_disabled'])
        self.assertEqual([], summary['servers_on_hosts_in_maintenance'])
        self.assertTrue(summary['migrations'])
        events = summary['vnfm']['events']
        self.assertEqual('MAINTENANCE', events[0])
        self.assertEqual('MAINTENANCE_COMPLETE', events[-1])
        self.assertIn('SCALE_IN', events)
        self.assertIn('ACK_MAINTENANCE_COMPLETE',
                      summary['vnfm']['replies'])
        self.assertEqual(6, summary['vnfm']['servers'])
        self.assert_cleaned(runner)

    def test_upgrade_end_to_end(self):
        code, runner, out = self.run_demo('--json', '--timeout', '150',
                                          '--start-in', '2', '--upgrade',
                                          '--client', 'library')
        summary = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(0, code, '%s\n%s' % (summary, self.err.getvalue()))
        self.assertEqual('library', summary['client'])
        self.assertEqual('MAINTENANCE_DONE', summary['state'])
        self.assertEqual(
            [('compute-0', '2026.2', [], True),
             ('compute-1', '2026.2', [], True),
             ('compute-2', '2026.2', [], True)],
            sorted((u['host'], u['version'], u['servers'], u['disabled'])
                   for u in summary['upgrades']))
        self.assertEqual([], summary['violations'])
        self.assert_cleaned(runner)

    def test_silent_manager_is_noticed(self):
        # Silent on PLANNED_MAINTENANCE: no switch-over, no answer. Fenix
        # either moves the active server anyway (a violation the VNFM
        # records) or fails the session; either way the demo fails.
        code, runner, out = self.run_demo(
            '--json', '--vnfm-silent', 'PLANNED_MAINTENANCE',
            '--reply-window', '2', '--start-in', '1', '--timeout', '120')
        summary = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(1, code)
        self.assertFalse(summary['ok'])
        self.assertTrue(summary['violations'] or
                        summary['state'] != 'MAINTENANCE_DONE', summary)
        self.assertNotIn('ACK_PLANNED_MAINTENANCE',
                         summary['vnfm']['replies'])
        for v in summary['violations']:
            self.assertTrue(v['since'])
        self.assert_cleaned(runner)

    def test_failed_session_prints_fenix_log(self):
        code, runner, out = self.run_demo('--workflow', 'no-such-workflow',
                                          '--timeout', '60')
        self.assertEqual(1, code)
        self.assertIn('result: FAIL', out)
        self.assertIn('last 40 lines of the Fenix log', self.err.getvalue())
        self.assertIn('fenix.api', self.err.getvalue())
        self.assert_cleaned(runner)

    def test_fenix_that_does_not_start(self):
        code, runner, out = self.run_demo('--fenix-command', 'false')
        self.assertEqual(2, code)
        self.assertIn('setup: fenix-all-in-one exited with code 1', out)
        self.assert_cleaned(runner)


class TestSigterm(base.TestCase):
    timeout = 120

    def setUp(self):
        super().setUp()

    def test_sigterm_cleans_up(self):
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            p for p in (ROOT, os.path.join(ROOT, 'tools'),
                        env.get('PYTHONPATH')) if p)
        proc = subprocess.Popen(
            [sys.executable, '-m', 'fenix_tools.demo', '--start-in', '30'],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
            text=True, start_new_session=True)
        self.addCleanup(proc.stdout.close)
        lines = queue.Queue()

        def read():
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)
        threading.Thread(target=read, daemon=True).start()
        fenix_pid = tmpdir = None
        seen = []
        while True:
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                os.killpg(proc.pid, signal.SIGKILL)
                self.fail('demo did not get going:\n' + ''.join(seen))
            if line is None:
                self.fail('demo ended early:\n' + ''.join(seen))
            seen.append(line)
            match = re.search(r'pid (\d+), log (\S+)/fenix.log', line)
            if match:
                fenix_pid, tmpdir = int(match.group(1)), match.group(2)
            if 'created: workflow' in line:
                break
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            self.fail('demo did not stop on SIGTERM')
        self.assertEqual(128 + signal.SIGTERM, code)
        self.assertFalse(pid_alive(fenix_pid))
        self.assertFalse(os.path.exists(tmpdir))
        rest = []
        while True:
            line = lines.get(timeout=10)
            if line is None:
                break
            rest.append(line)
        self.assertIn('problem: interrupted', ''.join(rest))


class TestAdminAgainstFenix(base.TestCase):
    """fenix-admin against the real all-in-one (no application)."""

    timeout = 180

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', io.StringIO()))
        args = demo.build_parser().parse_args([])
        self.runner = demo.Demo(args, out=io.StringIO())
        self.addCleanup(self.runner.cleanup)
        self.runner.tmpdir = self.useFixture(fixtures.TempDir()).path
        self.runner.start_cloud()
        self.runner.start_fenix(common.free_port())

    def admin(self, *argv):
        out = io.StringIO()
        code = cmd.main(list(argv), out=out)
        return code, out.getvalue()

    def test_session_lifecycle_with_keystone_and_catalog(self):
        sim = self.runner.cloud.sim
        auth = sim.auth_args('admin')
        keystone = ['--os-auth-url', auth['auth_url'], '--os-username',
                    'admin', '--os-password', auth['password'],
                    '--os-project-name', 'admin']
        code, out = self.admin(*keystone + [
            'create', '--in', '0', '--follow', '--interval', '0.2',
            '--timeout', '60', '--metadata', '{"openstack_version": "T"}'])
        self.assertEqual(0, code, out)
        session_id = re.search(r'Created session (\S+)', out).group(1)
        self.assertIn('MAINTENANCE_DONE', out)
        self.assertIn('hosts maintained: 3/3', out)
        url = ['--fenix-url', self.runner.fenix_url + '/v1']
        code, out = self.admin(*url + ['list'])
        self.assertEqual(0, code)
        self.assertIn(session_id, out)
        code, out = self.admin(*url + ['show', session_id, '--json'])
        self.assertEqual('MAINTENANCE_DONE', json.loads(out)['state'])
        code, out = self.admin(*url + ['follow', session_id, '--json'])
        self.assertEqual(0, code)
        self.assertEqual(['compute-0', 'compute-1', 'compute-2'],
                         json.loads(out)['hosts_maintained'])
        code, out = self.admin(*url + ['delete', session_id])
        self.assertEqual(0, code)
        code, out = self.admin(*url + ['show', session_id])
        self.assertEqual(2, code)
