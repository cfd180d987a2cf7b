# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix-manage."""
import datetime
import io
import os
import subprocess
import sys

import fixtures
from oslo_config import cfg

from fenix.cmd import manage
from fenix.common import states
from fenix import conf as fenix_conf
from fenix.db import api as db_api
from fenix.db import migration
from fenix.tests import base

CONF = fenix_conf.CONF
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))))


class ManageTestCase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.db_path = os.path.join(self.tmpdir, 'fenix.sqlite')
        self.conf_file = self._conf_file(
            connection='sqlite:///' + self.db_path)
        # The DB API reads [database] afresh, from what main() parses.
        self.addCleanup(db_api.reset_for_tests())

    def _conf_file(self, **database):
        path = os.path.join(self.tmpdir, 'fenix-%d.conf' % len(database))
        with open(path, 'w') as f:
            f.write('[database]\n')
            for key, value in database.items():
                f.write('%s = %s\n' % (key, value))
        return path

    def manage(self, *args, conf_file=None):
        """Run main(); returns (exit code, stdout, stderr)."""
        out = io.StringIO()
        err = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', out))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', err))
        code = manage.main(['--config-file', conf_file or self.conf_file] +
                           list(args))
        return code, out.getvalue(), err.getvalue()

    def _migrated(self):
        code, _, err = self.manage('db', 'upgrade')
        self.assertEqual(0, code, err)

    def _use_db(self):
        """Point the DB API of this test at the file main() works on."""
        self.config(group='database', connection='sqlite:///' + self.db_path)

    def test_db_upgrade_and_version(self):
        code, out, err = self.manage('db', 'version')
        self.assertEqual((0, ''), (code, err))
        self.assertIn('None', out)
        code, out, err = self.manage('db', 'upgrade')
        self.assertEqual((0, ''), (code, err))
        self.assertIn(migration.head(), out)
        code, out, err = self.manage('db', 'version')
        self.assertEqual((0, migration.head()), (code, out.strip()))
        self._use_db()
        self.assertEqual(migration.head(), migration.version())

    def test_db_upgrade_to_revision(self):
        first = migration.revisions()[0]
        code, out, err = self.manage('db', 'upgrade', '--revision', first)
        self.assertEqual(0, code, err)
        self._use_db()
        self.assertEqual(first, migration.version())

    def test_db_stamp(self):
        code, out, err = self.manage('db', 'stamp', 'head')
        self.assertEqual(0, code, err)
        self._use_db()
        self.assertEqual(migration.head(), migration.version())
        code, out, err = self.manage('db', 'stamp', 'base')
        self.assertEqual(0, code, err)
        self.assertIsNone(migration.version())

    def test_db_stamp_unknown_revision(self):
        code, out, err = self.manage('db', 'stamp', 'abcdef123456')
        self.assertEqual(1, code)
        self.assertEqual(['fenix-manage: error: '],
                         [line[:21] for line in err.splitlines()])
        self.assertIn('abcdef123456', err)

    def test_db_revision_calls_migration(self):
        calls = []
        self.useFixture(fixtures.MonkeyPatch(
            'fenix.db.migration.revision',
            lambda message, autogenerate: calls.append(
                (message, autogenerate)) or '/x/new.py'))
        code, out, err = self.manage('db', 'revision', '-m', 'add x',
                                     '--autogenerate')
        self.assertEqual((0, ''), (code, err))
        self.assertIn('/x/new.py', out)
        code, out, err = self.manage('db', 'revision', '-m', 'add y')
        self.assertEqual(0, code)
        self.assertEqual([('add x', True), ('add y', False)], calls)

    def _sessions(self):
        self._migrated()
        self._use_db()
        self.addCleanup(db_api.reset_for_tests())
        a = db_api.session_create({'workflow': 'nfv'})['session_id']
        db_api.session_set_engine(a, 'engine-1')
        b = db_api.session_create(
            {'state': states.MAINTENANCE_DONE})['session_id']
        return a, b

    def test_session_list(self):
        a, b = self._sessions()
        code, out, err = self.manage('session', 'list')
        self.assertEqual((0, ''), (code, err))
        lines = out.splitlines()
        self.assertEqual(['ID', 'STATE', 'WORKFLOW', 'ENGINE', 'UPDATED'],
                         lines[0].split())
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        self.assertEqual({a, b}, set(rows))
        self.assertEqual([states.MAINTENANCE, 'nfv', 'engine-1'],
                         rows[a][1:4])
        self.assertEqual([states.MAINTENANCE_DONE, 'default', '-'],
                         rows[b][1:4])
        # The time, as 'YYYY-MM-DD HH:MM:SS'.
        datetime.datetime.strptime(' '.join(rows[a][4:]),
                                   '%Y-%m-%d %H:%M:%S')

    def test_session_list_empty(self):
        self._migrated()
        code, out, err = self.manage('session', 'list')
        self.assertEqual(0, code, err)
        self.assertEqual(1, len(out.splitlines()))

    def test_session_delete(self):
        a, b = self._sessions()
        code, out, err = self.manage('session', 'delete', b)
        self.assertEqual((0, ''), (code, err))
        # A session that may still run needs --force.
        code, out, err = self.manage('session', 'delete', a)
        self.assertEqual(1, code)
        self.assertIn('--force', err)
        self.assertEqual([a], [s['session_id']
                               for s in db_api.session_list()])
        code, out, err = self.manage('session', 'delete', a, '--force')
        self.assertEqual(0, code, err)
        self.assertEqual([], db_api.session_list())
        code, out, err = self.manage('session', 'delete', a)
        self.assertEqual(1, code)
        self.assertIn(a, err)

    def test_db_purge(self):
        a, b = self._sessions()
        old = datetime.datetime(2000, 1, 1)
        c = db_api.session_create(
            {'state': states.MAINTENANCE_FAILED})['session_id']
        for sid in (a, b):
            db_api.session_update(sid, {'updated_at': old})
        code, out, err = self.manage('db', 'purge', '--before', '30')
        self.assertEqual((0, ''), (code, err))
        self.assertIn('Purged 1 ', out)
        # b was finished long ago; a is not finished, c is recent.
        self.assertEqual({a, c}, {s['session_id']
                                  for s in db_api.session_list()})
        code, out, err = self.manage('db', 'purge', '--before', '-1')
        self.assertEqual(1, code)

    def test_database_unreachable(self):
        conf_file = self._conf_file(
            connection='mysql+pymysql://nobody:x@127.0.0.1:1/fenix',
            max_retries=1, retry_interval=0)
        for command in (['db', 'version'], ['db', 'upgrade'],
                        ['session', 'list']):
            code, out, err = self.manage(*command, conf_file=conf_file)
            self.assertEqual(1, code, command)
            errors = [line for line in err.splitlines()
                      if line.startswith('fenix-manage: error: ')]
            self.assertEqual(1, len(errors), err)
            self.assertIn('cannot connect to the database', errors[0])
            self.assertNotIn('Traceback', err)

    def test_usage_errors(self):
        for args in ([], ['db'], ['session'], ['db', 'nope'],
                     ['db', 'stamp']):
            e = self.assertRaises(SystemExit, self.manage, *args)
            self.assertEqual(2, e.code, args)
        code, out, err = self.manage(
            'db', 'version', conf_file=os.path.join(self.tmpdir, 'none'))
        self.assertEqual(2, code)
        self.assertIn('none', err)

    def test_configuration_is_released(self):
        self._migrated()
        # The sub-command option is gone: the configuration parses an
        # empty command line again.
        CONF([], project='fenix', default_config_files=[])
        self.assertRaises(cfg.NoSuchOptError, getattr, CONF, 'command')

    def test_console_script(self):
        env = dict(os.environ, PYTHONPATH=REPO)
        env.pop('PYTHONWARNINGS', None)
        proc = subprocess.run(
            [sys.executable, '-m', 'fenix.cmd.manage', '--config-file',
             self.conf_file, 'db', 'upgrade'],
            capture_output=True, text=True, env=env, cwd=self.tmpdir,
            timeout=60)
        self.assertEqual(0, proc.returncode, proc.stderr)
        proc = subprocess.run(
            [sys.executable, '-m', 'fenix.cmd.manage', '--config-file',
             self.conf_file, 'db', 'stamp', 'nope'],
            capture_output=True, text=True, env=env, cwd=self.tmpdir,
            timeout=60)
        self.assertEqual(1, proc.returncode)
        errors = [line for line in proc.stderr.splitlines()
                  if line.startswith('fenix-manage: error: ')]
        self.assertEqual(1, len(errors), proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)
        self._use_db()
        self.assertEqual(migration.head(), migration.version())
