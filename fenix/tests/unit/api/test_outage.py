# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The API through outages of the engine, the broker and the database:
503 with Retry-After, never 500; creates with an Idempotency-Key."""
from fenix.common import exception
from fenix.tests.unit.api import base
from fenix.tests.unit.api import test_errors


class TestUnavailable(base.APITestCase):

    def configure(self):
        self.config(group='api', retry_after=7)

    def test_database_unavailable_is_503_with_retry_after(self):
        sid = self.engine.add_session()
        for fail in (exception.DatabaseUnavailable(),
                     test_errors._remote(exception.DatabaseUnavailable()),
                     test_errors._remote(exception.RequestExpired(
                         method='get_session'))):
            self.engine.fail_with = fail
            for resp in (self.get('/v1/maintenance'),
                         self.get('/v1/maintenance/%s' % sid),
                         self.post('/v1/maintenance', {}),
                         self.put('/v1/maintenance/%s/p1' % sid,
                                  {'state': 'ACK_MAINTENANCE'})):
                self.assertError(resp, 503)
                self.assertEqual('7', resp.headers['Retry-After'])
                self.assertNotIn('Traceback', resp.text)

    def test_a_503_is_not_logged_per_request(self):
        self.engine.fail_with = exception.EngineUnavailable(
            reason='MessagingTimeout')
        for _ in range(5):
            self.assertError(self.get('/v1/maintenance'), 503)
        self.assertNotIn('MessagingTimeout', self.log.output)

    def test_other_errors_have_no_retry_after(self):
        resp = self.get('/v1/maintenance/missing')
        self.assertError(resp, 404)
        self.assertNotIn('Retry-After', resp.headers)


class TestIdempotencyKey(base.APITestCase):

    BODY = {'workflow': 'wait_reply', 'hosts': ['h1']}

    def test_key_is_passed_to_the_engine(self):
        self.post('/v1/maintenance', self.BODY,
                  headers={'Idempotency-Key': 'req-1'}, status=200)
        _ctx, kwargs = self.engine.last_call('create_session')
        self.assertEqual('req-1', kwargs['idempotency_key'])

    def test_without_key_nothing_is_passed(self):
        self.post('/v1/maintenance', self.BODY, status=200)
        _ctx, kwargs = self.engine.last_call('create_session')
        self.assertNotIn('idempotency_key', kwargs)

    def test_bad_keys_are_400(self):
        for key in ('a' * 256, 'with space', 'tab\tkey'):
            resp = self.post('/v1/maintenance', self.BODY,
                             headers={'Idempotency-Key': key})
            self.assertError(resp, 400, 'Idempotency-Key')
        self.assertEqual([], [c for c in self.engine.calls
                              if c[0] == 'create_session'])

    def test_conflict_is_409(self):
        self.engine.fail_with = test_errors._remote(
            exception.IdempotencyConflict(key='req-1'))
        resp = self.post('/v1/maintenance', self.BODY,
                         headers={'Idempotency-Key': 'req-1'})
        self.assertError(resp, 409, 'req-1', 'another request body')
