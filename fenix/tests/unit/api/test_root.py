# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Version documents, routing, health check, request ids."""
from fenix.tests.unit.api import base


class TestVersions(base.APITestCase):

    def test_root_version_document(self):
        doc = self.get('/', status=200).json
        self.assertEqual(['v1'], [v['id'] for v in doc['versions']])
        v1 = doc['versions'][0]
        self.assertEqual('CURRENT', v1['status'])
        self.assertEqual([{'href': 'http://localhost/v1/', 'rel': 'self'}],
                         v1['links'])
        self.assertEqual(v1, doc['default_version'])

    def test_v1_document(self):
        for url in ('/v1', '/v1/'):
            doc = self.get(url, status=200).json
            self.assertEqual('v1', doc['id'])
            self.assertEqual('CURRENT', doc['status'])
            self.assertEqual(
                {'action_plugin_run', 'instance', 'instance_group',
                 'maintenance'}, set(doc['resources']))
            self.assertEqual('http://localhost/v1/maintenance',
                             doc['resources']['maintenance']['href'])

    def test_public_endpoint_in_links(self):
        self.config(group='api', public_endpoint='https://fenix.example/')
        doc = self.get('/').json
        self.assertEqual('https://fenix.example/v1/',
                         doc['versions'][0]['links'][0]['href'])

    def test_versions_need_no_engine(self):
        self.engine.fail_with = RuntimeError('must not be called')
        self.get('/', status=200)
        self.get('/v1', status=200)
        self.assertEqual([], self.engine.calls)

    def test_answers_json_whatever_accept_says(self):
        for accept in ('application/xml', 'text/html', '*/*'):
            resp = self.get('/v1/maintenance',
                            headers={'Accept': accept}, status=200)
            self.assertEqual('application/json', resp.content_type)

    def test_head_is_get_without_body(self):
        resp = self.request('HEAD', '/v1/maintenance', status=200)
        self.assertEqual(b'', resp.body)


class TestRouting(base.APITestCase):

    def test_unknown_routes_are_json_404(self):
        sid = self.engine.add_session(projects={base.PROJECT: ['i1']})
        for url in ('/v2', '/v1/nope', '/v1//maintenance',
                    '/v1/maintenance/%s//' % sid,
                    '/v1/maintenance/%s/%s/i1/extra' % (sid, base.PROJECT),
                    '/v1/maintenance/%s/detail/more' % sid,
                    '/v1/instance/i1/more', '/v1/action_plugin_run',
                    '/v1/action_plugin_run/%s/p/h/x' % sid,
                    '/healthcheck/more', '/v1.json'):
            self.assertError(self.get(url), 404, 'could not be found')
        self.assertEqual([], self.engine.calls)

    def test_method_not_allowed(self):
        sid = self.engine.add_session()
        cases = [
            ('DELETE', '/v1/maintenance', 'GET, POST, HEAD'),
            ('PATCH', '/v1/maintenance/%s' % sid,
             'GET, POST, PUT, DELETE, HEAD'),
            ('POST', '/v1/maintenance/%s/detail' % sid, 'GET, HEAD'),
            ('DELETE', '/v1/maintenance/%s/p' % sid, 'GET, PUT, HEAD'),
            ('POST', '/v1/instance', 'GET, HEAD'),
            ('POST', '/v1/instance_group/g', 'GET, PUT, DELETE, HEAD'),
            ('GET', '/v1/action_plugin_run/%s/p' % sid, 'PUT'),
            ('GET', '/v1/action_plugin_run/%s/p/h' % sid, 'PUT'),
            ('PUT', '/', 'GET, HEAD'),
            ('OPTIONS', '/v1', 'GET, HEAD'),
        ]
        for method, url, allow in cases:
            resp = self.request(method, url)
            self.assertError(resp, 405, method, url)
            self.assertEqual(allow, resp.headers['Allow'])
        self.assertEqual([], self.engine.calls)

    def test_detail_wins_over_a_project_called_detail(self):
        sid = self.engine.add_session(projects={'detail': ['i1']})
        doc = self.get('/v1/maintenance/%s/detail' % sid, status=200).json
        self.assertIn('session', doc)
        self.assertEqual('get_session_detail', self.engine.calls[-1][0])

    def test_trailing_slash(self):
        sid = self.engine.add_session()
        self.get('/v1/maintenance/', status=200)
        doc = self.get('/v1/maintenance/%s/' % sid, status=200).json
        self.assertEqual(sid, doc['session_id'])


class TestMiddleware(base.APITestCase):

    def test_healthcheck_without_auth(self):
        resp = self.get('/healthcheck', status=200)
        self.assertEqual(['ping'], [c[0] for c in self.engine.calls])
        resp = self.get('/healthcheck',
                        headers={'Accept': 'application/json'}, status=200)
        self.assertEqual('application/json', resp.content_type)

    def test_request_id_header_and_context(self):
        resp = self.get('/v1/maintenance', status=200)
        req_id = resp.headers['X-OpenStack-Request-Id']
        self.assertTrue(req_id.startswith('req-'))
        context, _ = self.engine.last_call('list_sessions')
        self.assertEqual(req_id, context.request_id)
        other = self.get('/v1/maintenance').headers['X-OpenStack-Request-Id']
        self.assertNotEqual(req_id, other)

    def test_request_id_on_errors(self):
        for resp in (self.get('/v1/nope'),
                     self.post('/v1/maintenance', {'bad': 1})):
            self.assertTrue(resp.headers['X-OpenStack-Request-Id'])

    def test_links_follow_proxy_headers_when_enabled(self):
        headers = {'X-Forwarded-Proto': 'https',
                   'X-Forwarded-Host': 'fenix.example'}
        doc = self.get('/', headers=headers).json
        self.assertEqual('http://localhost/v1/',
                         doc['versions'][0]['links'][0]['href'])
        self.config(group='oslo_middleware',
                    enable_proxy_headers_parsing=True)
        doc = self.get('/', headers=headers).json
        self.assertEqual('https://fenix.example/v1/',
                         doc['versions'][0]['links'][0]['href'])
