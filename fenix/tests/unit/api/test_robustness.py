# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""No input makes the API answer 500: generated bodies, paths, queries."""
import json

import hypothesis
from hypothesis import strategies as st

from fenix.tests.unit.api import base

SID = '3f2e1d0c-9b8a-4765-8432-10fedcba9876'

WRITE_ROUTES = [
    ('POST', '/v1/maintenance'),
    ('PUT', '/v1/maintenance/%s' % SID),
    ('PUT', '/v1/maintenance/%s/%s' % (SID, base.PROJECT)),
    ('PUT', '/v1/maintenance/%s/%s/i1' % (SID, base.PROJECT)),
    ('PUT', '/v1/instance/i1'),
    ('PUT', '/v1/instance_group/g1'),
    ('PUT', '/v1/action_plugin_run/%s/agent/h1' % SID),
    ('PUT', '/v1/action_plugin_run/%s/agent' % SID),
]

FIELDS = ['hosts', 'state', 'maintenance_at', 'metadata', 'workflow',
          'actions', 'download', 'dry_run', 'max_parallel_hosts',
          'nack_policy', 'reply_window', 'instance_actions',
          'instance_action', 'project_id', 'instance_id', 'group_id',
          'max_impacted_members', 'lead_time', 'migration_type', 'message',
          'plugin', 'type', 'url', 'sha256', 'size']

SCALARS = (st.none() | st.booleans() | st.integers()
           | st.floats(allow_nan=False) | st.text(max_size=20)
           | st.sampled_from(['MAINTENANCE', 'ACK_MAINTENANCE', 'MIGRATE',
                              'DONE', 'pre', '2030-01-01 00:00:00',
                              'http://x/y', '9999-12-31T23:59:59-23:59']))
JSON = st.recursive(
    SCALARS,
    lambda inner: (st.lists(inner, max_size=4)
                   | st.dictionaries(st.sampled_from(FIELDS) | st.text(
                       max_size=8), inner, max_size=5)),
    max_leaves=12)
BODIES = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6)

SETTINGS = hypothesis.settings(max_examples=150, deadline=None,
                               database=None, derandomize=True,
                               suppress_health_check=list(
                                   hypothesis.HealthCheck))


class TestNo500(base.APITestCase):

    def setUp(self):
        super().setUp()
        self.engine.add_session(session_id=SID,
                                projects={base.PROJECT: ['i1']})

    def check(self, resp):
        self.assertLess(resp.status_int, 500, resp.text)
        self.assertEqual('application/json', resp.content_type)

    @SETTINGS
    @hypothesis.given(route=st.sampled_from(WRITE_ROUTES), body=BODIES)
    def test_generated_bodies(self, route, body):
        method, url = route
        self.check(self.request(method, url, body=body))

    @SETTINGS
    @hypothesis.given(route=st.sampled_from(WRITE_ROUTES), body=JSON)
    def test_generated_json_values(self, route, body):
        method, url = route
        self.check(self.request(method, url,
                                raw=json.dumps(body).encode()))

    @SETTINGS
    @hypothesis.given(route=st.sampled_from(WRITE_ROUTES),
                      raw=st.binary(max_size=64))
    def test_generated_bytes(self, route, raw):
        method, url = route
        self.check(self.request(method, url, raw=raw))

    @SETTINGS
    @hypothesis.given(
        method=st.sampled_from(['GET', 'PUT', 'POST', 'DELETE', 'PATCH']),
        segments=st.lists(st.sampled_from(
            ['v1', 'maintenance', 'detail', 'instance', 'instance_group',
             'action_plugin_run', SID, base.PROJECT, 'i1', '', 'index',
             '_route', 'child', '..', '%00', '%2F', 'x' * 300]) | st.text(
                 alphabet=st.characters(blacklist_categories=['Cs']),
                 max_size=10), max_size=6),
        query=st.text(max_size=20))
    def test_generated_paths(self, method, segments, query):
        from urllib import parse
        path = '/' + '/'.join(parse.quote(s, safe='%') for s in segments)
        url = path + ('?' + parse.quote(query, safe='=&') if query else '')
        self.check(self.request(method, url, body={}))
