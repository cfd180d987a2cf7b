# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Input that cannot hurt: numbers that overflow, NaN, lone surrogates,
deep nesting, bodies without or with odd media types."""
from fenix.api import validation
from fenix.common import exception
from fenix.common import rpc
from fenix.tests.unit.api import base

SID = '3f2e1d0c-9b8a-4765-8432-10fedcba9876'


def _nested(depth):
    """A metadata value nesting ``depth`` arrays and objects."""
    return '{"a": ' * depth + '1' + '}' * depth


class TestHostileBodies(base.APITestCase):

    def create(self, raw, **kw):
        return self.post('/v1/maintenance', raw=raw, **kw)

    def test_overflowing_numbers_and_constants_are_400(self):
        for text, fragment in (('1e400', '1e400'), ('-1e400', '1e400'),
                               ('NaN', 'NaN'), ('Infinity', 'Infinity'),
                               ('-Infinity', 'Infinity')):
            resp = self.create(b'{"metadata": {"x": %s}}' % text.encode())
            self.assertError(resp, 400, 'metadata.x', fragment)
        # The field is named wherever the number is.
        resp = self.create(b'{"metadata": {"l": [1, {"y": 1e999}]}}')
        self.assertError(resp, 400, 'metadata.l[1].y', '1e999 is too large')
        resp = self.create(b'{"dry_run": NaN}')
        self.assertError(resp, 400, 'dry_run', 'NaN is not valid JSON')
        resp = self.create(b'[1e400]')
        self.assertError(resp, 400, '[0]', 'too large')
        self.assertEqual([], self.engine.calls)
        # A large finite number is a number.
        self.create(b'{"metadata": {"x": 1e308}}', status=200)

    def test_lone_surrogates_are_400_naming_the_field(self):
        resp = self.create(b'{"metadata": {"note": "a\\ud800b"}}')
        self.assertError(resp, 400, 'metadata.note', 'lone surrogate')
        resp = self.create(b'{"metadata": {"list": ["ok", "\\udfff"]}}')
        self.assertError(resp, 400, 'metadata.list[1]')
        resp = self.create(b'{"metadata": {"\\ud800": 1}}')
        self.assertError(resp, 400, 'metadata', 'key')
        self.assertEqual([], self.engine.calls)
        # A surrogate pair is a character (an emoji).
        self.create(b'{"metadata": {"e": "\\ud83d\\ude00"}}', status=200)
        _, kwargs = self.engine.last_call('create_session')
        self.assertEqual('\U0001F600', kwargs['values']['metadata']['e'])

    def test_nesting_beyond_the_limit_is_400(self):
        # The body object is level 1: metadata may nest MAX_DEPTH - 1.
        ok = validation.MAX_DEPTH - 1
        self.create(b'{"metadata": %s}' % _nested(ok).encode(), status=200)
        for depth in (ok + 1, 300, 100000):
            resp = self.create(b'{"metadata": %s}' % _nested(depth).encode())
            self.assertError(resp, 400, 'deeper than %d levels'
                             % validation.MAX_DEPTH)
        # Brackets inside strings do not count.
        self.create(b'{"metadata": {"s": "%s"}}' % (b'[{' * 100),
                    status=200)

    def test_body_without_content_type_is_json(self):
        resp = self.app.request('/v1/maintenance', method='POST',
                                body=b'{"hosts": ["c0"], "dry_run": true}',
                                expect_errors=True)
        self.assertEqual(200, resp.status_int, resp.text)
        _, kwargs = self.engine.last_call('create_session')
        self.assertEqual({'hosts': ['c0'], 'dry_run': True},
                         kwargs['values'])

    def test_delete_with_any_content_type(self):
        for media in ('multipart/form-data; boundary=zz',
                      'application/x-www-form-urlencoded', 'text/plain',
                      'application/json', 'image/png'):
            sid = self.engine.add_session()
            resp = self.request('DELETE', '/v1/maintenance/%s' % sid,
                                raw=b'--zz\r\nbroken', content_type=media)
            self.assertEqual(200, resp.status_int, (media, resp.text))
        # A form body on a POST is 415, not parsed.
        resp = self.create(b'a=b', content_type='multipart/form-data; '
                           'boundary=zz')
        self.assertError(resp, 415)


class TestNoAuthIdentity(base.APITestCase):

    def test_ids_longer_than_their_columns_are_400(self):
        for header in ('X-User-Id', 'X-Project-Id'):
            resp = self.get('/v1/maintenance', headers={
                header: 'x' * 65, 'X-Roles': 'admin'})
            self.assertError(resp, 400, header, '64 characters')
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
