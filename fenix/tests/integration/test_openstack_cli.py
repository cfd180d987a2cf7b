# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``openstack maintenance`` commands with real Keystone tokens: the
``openstack`` program of python-openstackclient with Fenix's plug-in, a
clouds.yaml per user, Fenix found in the real catalog."""
import json
import os
import subprocess
import sys

import fixtures
from testtools import content

from fenix.tests.integration import base
from fenix_tools import demo_openstack

# Seconds one command may take (a dry run plans the whole cloud).
COMMAND_TIMEOUT = 300


class TestOpenStackCommands(base.IntegrationTestCase):

    fenix_overrides = {}

    def cli(self, user):
        command = demo_openstack.openstack_command()
        self.assertIsNotNone(
            command, 'no openstack command with the maintenance plug-in '
                     'beside %s' % sys.executable)
        data = self.cloud.data['users'][user]
        clouds = demo_openstack.write_clouds_yaml(
            os.path.join(self.workdir, 'clouds-%s.yaml' % user),
            {'auth_url': self.cloud.auth_url, 'username': user,
             'password': data['password'], 'project_name': data['project']},
            cloud=user)
        return demo_openstack.OpenStackCLI(command, clouds, cloud=user)

    def run_cli(self, cli, *args):
        done = subprocess.run(cli.argv(*args), env=cli.env,
                              capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT,
                              stdin=subprocess.DEVNULL)
        self.addDetail('%s %s' % (cli.cloud, ' '.join(args[:2])),
                       content.text_content(
                           done.stdout + done.stderr))
        return done

    def setUp(self):
        super().setUp()
        self.workdir = self.useFixture(fixtures.TempDir()).path

    def test_dry_run_and_list_as_admin_refused_for_a_member(self):
        admin = self.cli('admin')
        computes = sorted(self.cloud.data['computes'])
        done = self.run_cli(admin, 'session', 'create', '--dry-run',
                            '--hosts', ','.join(computes), '-f', 'json')
        self.assertEqual(0, done.returncode, done.stderr)
        plan = json.loads(done.stdout)
        self.assertEqual('MAINTENANCE_DONE', plan['state'])
        self.assertEqual(computes, sorted(
            h for wave in plan['waves'] for h in wave['hosts']))
        # Nothing moved: a dry run.
        self.assertEqual([], self.cloud.migrations())

        done = self.run_cli(admin, 'session', 'list', '-f', 'json')
        self.assertEqual(0, done.returncode, done.stderr)
        self.assertIn(plan['session_id'],
                      [s['session_id'] for s in json.loads(done.stdout)])

        # A project member's token: the policy refuses sessions.
        member = self.cli('vnfm1')
        done = self.run_cli(member, 'session', 'list', '-f', 'json')
        self.assertNotEqual(0, done.returncode)
        self.assertIn('403', done.stderr)
