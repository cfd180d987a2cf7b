# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The hand-written hostile requests (fenix/tests/hostile.py, the list
the unit test test_hostile_input sends to the WSGI app) sent over HTTP to
a live all-in-one on the simulated cloud, on SQLite, MariaDB and
PostgreSQL: the same answers (the 4xx error document naming the field, no
5xx), nothing stored by a refused request, and what is accepted kept as
it was sent (4-byte UTF-8, more than 64 KiB, the deepest nesting allowed).
"""
import http.client
import json
import urllib.parse

from fenix.tests.functional import base
from fenix.tests.functional import cloud_fixture
from fenix.tests.functional import databases
from fenix.tests import hostile

TIMEOUT = 60


class HostileHTTPMixin(object):

    def setUp(self):
        super().setUp()
        self.cloud = self.useFixture(cloud_fixture.FenixCloud(
            cloud_fixture.topology(computes=2),
            extra_config=databases.extra_config(self)))

    def send(self, method, path, body=None, content_type=None,
             headers=None):
        """(status, headers, body bytes): the request as it is given
        (http.client adds no Content-Type, sends the path unquoted)."""
        parts = urllib.parse.urlsplit(self.cloud.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port,
                                          timeout=TIMEOUT)
        try:
            sent = dict(headers or {})
            if content_type is not None:
                sent['Content-Type'] = content_type
            try:
                conn.request(method, path, body=body, headers=sent)
            except (BrokenPipeError, ConnectionResetError):
                # The server answered (e.g. 413 for a body over the limit)
                # and closed before the whole body was sent: its answer
                # is there to read.
                pass
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def stored(self):
        """Every session, instance and group constraint there is."""
        client = self.cloud.client
        return (client.get('/v1/maintenance').json()['sessions'],
                client.get('/v1/instance').json(),
                client.get('/v1/instance_group').json())

    def test_refused(self):
        before = self.stored()
        answers = {}
        for case in hostile.REFUSED:
            status, headers, raw = self.send(case.method, case.path,
                                             case.body, case.content_type,
                                             case.headers)
            answers[case.name] = status
            self.assertEqual(case.status, status, (case.name, raw[:300]))
            self.assertTrue(headers.get('Content-Type', '').startswith(
                'application/json'), (case.name, headers))
            doc = json.loads(raw)
            self.assertEqual(['error'], list(doc), case.name)
            self.assertEqual(case.status, doc['error']['code'], case.name)
            for fragment in case.fragments:
                self.assertIn(fragment, doc['error']['message'],
                              case.name)
        self.assertEqual(len(hostile.REFUSED), len(answers))
        # Nothing stored; the API still answers.
        self.assertEqual(before, self.stored())

    def test_accepted_and_kept(self):
        for name, raw, content_type, metadata in hostile.ACCEPTED:
            status, _, answer = self.send('POST', '/v1/maintenance', raw,
                                          content_type)
            self.assertEqual(200, status, (name, answer[:300]))
            sid = json.loads(answer)['session_id']
            resp = self.cloud.client.get('/v1/maintenance/%s' % sid)
            self.assertEqual(200, resp.status_code, (name, resp.text[:300]))
            self.assertEqual(metadata, resp.json()['metadata'], name)
            self.assertTrue(resp.json()['dry_run'], name)

    def test_delete_with_any_content_type(self):
        for media in hostile.DELETE_CONTENT_TYPES:
            status, _, answer = self.send(
                'POST', '/v1/maintenance', b'{"dry_run": true}',
                hostile.JSON)
            self.assertEqual(200, status, answer)
            sid = json.loads(answer)['session_id']
            status, _, answer = self.send(
                'DELETE', '/v1/maintenance/%s' % sid, hostile.DELETE_BODY,
                media)
            self.assertEqual(200, status, (media, answer[:300]))
            self.assertEqual(404, self.cloud.client.get(
                '/v1/maintenance/%s' % sid).status_code, media)


class TestHostileHTTPSQLite(databases.SQLiteMixin, HostileHTTPMixin,
                            base.FunctionalTestCase):
    pass


class TestHostileHTTPMariaDB(databases.MariaDBMixin, HostileHTTPMixin,
                             base.FunctionalTestCase):
    pass


class TestHostileHTTPPostgreSQL(databases.PostgreSQLMixin,
                                HostileHTTPMixin, base.FunctionalTestCase):
    pass
