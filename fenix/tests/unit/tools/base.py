# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Base test case of the tools' tests: a time limit, and logs captured
(shown with the failure instead of on the console)."""
import logging

import fixtures
import testtools


class TestCase(testtools.TestCase):

    timeout = 60

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(self.timeout, gentle=True))
        self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        # keystoneauth logs every request and response body at DEBUG: a
        # followed session's detail, polled for a minute, is megabytes
        # (more than a subunit packet holds).
        quiet = logging.getLogger('keystoneauth')
        self.addCleanup(quiet.setLevel, quiet.level)
        quiet.setLevel(logging.INFO)
