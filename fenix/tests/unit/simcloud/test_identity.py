# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Keystone subset: keystoneauth1 sessions and keystonemiddleware."""
import json

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import identity as generic_identity
from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session
from keystonemiddleware import auth_token
from oslo_config import cfg
import requests
import webob
import webob.dec

from fenix.tests.unit.simcloud import base


class TestIdentity(base.SimCloudTestCase):

    def test_password_token_has_roles_project_and_catalog(self):
        sess = self.session('vnfm1')
        access = sess.auth.get_access(sess)
        self.assertEqual('vnfm1', access.username)
        self.assertEqual(self.sim.project_id('tenant1'), access.project_id)
        self.assertEqual('tenant1', access.project_name)
        self.assertEqual(['member', 'reader'], sorted(access.role_names))
        catalog = access.service_catalog
        self.assertEqual(self.sim.compute_url,
                         catalog.url_for(service_type='compute'))
        self.assertEqual(self.sim.alarming_url,
                         catalog.url_for(service_type='alarming'))
        self.assertEqual(self.sim.identity_url,
                         catalog.url_for(service_type='identity',
                                         interface='internal'))
        self.assertRaises(ks_exc.EndpointNotFound, catalog.url_for,
                          service_type='maintenance')

    def test_admin_role_implies_member_and_reader(self):
        access = self.session('fenix').auth.get_access(self.session('fenix'))
        self.assertEqual(['admin', 'member', 'reader'],
                         sorted(access.role_names))
        self.assertEqual('service', access.project_name)

    def test_scope_by_project_name_and_domain(self):
        auth = v3.Password(auth_url=self.sim.auth_url, username='admin',
                           password='adminpass', project_name='admin',
                           user_domain_id='default',
                           project_domain_name='Default')
        sess = ks_session.Session(auth=auth)
        self.assertEqual(self.sim.project_id('admin'),
                         sess.get_project_id())

    def test_generic_password_plugin_discovers_v3(self):
        # The unversioned URL answers 300 with the v3 document, as the
        # real Keystone does; the generic plugin must find v3 there.
        auth = generic_identity.Password(
            auth_url=self.sim.identity_url, username='fenix',
            password='fenixpass', project_name='service',
            user_domain_name='Default', project_domain_name='Default')
        sess = ks_session.Session(auth=auth)
        self.assertEqual(self.sim.project_id('service'),
                         sess.get_project_id())
        resp = requests.get(self.sim.identity_url)
        self.assertEqual(300, resp.status_code)
        self.assertEqual('v3.14', resp.json()['versions']['values'][0]['id'])

    def test_wrong_password_and_foreign_project_are_401(self):
        bad = v3.Password(auth_url=self.sim.auth_url, username='vnfm1',
                          password='nope', project_name='tenant1',
                          user_domain_name='Default',
                          project_domain_name='Default')
        self.assertRaises(ks_exc.Unauthorized,
                          ks_session.Session(auth=bad).get_token)
        foreign = v3.Password(auth_url=self.sim.auth_url, username='vnfm1',
                              password='vnfm1pass', project_name='tenant2',
                              user_domain_name='Default',
                              project_domain_name='Default')
        self.assertRaises(ks_exc.Unauthorized,
                          ks_session.Session(auth=foreign).get_token)

    def test_validate_token_get_head_and_revoke(self):
        admin = self.session('fenix')
        user_token = self.session('vnfm1').get_token()
        url = self.sim.auth_url + '/auth/tokens'
        headers = {'X-Auth-Token': admin.get_token(),
                   'X-Subject-Token': user_token}
        resp = requests.get(url, headers=headers)
        self.assertEqual(200, resp.status_code)
        token = resp.json()['token']
        self.assertEqual('vnfm1', token['user']['name'])
        self.assertTrue(token['expires_at'].endswith('Z'))
        self.assertIn('catalog', token)
        resp = requests.get(url + '?nocatalog', headers=headers)
        self.assertNotIn('catalog', resp.json()['token'])
        self.assertEqual(200, requests.head(url, headers=headers).status_code)
        # A member may not validate somebody else's token.
        member = {'X-Auth-Token': self.session('vnfm2').get_token(),
                  'X-Subject-Token': user_token}
        self.assertEqual(403, requests.get(url, headers=member).status_code)
        self.assertEqual(204,
                         requests.delete(url, headers=headers).status_code)
        self.assertEqual(404, requests.get(url, headers=headers).status_code)
        self.assertEqual(404, requests.head(url, headers=headers).status_code)

    def test_expired_tokens_are_refused_and_clients_reauthenticate(self):
        sess = self.session('admin')
        nova = self.nova()
        first = sess.get_token()
        self.assertEqual(3, len(nova.hypervisors.list()))
        self.assertGreater(self.sim.expire_tokens(), 0)
        resp = requests.get(self.sim.compute_url + '/os-hypervisors',
                            headers={'X-Auth-Token': first})
        self.assertEqual(401, resp.status_code)
        self.assertIn('Keystone uri=', resp.headers['WWW-Authenticate'])
        # keystoneauth re-authenticates on 401 and retries once.
        self.assertEqual(3, len(nova.hypervisors.list()))
        self.assertTrue(self.sim.get_events(kind='token.expire'))

    def test_token_ttl(self):
        token = self.session('vnfm1').get_token()
        self.assertIsNotNone(self.sim.identity.validate(token))
        # Move its expiry into the past instead of waiting for it.
        self.sim.identity.tokens[token].expires_mono = self.sim.now() - 1
        self.assertIsNone(self.sim.identity.validate(token))
        resp = requests.get(self.sim.auth_url + '/auth/tokens', headers={
            'X-Auth-Token': self.session('admin').get_token(),
            'X-Subject-Token': token})
        self.assertEqual(404, resp.status_code)
        body = requests.post(self.sim.auth_url + '/auth/tokens', json={
            'auth': {'identity': {'methods': ['password'], 'password': {
                'user': {'name': 'vnfm1', 'domain': {'id': 'default'},
                         'password': 'vnfm1pass'}}}}}).json()
        # unscoped request: scoped to the user's default project
        self.assertEqual('tenant1', body['token']['project']['name'])

    def test_maintenance_endpoint_set_at_runtime(self):
        self.sim.set_maintenance_url('http://127.0.0.1:12333')
        sess = self.session('vnfm1')
        self.assertEqual('http://127.0.0.1:12333', sess.get_endpoint(
            service_type='maintenance', interface='public'))

    def test_lookups(self):
        sess = self.session('admin')
        projects = sess.get('/v3/projects', endpoint_filter={
            'service_type': 'identity', 'interface': 'public'}).json()
        self.assertEqual({'admin', 'service', 'tenant1', 'tenant2'},
                         {p['name'] for p in projects['projects']})
        member = self.session('vnfm1')
        self.assertRaises(ks_exc.Forbidden, member.get, '/v3/projects',
                          endpoint_filter={'service_type': 'identity'})
        pid = self.sim.project_id('tenant1')
        one = member.get('/v3/projects/' + pid, endpoint_filter={
            'service_type': 'identity'}).json()['project']
        self.assertEqual('tenant1', one['name'])


class TestAuthTokenMiddleware(base.SimCloudTestCase):
    """keystonemiddleware validates tokens issued by the simulated cloud."""

    def _middleware(self):
        @webob.dec.wsgify
        def app(req):
            return webob.Response(json_body={
                k: req.headers.get(k) for k in (
                    'X-Identity-Status', 'X-User-Name', 'X-Project-Id',
                    'X-Project-Name', 'X-Roles')})

        conf = {'auth_type': 'password',
                'auth_url': self.sim.identity_url,
                'username': 'fenix', 'password': 'fenixpass',
                'project_name': 'service', 'user_domain_name': 'Default',
                'project_domain_name': 'Default',
                'www_authenticate_uri': self.sim.identity_url,
                'delay_auth_decision': False,
                'token_cache_time': -1,
                # A private ConfigOpts: without it the middleware registers
                # its options on the global CONF and breaks later tests.
                'oslo_config_config': cfg.ConfigOpts()}
        return auth_token.AuthProtocol(app, conf)

    def test_valid_token_is_confirmed_with_roles(self):
        mw = self._middleware()
        token = self.session('vnfm1').get_token()
        resp = webob.Request.blank(
            '/v1/maintenance', headers={'X-Auth-Token': token}
        ).get_response(mw)
        self.assertEqual(200, resp.status_int)
        seen = json.loads(resp.body)
        self.assertEqual('Confirmed', seen['X-Identity-Status'])
        self.assertEqual('vnfm1', seen['X-User-Name'])
        self.assertEqual(self.sim.project_id('tenant1'),
                         seen['X-Project-Id'])
        self.assertEqual({'member', 'reader'},
                         set(seen['X-Roles'].split(',')))

    def test_invalid_and_expired_tokens_are_rejected(self):
        mw = self._middleware()
        resp = webob.Request.blank(
            '/v1/maintenance', headers={'X-Auth-Token': 'bogus'}
        ).get_response(mw)
        self.assertEqual(401, resp.status_int)
        self.assertIn(self.sim.identity_url,
                      resp.headers['WWW-Authenticate'])
        token = self.session('vnfm1').get_token()
        self.sim.expire_tokens()
        resp = webob.Request.blank(
            '/v1/maintenance', headers={'X-Auth-Token': token}
        ).get_response(mw)
        self.assertEqual(401, resp.status_int)
