# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The figures of /metrics from database rows (fenix.db.api.metrics_rows
and fenix.engine.metrics.figures), on SQLite and, when they run, on
MariaDB/MySQL and PostgreSQL."""
import datetime
import os

from oslo_db.sqlalchemy import test_fixtures
from oslo_utils import uuidutils

from fenix.api import metrics as api_metrics
from fenix.common import states as st
from fenix.db import api as db_api
from fenix.engine import metrics
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.tests.unit.db import utils

load_tests = test_fixtures.optimize_module_test_loader()

# The Prometheus text of the rows of MetricsTests._fill.
RENDERED = os.path.join(os.path.dirname(__file__), 'metrics_rendered.txt')
T0 = datetime.datetime(2030, 1, 2, 3, 4, 5)


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


class MetricsTests:

    def _session(self, state, hosts=()):
        return db_api.session_create({
            'state': state, 'maintenance_at': T0,
            'hosts': [{'hostname': h, 'state': s} for h, s in hosts]}
        )['session_id']

    def _move(self, sid, iid, state, attempt, start=None, end=None):
        return {'kind': st.STEP_MOVE, 'host': 'c1', 'instance_id': iid,
                'project_id': 'p1', 'state': state, 'attempt': attempt,
                'started_at': start, 'finished_at': end}

    def _outbox(self, sid, event_type, count):
        ids = db_api.outbox_add([
            {'message_id': uuidutils.generate_uuid(), 'session_id': sid,
             'event_type': event_type, 'payload': {}}
            for _ in range(count)], fetch=False)
        return list(ids.values())

    def test_empty_database(self):
        f = metrics.figures(now=T0)
        self.assertEqual(0, sum(f['sessions'].values()))
        self.assertEqual(0, f['sessions'][st.MAINTENANCE_DONE])
        self.assertEqual(0, f['hosts'][st.HOST_MAINTAINED])
        self.assertEqual({'started': 0, 'done': 0, 'failed': 0},
                         {k: f['migrations'][k]
                          for k in ('started', 'done', 'failed')})
        self.assertEqual(0, f['migrations']['duration']['count'])
        self.assertEqual({}, f['reply_latency'])
        self.assertEqual({}, f['notifications'])
        self.assertEqual({}, f['engines'])

    def _fill(self):
        """The rows of :meth:`test_figures`; returns the time to compute
        the figures at (7 s after engine-a's heartbeat)."""
        s1 = self._session(st.MAINTENANCE_DONE, [
            ('c1', st.HOST_MAINTAINED), ('c2', st.HOST_MAINTAINED)])
        s2 = self._session(st.PLANNED_MAINTENANCE, [
            ('c1', st.HOST_EMPTYING), ('c2', st.HOST_PENDING),
            ('c3', st.HOST_PENDING)])
        self._session(st.MAINTENANCE_FAILED, [('c9', st.HOST_FAILED)])
        db_api.steps_create(s1, [
            # Done in 4 s and in 40 s (after a second attempt).
            self._move(s1, 'i1', st.STEP_DONE, 1, at(0), at(4)),
            self._move(s1, 'i2', st.STEP_DONE, 2, at(10), at(50)),
            # Not moves, or never started: not counted.
            {'kind': st.STEP_OWN_ACTION, 'state': st.STEP_DONE,
             'attempt': 1, 'started_at': at(0), 'finished_at': at(99)},
            self._move(s1, 'i3', st.STEP_DONE, 0),
        ])
        db_api.steps_create(s2, [
            self._move(s2, 'i4', st.STEP_FAILED, 3, at(0), at(100)),
            self._move(s2, 'i5', st.STEP_RUNNING, 1, at(5)),
            self._move(s2, 'i6', st.STEP_PENDING, 0),
        ])
        # Project p1 answers in 30 s then in 2 s; p2 in 700 s; an
        # instance of p2 in 5 s; a reply to nothing is left out, as is a
        # second reply to the same event.
        for kind, sid, pid, iid, t in (
                (st.EVENT_REPLY, s1, 'p1', None, 1),
                (st.EVENT_NOTIFY, s1, 'p1', None, 10),
                (st.EVENT_NOTIFY, s1, 'p2', None, 10),
                (st.EVENT_REPLY, s1, 'p1', None, 40),
                (st.EVENT_REPLY, s1, 'p1', None, 45),
                (st.EVENT_NOTIFY, s1, 'p1', None, 100),
                (st.EVENT_REPLY, s1, 'p1', None, 102),
                (st.EVENT_NOTIFY, s2, 'p2', 'i4', 200),
                (st.EVENT_REPLY, s2, 'p2', 'i4', 205),
                (st.EVENT_REPLY, s1, 'p2', None, 710)):
            db_api.event_add(sid, kind, project_id=pid, instance_id=iid,
                             created_at=at(t), state='x')
        db_api.event_add(s1, st.EVENT_STATE, state=st.MAINTENANCE_DONE)
        planned = self._outbox(s1, 'maintenance.planned', 3)
        self._outbox(s2, 'maintenance.host', 2)
        db_api.outbox_mark_failed(planned[0], 'refused')
        db_api.outbox_mark_failed(planned[0], 'refused')
        db_api.outbox_mark_sent(planned)
        db_api.engine_heartbeat('engine-a')
        return db_api.engines_get()[0]['heartbeat_at'] + \
            datetime.timedelta(seconds=7)

    def test_figures(self):
        f = metrics.figures(now=self._fill())

        self.assertEqual(1, f['sessions'][st.MAINTENANCE_DONE])
        self.assertEqual(1, f['sessions'][st.PLANNED_MAINTENANCE])
        self.assertEqual(1, f['sessions'][st.MAINTENANCE_FAILED])
        self.assertEqual(0, f['sessions'][st.PAUSED])
        self.assertEqual({st.HOST_MAINTAINED: 2, st.HOST_EMPTYING: 1,
                          st.HOST_PENDING: 2, st.HOST_FAILED: 1,
                          st.HOST_IN_MAINTENANCE: 0, st.HOST_SKIPPED: 0},
                         f['hosts'])
        moves = f['migrations']
        self.assertEqual(1 + 2 + 3 + 1, moves['started'])
        self.assertEqual(2, moves['done'])
        self.assertEqual(1, moves['failed'])
        duration = moves['duration']
        self.assertEqual(2, duration['count'])
        self.assertEqual(44.0, duration['sum'])
        buckets = dict((str(le), n) for le, n in duration['buckets'])
        self.assertEqual(0, buckets['1'])
        self.assertEqual(1, buckets['5'])
        self.assertEqual(1, buckets['30'])
        self.assertEqual(2, buckets['60'])
        self.assertEqual(2, buckets['+Inf'])
        replies = f['reply_latency']
        self.assertEqual(['p1', 'p2'], sorted(replies))
        self.assertEqual(2, replies['p1']['count'])
        self.assertEqual(32.0, replies['p1']['sum'])
        self.assertEqual(2, replies['p2']['count'])
        self.assertEqual(705.0, replies['p2']['sum'])
        p2 = dict((str(le), n) for le, n in replies['p2']['buckets'])
        self.assertEqual(1, p2['5'])
        self.assertEqual(1, p2['600'])
        self.assertEqual(2, p2['1800'])
        self.assertEqual({
            'maintenance.planned': {'sent': 3, 'failed': 2, 'queued': 0},
            'maintenance.host': {'sent': 0, 'failed': 0, 'queued': 2}},
            f['notifications'])
        self.assertEqual({'engine-a': 7.0}, f['engines'])

    def test_rendered_text(self):
        """The whole /metrics text of these rows, byte for byte: the
        families, their order, help texts, labels and number formats
        (a change of the rendering shows here first)."""
        text = api_metrics.render(metrics.figures(now=self._fill()))
        with open(RENDERED) as f:
            self.assertEqual(f.read(), text.decode('utf-8'))

    def test_deleted_session_leaves_the_figures(self):
        sid = self._session(st.MAINTENANCE_DONE, [('c1', st.HOST_MAINTAINED)])
        db_api.steps_create(sid, [
            self._move(sid, 'i1', st.STEP_DONE, 1, at(0), at(4))])
        self.assertEqual(1, metrics.figures(now=T0)['migrations']['done'])
        db_api.session_delete(sid)
        f = metrics.figures(now=T0)
        self.assertEqual(0, f['migrations']['done'])
        self.assertEqual(0, f['hosts'][st.HOST_MAINTAINED])


class SQLiteMetricsTestCase(MetricsTests, base.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())


class MySQLMetricsTestCase(utils.OpportunisticTestMixin, MetricsTests,
                           base.TestCase):
    FIXTURE = utils.MySQLSchemaFixture


class PostgreSQLMetricsTestCase(utils.OpportunisticTestMixin, MetricsTests,
                                base.TestCase):
    FIXTURE = utils.PostgresqlSchemaFixture
