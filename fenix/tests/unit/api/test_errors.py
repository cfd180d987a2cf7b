# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Errors: one JSON shape, the right status for every failure."""
import io

from oslo_messaging._drivers import common as rpc_common
import webob

from fenix.api import errors
from fenix.api.middleware import errors as error_middleware
from fenix.common import exception
from fenix.tests.unit.api import base


def _remote(exc):
    """``exc`` as oslo.messaging re-raises it on the caller's side."""
    failure = rpc_common.serialize_remote_exception(
        (type(exc), exc, None))
    return rpc_common.deserialize_remote_exception(
        failure, ['fenix.common.exception'])


class TestErrorMapping(base.APITestCase):

    def setUp(self):
        super().setUp()
        self.sid = self.engine.add_session()

    def test_engine_unavailable_is_503(self):
        self.engine.fail_with = exception.EngineUnavailable(
            reason='MessagingTimeout')
        for resp in (self.get('/v1/maintenance'),
                     self.post('/v1/maintenance', {}),
                     self.get('/v1/instance')):
            self.assertError(resp, 503, 'cannot be reached',
                             'MessagingTimeout')

    def test_remote_exceptions_keep_status_and_message(self):
        self.engine.fail_with = _remote(
            exception.SessionNotFound(session_id='remote-id'))
        self.assertIn('remote-id', str(self.engine.fail_with))
        # str() of a remote exception carries the engine's traceback.
        self.assertIn('\nfenix.common.exception.SessionNotFound',
                      str(self.engine.fail_with))
        self.assertIsInstance(self.engine.fail_with,
                              exception.SessionNotFound)
        message = self.assertError(self.get('/v1/maintenance/remote-id'),
                                   404)
        self.assertEqual('Maintenance session remote-id not found.',
                         message)

    def test_remote_conflict(self):
        self.engine.fail_with = _remote(exception.SessionStateConflict(
            state='MAINTENANCE', action='continued',
            allowed='MAINTENANCE_FAILED'))
        self.assertError(self.put('/v1/maintenance/%s' % self.sid, {}), 409,
                         'cannot be continued')

    def test_unexpected_exception_is_a_logged_500(self):
        self.engine.fail_with = RuntimeError('secret internals')
        message = self.assertError(self.get('/v1/maintenance'), 500)
        self.assertEqual(errors.INTERNAL_ERROR, message)
        self.assertNotIn('secret', message)
        self.assertIn('Traceback', self.log.output)
        self.assertIn('RuntimeError: secret internals', self.log.output)

    def test_engine_error_500_hides_its_message(self):
        # What rpcapi raises for an unexpected remote error.
        self.engine.fail_with = exception.FenixException(
            'Engine error KeyError: boom')
        message = self.assertError(self.get('/v1/maintenance'), 500)
        self.assertNotIn('boom', message)
        self.assertIn('boom', self.log.output)

    def test_policy_refusal_is_403_naming_the_rule(self):
        resp = self.post('/v1/maintenance', {}, headers=base.OWNER_MEMBER)
        self.assertError(resp, 403, 'fenix:maintenance:create')


class TestBodies(base.APITestCase):

    def setUp(self):
        super().setUp()
        self.sid = self.engine.add_session()
        self.url = '/v1/maintenance/%s' % self.sid

    # Malformed JSON, bodies that are not objects and media types that
    # are not JSON: fenix/tests/hostile.py (test_hostile_input, and the
    # functional test_hostile_http on each database).

    def test_utf8_bom_is_accepted(self):
        self.request('POST', '/v1/maintenance',
                     raw='\ufeff{"hosts": ["é"]}'.encode('utf-8'),
                     status=200)

    def test_json_media_types_accepted(self):
        for ctype in ('application/json', 'application/json; charset=UTF-8',
                      'application/vnd.openstack.fenix.v1+json'):
            self.request('POST', '/v1/maintenance', raw=b'{}',
                         content_type=ctype, status=200)

    def test_missing_content_type_is_json(self):
        req = webob.Request.blank('/v1/maintenance', method='POST',
                                  body=b'{"hosts": ["a"]}')
        req.environ.pop('CONTENT_TYPE', None)
        resp = req.get_response(self.app.app)
        self.assertEqual(200, resp.status_int, resp.text)
        _, kwargs = self.engine.last_call('create_session')
        self.assertEqual({'hosts': ['a']}, kwargs['values'])

    def test_body_too_large(self):
        self.config(group='api', max_request_body_size=1024)
        body = {'metadata': {'blob': 'x' * 2000}}
        resp = self.post('/v1/maintenance', body)
        self.assertError(resp, 413, '1024', 'max_request_body_size')
        self.assertEqual([], self.engine.calls)
        self.post('/v1/maintenance', {'metadata': {'blob': 'x' * 900}},
                  status=200)

    def test_body_too_large_without_content_length(self):
        self.config(group='api', max_request_body_size=1024)
        req = webob.Request.blank('/v1/maintenance', method='POST')
        req.environ['wsgi.input'] = io.BytesIO(b'{"x": "%s"}' % (b'y' * 4096))
        req.environ.pop('CONTENT_LENGTH', None)
        # What servers set for a chunked body.
        req.environ['wsgi.input_terminated'] = True
        req.content_type = 'application/json'
        resp = req.get_response(self.app.app)
        self.assertEqual(413, resp.status_int, resp.text)
        self.assertEqual(413, resp.json['error']['code'])
        self.assertEqual([], self.engine.calls)

    def test_bad_content_length(self):
        req = webob.Request.blank('/v1/maintenance', method='POST')
        req.environ['CONTENT_LENGTH'] = 'lots'
        resp = req.get_response(self.app.app)
        self.assertEqual(400, resp.status_int)
        self.assertIn('Content-Length', resp.json['error']['message'])

    def test_url_not_utf8(self):
        req = webob.Request.blank('/')
        req.environ['PATH_INFO'] = '/v1/maintenance/\xff'
        resp = req.get_response(self.app.app)
        self.assertEqual(400, resp.status_int)
        self.assertIn('UTF-8', resp.json['error']['message'])
        self.assertError(self.get('/v1/maintenance?x=%FF'), 400, 'UTF-8')


class TestJSONErrorMiddleware(base.APITestCase):

    def call(self, inner):
        app = error_middleware.JSONErrorMiddleware(inner)
        return webob.Request.blank('/x').get_response(app)

    def test_plain_text_errors_are_rewritten(self):
        inner = webob.exc.HTTPServiceUnavailable(
            explanation='Keystone is down.')
        resp = self.call(inner)
        self.assertEqual(503, resp.status_int)
        self.assertEqual({'error': {'code': 503,
                                    'title': 'Service Unavailable',
                                    'message': 'Keystone is down.'}},
                         resp.json)

    def test_json_errors_and_successes_pass(self):
        inner = errors.error_response(401, 'no token')
        self.assertEqual('no token',
                         self.call(inner).json['error']['message'])
        ok = webob.Response(body=b'hello', content_type='text/plain')
        self.assertEqual(b'hello', self.call(ok).body)

    def test_exception_is_logged_500(self):
        def broken(environ, start_response):
            raise KeyError('deep')
        resp = self.call(broken)
        self.assertEqual(500, resp.status_int)
        self.assertEqual(errors.INTERNAL_ERROR,
                         resp.json['error']['message'])
        self.assertIn('Traceback', self.log.output)
        self.assertIn("KeyError: 'deep'", self.log.output)
