# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What the API accepts, the database keeps, alike on SQLite, MySQL/MariaDB
and PostgreSQL: 4-byte UTF-8 (emoji) in ids, names and JSON, ids that
differ only in case or in a supplementary character, and the largest
strings and JSON documents a 1 MiB body can carry."""
from oslo_db.sqlalchemy import test_fixtures

from fenix.common import states
from fenix.db import api as db_api
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.tests.unit.db import utils

load_tests = test_fixtures.optimize_module_test_loader()

EMOJI = '\U0001F600'           # 4 bytes in UTF-8
OTHER_EMOJI = '\U0001F601'
PROJECT = 'p-' + EMOJI


class UnicodeCases(object):

    def test_emoji_ids_and_names_round_trip(self):
        group = 'g-' + EMOJI
        db_api.instance_group_constraint_put(group, {
            'project_id': PROJECT, 'group_name': 'name ' + EMOJI * 60})
        inst = 'i-' + EMOJI * 30                 # 32 characters, 122 bytes
        db_api.instance_constraint_put(inst, {
            'project_id': PROJECT, 'group_id': group,
            'instance_name': EMOJI * 255})
        got = db_api.instance_constraint_get(inst)
        self.assertEqual((inst, PROJECT, group, EMOJI * 255),
                         (got['instance_id'], got['project_id'],
                          got['group_id'], got['instance_name']))
        self.assertEqual('name ' + EMOJI * 60,
                         db_api.instance_group_constraint_get(group)[
                             'group_name'])
        self.assertEqual([inst], [c['instance_id'] for c in
                                  db_api.instance_constraints_list(
                                      project_id=PROJECT)])
        self.assertEqual([inst], [c['instance_id'] for c in
                                  db_api.instance_constraints_list(
                                      group_id=group)])

    def test_ids_differing_in_one_character_are_distinct(self):
        # Emoji that a non-binary MySQL collation holds equal, and ids that
        # differ in case only, are different ids everywhere.
        for a, b in ((EMOJI, OTHER_EMOJI), ('Abc', 'abc'), ('a', 'a ')):
            db_api.instance_constraint_put(a, {'project_id': PROJECT,
                                               'instance_name': 'first'})
            db_api.instance_constraint_put(b, {'project_id': PROJECT,
                                               'instance_name': 'second'})
            self.assertEqual('first', db_api.instance_constraint_get(a)[
                'instance_name'])
            self.assertEqual('second', db_api.instance_constraint_get(b)[
                'instance_name'])

    def test_json_and_text_as_large_as_a_body(self):
        # A 1 MiB body can carry ~1 MiB in one field: more than a MySQL
        # TEXT (64 KiB) holds. Every column the API fills must keep it.
        big = EMOJI * (200 * 1024)                 # 800 KiB in UTF-8
        sid = db_api.session_create({
            'meta': {'note': big},
            'options': {'requested_hosts': ['h-' + EMOJI] * 10,
                        'note': big},
            'download': [{'url': 'https://x/' + EMOJI, 'note': big}],
            'action_plugins': [{'plugin': 'dummy', 'type': 'pre',
                                'meta': {'note': big}}],
            'hosts': [{'hostname': 'h-' + EMOJI}],
        })['session_id']
        session = db_api.session_get(sid)
        self.assertEqual(big, session['meta']['note'])
        self.assertEqual(big, session['options']['note'])
        self.assertEqual(big, session['download'][0]['note'])
        plugins = db_api.action_plugins_get(sid)
        self.assertEqual(big, plugins[0]['meta']['note'])
        db_api.action_run_start(sid, 'dummy', 'pre', '')
        run = db_api.action_runs_get(sid)[0]
        message = EMOJI * 65535               # the report schema's limit
        db_api.action_run_update(run['id'], {'state': states.RUN_DONE,
                                             'message': message})
        self.assertEqual(message, db_api.action_runs_get(sid)[0]['message'])
        event = db_api.event_add(sid, states.EVENT_DECISION,
                                 message=EMOJI * 70000, host='h-' + EMOJI)
        self.assertEqual(EMOJI * 70000, event['message'])


class SQLiteUnicodeTestCase(UnicodeCases, base.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())


class MySQLUnicodeTestCase(utils.OpportunisticTestMixin, UnicodeCases,
                           base.TestCase):
    FIXTURE = utils.MySQLSchemaFixture

    def test_connection_is_utf8mb4(self):
        with db_api.get_engine().connect() as conn:
            names = conn.exec_driver_sql(
                "SELECT @@character_set_client, @@character_set_connection, "
                "@@character_set_results").fetchone()
        self.assertEqual(('utf8mb4',) * 3, tuple(names))

    def test_text_columns_are_binary_utf8mb4(self):
        with db_api.get_engine().connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT table_name, column_name, character_set_name, "
                "collation_name, data_type FROM information_schema.columns "
                "WHERE table_schema = DATABASE() AND character_set_name "
                "IS NOT NULL AND table_name != 'alembic_version'").fetchall()
        self.assertTrue(rows)
        for table, column, charset, collation, data_type in rows:
            self.assertEqual('utf8mb4', charset, (table, column))
            self.assertIn(collation, ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin',
                                      'utf8mb4_bin'), (table, column))
            self.assertNotEqual('text', data_type, (table, column))


class PostgreSQLUnicodeTestCase(utils.OpportunisticTestMixin, UnicodeCases,
                                base.TestCase):
    FIXTURE = utils.PostgresqlSchemaFixture
