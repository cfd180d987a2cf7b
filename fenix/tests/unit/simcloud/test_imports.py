# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The simulated cloud is independent of the service it tests."""
import subprocess
import sys

import testtools

# Every module of the simulated cloud, loaded in a fresh interpreter;
# prints the names of the loaded modules.
_LOAD_ALL = (
    'import importlib, pkgutil, sys\n'
    'import fenix_tools.simcloud as pkg\n'
    'for m in pkgutil.iter_modules(pkg.__path__):\n'
    '    importlib.import_module("fenix_tools.simcloud." + m.name)\n'
    'print(" ".join(sorted(sys.modules)))\n')


class TestNoFenixImports(testtools.TestCase):

    def test_simcloud_loads_nothing_of_fenix(self):
        """The simulated cloud plays OpenStack (Nova, Keystone, AODH,
        Ceilometer): it loads no module of fenix at all -- no allowed
        list. Its Ceilometer event conversion and signature are its own
        code, so that comparing them with Fenix's copy
        (fenix.common.aodh_events, in test_topology) compares two
        implementations, and a change to Fenix's internals cannot change
        the cloud Fenix is tested against."""
        out = subprocess.run([sys.executable, '-c', _LOAD_ALL], check=True,
                             capture_output=True, text=True).stdout.split()
        self.assertIn('fenix_tools.simcloud.telemetry', out)
        self.assertEqual([], [m for m in out
                              if m == 'fenix' or m.startswith('fenix.')])
