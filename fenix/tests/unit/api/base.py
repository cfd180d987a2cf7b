# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Base test case of the API tests.

The WSGI app in no-auth mode, driven by WebTest, with an in-memory engine.
"""
import json
import logging

import fixtures
from keystonemiddleware import fixture as ksm_fixture
import webtest

from fenix.api import app
from fenix.common import policy
from fenix.tests import base
from fenix.tests.unit.api import fakes

PROJECT = 'f0c3f6ae7cfa4ae4b4e1b6c5d9e2a101'
OTHER_PROJECT = '0e5d4c3b2a1948f7b6a5c4d3e2f10999'

# Callers, as no-auth headers. The no-auth middleware expands roles the
# way Keystone's role inference does (admin > member > reader).
ADMIN = {'X-User-Id': 'cloud-admin', 'X-Project-Id': 'admin-project',
         'X-Roles': 'admin'}
SYSTEM_READER = {'X-User-Id': 'auditor', 'X-Roles': 'reader',
                 'OpenStack-System-Scope': 'all'}
OWNER_MEMBER = {'X-User-Id': 'vnfm', 'X-Project-Id': PROJECT,
                'X-Roles': 'member'}
OWNER_READER = {'X-User-Id': 'viewer', 'X-Project-Id': PROJECT,
                'X-Roles': 'reader'}
OTHER_MEMBER = {'X-User-Id': 'other-vnfm', 'X-Project-Id': OTHER_PROJECT,
                'X-Roles': 'member'}
SERVICE = {'X-User-Id': 'plugin-agent', 'X-Project-Id': 'service',
           'X-Roles': 'service'}
NO_ROLE = {'X-User-Id': 'nobody', 'X-Project-Id': PROJECT}

PERSONAS = {
    'admin': ADMIN,
    'system_reader': SYSTEM_READER,
    'owner_member': OWNER_MEMBER,
    'owner_reader': OWNER_READER,
    'other_member': OTHER_MEMBER,
    'service': SERVICE,
    'no_role': NO_ROLE,
}


class PolicyFixture(fixtures.Fixture):
    """A fresh policy enforcer for the test."""

    def _setUp(self):
        policy.reset()
        self.addCleanup(policy.reset)


class APITestCase(base.TestCase):

    auth_strategy = 'noauth'

    def setUp(self):
        super().setUp()
        self.useFixture(PolicyFixture())
        self.log = self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        self.configure()
        self.engine = fakes.FakeEngineAPI()
        self.app = webtest.TestApp(app.setup_app(
            engine_api=self.engine, auth_strategy=self.auth_strategy,
            reader=self.engine))

    def configure(self):
        """Set options the application reads when it is built."""

    def request(self, method, url, body=None, headers=None, status=None,
                raw=None, content_type='application/json'):
        """Send a request; ``body`` is JSON-encoded, ``raw`` sent as is."""
        kwargs = {'method': method, 'headers': dict(headers or {}),
                  'expect_errors': True}
        if body is not None:
            raw = json.dumps(body).encode('utf-8')
        if raw is not None:
            kwargs['body'] = raw
            kwargs['content_type'] = content_type
        resp = self.app.request(url, **kwargs)
        if status is not None:
            self.assertEqual(status, resp.status_int,
                             '%s %s: %s' % (method, url, resp.text))
        return resp

    def get(self, url, **kw):
        return self.request('GET', url, **kw)

    def post(self, url, body=None, **kw):
        return self.request('POST', url, body=body, **kw)

    def put(self, url, body=None, **kw):
        return self.request('PUT', url, body=body, **kw)

    def delete(self, url, **kw):
        return self.request('DELETE', url, **kw)

    def assertError(self, resp, code, *fragments):
        """``resp`` is the Fenix error document for ``code``.

        Its message must hold every fragment.
        """
        self.assertEqual(code, resp.status_int, resp.text)
        self.assertEqual('application/json', resp.content_type)
        doc = resp.json
        self.assertEqual(['error'], list(doc))
        self.assertEqual(code, doc['error']['code'])
        self.assertTrue(doc['error']['title'])
        for fragment in fragments:
            self.assertIn(fragment, doc['error']['message'])
        return doc['error']['message']


class KeystoneAPITestCase(APITestCase):
    """The API behind keystonemiddleware, with two tokens its fixture
    validates: ``member-token`` (a member and reader of :data:`PROJECT`)
    and ``admin-token`` (the cloud admin); ``self.tokens`` adds more."""

    auth_strategy = 'keystone'

    def configure(self):
        # Where clients are sent for a token: configured, so a refusal
        # needs no Keystone server.
        self.config(group='keystone_authtoken',
                    www_authenticate_uri='https://keystone.example/identity')

    def setUp(self):
        super().setUp()
        self.tokens = self.useFixture(ksm_fixture.AuthTokenFixture())
        self.tokens.add_token_data(
            token_id='member-token', user_id='vnfm', project_id=PROJECT,
            role_list=['member', 'reader'])
        self.tokens.add_token_data(
            token_id='admin-token', user_id='cloud-admin',
            project_id='admin-project', role_list=['admin', 'member',
                                                   'reader'])
