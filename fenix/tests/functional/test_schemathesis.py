# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""schemathesis against the all-in-one on the simulated cloud, on SQLite,
MariaDB and PostgreSQL: no answer is a 5xx, every answer is documented by
``/v1/openapi.json`` (status, content type, headers, body), invalid
input is refused, and every operation is reached with a 2xx at least
once.

The short run (:data:`fuzz.SHORT_EXAMPLES` examples per operation) runs
in the functional tier; ``tox -e schemathesis`` is the long run
(``FENIX_SCHEMATHESIS_EXAMPLES``, figures appended to
``FENIX_SCHEMATHESIS_REPORT``), see doc/source/testing.rst.

Before the run the test makes two resources of each kind (a session
waiting for a project's reply, an instance group and an instance
constraint) and gives their ids to schemathesis as the values of the
path parameters most of the time, the second ones to DELETE only, so
that operations on existing resources are reached, not only their 404s
(and a DELETE does not take what the other operations are tested on).
"""
import os
import uuid

from fenix.api import openapi
from fenix.tests.functional import base
from fenix.tests.functional import cloud_fixture
from fenix.tests.functional import databases
from fenix.tests.functional import fuzz

TENANT = 'tenant1'


class SchemathesisMixin(object):
    """The run; ``database_url()`` comes from a mixin of
    :mod:`databases`."""

    def setUp(self):
        super().setUp()
        # Replies stay open for the whole run: the session keeps waiting
        # for its project, so its project routes answer.
        self.cloud = self.useFixture(cloud_fixture.FenixCloud(
            cloud_fixture.topology(computes=2), reply_window=3600,
            extra_config=databases.extra_config(self)))

    def _seed(self):
        """One resource of each kind; their ids, by path parameter."""
        client = self.cloud.client
        project = self.cloud.sim.project_id(TENANT)
        resp = client.post('/v1/maintenance', {
            'workflow': 'wait_reply',
            'metadata': {'projects': [project]},
            'actions': [{'plugin': 'dummy', 'type': 'pre'}]})
        self.assertEqual(200, resp.status_code, resp.text)
        sid = resp.json()['session_id']
        client.wait_project_event(sid, project, 'MAINTENANCE')
        instance_id, group_id = str(uuid.uuid4()), str(uuid.uuid4())
        for path, body in (
                ('/v1/instance_group/%s' % group_id,
                 {'project_id': project, 'group_name': 'g'}),
                ('/v1/instance/%s' % instance_id,
                 {'project_id': project, 'group_id': group_id})):
            resp = client.put(path, body)
            self.assertEqual(200, resp.status_code, resp.text)
        return {'session_id': sid, 'project_id': project,
                'instance_id': instance_id, 'group_id': group_id,
                'plugin': 'dummy', 'hostname': 'compute-0'}

    def test_schemathesis(self):
        # Two of each: DELETE gets the second ones.
        ids, delete_ids = self._seed(), self._seed()
        workdir = self.useFixture(base.fixtures.TempDir()).path
        # schemathesis reads /v1/openapi.json itself (the run starts
        # there) and does not test it again.
        expected = {(p, m) for p, ops in openapi.OPERATIONS.items()
                    for m in ops if p != '/v1/openapi.json'}
        config = os.path.join(workdir, 'schemathesis.toml')
        with open(config, 'w') as f:
            f.write(fuzz.config(ids, delete_ids))
        result = fuzz.run(self.cloud.url, workdir, expected,
                          config_file=config)
        fuzz.report(result, self.id())
        self.assertGreater(result.requests, 0, result.output)
        self.assertEqual(0, result.server_errors,
                         '%s\n%s' % (result.statuses, result.output))
        self.assertEqual(0, result.returncode, result.output)
        self.assertEqual(set(), expected - result.requested,
                         'operations never requested')
        # Each kind of resource was reached (not only its 404s).
        for path in ('/v1/maintenance/{session_id}',
                     '/v1/maintenance/{session_id}/{project_id}',
                     '/v1/instance/{instance_id}',
                     '/v1/instance_group/{group_id}',
                     '/v1/action_plugin_run/{session_id}'):
            self.assertIn((path, 'get'), result.succeeded)


class TestSchemathesisSQLite(databases.SQLiteMixin, SchemathesisMixin,
                             base.FunctionalTestCase):
    pass


class TestSchemathesisMariaDB(databases.MariaDBMixin, SchemathesisMixin,
                              base.FunctionalTestCase):
    """The same on a fresh database of the MariaDB on 127.0.0.1:3306."""


class TestSchemathesisPostgreSQL(databases.PostgreSQLMixin,
                                 SchemathesisMixin, base.FunctionalTestCase):
    """The same on a fresh database of the PostgreSQL on 127.0.0.1:5432."""
