# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``/v1/openapi.json`` equals the routes and the JSON schemas."""
import json
import uuid

from fenix.api import app as app_mod
from fenix.api.controllers import root
from fenix.api.controllers.v1 import action_plugin_run
from fenix.api.controllers.v1 import instance
from fenix.api.controllers.v1 import instance_group
from fenix.api.controllers.v1 import maintenance
from fenix.api.controllers.v1 import project
from fenix.api.middleware import auth_token
from fenix.api import openapi
from fenix.api import validation
from fenix.tests.unit.api import base

DOC_PATH = '/v1/openapi.json'
METHODS = ('get', 'put', 'post', 'delete', 'patch', 'options', 'head',
           'trace')


def routed():
    """``{path template: {method}}`` of the pecan controllers, walked."""
    routes = {}
    for path, resource in openapi.walk(root.RootController()):
        methods = {m.lower() for m in resource.allowed_methods()
                   if m != 'HEAD'}
        if methods:
            routes[path] = methods
    return routes


def documented(doc):
    return {path: {m for m in item if m in METHODS}
            for path, item in doc['paths'].items()}


class TestRoutesMatchDocument(base.APITestCase):

    def setUp(self):
        super().setUp()
        self.doc = self.get(DOC_PATH, status=200).json

    def test_every_route_and_method_is_documented_and_back(self):
        routes = routed()
        # The health check is middleware, in front of pecan.
        routes[app_mod.HEALTHCHECK_PATH] = {'get'}
        self.assertEqual(routes, documented(self.doc))

    def test_walk_sees_every_variable_segment(self):
        # A resource whose child() answers a segment must name the path
        # parameter (param), or the walk, and the document, miss it.
        for path, resource in openapi.walk(root.RootController()):
            segment = uuid.uuid4().hex
            self.assertEqual(resource.child(segment) is not None,
                             resource.param is not None, path)

    def test_allow_header_equals_documented_methods(self):
        # The live router's answer, path by path: a method no path takes
        # is 405 and Allow lists exactly the documented methods.
        sid = self.engine.add_session(projects={base.PROJECT: ['i1']})
        values = {'session_id': sid, 'project_id': base.PROJECT,
                  'instance_id': 'i1', 'group_id': 'g1', 'plugin': 'p',
                  'hostname': 'h'}
        for path, methods in documented(self.doc).items():
            if path == app_mod.HEALTHCHECK_PATH:
                continue
            url = path.format(**values)
            resp = self.request('PATCH', url)
            self.assertEqual(405, resp.status_int, url)
            allowed = {m.strip().lower()
                       for m in resp.headers['Allow'].split(',')}
            self.assertEqual(methods | {'head'} if 'get' in methods
                             else methods, allowed, url)

    def test_request_schemas_are_the_validation_schemas(self):
        expected = {
            ('/v1/maintenance', 'post'): maintenance.CREATE_SCHEMA,
            ('/v1/maintenance/{session_id}', 'put'):
                maintenance.UPDATE_SCHEMA,
            ('/v1/maintenance/{session_id}', 'post'): {
                'oneOf': [maintenance.CONTROL_SCHEMAS[a]
                          for a in maintenance.CONTROL_ACTIONS]},
            ('/v1/maintenance/{session_id}/{project_id}', 'put'):
                project.REPLY_SCHEMA,
            ('/v1/maintenance/{session_id}/{project_id}/{instance_id}',
             'put'): project.INSTANCE_REPLY_SCHEMA,
            ('/v1/instance/{instance_id}', 'put'): instance.SCHEMA,
            ('/v1/instance_group/{group_id}', 'put'): instance_group.SCHEMA,
            ('/v1/action_plugin_run/{session_id}/{plugin}', 'put'):
                action_plugin_run.REPORT_SCHEMA,
            ('/v1/action_plugin_run/{session_id}/{plugin}/{hostname}',
             'put'): action_plugin_run.REPORT_SCHEMA,
        }
        served = {}
        for path, item in self.doc['paths'].items():
            for method, op in item.items():
                if 'requestBody' in op:
                    schema = op['requestBody']['content'][
                        'application/json']['schema']
                    schema = dict(schema)
                    schema.pop('description', None)
                    served[(path, method)] = schema
        # JSON round trip: tuples are lists in the served document.
        self.assertEqual(
            {k: json.loads(json.dumps(s)) for k, s in expected.items()},
            served)
        for schema in served.values():
            validation.check_schema(schema)

    def test_every_control_action_is_documented(self):
        op = self.doc['paths']['/v1/maintenance/{session_id}']['post']
        schemas = op['requestBody']['content']['application/json'][
            'schema']['oneOf']
        self.assertEqual(
            sorted(maintenance.CONTROL_ACTIONS),
            sorted(s['properties']['action']['enum'][0] for s in schemas))

    def test_path_parameters_match_the_templates(self):
        for path, item in self.doc['paths'].items():
            names = [seg[1:-1] for seg in path.split('/')
                     if seg.startswith('{')]
            for method, op in item.items():
                params = [p['name'] for p in op.get('parameters', [])
                          if p['in'] == 'path']
                self.assertEqual(names, params, '%s %s' % (method, path))

    def test_errors_and_503(self):
        components = self.doc['components']
        self.assertEqual(openapi.ERROR_SCHEMA,
                         components['schemas']['Error'])
        self.assertTrue(components['responses']['E503']['headers'][
            'Retry-After']['required'])
        for path, item in self.doc['paths'].items():
            for method, op in item.items():
                self.assertIn('503', op['responses'], (method, path))
                if 'requestBody' in op:
                    for code in ('400', '409', '413', '415'):
                        self.assertIn(code, op['responses'],
                                      (method, path))
        # An error the API answers has the documented shape.
        err = self.get('/v1/nope').json
        validation.validate(openapi.ERROR_SCHEMA, err)

    def test_security(self):
        # This test application runs with noauth: nothing requires a
        # token; the scheme is still described.
        self.assertEqual([], self.doc['security'])
        scheme = self.doc['components']['securitySchemes'][
            openapi.SECURITY_SCHEME]
        self.assertEqual({'type': 'apiKey', 'in': 'header',
                          'name': 'X-Auth-Token'},
                         {k: scheme[k] for k in ('type', 'in', 'name')})
        doc = openapi.document('http://x', auth_strategy='keystone')
        self.assertEqual([{openapi.SECURITY_SCHEME: []}], doc['security'])
        for path in ('/', '/v1', DOC_PATH, app_mod.HEALTHCHECK_PATH):
            self.assertEqual([], doc['paths'][path]['get']['security'])
            if path != app_mod.HEALTHCHECK_PATH:
                self.assertTrue(auth_token.is_public(path), path)
        self.assertNotIn('security', doc['paths']['/v1/maintenance']['get'])

    def test_server_is_the_public_url(self):
        self.assertEqual([{'url': 'http://localhost'}], self.doc['servers'])
        self.config(group='api', public_endpoint='https://fenix.example/')
        doc = self.get(DOC_PATH).json
        self.assertEqual([{'url': 'https://fenix.example'}], doc['servers'])

    def test_needs_no_engine_and_takes_no_query(self):
        self.engine.fail_with = RuntimeError('must not be called')
        self.get(DOC_PATH, status=200)
        self.assertEqual([], self.engine.calls)
        self.assertError(self.get(DOC_PATH + '?x=1'), 400, "'x'")

    def test_document_is_a_valid_openapi_31_document(self):
        self.assertEqual('3.1.0', self.doc['openapi'])
        ids = [op['operationId'] for item in self.doc['paths'].values()
               for op in item.values()]
        self.assertEqual(len(ids), len(set(ids)))
        for item in self.doc['paths'].values():
            for op in item.values():
                for resp in op['responses'].values():
                    if '$ref' in resp:
                        name = resp['$ref'].rsplit('/', 1)[1]
                        self.assertIn(name,
                                      self.doc['components']['responses'])
