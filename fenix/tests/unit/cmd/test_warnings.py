# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""No command prints a deprecation warning of its dependencies."""
import os
import subprocess
import sys

from fenix.tests import base

# module: the console script's entry point (setup.cfg).
COMMANDS = {
    'fenix-api': 'fenix.cmd.api',
    'fenix-engine': 'fenix.cmd.engine',
    'fenix-manage': 'fenix.cmd.manage',
    'fenix-all-in-one': 'fenix.cmd.all_in_one',
    'fenix-status': 'fenix.cmd.status',
}

RUN = ('import sys; sys.argv = [%r, "--help"]; '
       'from %s import main; sys.exit(main())')


class TestNoDeprecationWarnings(base.TestCase):

    def test_help_of_every_command(self):
        for command, module in COMMANDS.items():
            # As a console script runs it: warnings at their defaults.
            done = subprocess.run(
                [sys.executable, '-c', RUN % (command, module)],
                capture_output=True, text=True, timeout=120,
                env={k: v for k, v in os.environ.items()
                     if k != 'PYTHONWARNINGS'})
            self.assertEqual(0, done.returncode, (command, done.stderr))
            self.assertIn('usage', done.stdout.lower(), command)
            self.assertNotIn('deprecat', done.stderr.lower(),
                             (command, done.stderr))
