# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
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
import requests

from fenix.tests.unit.tools import base
from fenix.tests.unit.tools import fakes
from fenix_tools import demo_cloud
from fenix_tools.vnfm import cmd

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..', '..'))


class TestArguments(base.TestCase):

    def test_mapping(self):
        args = cmd.build_parser().parse_args([
            '--app', 'seed004', '--nonha-count', '2', '--flavor', 'f',
            '--scale-in-count', '1', '--scale-in-policy', 'colocated',
            '--event-type', 'maintenance.scheduled',
            '--event-type', 'maintenance.planned',
            '--silent', 'SCALE_IN', '--nack', 'MAINTENANCE',
            '--reply-delay', '2', '--ignore-reply-at',
            '--instance-action', 'seed004-ha-0=LIVE_MIGRATE',
            '--ack-instance-action-done', '--no-switch-over',
            '--repeat-replies', '1.2,2.5',
            '--listen', '127.0.0.1:0', '--fenix-url', 'http://f:1'])
        vnfm = cmd.make_vnfm(args, session=object())
        self.assertEqual(2, vnfm.app.nonha_count)
        self.assertEqual(2, vnfm.app.ha_count)
        self.assertEqual('f', vnfm.app.flavor)
        self.assertEqual(1, vnfm.app.scale_in_count)
        self.assertEqual('colocated', vnfm.app.scale_in_policy)
        self.assertEqual(('maintenance.scheduled', 'maintenance.planned'),
                         vnfm.event_types)
        b = vnfm.behaviour
        self.assertEqual({'SCALE_IN'}, b.silent)
        self.assertEqual({'MAINTENANCE'}, b.nack)
        self.assertEqual(2.0, b.reply_delay)
        self.assertFalse(b.honour_reply_at)
        self.assertEqual({'seed004-ha-0': 'LIVE_MIGRATE'},
                         b.instance_actions)
        self.assertTrue(b.ack_instance_action_done)
        self.assertFalse(b.switch_over)
        self.assertEqual((1.2, 2.5), b.repeat_replies)
        self.assertEqual(('127.0.0.1', 0), vnfm.listen)

    def test_bad_arguments(self):
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', io.StringIO()))
        parser = cmd.build_parser()
        for argv in (['--instance-action', 'x=JUMP'],
                     ['--event-type', 'maintenance.host'],
                     ['--app', 'nope'], ['--repeat-replies', 'soon'],
                     ['--repeat-replies', '1,-2'], ['--repeat-replies', '']):
            self.assertRaises(SystemExit, parser.parse_args, argv)
        args = parser.parse_args([])
        for name in ('auth_url', 'username', 'password', 'project'):
            setattr(args, name, None)
        self.assertRaises(ValueError, cmd.make_vnfm, args)


class TestCommand(base.TestCase):
    timeout = 120

    def setUp(self):
        super().setUp()
        self.fenix = fakes.FakeFenix().start()
        self.addCleanup(self.fenix.stop)
        self.cloud = demo_cloud.DemoCloud(fenix_url=self.fenix.url)
        self.cloud.start()
        self.addCleanup(self.cloud.stop)

    def test_runs_until_sigterm(self):
        creds = self.cloud.tenant_credentials()
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            p for p in (ROOT, os.path.join(ROOT, 'tools'),
                        env.get('PYTHONPATH')) if p)
        proc = subprocess.Popen(
            [sys.executable, '-m', 'fenix_tools.vnfm.cmd',
             '--auth-url', creds['auth_url'], '--username',
             creds['username'], '--password', creds['password'],
             '--project', creds['project_name'], '--flavor',
             demo_cloud.FLAVOR, '--nonha-count', '1'],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
            text=True, start_new_session=True)
        self.addCleanup(proc.stdout.close)
        lines = queue.Queue()

        def read():
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)
        threading.Thread(target=read, daemon=True).start()
        line = lines.get(timeout=60)
        self.assertIsNotNone(line)
        match = re.search(r'listening on (\S+) \(webhook (\S+)\)', line)
        self.assertIsNotNone(match, line)
        status = requests.get(match.group(1) + '/status', timeout=10).json()
        self.assertEqual(3, len(status['servers']))
        self.assertEqual(match.group(2), status['webhook_url'])
        # Fenix was found in the catalog.
        self.assertEqual(self.fenix.url, status['fenix_url'])
        self.assertEqual(3, len(self.cloud.server_hosts()))
        self.assertEqual(3, len(self.fenix.instances))
        proc.send_signal(signal.SIGTERM)
        try:
            self.assertEqual(0, proc.wait(timeout=60))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        rest = []
        while True:
            line = lines.get(timeout=10)
            if line is None:
                break
            rest.append(line)
        self.assertIn('0 violations', ''.join(rest))
        self.assertEqual({'violations': []}, json.loads(rest[-1]))
        self.assertEqual({}, self.cloud.server_hosts())
        self.assertEqual({}, self.fenix.instances)
