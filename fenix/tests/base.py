# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Base test case: isolated configuration for every test."""
import subprocess
import sys

import fixtures
from oslo_config import fixture as config_fixture
import testtools

from fenix.common import rpc
from fenix import conf as fenix_conf

CONF = fenix_conf.CONF

# Run by a fresh interpreter: import the modules named (``pkg.*``: the
# package and every module of it), print every module then loaded.
_LOADED = """
import importlib, pkgutil, sys
for name in sys.argv[1:]:
    if name.endswith('.*'):
        package = importlib.import_module(name[:-2])
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(package.__name__ + '.' + module.name)
    else:
        importlib.import_module(name)
print(' '.join(sorted(sys.modules)))
"""


def modules_loaded_by(*names):
    """The names of the modules a fresh interpreter has loaded once it
    imported ``names`` (``pkg.*``: every module of the package): what an
    import pulls in, for the tests of which way the imports go."""
    return subprocess.run([sys.executable, '-c', _LOADED] + list(names),
                          check=True, capture_output=True,
                          text=True).stdout.split()


class TestCase(testtools.TestCase):
    """Every unit test gets a clean CONF and a temporary directory."""

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(120, gentle=True))
        self.useFixture(fixtures.NestedTempfile())
        self.conf = self.useFixture(config_fixture.Config(CONF))
        CONF([], project='fenix', default_config_files=[])
        self.tmpdir = self.useFixture(fixtures.TempDir()).path
        # A test's in-process engine does not answer the next test's RPC.
        self.addCleanup(rpc.set_local_manager, None)

    def config(self, group=None, **kw):
        self.conf.config(group=group, **kw)
