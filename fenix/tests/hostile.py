# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The hand-written hostile requests, and what Fenix answers them.

One list for two tiers: the unit tests
(fenix/tests/unit/api/test_hostile_input.py) send them to the WSGI app
over an in-memory engine; the functional tests
(fenix/tests/functional/test_hostile_http.py) send them over HTTP to a
live all-in-one on SQLite, MariaDB and PostgreSQL. Both assert the same
answers:

* :data:`REFUSED`: a 4xx error document of the given code whose message
  holds every fragment; nothing reaches the engine (nothing is stored);
* :data:`ACCEPTED`: a create answered 200 whose session keeps the
  metadata given (a dry run: the session touches no host);
* :data:`DELETE_CONTENT_TYPES`: a DELETE of a session with a body of any
  of these media types is 200.
"""
import collections
import json

from fenix.api import validation

# A request: ``body`` bytes sent as they are; ``content_type`` None sends
# none; ``headers`` more headers.
Case = collections.namedtuple('Case', 'name method path body content_type '
                                      'headers status fragments')

JSON = 'application/json'
EMOJI = '\U0001F600'               # 4 bytes in UTF-8
# The API's default [api] max_request_body_size.
MAX_BODY = 1024 * 1024


def nested(depth):
    """A metadata value nesting ``depth`` objects."""
    return '{"a": ' * depth + '1' + '}' * depth


def _create(name, raw, status, *fragments, content_type=JSON, headers=None):
    return Case(name, 'POST', '/v1/maintenance', raw, content_type,
                headers or {}, status, fragments)


def _refused():
    cases = []
    # Numbers JSON cannot carry: named with the field.
    for text, fragment in (('1e400', '1e400'), ('-1e400', '1e400'),
                           ('NaN', 'NaN'), ('Infinity', 'Infinity'),
                           ('-Infinity', 'Infinity')):
        cases.append(_create('number %s' % text,
                             b'{"metadata": {"x": %s}}' % text.encode(),
                             400, 'metadata.x', fragment))
    cases += [
        _create('number deep in a list',
                b'{"metadata": {"l": [1, {"y": 1e999}]}}', 400,
                'metadata.l[1].y', '1e999 is too large'),
        _create('NaN for a boolean', b'{"dry_run": NaN}', 400,
                'dry_run', 'NaN is not valid JSON'),
        _create('overflow in an array body', b'[1e400]', 400, '[0]',
                'too large'),
        # Lone surrogates: not text.
        _create('lone surrogate', b'{"metadata": {"note": "a\\ud800b"}}',
                400, 'metadata.note', 'lone surrogate'),
        _create('lone surrogate in a list',
                b'{"metadata": {"list": ["ok", "\\udfff"]}}', 400,
                'metadata.list[1]'),
        _create('lone surrogate as a key', b'{"metadata": {"\\ud800": 1}}',
                400, 'metadata', 'key'),
        # NUL characters: no database keeps them in text (PostgreSQL
        # refuses them).
        _create('NUL in a string', b'{"metadata": {"note": "a\\u0000b"}}',
                400, 'metadata.note', 'NUL'),
        _create('NUL in a key', b'{"metadata": {"a\\u0000": 1}}',
                400, 'metadata', 'key', 'NUL'),
    ]
    # Nesting beyond the stated limit (the body object is level 1).
    for depth in (validation.MAX_DEPTH, 300, 100000):
        cases.append(_create(
            'nesting %d' % depth,
            b'{"metadata": %s}' % nested(depth).encode(), 400,
            'deeper than %d levels' % validation.MAX_DEPTH))
    # Not JSON, or not an object.
    for raw, fragment in ((b'{"hosts": [', 'not valid JSON'),
                          (b'{"hosts": NaN}', 'not valid JSON'),
                          (b'\xff\xfe{}', 'not UTF-8'),
                          (b'[' * 50000 + b']' * 50000, 'nested too deeply'),
                          (b'[]', 'must be a JSON object, not an array'),
                          (b'"text"', 'must be a JSON object, not a string'),
                          (b'null', 'must be a JSON object, not null'),
                          (b'12', 'must be a JSON object, not a number')):
        cases.append(_create('malformed %r' % raw[:12], raw, 400, fragment))
    # Media types that are not JSON: 415, never parsed.
    for ctype in ('text/plain', 'application/x-www-form-urlencoded',
                  'multipart/form-data; boundary=zz', 'application/xml'):
        cases.append(_create('media type %s' % ctype, b'{}', 415,
                             ctype.split(';')[0], content_type=ctype))
    cases += [
        _create('form body', b'a=b', 415,
                content_type='multipart/form-data; boundary=zz'),
        _create('JSON not in UTF-8', b'{}', 415, 'UTF-8',
                content_type='application/json; charset=latin-1'),
        _create('body over the limit',
                b'{"metadata": {"blob": "%s"}}' % (b'x' * MAX_BODY), 413,
                'max_request_body_size'),
        # Ids longer than their columns, wherever they come from.
        Case('user id too long', 'GET', '/v1/maintenance', None, None,
             {'X-User-Id': 'x' * 65, 'X-Roles': 'admin'}, 400,
             ('X-User-Id', '64 characters')),
        Case('project id too long', 'GET', '/v1/maintenance', None, None,
             {'X-Project-Id': 'x' * 65, 'X-Roles': 'admin'}, 400,
             ('X-Project-Id', '64 characters')),
        Case('query project_id too long', 'GET',
             '/v1/instance?project_id=' + 'p' * 65, None, None, {}, 400,
             ('project_id: longer than 64 characters',)),
        Case('instance id too long', 'PUT', '/v1/instance/' + 'x' * 37,
             b'{}', JSON, {}, 400, ('instance_id',)),
        Case('group id too long', 'PUT', '/v1/instance_group/' + 'x' * 37,
             b'{}', JSON, {}, 400, ('group_id',)),
        Case('query not UTF-8', 'GET', '/v1/maintenance?x=%FF', None, None,
             {}, 400, ('UTF-8',)),
        Case('NUL in a query value', 'GET',
             '/v1/instance_group?project_id=a%00b', None, None, {}, 400,
             ('NUL',)),
        Case('NUL in a path', 'GET', '/v1/maintenance/a%00b', None, None,
             {}, 400, ('NUL',)),
        Case('idempotency key with spaces', 'POST', '/v1/maintenance',
             b'{"dry_run": true}', JSON, {'Idempotency-Key': 'a b'}, 400,
             ('Idempotency-Key',)),
    ]
    return cases


REFUSED = _refused()

# (name, body, content type, the metadata the session keeps). Dry runs:
# on a live cloud the session plans and touches nothing.
ACCEPTED = [
    ('large finite number', b'{"dry_run": true, "metadata": {"x": 1e308}}',
     JSON, {'x': 1e308}),
    ('surrogate pair', b'{"dry_run": true, "metadata": {"e": '
     b'"\\ud83d\\ude00"}}', JSON, {'e': EMOJI}),
    ('emoji, raw', ('{"dry_run": true, "metadata": {"%s": "%s"}}'
                    % (EMOJI, EMOJI * 3)).encode('utf-8'), JSON,
     {EMOJI: EMOJI * 3}),
    # More than a MySQL TEXT (64 KiB) in one value.
    ('metadata over 64 KiB', ('{"dry_run": true, "metadata": {"big": "%s"}}'
                              % (EMOJI * 20000)).encode('utf-8'), JSON,
     {'big': EMOJI * 20000}),
    # The body object is level 1: metadata may nest MAX_DEPTH - 1.
    ('nesting at the limit', b'{"dry_run": true, "metadata": %s}'
     % nested(validation.MAX_DEPTH - 1).encode(), JSON,
     json.loads(nested(validation.MAX_DEPTH - 1))),
    ('brackets in strings', b'{"dry_run": true, "metadata": {"s": "%s"}}'
     % (b'[{' * 100), JSON, {'s': '[{' * 100}),
    ('no Content-Type: JSON', b'{"dry_run": true, "metadata": {"ct": 0}}',
     None, {'ct': 0}),
    ('UTF-8 byte order mark', '\ufeff{"dry_run": true, "metadata": '
     '{"h": "\u00e9"}}'.encode('utf-8'), JSON, {'h': '\u00e9'}),
]

# A DELETE with a body of any media type (the body is not read).
DELETE_CONTENT_TYPES = ('multipart/form-data; boundary=zz',
                        'application/x-www-form-urlencoded', 'text/plain',
                        'application/json', 'image/png')
DELETE_BODY = b'--zz\r\nbroken'
