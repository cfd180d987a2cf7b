# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``openstack maintenance`` commands against a live all-in-one on the
simulated cloud: the commands run in cliff's App (fenix.tests.osc_app)
with the client the plug-in makes from a Keystone session of the cloud's
admin (the endpoint from the catalog); the progress display of ``session
watch`` is read from a pseudo-terminal.

The cloud is the default workflow tests' small one (a and b on
compute-0, c on compute-1, d on compute-2; their project has no manager).
"""
import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import time

import fixtures
import testtools
from testtools import content
import yaml

from fenix.client import progress
from fenix.tests.functional import cloud_fixture as cf
from fenix.tests.functional import test_default_workflow as tdw
from fenix.tests import osc_app

DONE = 'MAINTENANCE_DONE'
FAILED = 'MAINTENANCE_FAILED'
COMPUTES = ['compute-0', 'compute-1', 'compute-2']
# Seconds the pty test waits for the watching process to end.
WATCH_TIMEOUT = 120


class _CliTestBase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(400, gentle=True))
        self.cloud = self.useFixture(cf.FenixCloud(tdw._pre_placed(
            computes=3)))
        self.addOnException(lambda exc_info: self.addDetail(
            'fenix-log', content.text_content(self.cloud.log_tail(200))))
        self.auth = self.cloud.sim.auth_args('admin')
        self.client = osc_app.make_client(
            osc_app.password_session(**self.auth))

    def openstack(self, *argv):
        """(exit status, stdout, stderr) of ``openstack maintenance ...``.
        """
        out, err = io.StringIO(), io.StringIO()
        status = osc_app.MaintenanceApp(self.client, out, err).run(
            ['maintenance'] + list(argv))
        return status, out.getvalue(), err.getvalue()

    def ok(self, *argv):
        status, out, err = self.openstack(*argv)
        self.assertEqual(0, status, 'stdout: %s\nstderr: %s' % (out, err))
        return out


class CliTestCase(_CliTestBase):

    def test_endpoint_from_the_catalog(self):
        self.assertEqual(self.cloud.url, self.client.endpoint)

    def test_dry_run_prints_the_plan(self):
        plan = json.loads(self.ok('session', 'create', '--dry-run',
                                  '--max-concurrent-migrations', '2',
                                  '-f', 'json'))
        self.assertEqual(DONE, plan['state'])
        self.assertEqual(sorted(COMPUTES),
                         sorted(h for w in plan['waves'] for h in w['hosts']))
        self.assertEqual(plan['moves'],
                         sum(len(w['moves']) for w in plan['waves']))
        self.assertGreater(plan['moves'], 0)
        self.assertGreater(plan['estimated_duration'], 0)
        self.assertEqual([], self.cloud.migrations())
        # The table shows each wave and move on lines of their own.
        table = self.ok('session', 'create', '--dry-run')
        self.assertIn('wave 0: ', table)
        self.assertIn('MIGRATE ', table)
        detail = self.client.get_session_detail(plan['session_id'])
        self.assertEqual({'max_concurrent_migrations': 2, 'dry_run': True},
                         {k: detail['options'].get(k) for k in
                          ('max_concurrent_migrations', 'dry_run')})

    def test_create_wait_done_then_read_and_delete(self):
        status, out, err = self.openstack(
            'session', 'create', '--wait', '--interval', '0.1',
            '--hosts', 'compute-0,compute-1', '--hosts', 'compute-2',
            '--metadata', 'openstack_version=Train',
            '--max-concurrent-migrations', '1', '--reply-window', '5',
            '--nack-policy', 'skip_host', '--estimate', 'cold_migration=7',
            '-f', 'json')
        self.assertEqual(0, status, err)
        session = json.loads(out)
        sid = session['session_id']
        self.assertEqual(DONE, session['state'])
        self.assertEqual((3, 3), (session['hosts_done'],
                                  session['hosts_total']))
        self.assertEqual({'openstack_version': 'Train'}, session['metadata'])
        self.assertEqual({'max_concurrent_migrations': 1,
                          'reply_window': 5, 'nack_policy': 'skip_host',
                          'estimates': {'cold_migration': 7.0}},
                         {k: session['options'].get(k) for k in (
                             'max_concurrent_migrations', 'reply_window',
                             'nack_policy', 'estimates')})
        # Progress on stderr (stdout stays JSON), then the outcome.
        self.assertIn('3/3 hosts 100% ' + DONE, err)
        self.assertIn('Session %s: %s' % (sid, DONE), err)
        self.assertIn('hosts maintained: 3/3', err)

        listed = json.loads(self.ok('session', 'list', '-f', 'json'))
        self.assertEqual([(sid, DONE, 3, 3)],
                         [(s['session_id'], s['state'], s['hosts_done'],
                           s['hosts_total']) for s in listed])
        shown = yaml.safe_load(self.ok('session', 'show', sid, '-f', 'yaml'))
        self.assertEqual(100, shown['percent_done'])
        detail = json.loads(self.ok('session', 'detail', sid, '-f', 'json'))
        self.assertEqual(sorted(COMPUTES), sorted(
            h['hostname'] for h in detail['hosts'] if h['maintained']))
        self.assertTrue(detail['history'])
        table = self.ok('session', 'detail', sid)
        self.assertIn('compute-0 MAINTAINED maintained', table)
        self.assertEqual([], json.loads(self.ok(
            'plugin-run', 'list', sid, '-f', 'json')))

        self.assertEqual('', self.ok('session', 'delete', sid))
        self.assertEqual([], json.loads(self.ok('session', 'list', '-f',
                                                'json')))
        status, _, err = self.openstack('session', 'show', sid)
        self.assertEqual(1, status)
        self.assertIn('not found', err)

    def test_create_wait_failed_exits_1(self):
        self.cloud.sim.fail_migrations(server='a', reason='injected: always')
        status, out, err = self.openstack(
            'session', 'create', '--wait', '--interval', '0.1',
            '--max-concurrent-migrations', '1', '-f', 'json')
        self.assertEqual(1, status, err)
        session = json.loads(out)
        self.assertEqual(FAILED, session['state'])
        self.assertTrue(session['error'])
        self.assertIn('Session %s: %s' % (session['session_id'], FAILED),
                      err)
        self.assertIn('error: ', err)
        # A conflict is reported with the API's message, exit status 1.
        status, _, err = self.openstack('session', 'pause',
                                        session['session_id'])
        self.assertEqual(1, status)
        self.assertIn('409', err)
        # Watching a session that ended: its outcome, exit status 1.
        status, out, _ = self.openstack('session', 'watch',
                                        session['session_id'])
        self.assertEqual(1, status)
        self.assertIn('failed in state: ', out)

    def test_instance_group_and_constraint_commands(self):
        project = self.cloud.sim.auth_args('vnfm-tenant1')['project_id']
        group = self.ok('instance-group', 'set', 'g-1', '--project',
                        project, '--name', 'ha', '--anti-affinity-group',
                        '--max-impacted-members', '1', '-f', 'json')
        self.assertEqual({'group_id': 'g-1', 'project_id': project,
                          'group_name': 'ha', 'anti_affinity_group': True,
                          'max_impacted_members': 1},
                         {k: json.loads(group).get(k) for k in (
                             'group_id', 'project_id', 'group_name',
                             'anti_affinity_group',
                             'max_impacted_members')})
        # set keeps what it is not told to change.
        group = json.loads(self.ok('instance-group', 'set', 'g-1',
                                   '--recovery-time', '4', '-f', 'json'))
        self.assertEqual(('ha', 4, project), (group['group_name'],
                                              group['recovery_time'],
                                              group['project_id']))
        self.ok('instance-constraint', 'set', 'i-1', '--project', project,
                '--group', 'g-1', '--migration-type', 'LIVE_MIGRATE',
                '--max-interruption-time', '3')
        shown = json.loads(self.ok('instance-constraint', 'show', 'i-1',
                                   '-f', 'json'))
        self.assertEqual(('g-1', 'LIVE_MIGRATE', 3), (
            shown['group_id'], shown['migration_type'],
            shown['max_interruption_time']))
        self.assertEqual(['i-1'], [i['instance_id'] for i in json.loads(
            self.ok('instance-constraint', 'list', '--project', project,
                    '-f', 'json'))])
        self.assertEqual(['g-1'], [g['group_id'] for g in json.loads(
            self.ok('instance-group', 'list', '-f', 'json'))])
        self.ok('instance-constraint', 'delete', 'i-1')
        self.ok('instance-group', 'delete', 'g-1')
        self.assertEqual([], json.loads(self.ok('instance-group', 'list',
                                                '-f', 'json')))


class ProgressDisplayTestCase(_CliTestBase):
    """``session watch`` in a pseudo-terminal: the line is redrawn in
    place and ends with the outcome; the exit status is 0 for DONE."""

    def read_pty(self, argv, on_output=None):
        """Run ``argv`` with a pty as stdout; (exit status, output).

        ``on_output(text)`` is called with the output so far each time
        more arrives.
        """
        master, slave = pty.openpty()
        proc = subprocess.Popen(argv, stdout=slave, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        os.close(slave)
        self.addCleanup(os.close, master)
        chunks = []
        deadline = time.monotonic() + WATCH_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not data:
                break
            chunks.append(data)
            if on_output is not None:
                on_output(b''.join(chunks).decode('utf-8', 'replace'))
        status = proc.wait(WATCH_TIMEOUT)
        self.addDetail('stderr', content.text_content(
            proc.stderr.read().decode('utf-8', 'replace')))
        proc.stderr.close()
        return status, b''.join(chunks).decode('utf-8', 'replace')

    def watch_argv(self, sid):
        return [sys.executable, '-m', 'fenix.tests.osc_app',
                '--auth-url', self.auth['auth_url'],
                '--username', 'admin', '--password', 'adminpass',
                '--project-id', self.auth['project_id'],
                'maintenance', 'session', 'watch', sid, '--interval', '0.1']

    def test_watch_in_a_terminal(self):
        """Paused at once, the session is watched; once the display shows
        it PAUSED it is resumed and runs to its end."""
        sid = self.client.create_session(max_concurrent_migrations=1)[
            'session_id']
        self.client.pause_session(sid, reason='until the watch shows it')
        resumed = []

        def resume_when_paused(text):
            if not resumed and ' PAUSED ' in text:
                resumed.append(self.client.resume_session(sid))
        status, output = self.read_pty(self.watch_argv(sid),
                                       resume_when_paused)
        self.assertEqual(0, status, output)
        self.assertEqual(1, len(resumed), output)
        # The terminal turns '\n' into '\r\n'.
        lines = output.replace('\r\n', '\n').split('\n')
        frames = lines[0].split('\r')[1:]
        frame_re = (r'^\[[#.]{20}\] (\d)/3 hosts +\d+%% ([A-Z_]+)'
                    r'.* \| \d+s%s$' % re.escape(progress.ERASE_LINE))
        done = []
        for frame in frames:
            match = re.match(frame_re, frame)
            self.assertIsNotNone(match, frame)
            done.append(int(match.group(1)))
        self.assertEqual(sorted(done), done, 'hosts done went down')
        self.assertIn('PAUSED', [re.match(frame_re, f).group(2)
                                 for f in frames])
        self.assertGreater(len(set(done)), 1, output)
        self.assertIn('3/3 hosts 100% ' + DONE, frames[-1])
        self.assertIn('=no-manager', frames[-1])
        self.assertEqual('Session %s: %s' % (sid, DONE), lines[1])
        self.assertEqual('  hosts maintained: 3/3', lines[2])

    def test_watch_to_a_pipe_prints_lines(self):
        sid = self.client.create_session()['session_id']
        proc = subprocess.run(
            self.watch_argv(sid), capture_output=True, text=True,
            timeout=WATCH_TIMEOUT)
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertNotIn('\r', proc.stdout)
        lines = proc.stdout.splitlines()
        self.assertIn('3/3 hosts 100% ' + DONE, lines[-4])
        self.assertFalse([a for a, b in zip(lines, lines[1:]) if a == b],
                         'a line printed twice in a row')
