# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Input that cannot hurt: numbers that overflow, NaN, lone surrogates,
deep nesting, bodies without or with odd media types."""
from fenix.common import exception
from fenix.common import rpc
from fenix.tests import hostile
from fenix.tests.unit.api import base


class TestHostileRequests(base.APITestCase):
    """The shared cases (fenix/tests/hostile.py; the functional tier sends
    the same over HTTP to a live Fenix on each database)."""

    def send(self, method, path, raw, content_type, headers=None):
        kwargs = {'method': method, 'headers': dict(headers or {}),
                  'expect_errors': True}
        if raw is not None:
            kwargs['body'] = raw
        if content_type is not None:
            kwargs['content_type'] = content_type
        return self.app.request(path, **kwargs)

    def test_refused(self):
        for case in hostile.REFUSED:
            resp = self.send(case.method, case.path, case.body,
                             case.content_type, case.headers)
            self.assertEqual(case.status, resp.status_int,
                             (case.name, resp.text[:300]))
            self.assertError(resp, case.status, *case.fragments)
        # Nothing reached the engine.
        self.assertEqual([], self.engine.calls)

    def test_accepted(self):
        for name, raw, content_type, metadata in hostile.ACCEPTED:
            resp = self.send('POST', '/v1/maintenance', raw, content_type)
            self.assertEqual(200, resp.status_int, (name, resp.text[:300]))
            _, kwargs = self.engine.last_call('create_session')
            self.assertEqual({'dry_run': True, 'metadata': metadata},
                             kwargs['values'], name)

    def test_delete_with_any_content_type(self):
        for media in hostile.DELETE_CONTENT_TYPES:
            sid = self.engine.add_session()
            resp = self.request('DELETE', '/v1/maintenance/%s' % sid,
                                raw=hostile.DELETE_BODY, content_type=media)
            self.assertEqual(200, resp.status_int, (media, resp.text))


class TestNoAuthIdentity(base.APITestCase):

    def test_ids_of_their_columns_length_pass(self):
        self.get('/v1/maintenance', headers={
            'X-User-Id': 'x' * 64, 'X-Roles': 'admin'}, status=200)


class TestSerializerDepth(base.APITestCase):

    def test_no_recursion_error(self):
        deep = current = {}
        for _ in range(10000):
            current['a'] = {}
            current = current['a']
        e = self.assertRaises(exception.Invalid, rpc.to_primitive, deep)
        self.assertEqual(400, e.code)
        self.assertIn('deeper than %d' % rpc.MAX_ENTITY_DEPTH, str(e))
        serializer = rpc.RequestContextSerializer()
        self.assertRaises(exception.Invalid, serializer.serialize_entity,
                          None, deep)

    def test_same_data_as_before(self):
        import datetime
        value = {'a': [1, (2, 3.5), {'t': datetime.datetime(2030, 1, 2)}],
                 'b': None, 'c': True, 'e': '\U0001F600', 's': {7}}
        self.assertEqual(
            {'a': [1, [2, 3.5], {'t': '2030-01-02T00:00:00.000000'}],
             'b': None, 'c': True, 'e': '\U0001F600', 's': [7]},
            rpc.to_primitive(value))
