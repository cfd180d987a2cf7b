# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Base test case: isolated configuration for every test."""
import fixtures
from oslo_config import fixture as config_fixture
import testtools

from fenix.common import rpc
from fenix import conf as fenix_conf

CONF = fenix_conf.CONF


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
