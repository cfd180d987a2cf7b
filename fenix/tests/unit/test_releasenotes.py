# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The release notes under doc/releasenotes: reno finds them (through
its config there), they pass its lint, and its report lists them."""
import os
import subprocess
import sys

import yaml

from fenix.tests import base

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))
NOTES = os.path.join(ROOT, 'doc', 'releasenotes', 'notes')


def reno(*args):
    return subprocess.run(
        [sys.executable, '-c', 'import sys; from reno import main; '
         'sys.exit(main.main(sys.argv[1:]))', '--rel-notes-dir',
         'doc/releasenotes'] + list(args),
        cwd=ROOT, capture_output=True, text=True, timeout=120)


class TestReleaseNotes(base.TestCase):

    def setUp(self):
        super().setUp()
        if not os.path.isdir(os.path.join(ROOT, '.git')) and \
                not os.path.isfile(os.path.join(ROOT, '.git')):
            self.skipTest('not a git checkout: reno reads the history')

    def test_notes_are_yaml_with_known_sections(self):
        names = sorted(os.listdir(NOTES))
        self.assertTrue(names)
        with open(os.path.join(ROOT, 'doc', 'releasenotes',
                               'config.yaml')) as f:
            sections = {s[0] for s in yaml.safe_load(f)['sections']}
        for name in names:
            self.assertTrue(name.endswith('.yaml'), name)
            with open(os.path.join(NOTES, name)) as f:
                note = yaml.safe_load(f)
            self.assertTrue(note, name)
            self.assertLessEqual(set(note) - {'prelude'}, sections, name)

    def test_lint_and_report(self):
        done = reno('lint')
        self.assertEqual(0, done.returncode, done.stdout + done.stderr)
        self.assertIn('doc/releasenotes/config.yaml', done.stdout +
                      done.stderr)
        done = reno('report')
        self.assertEqual(0, done.returncode, done.stderr)
        # Every committed note is in the report (by its text).
        for text in ('GET /metrics', 'fenix-status upgrade check'):
            self.assertIn(text, done.stdout)
