# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Replies settled in the database (fenix.db.replies), on SQLite,
MySQL/MariaDB and PostgreSQL: what the transaction writes, the owner it
names, and a deadline passing while the reply waits for its row.

The rules themselves (which reply is refused, with which words) are
tested through the engine's RPC methods, which call the same code, in
fenix.tests.unit.engine.test_replies (races of copies included)."""
import datetime
from unittest import mock

from oslo_db.sqlalchemy import test_fixtures

from fenix.common import exception
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.db import replies as reply_db
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.tests.unit.db import utils

load_tests = test_fixtures.optimize_module_test_loader()

EVENT_ID = '5f0c8d9e-1a2b-4c3d-8e4f-a0b1c2d3e4f5'
ACK = st.ack(st.PLANNED_MAINTENANCE)


class ReplyStoreCases(object):

    def make_session(self):
        self.sid = db_api.session_create({
            'state': st.PLANNED_MAINTENANCE, 'workflow': 'default',
            'engine': 'e3'})['session_id']
        self.deadline = timeutils.utcnow() + datetime.timedelta(minutes=5)
        db_api.project_create_or_update(self.sid, 'p1', {
            'has_manager': True, 'event': st.PLANNED_MAINTENANCE,
            'event_id': EVENT_ID, 'reply_at': self.deadline,
            'instance_actions': {'i1': st.MIGRATE}})
        db_api.instances_put(self.sid, {
            'i1': {'project_id': 'p1', 'host': 'c1',
                   'event': st.PLANNED_MAINTENANCE, 'event_id': EVENT_ID,
                   'reply_at': self.deadline},
            'i2': {'project_id': 'p1', 'host': 'c1',
                   'event': st.PLANNED_MAINTENANCE, 'event_id': EVENT_ID},
            'i3': {'project_id': 'p1', 'host': 'c2'}})

    def replies(self):
        return [e for e in db_api.events_get(self.sid)
                if e['kind'] == st.EVENT_REPLY]

    def test_project_reply_recorded_with_its_history(self):
        answer, owner = reply_db.record_project_reply(
            self.sid, 'p1', {'state': ACK,
                             'instance_actions': {'i2': st.LIVE_MIGRATE}},
            EVENT_ID)
        self.assertEqual('e3', owner)
        self.assertEqual({'session_id': self.sid, 'project_id': 'p1',
                          'state': ACK, 'event_id': EVENT_ID,
                          'instance_actions': {'i1': st.MIGRATE,
                                               'i2': st.LIVE_MIGRATE}},
                         answer)
        row = db_api.project_get(self.sid, 'p1')
        self.assertEqual((ACK, answer['instance_actions']),
                         (row['reply'], row['instance_actions']))
        self.assertIsNotNone(row['replied_at'])
        [entry] = self.replies()
        self.assertEqual(({'instance_actions': {'i2': st.LIVE_MIGRATE},
                           'event_id': EVENT_ID}, 'p1', None),
                         (entry['data'], entry['project_id'],
                          entry['instance_id']))
        # A copy: refused, nothing changed.
        self.assertRaises(exception.ReplyConflict,
                          reply_db.record_project_reply, self.sid, 'p1',
                          {'state': ACK}, EVENT_ID)
        self.assertEqual(1, len(self.replies()))
        self.assertEqual(row, db_api.project_get(self.sid, 'p1'))

    def test_instance_reply_recorded_with_its_history(self):
        answer, owner = reply_db.record_instance_reply(
            self.sid, 'p1', 'i1', {'state': ACK,
                                   'instance_action': st.LIVE_MIGRATE},
            None)
        self.assertEqual('e3', owner)
        self.assertEqual((EVENT_ID, st.LIVE_MIGRATE),
                         (answer['event_id'], answer['instance_action']))
        row = db_api.instance_get(self.sid, 'i1')
        self.assertEqual((ACK, st.LIVE_MIGRATE),
                         (row['reply'], row['action']))
        [entry] = self.replies()
        self.assertEqual(('i1', {'event_id': EVENT_ID}),
                         (entry['instance_id'], entry['data']))
        e = self.assertRaises(exception.ReplyConflict,
                              reply_db.record_instance_reply, self.sid,
                              'p1', 'i1', {'state': ACK}, EVENT_ID)
        self.assertIn('already answered', str(e))
        self.assertEqual(1, len(self.replies()))

    def test_not_found(self):
        self.assertRaises(exception.SessionNotFound,
                          reply_db.record_project_reply, 'nope', 'p1',
                          {'state': ACK}, None)
        self.assertRaises(exception.ProjectNotFound,
                          reply_db.record_project_reply, self.sid, 'p9',
                          {'state': ACK}, None)
        self.assertRaises(exception.InstanceNotFound,
                          reply_db.record_instance_reply, self.sid, 'p9',
                          'i1', {'state': ACK}, None)
        self.assertRaises(exception.Invalid,
                          reply_db.record_project_reply, self.sid, 'p1',
                          {'state': ACK, 'instance_actions': {
                              'i9': st.MIGRATE}}, None)
        # An instance the event is not about: another event's answer.
        self.assertRaises(exception.ReplyConflict,
                          reply_db.record_project_reply, self.sid, 'p1',
                          {'state': ACK, 'instance_actions': {
                              'i3': st.MIGRATE}}, None)
        reply_db.check_informational(self.sid, 'p1')
        reply_db.check_informational(self.sid, 'p1', instance_id='i2')
        self.assertRaises(exception.InstanceNotFound,
                          reply_db.check_informational, self.sid, 'p2',
                          instance_id='i2')
        self.assertEqual([], self.replies())

    def test_deadline_passing_while_recorded_refuses_it(self):
        """The deadline passed between the judgement and the UPDATE (the
        workflow may have read the row as silent meanwhile): refused as
        late, rolled back."""
        clock = mock.Mock()
        clock.utcnow.side_effect = [
            timeutils.utcnow(), self.deadline + datetime.timedelta(
                seconds=1)] * 2
        for record, args, read in (
                (reply_db.record_project_reply, ('p1',),
                 lambda: db_api.project_get(self.sid, 'p1')),
                (reply_db.record_instance_reply, ('p1', 'i1'),
                 lambda: db_api.instance_get(self.sid, 'i1'))):
            with mock.patch.object(reply_db, 'timeutils', clock):
                e = self.assertRaises(exception.ReplyConflict, record,
                                      self.sid, *args, {'state': ACK},
                                      EVENT_ID)
            self.assertIn('after the deadline', str(e))
            self.assertEqual((None, None), (read()['reply'],
                                            read()['replied_at']))
        self.assertEqual([], self.replies())

    def test_row_changed_after_its_read_is_tried_again(self):
        """The row changed between the reply's read and its UPDATE (the
        UPDATE matched nothing): the reply is judged and tried again in a
        new transaction; a row that keeps changing is a 409 that changed
        nothing."""
        real = reply_db._record
        calls = []

        def missed_once(session, model, row, values):
            calls.append(row['id'])
            if len(calls) == 1:
                # As if another event had replaced it meanwhile.
                row = dict(row, event=st.MAINTENANCE)
            return real(session, model, row, values)

        with mock.patch.object(reply_db, '_record', missed_once):
            reply_db.record_instance_reply(self.sid, 'p1', 'i1',
                                           {'state': ACK}, EVENT_ID)
        self.assertEqual(2, len(calls))
        self.assertEqual(1, len(self.replies()))

        calls[:] = []
        with mock.patch.object(
                reply_db, '_record',
                lambda session, model, row, values: (calls.append(1), real(
                    session, model, dict(row, event_id=EVENT_ID[::-1]),
                    values))):
            e = self.assertRaises(exception.ReplyConflict,
                                  reply_db.record_project_reply, self.sid,
                                  'p1', {'state': ACK}, EVENT_ID)
        self.assertIn('its event changed while it was being recorded',
                      str(e))
        self.assertEqual(reply_db._TRIES, len(calls))
        self.assertIsNone(db_api.project_get(self.sid, 'p1')['reply'])
        self.assertEqual(1, len(self.replies()))


class SQLiteReplyStoreTestCase(ReplyStoreCases, base.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.make_session()


class MySQLReplyStoreTestCase(utils.OpportunisticTestMixin, ReplyStoreCases,
                              base.TestCase):
    FIXTURE = utils.MySQLSchemaFixture

    def setUp(self):
        super().setUp()
        self.make_session()

    def test_backend(self):
        self.assertEqual('mysql', self.engine.name)


class PostgreSQLReplyStoreTestCase(utils.OpportunisticTestMixin,
                                   ReplyStoreCases, base.TestCase):
    FIXTURE = utils.PostgresqlSchemaFixture

    def setUp(self):
        super().setUp()
        self.make_session()

    def test_backend(self):
        self.assertEqual('postgresql', self.engine.name)
