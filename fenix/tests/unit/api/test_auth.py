# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Authentication: the no-auth middleware and keystonemiddleware."""
import os
import subprocess
import sys

import fixtures
from keystonemiddleware import auth_token as ksm_auth_token
from oslo_config import cfg
import webob

from fenix.api import app
from fenix.api.middleware import auth_token
from fenix.api.middleware import noauth
from fenix.conf import api as api_opts
from fenix.conf import CONF
from fenix.tests.unit.api import base


class TestNoAuth(base.APITestCase):

    def test_expand_roles_like_keystone(self):
        self.assertEqual(['admin', 'member', 'reader'],
                         noauth.expand_roles(['admin']))
        self.assertEqual(['member', 'reader'],
                         noauth.expand_roles(['member', 'reader']))
        self.assertEqual(['service'], noauth.expand_roles(['service', '']))

    def test_no_identity_is_admin(self):
        self.post('/v1/maintenance', {}, status=200)
        ctx, _ = self.engine.last_call('create_session')
        self.assertIn('admin', ctx.roles)
        self.assertIsNone(ctx.project_id)

    def test_identity_from_headers(self):
        self.get('/v1/instance', headers=base.OWNER_MEMBER, status=200)
        ctx, kwargs = self.engine.last_call('list_instance_constraints')
        self.assertEqual('vnfm', ctx.user_id)
        self.assertEqual(base.PROJECT, ctx.project_id)
        self.assertEqual(['member', 'reader'], ctx.roles)
        self.assertEqual(base.PROJECT, kwargs['project_id'])

    def test_any_identity_header_drops_the_admin_default(self):
        for headers in ({'X-User-Id': 'u'}, {'X-Project-Id': 'p'},
                        {'X-Roles': 'reader'}):
            self.assertError(self.post('/v1/maintenance', {},
                                       headers=headers), 403)

    def test_system_scope_header(self):
        self.get('/v1/maintenance', headers=base.SYSTEM_READER, status=200)
        ctx, _ = self.engine.last_call('list_sessions')
        self.assertEqual('all', ctx.system_scope)


class TestIncompleteKeystoneConfig(base.APITestCase):
    """auth_strategy = keystone without what auth_token needs to validate
    tokens: the API refuses to start and says what is missing (it used
    to start, then answer 500 to every request).

    On a configuration of its own: the check registers the auth plug-in's
    options, some of them required."""

    auth_strategy = 'noauth'

    def setUp(self):
        super().setUp()
        self.conf = cfg.ConfigOpts()
        self.conf.register_opts(api_opts.OPTS, group='api')
        self.conf([], default_config_files=[])
        self.conf.set_override('auth_strategy', 'keystone', group='api')

    def set(self, **values):
        for name, value in values.items():
            self.conf.set_override(name, value, group=auth_token.GROUP)

    def refused(self):
        e = self.assertRaises(auth_token.IncompleteConfig,
                              auth_token.check_config, self.conf)
        return str(e)

    def test_no_auth_type(self):
        self.assertIn('lacks auth_type', self.refused())

    def test_password_without_its_options(self):
        self.refused()  # registers the options
        self.set(auth_type='password')
        self.assertIn('lacks auth_url', self.refused())
        self.set(auth_url='https://k.example')
        self.assertIn('lacks username, password', self.refused())
        self.set(user_id='u', password='p')
        self.assertIsNone(auth_token.check_config(self.conf))

    def test_unknown_auth_type(self):
        self.refused()
        self.set(auth_type='nonesuch')
        self.assertIn("'nonesuch' is not one", self.refused())

    def test_noauth_is_not_checked(self):
        self.conf.set_override('auth_strategy', 'noauth', group='api')
        self.assertIsNone(auth_token.check_config(self.conf))

    def test_command_exits_2_naming_the_option(self):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'fenix.conf')
        with open(path, 'w') as f:
            f.write('[api]\nhost = 127.0.0.1\nport = 0\n'
                    'auth_strategy = keystone\n[keystone_authtoken]\n'
                    'auth_type = password\n')
        for module in ('api', 'all_in_one'):
            done = subprocess.run(
                [sys.executable, '-c', 'import sys; from fenix.cmd.%s '
                 'import main; sys.exit(main(["--config-file", %r]))'
                 % (module, path)],
                capture_output=True, text=True, timeout=120)
            self.assertEqual(2, done.returncode, done.stderr)
            self.assertIn('lacks auth_url', done.stderr)


class TestKeystone(base.KeystoneAPITestCase):

    def setUp(self):
        super().setUp()
        self.sid = self.engine.add_session(projects={base.PROJECT: ['i1']})

    def test_pipeline_uses_auth_token(self):
        wsgi = app.setup_pecan_app()
        wrapped = auth_token.wrap(wsgi, CONF)
        self.assertIsInstance(wrapped, auth_token.PublicRoutes)
        self.assertIsInstance(wrapped.protected_app,
                              ksm_auth_token.AuthProtocol)
        self.assertIs(wsgi, wrapped.public_app)

    def test_no_token_is_401_in_the_fenix_shape(self):
        for method, url in (('GET', '/v1/maintenance'),
                            ('POST', '/v1/maintenance'),
                            ('GET', '/v1/instance'),
                            ('GET', '/v1/nope')):
            resp = self.request(method, url)
            self.assertError(resp, 401, 'requires authentication')
            self.assertEqual('Keystone uri="https://keystone.example/'
                             'identity"', resp.headers['WWW-Authenticate'])
            self.assertTrue(resp.headers['X-OpenStack-Request-Id'])
        self.assertEqual([], self.engine.calls)

    def test_invalid_token_is_401(self):
        resp = self.get('/v1/maintenance',
                        headers={'X-Auth-Token': 'forged'})
        self.assertError(resp, 401)
        self.assertEqual([], self.engine.calls)

    def test_forged_identity_headers_are_ignored(self):
        headers = {'X-Roles': 'admin', 'X-Project-Id': 'x',
                   'X-Identity-Status': 'Confirmed'}
        self.assertError(self.get('/v1/maintenance', headers=headers), 401)
        headers['X-Auth-Token'] = 'member-token'
        resp = self.post('/v1/maintenance', {}, headers=headers)
        self.assertError(resp, 403, 'fenix:maintenance:create')

    def test_valid_tokens(self):
        url = '/v1/maintenance/%s/%s' % (self.sid, base.PROJECT)
        self.get(url, headers={'X-Auth-Token': 'member-token'}, status=200)
        ctx, _ = self.engine.last_call('get_project')
        self.assertEqual(base.PROJECT, ctx.project_id)
        self.assertEqual('vnfm', ctx.user_id)
        self.assertEqual(['member', 'reader'], sorted(ctx.roles))
        self.assertEqual('member-token', ctx.auth_token)
        self.get('/v1/maintenance', headers={'X-Auth-Token': 'admin-token'},
                 status=200)

    def test_public_routes_and_healthcheck_need_no_token(self):
        for url in ('/', '/v1', '/v1/', '/healthcheck'):
            self.get(url, status=200)

    def test_public_routes_drop_identity_headers(self):
        seen = {}

        def public(environ, start_response):
            seen.update(environ)
            return webob.Response(body=b'{}')(environ, start_response)

        wrapped = auth_token.PublicRoutes(None, public)
        req = webob.Request.blank('/v1', headers={
            'X-Roles': 'admin', 'X-User-Id': 'u', 'X-Project-Id': 'p',
            'X-Identity-Status': 'Confirmed', 'X-Auth-Token': 't',
            'OpenStack-System-Scope': 'all', 'X-Other': 'kept'})
        req.get_response(wrapped)
        identity = [k for k in seen if k.startswith(
            ('HTTP_X_ROLE', 'HTTP_X_USER', 'HTTP_X_PROJECT',
             'HTTP_X_IDENTITY', 'HTTP_X_AUTH', 'HTTP_OPENSTACK'))]
        self.assertEqual([], identity)
        self.assertEqual('kept', seen['HTTP_X_OTHER'])
