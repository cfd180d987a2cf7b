# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""/healthcheck: 503 when the engine or the database cannot be reached."""
import threading

import fixtures
from oslo_middleware.healthcheck import opts as healthcheck_opts

from fenix.api import health
from fenix.common import exception
from fenix.tests.unit.api import base

JSON = {'Accept': 'application/json'}


class TestHealthcheck(base.APITestCase):

    def configure(self):
        self.useFixture(fixtures.MockPatch('fenix.api.health.CACHE_SECONDS',
                                           0))

    def check(self, status):
        resp = self.get('/healthcheck', headers=JSON, status=status)
        self.assertEqual('application/json', resp.content_type)
        return resp.json

    def test_healthy(self):
        doc = self.check(200)
        self.assertEqual(['engine: OK', 'database: OK'], doc['reasons'])
        self.assertEqual(200, self.get('/healthcheck').status_int)

    def test_engine_unreachable(self):
        self.engine.fail_with = exception.EngineUnavailable(
            reason='MessagingTimeout')
        doc = self.check(503)
        self.assertEqual(['engine: unreachable', 'database: unknown'],
                         doc['reasons'])
        # No detail for anyone by default.
        self.assertNotIn('MessagingTimeout', str(doc))
        self.get('/healthcheck', status=503)
        self.assertEqual(503, self.app.head('/healthcheck',
                                            expect_errors=True).status_int)
        # The engine is back: 200 again.
        self.engine.fail_with = None
        self.check(200)

    def test_database_unreachable(self):
        self.engine.database = 'unreachable: DBConnectionError'
        doc = self.check(503)
        self.assertEqual(['engine: OK', 'database: unreachable'],
                         doc['reasons'])

    def test_engine_that_does_not_answer(self):
        self.config(group='api', healthcheck_timeout=1)
        release = threading.Event()
        self.addCleanup(release.set)
        self.engine.ping = lambda ctx: release.wait(60)
        doc = self.check(503)
        self.assertEqual(['engine: unreachable', 'database: unknown'],
                         doc['reasons'])
        # Still hanging: not pinged again meanwhile.
        self.engine.ping = lambda ctx: self.fail('pinged twice at once')
        self.check(503)


class TestDetailed(base.APITestCase):
    """[healthcheck] detailed (admins' networks): why, not only what."""

    def configure(self):
        self.useFixture(fixtures.MockPatch('fenix.api.health.CACHE_SECONDS',
                                           0))
        self.conf.conf.register_opts(healthcheck_opts.HEALTHCHECK_OPTS,
                                     group='healthcheck')
        self.config(group='healthcheck', detailed=True)

    def test_details(self):
        self.engine.database = 'unreachable: DBConnectionError'
        resp = self.get('/healthcheck', headers=JSON, status=503)
        details = {r['reason']: r['details'] for r in resp.json['reasons']}
        self.assertIn('fake-engine answered', details['engine: OK'])
        self.assertIn('DBConnectionError', details['database: unreachable'])


class TestCache(base.APITestCase):

    def test_result_is_reused_briefly(self):
        probe = health.EngineProbe(self.conf.conf, self.engine)
        first = probe.results()
        self.assertIs(first, probe.results())
        self.assertEqual(1, len([c for c in self.engine.calls
                                 if c[0] == 'ping']))
        probe.cache_seconds = 0
        probe.results()
        self.assertEqual(2, len([c for c in self.engine.calls
                                 if c[0] == 'ping']))
