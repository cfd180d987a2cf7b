# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A create naming a host Nova does not know: 400 naming it, on the
all-in-one over the simulated cloud (through the API, RPC and the
engine's list of Nova's hosts)."""
import fixtures
import testtools

from fenix.tests.functional import cloud_fixture as cf


class CreateHostsTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(300, gentle=True))
        self.cloud = self.useFixture(cf.FenixCloud(cf.topology(computes=2)))

    def test_unknown_host_is_400_naming_it(self):
        client = self.cloud.client
        for workflow in ('default', 'nfv'):
            resp = client.post('/v1/maintenance', {
                'workflow': workflow,
                'hosts': ['compute-0', 'compute-9', 'no-such-host']})
            self.assertEqual(400, resp.status_code, resp.text)
            message = resp.json()['error']['message']
            self.assertIn('compute-9, no-such-host', message)
            self.assertNotIn('compute-0', message)
        self.assertEqual({'sessions': []},
                         client.get('/v1/maintenance').json())
        # Nova's hosts, computes and the controller, are accepted.
        resp = client.post('/v1/maintenance', {
            'hosts': ['compute-0', 'compute-1', 'controller-0'],
            'dry_run': True})
        self.assertEqual(200, resp.status_code, resp.text)
