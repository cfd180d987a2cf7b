# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix-status upgrade check (run as the console script runs it: the
module, in a process of its own)."""
import json
import os
import subprocess
import sys

import sqlalchemy as sa

from fenix.db import migration
from fenix.tests import base

SERVICE_USER = """
[service_user]
auth_type = password
auth_url = http://127.0.0.1:1/identity/v3
username = fenix
password = secret
project_name = service
user_domain_name = Default
project_domain_name = Default
"""


class TestUpgradeCheck(base.TestCase):

    def setUp(self):
        super().setUp()
        self.url = 'sqlite:///%s' % os.path.join(self.tmpdir, 'f.sqlite')
        self.conf = os.path.join(self.tmpdir, 'fenix.conf')

    def write(self, extra='', policy=None):
        text = '[database]\nconnection = %s\n%s' % (self.url, extra)
        if policy is not None:
            path = os.path.join(self.tmpdir, 'policy.yaml')
            with open(path, 'w') as f:
                f.write(policy)
            text += '\n[oslo_policy]\npolicy_file = %s\n' % path
        with open(self.conf, 'w') as f:
            f.write(text)

    def migrate(self, revision='head'):
        engine = sa.create_engine(self.url)
        self.addCleanup(engine.dispose)
        migration.upgrade(revision, engine=engine)

    def check(self):
        done = subprocess.run(
            [sys.executable, '-m', 'fenix.cmd.status', '--config-file',
             self.conf, 'upgrade', 'check', '--json'],
            capture_output=True, text=True, timeout=120)
        self.assertNotEqual(255, done.returncode, done.stdout + done.stderr)
        doc = json.loads(done.stdout)
        results = {c['check']: (c['result'], c['details'])
                   for c in doc['checks']}
        return done.returncode, results

    def test_ready(self):
        self.migrate()
        self.write(SERVICE_USER, policy='"fenix:metrics:get": "role:admin '
                                        'or role:monitoring"\n')
        code, results = self.check()
        self.assertEqual(0, code, results)
        self.assertEqual({0}, {r for r, _d in results.values()})
        self.assertIn(migration.head(), results['Database schema'][1])

    def test_schema_not_at_head_and_no_service_user(self):
        self.write()
        code, results = self.check()
        self.assertEqual(2, code)
        self.assertEqual(2, results['Database schema'][0])
        self.assertIn('fenix-manage db upgrade',
                      results['Database schema'][1])
        self.assertEqual((2, True), (
            results['Service user'][0],
            '[service_user] auth_type' in results['Service user'][1]))
        self.migrate(migration.revisions()[0])
        code, results = self.check()
        self.assertEqual(2, results['Database schema'][0])
        self.assertIn('behind', results['Database schema'][1])

    def test_policy_file(self):
        self.migrate()
        self.write(SERVICE_USER, policy='"fenix:metrics:gte": "role:admin"\n')
        code, results = self.check()
        self.assertEqual(1, code, results)
        self.assertIn('fenix:metrics:gte', results['Policy file'][1])
        self.write(SERVICE_USER, policy='"fenix:metrics:get": [unclosed\n')
        code, results = self.check()
        self.assertEqual(2, code, results)
        self.assertIn('cannot be used', results['Policy file'][1])
