# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Tests of fenix.db.api, run on every database backend.

A test case class mixes :class:`DBAPITests` with a base that points the DB
API at an empty, migrated database (SQLite file, MySQL, PostgreSQL).
"""
import datetime
import threading
from unittest import mock

from oslo_db import exception as db_exc
from oslo_utils import uuidutils
import sqlalchemy as sa

from fenix.common import exception
from fenix.common import fencing
from fenix.common import states
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.db.sqlalchemy import models
from fenix.tests import db_fixture

T0 = datetime.datetime(2030, 1, 2, 3, 4, 5)
T1 = datetime.datetime(2030, 1, 2, 4, 0, 0)

# Tables with rows that belong to a session.
SESSION_TABLES = [t for t in models.Base.metadata.sorted_tables
                  if 'session_id' in t.c and t.name != 'sessions']

THREADS = 8


def run_in_threads(fn, count=THREADS):
    """Run ``fn(i)`` in ``count`` threads started together.

    Returns (results, errors) lists indexed by i.
    """
    barrier = threading.Barrier(count)
    results = [None] * count
    errors = [None] * count

    def target(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as e:
            errors[i] = e

    threads = [threading.Thread(target=target, args=(i,))
               for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


class DBAPITests:

    # --- helpers --------------------------------------------------------

    def _session(self, **values):
        values.setdefault('maintenance_at', T0)
        return db_api.session_create(values)

    def _full_session(self):
        """A session with a row in every child table."""
        s = self._session(
            hosts=[{'hostname': 'c1'}, {'hostname': 'c2'}],
            action_plugins=[{'plugin': 'dummy', 'type': 'host'}])
        sid = s['session_id']
        db_api.project_create_or_update(sid, 'p1', {'has_manager': True})
        db_api.instance_create_or_update(sid, 'i1', {'project_id': 'p1',
                                                     'host': 'c1'})
        db_api.action_run_create_or_update(sid, 'dummy', 'host', 'c1', {})
        db_api.event_add(sid, states.EVENT_STATE, state=states.MAINTENANCE)
        db_api.outbox_add([{'message_id': uuidutils.generate_uuid(),
                            'session_id': sid,
                            'event_type': 'maintenance.session',
                            'payload': {'state': states.MAINTENANCE}}])
        db_api.steps_create(sid, [{'kind': states.STEP_MOVE, 'host': 'c1',
                                   'instance_id': 'i1'}])
        db_api.group_impact_take('g-' + sid[:8], 1, sid, 'i1', 600)
        return sid

    def _count_rows(self, session_id):
        counts = {}
        with db_api.get_engine().connect() as conn:
            for table in SESSION_TABLES + [models.Session.__table__]:
                counts[table.name] = conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(
                        table.c.session_id == session_id)).scalar()
        return counts

    def assertIsPlainDict(self, value):
        self.assertIs(dict, type(value))

    # --- sessions -------------------------------------------------------

    def test_session_create_defaults(self):
        before = timeutils.utcnow().replace(microsecond=0)
        s = db_api.session_create({})
        self.assertIsPlainDict(s)
        self.assertTrue(uuidutils.is_uuid_like(s['session_id']))
        self.assertEqual(states.MAINTENANCE, s['state'])
        self.assertEqual('default', s['workflow'])
        self.assertEqual(0, s['version'])
        self.assertEqual({}, s['meta'])
        self.assertEqual({}, s['options'])
        self.assertEqual([], s['download'])
        self.assertIsNone(s['engine'])
        self.assertIsNone(s['updated_at'])
        self.assertIsNotNone(s['created_at'])
        self.assertEqual(0, s['maintenance_at'].microsecond)
        self.assertGreaterEqual(s['maintenance_at'], before)
        self.assertEqual(s, db_api.session_get(s['session_id']))
        self.assertEqual([], db_api.hosts_get(s['session_id']))
        self.assertEqual([], db_api.action_plugins_get(s['session_id']))

    def test_session_create_round_trips_values(self):
        sid = uuidutils.generate_uuid()
        meta = {'openstack_version': 'Train', 'nested': {'a': [1, 2.5]},
                'unicode': 'm\u00e4\u00efnt'}
        s = db_api.session_create({
            'session_id': sid, 'state': states.MAINTENANCE,
            'workflow': 'nfv', 'maintenance_at': T0, 'meta': meta,
            'options': {'dry_run': True, 'max_parallel': 3},
            'download': ['http://x/a.tgz', {'url': 'http://x/b'}],
            'plan': {'hosts': ['c1', 'c2']}, 'project_id': 'admin',
            'user_id': 'u1'})
        got = db_api.session_get(sid)
        self.assertEqual(s, got)
        self.assertEqual(sid, got['session_id'])
        self.assertEqual('nfv', got['workflow'])
        self.assertEqual(T0, got['maintenance_at'])
        self.assertEqual(meta, got['meta'])
        self.assertEqual({'dry_run': True, 'max_parallel': 3},
                         got['options'])
        self.assertEqual(['http://x/a.tgz', {'url': 'http://x/b'}],
                         got['download'])
        self.assertEqual({'hosts': ['c1', 'c2']}, got['plan'])
        self.assertEqual(('admin', 'u1'), (got['project_id'],
                                           got['user_id']))
        # Without the plan: the same values, decoded the same way.
        light = db_api.session_get(sid, with_plan=False)
        self.assertNotIn('plan', light)
        self.assertEqual({k: v for k, v in got.items() if k != 'plan'},
                         light)
        self.assertRaises(exception.SessionNotFound, db_api.session_get,
                          'nope', with_plan=False)

    def test_session_create_with_hosts_and_plugins(self):
        s = self._session(
            hosts=[{'hostname': 'c1'},
                   {'hostname': 'ctl1', 'type': states.CONTROLLER,
                    'details': {'zone': 'a'}},
                   {'hostname': 'c2', 'disabled_by_operator': True}],
            action_plugins=[
                {'plugin': 'upgrade', 'type': 'host', 'meta': {'v': 2}},
                {'plugin': 'check', 'type': 'pre'},
                {'plugin': 'reboot', 'type': 'host'},
                {'plugin': 'report', 'type': 'post', 'position': 7}])
        sid = s['session_id']
        hosts = db_api.hosts_get(sid)
        self.assertEqual(['c1', 'ctl1', 'c2'],
                         [h['hostname'] for h in hosts])
        self.assertEqual([states.COMPUTE, states.CONTROLLER, states.COMPUTE],
                         [h['type'] for h in hosts])
        self.assertEqual({states.HOST_PENDING},
                         {h['state'] for h in hosts})
        self.assertEqual({'zone': 'a'}, hosts[1]['details'])
        self.assertEqual([False, False, True],
                         [h['disabled_by_operator'] for h in hosts])
        self.assertEqual([False] * 3, [h['maintained'] for h in hosts])
        self.assertEqual([False] * 3,
                         [h['disabled_by_fenix'] for h in hosts])
        plugins = db_api.action_plugins_get(sid)
        self.assertEqual(
            [('check', 'pre', 0), ('upgrade', 'host', 0),
             ('reboot', 'host', 1), ('report', 'post', 7)],
            [(p['plugin'], p['type'], p['position']) for p in plugins])
        self.assertEqual({'v': 2}, plugins[1]['meta'])
        self.assertEqual({}, plugins[0]['meta'])

    def test_session_create_rejects_duplicates_and_keeps_nothing(self):
        self.assertRaises(
            exception.Invalid, db_api.session_create,
            {'hosts': [{'hostname': 'c1'}, {'hostname': 'c1'}]})
        self.assertRaises(
            exception.Invalid, db_api.session_create,
            {'action_plugins': [{'plugin': 'a', 'type': 'host'},
                                {'plugin': 'a', 'type': 'host'}]})
        self.assertRaises(exception.Invalid, db_api.session_create,
                          {'hosts': [{'type': 'compute'}]})
        self.assertRaises(exception.Invalid, db_api.session_create,
                          {'action_plugins': [{'plugin': 'a'}]})
        self.assertEqual([], db_api.session_list())

    def test_session_create_is_one_transaction(self):
        # The plug-in row fails when it is written, after the session and
        # the hosts were: none of them may stay.
        self.assertRaises(
            (TypeError, sa.exc.StatementError, db_exc.DBError),
            db_api.session_create,
            {'session_id': 'atomic', 'hosts': [{'hostname': 'c1'}],
             'action_plugins': [{'plugin': 'a', 'type': 'host',
                                 'meta': 'not a dict'}]})
        self.assertEqual([], db_api.session_list())
        self.assertEqual(0, sum(self._count_rows('atomic').values()))

    def test_session_create_duplicate_id(self):
        s = self._session()
        e = self.assertRaises(exception.Conflict, db_api.session_create,
                              {'session_id': s['session_id']})
        self.assertEqual(409, e.code)
        self.assertIn(s['session_id'], str(e))

    def test_session_create_unknown_field(self):
        self.assertRaises(ValueError, db_api.session_create,
                          {'no_such_field': 1})
        self.assertRaises(ValueError, db_api.session_create,
                          {'version': 3})
        self.assertRaises(ValueError, db_api.session_create,
                          {'hosts': [{'hostname': 'c1', 'bogus': 1}]})

    def test_session_get_not_found(self):
        e = self.assertRaises(exception.SessionNotFound, db_api.session_get,
                              'nope')
        self.assertEqual(404, e.code)
        self.assertIn('nope', str(e))

    def test_session_list(self):
        self.assertEqual([], db_api.session_list())
        ids = {self._session()['session_id'] for _ in range(3)}
        listed = db_api.session_list()
        self.assertEqual(ids, {s['session_id'] for s in listed})
        for s in listed:
            self.assertIsPlainDict(s)
        created = [s['created_at'] for s in listed]
        self.assertEqual(sorted(created), created)

    def test_session_list_by_states(self):
        a = self._session()['session_id']
        b = self._session(state=states.SCALE_IN, engine='e1')['session_id']
        c = self._session(state=states.MAINTENANCE_DONE,
                          engine='e1')['session_id']
        d = self._session(state=states.SCALE_IN, engine='e2')['session_id']

        def ids(*args, **kwargs):
            return {s['session_id']
                    for s in db_api.session_list_by_states(*args, **kwargs)}

        self.assertEqual({a, b, d}, ids(states.ACTIVE_SESSION_STATES))
        self.assertEqual({b}, ids(states.ACTIVE_SESSION_STATES,
                                  engine='e1'))
        self.assertEqual({b, c}, ids(list(states.SESSION_STATES),
                                     engine='e1'))
        self.assertEqual({c}, ids([states.MAINTENANCE_DONE]))
        self.assertEqual({b, d}, ids(states.SCALE_IN))
        self.assertEqual(set(), ids([]))
        self.assertEqual(set(), ids(states.ACTIVE_SESSION_STATES,
                                    engine='e3'))

    def test_session_update(self):
        sid = self._session()['session_id']
        s = db_api.session_update(sid, {'meta': {'k': 'v'}, 'error': 'x',
                                        'maintenance_at': T1})
        self.assertIsPlainDict(s)
        self.assertEqual({'k': 'v'}, s['meta'])
        self.assertEqual('x', s['error'])
        self.assertEqual(T1, s['maintenance_at'])
        self.assertEqual(0, s['version'])
        self.assertIsNotNone(s['updated_at'])
        self.assertEqual(s, db_api.session_get(sid))

    def test_session_update_version_follows_state(self):
        sid = self._session()['session_id']
        s = db_api.session_update(sid, {'state': states.SCALE_IN})
        self.assertEqual((states.SCALE_IN, 1), (s['state'], s['version']))
        # Same state again: no change of state, same version.
        s = db_api.session_update(sid, {'state': states.SCALE_IN,
                                        'error': None})
        self.assertEqual(1, s['version'])
        s = db_api.session_update(sid, {'plan': {'x': 1}})
        self.assertEqual(1, s['version'])
        s = db_api.session_update(sid, {'state': states.MAINTENANCE_FAILED,
                                        'failed_state': states.SCALE_IN},
                                  expected_state=states.SCALE_IN)
        self.assertEqual(2, s['version'])
        self.assertEqual(2, db_api.session_get(sid)['version'])

    def test_session_update_expected_state(self):
        sid = self._session()['session_id']
        s = db_api.session_update(sid, {'state': states.SCALE_IN},
                                  expected_state=states.MAINTENANCE)
        self.assertEqual(states.SCALE_IN, s['state'])
        e = self.assertRaises(
            exception.SessionStateConflict, db_api.session_update, sid,
            {'state': states.PREPARE_MAINTENANCE, 'error': 'no'},
            expected_state=states.MAINTENANCE)
        self.assertEqual(409, e.code)
        self.assertEqual(states.SCALE_IN, e.kwargs['state'])
        self.assertEqual('updated', e.kwargs['action'])
        self.assertIn(states.MAINTENANCE, e.kwargs['allowed'])
        self.assertIn(states.SCALE_IN, str(e))
        got = db_api.session_get(sid)
        self.assertEqual((states.SCALE_IN, None, 1),
                         (got['state'], got['error'], got['version']))
        # A list of acceptable states.
        s = db_api.session_update(
            sid, {'state': states.PREPARE_MAINTENANCE},
            expected_state=[states.MAINTENANCE, states.SCALE_IN])
        self.assertEqual(states.PREPARE_MAINTENANCE, s['state'])

    def test_session_update_not_found_and_bad_fields(self):
        self.assertRaises(exception.SessionNotFound, db_api.session_update,
                          'nope', {'state': states.SCALE_IN})
        self.assertRaises(exception.SessionNotFound, db_api.session_update,
                          'nope', {'state': states.SCALE_IN},
                          expected_state=states.MAINTENANCE)
        sid = self._session()['session_id']
        self.assertRaises(ValueError, db_api.session_update, sid,
                          {'version': 5})
        self.assertRaises(ValueError, db_api.session_update, sid,
                          {'session_id': 'other'})
        self.assertRaises(ValueError, db_api.session_update, sid,
                          {'hosts': []})
        self.assertEqual(0, db_api.session_get(sid)['version'])

    def test_session_delete_removes_every_row(self):
        sid = self._full_session()
        other = self._full_session()
        counts = self._count_rows(sid)
        self.assertEqual([], [t for t, n in counts.items() if n == 0],
                         'the fixture must fill every table')
        db_api.session_delete(sid)
        self.assertEqual({t: 0 for t in counts}, self._count_rows(sid))
        self.assertEqual(counts, self._count_rows(other))
        self.assertRaises(exception.SessionNotFound, db_api.session_get, sid)
        self.assertEqual([other],
                         [s['session_id'] for s in db_api.session_list()])

    def _record_statements(self):
        """The SQL statements run from now on (upper case), as a list that
        grows until the test ends."""
        return db_fixture.record_statements(self)

    def test_session_delete_deletes_children_explicitly(self):
        sid = self._full_session()
        statements = self._record_statements()
        db_api.session_delete(sid)
        deleted = {t.name for t in SESSION_TABLES
                   if any(s.startswith('DELETE FROM %s ' % t.name.upper())
                          for s in statements)}
        self.assertEqual({t.name for t in SESSION_TABLES}, deleted)

    def test_session_delete_not_found(self):
        self.assertRaises(exception.SessionNotFound, db_api.session_delete,
                          'nope')

    def test_session_set_engine(self):
        sid = self._session()['session_id']
        self.assertTrue(db_api.session_set_engine(sid, 'e1',
                                                  expected_engine=None))
        s = db_api.session_get(sid)
        self.assertEqual('e1', s['engine'])
        self.assertIsNotNone(s['updated_at'])
        self.assertEqual(0, s['version'])
        # Owned by e1: a claim expecting nobody fails.
        self.assertFalse(db_api.session_set_engine(sid, 'e2',
                                                   expected_engine=None))
        self.assertFalse(db_api.session_set_engine(sid, 'e2',
                                                   expected_engine='e3'))
        self.assertEqual('e1', db_api.session_get(sid)['engine'])
        # The owner claims again (nothing changes but it is still set).
        self.assertTrue(db_api.session_set_engine(sid, 'e1',
                                                  expected_engine='e1'))
        # Takeover of a dead engine's session.
        self.assertTrue(db_api.session_set_engine(sid, 'e2',
                                                  expected_engine='e1'))
        self.assertEqual('e2', db_api.session_get(sid)['engine'])
        # Unconditional.
        self.assertTrue(db_api.session_set_engine(sid, None))
        self.assertIsNone(db_api.session_get(sid)['engine'])
        self.assertTrue(db_api.session_set_engine(sid, 'e3'))
        self.assertEqual('e3', db_api.session_get(sid)['engine'])

    def test_session_set_engine_skips_a_locked_row(self):
        sid = self._session(engine='e1')['session_id']
        table = models.Session.__table__
        if db_api.get_engine().dialect.name != 'sqlite':
            # Another transaction (a stalled owner's) holds the row: the
            # takeover waits for nothing (SQLite has no row locks).
            with db_api.get_engine().connect() as other:
                other.begin()
                other.execute(sa.select(table.c.session_id).where(
                    table.c.session_id == sid).with_for_update(read=True))
                self.assertIsNone(db_api.session_set_engine(
                    sid, 'e2', expected_engine='e1', skip_locked=True))
                self.assertEqual('e1', db_api.session_get(sid)['engine'])
                other.rollback()
        self.assertTrue(db_api.session_set_engine(
            sid, 'e2', expected_engine='e1', skip_locked=True))
        self.assertEqual('e2', db_api.session_get(sid)['engine'])
        self.assertFalse(db_api.session_set_engine(
            sid, 'e3', expected_engine='e1', skip_locked=True))
        self.assertRaises(exception.SessionNotFound,
                          db_api.session_set_engine, 'nope', 'e1',
                          expected_engine=None, skip_locked=True)

    def test_session_set_engine_not_found(self):
        self.assertRaises(exception.SessionNotFound,
                          db_api.session_set_engine, 'nope', 'e1')
        self.assertRaises(exception.SessionNotFound,
                          db_api.session_set_engine, 'nope', 'e1',
                          expected_engine=None)

    def test_returned_dicts_are_copies(self):
        meta = {'a': {'b': 1}}
        s = self._session(meta=meta)
        self.assertIsNot(meta, s['meta'])
        self.assertIsNot(meta['a'], s['meta']['a'])
        s['meta']['a']['b'] = 3
        got = db_api.session_get(s['session_id'])
        self.assertEqual({'a': {'b': 1}}, got['meta'])
        u = db_api.session_update(s['session_id'], {'meta': meta})
        self.assertIsNot(meta, u['meta'])

    # --- hosts ----------------------------------------------------------

    def test_hosts_get(self):
        sid = self._session(hosts=[
            {'hostname': 'z1'}, {'hostname': 'a1', 'type': 'controller'},
            {'hostname': 'm1'}])['session_id']
        other = self._session(hosts=[{'hostname': 'z1'}])['session_id']
        self.assertEqual(['z1', 'a1', 'm1'],
                         [h['hostname'] for h in db_api.hosts_get(sid)])
        self.assertEqual(['z1', 'm1'],
                         [h['hostname'] for h in
                          db_api.hosts_get(sid, type=states.COMPUTE)])
        self.assertEqual(['a1'], [h['hostname'] for h in
                                  db_api.hosts_get(sid, 'controller')])
        self.assertEqual(1, len(db_api.hosts_get(other)))
        self.assertEqual([], db_api.hosts_get('nope'))
        for h in db_api.hosts_get(sid):
            self.assertIsPlainDict(h)
            self.assertEqual(sid, h['session_id'])

    def test_host_get(self):
        sid = self._session(hosts=[{'hostname': 'c1'}])['session_id']
        h = db_api.host_get(sid, 'c1')
        self.assertEqual(('c1', sid), (h['hostname'], h['session_id']))
        e = self.assertRaises(exception.NotFound, db_api.host_get, sid, 'c9')
        self.assertEqual(404, e.code)
        self.assertIn('c9', str(e))
        self.assertIn(sid, str(e))
        self.assertRaises(exception.NotFound, db_api.host_get, 'nope', 'c1')

    def test_hosts_create(self):
        sid = self._session(hosts=[{'hostname': 'c1'}])['session_id']
        created = db_api.hosts_create(sid, [
            {'hostname': 'c3', 'details': {'vcpus': 8}},
            {'hostname': 'c2', 'type': 'controller', 'state': 'SKIPPED'}])
        self.assertEqual(['c3', 'c2'], [h['hostname'] for h in created])
        self.assertEqual({'vcpus': 8}, created[0]['details'])
        self.assertEqual(('controller', 'SKIPPED'),
                         (created[1]['type'], created[1]['state']))
        self.assertEqual(['c1', 'c3', 'c2'],
                         [h['hostname'] for h in db_api.hosts_get(sid)])
        self.assertEqual(created, db_api.hosts_get(sid)[1:])
        self.assertEqual([], db_api.hosts_create(sid, []))

    def test_hosts_create_errors(self):
        sid = self._session(hosts=[{'hostname': 'c1'}])['session_id']
        self.assertRaises(exception.Conflict, db_api.hosts_create, sid,
                          [{'hostname': 'c2'}, {'hostname': 'c1'}])
        # All or nothing.
        self.assertEqual(['c1'],
                         [h['hostname'] for h in db_api.hosts_get(sid)])
        self.assertRaises(exception.Invalid, db_api.hosts_create, sid,
                          [{'hostname': 'c2'}, {'hostname': 'c2'}])
        self.assertRaises(exception.SessionNotFound, db_api.hosts_create,
                          'nope', [{'hostname': 'c1'}])

    def test_host_update(self):
        sid = self._session(hosts=[{'hostname': 'c1'},
                                   {'hostname': 'c2'}])['session_id']
        h = db_api.host_update(sid, 'c1', {
            'state': states.HOST_IN_MAINTENANCE, 'maintained': True,
            'disabled_by_fenix': True, 'started_at': T0,
            'finished_at': T1, 'details': {'free': {'vcpus': 2}}})
        self.assertIsPlainDict(h)
        self.assertEqual(h, db_api.host_get(sid, 'c1'))
        self.assertEqual(states.HOST_IN_MAINTENANCE, h['state'])
        self.assertIs(True, h['maintained'])
        self.assertIs(True, h['disabled_by_fenix'])
        self.assertEqual((T0, T1), (h['started_at'], h['finished_at']))
        self.assertEqual({'free': {'vcpus': 2}}, h['details'])
        self.assertIsNotNone(h['updated_at'])
        c2 = db_api.host_get(sid, 'c2')
        self.assertEqual((states.HOST_PENDING, False),
                         (c2['state'], c2['maintained']))
        self.assertRaises(exception.NotFound, db_api.host_update, sid, 'c9',
                          {'state': 'X'})
        self.assertRaises(ValueError, db_api.host_update, sid, 'c1',
                          {'session_id': 'other'})

    # --- projects -------------------------------------------------------

    def test_project_create_or_update(self):
        sid = self._session()['session_id']
        p = db_api.project_create_or_update(sid, 'p1', {})
        self.assertIsPlainDict(p)
        self.assertEqual(('p1', sid, False, {}),
                         (p['project_id'], p['session_id'],
                          p['has_manager'], p['instance_actions']))
        p2 = db_api.project_create_or_update(sid, 'p1', {
            'has_manager': True, 'event': states.MAINTENANCE,
            'event_at': T0, 'reply_at': T1})
        self.assertEqual(p['id'], p2['id'])
        self.assertEqual((True, states.MAINTENANCE, T0, T1),
                         (p2['has_manager'], p2['event'], p2['event_at'],
                          p2['reply_at']))
        # An update keeps what it does not name.
        p3 = db_api.project_create_or_update(
            sid, 'p1', {'reply': states.ack(states.MAINTENANCE),
                        'instance_actions': {'i1': states.MIGRATE}})
        self.assertEqual((True, states.MAINTENANCE, 'ACK_MAINTENANCE',
                          {'i1': 'MIGRATE'}),
                         (p3['has_manager'], p3['event'], p3['reply'],
                          p3['instance_actions']))
        self.assertEqual(1, len(db_api.projects_get(sid)))
        self.assertRaises(exception.SessionNotFound,
                          db_api.project_create_or_update, 'nope', 'p1', {})

    def test_project_get_and_projects_get(self):
        sid = self._session()['session_id']
        other = self._session()['session_id']
        for project in ('pb', 'pa', 'pc'):
            db_api.project_create_or_update(sid, project, {})
        db_api.project_create_or_update(other, 'pa', {'has_manager': True})
        self.assertEqual(['pb', 'pa', 'pc'],
                         [p['project_id'] for p in db_api.projects_get(sid)])
        self.assertIs(False, db_api.project_get(sid, 'pa')['has_manager'])
        self.assertIs(True, db_api.project_get(other, 'pa')['has_manager'])
        e = self.assertRaises(exception.ProjectNotFound, db_api.project_get,
                              sid, 'px')
        self.assertIn('px', str(e))
        self.assertIn(sid, str(e))
        self.assertEqual([], db_api.projects_get('nope'))

    def test_project_managers(self):
        # The two columns of projects_get, in its order.
        sid = self._session()['session_id']
        db_api.project_create_or_update(sid, 'pb', {'has_manager': True})
        db_api.project_create_or_update(sid, 'pa', {})
        db_api.project_update(sid, 'pb', {'instance_actions': {'i1': 'x'}})
        self.assertEqual(
            [{'project_id': p['project_id'], 'has_manager': p['has_manager']}
             for p in db_api.projects_get(sid)],
            db_api.project_managers(sid))
        self.assertEqual([True, False], [
            p['has_manager'] for p in db_api.project_managers(sid)])
        self.assertEqual([], db_api.project_managers('nope'))

    def test_locking_reads(self):
        # The same rows as the plain reads, alone or in a transaction
        # that writes what it read.
        sid = self._full_session()
        self.assertEqual(db_api.projects_get(sid),
                         db_api.projects_get(sid, for_update=True))
        self.assertEqual(db_api.instance_get(sid, 'i1'),
                         db_api.instance_get(sid, 'i1', for_update=True))
        with db_api.transaction():
            row = db_api.project_get(sid, 'p1', for_update=True)
            db_api.project_update(sid, 'p1', {'reply': 'ACK_MAINTENANCE',
                                              'event_id': 'e1'})
            db_api.instance_get(sid, 'i1', for_update=True)
        self.assertTrue(row['has_manager'])
        self.assertEqual(('ACK_MAINTENANCE', 'e1'),
                         (db_api.project_get(sid, 'p1')['reply'],
                          db_api.project_get(sid, 'p1')['event_id']))
        self.assertRaises(exception.ProjectNotFound, db_api.project_get,
                          sid, 'px', for_update=True)
        self.assertRaises(exception.InstanceNotFound, db_api.instance_get,
                          sid, 'ix', for_update=True)

    def test_project_update(self):
        sid = self._session()['session_id']
        db_api.project_create_or_update(sid, 'p1', {})
        p = db_api.project_update(sid, 'p1', {
            'reply': 'NACK_SCALE_IN', 'replied_at': T1,
            'instance_actions': {'i1': 'OWN_ACTION'}})
        self.assertEqual(p, db_api.project_get(sid, 'p1'))
        self.assertEqual(('NACK_SCALE_IN', T1, {'i1': 'OWN_ACTION'}),
                         (p['reply'], p['replied_at'],
                          p['instance_actions']))
        self.assertRaises(exception.ProjectNotFound, db_api.project_update,
                          sid, 'p2', {'reply': 'x'})
        self.assertRaises(ValueError, db_api.project_update, sid, 'p1',
                          {'project_id': 'p2'})

    def test_projects_update(self):
        sid = self._session()['session_id']
        other = self._session()['session_id']
        for project in ('p1', 'p2', 'p3'):
            db_api.project_create_or_update(sid, project, {})
        db_api.project_create_or_update(other, 'p1', {})
        n = db_api.projects_update(sid, {
            'event': states.PLANNED_MAINTENANCE, 'reply': None,
            'event_at': T0, 'instance_actions': {}})
        self.assertEqual(3, n)
        self.assertEqual(
            [states.PLANNED_MAINTENANCE] * 3,
            [p['event'] for p in db_api.projects_get(sid)])
        self.assertIsNone(db_api.project_get(other, 'p1')['event'])
        n = db_api.projects_update(sid, {'reply': 'ACK_PLANNED_MAINTENANCE',
                                         'instance_actions': {'i': 'x'}},
                                   project_ids=['p1', 'p3', 'p9'])
        self.assertEqual(2, n)
        got = {p['project_id']: (p['reply'], p['instance_actions'])
               for p in db_api.projects_get(sid)}
        self.assertEqual({'p1': ('ACK_PLANNED_MAINTENANCE', {'i': 'x'}),
                          'p2': (None, {}),
                          'p3': ('ACK_PLANNED_MAINTENANCE', {'i': 'x'})},
                         got)
        self.assertIsNotNone(db_api.project_get(sid, 'p1')['updated_at'])
        self.assertEqual(0, db_api.projects_update(sid, {'reply': 'y'},
                                                   project_ids=[]))
        self.assertEqual('ACK_PLANNED_MAINTENANCE',
                         db_api.project_get(sid, 'p1')['reply'])
        self.assertRaises(ValueError, db_api.projects_update, sid, {})

    # --- instances ------------------------------------------------------

    def test_instance_create_or_update(self):
        sid = self._session()['session_id']
        i = db_api.instance_create_or_update(sid, 'i1', {
            'project_id': 'p1', 'host': 'c1', 'instance_name': 'vm1',
            'details': {'floating_ip': True, 'vcpus': 2}})
        self.assertIsPlainDict(i)
        self.assertEqual(('i1', 'p1', 'c1', 0, {'floating_ip': True,
                                                'vcpus': 2}),
                         (i['instance_id'], i['project_id'], i['host'],
                          i['action_attempts'], i['details']))
        i2 = db_api.instance_create_or_update(sid, 'i1', {
            'host': 'c2', 'action': states.LIVE_MIGRATE,
            'action_attempts': 1})
        self.assertEqual(i['id'], i2['id'])
        self.assertEqual(('c2', 'p1', 'LIVE_MIGRATE', 1, 'vm1'),
                         (i2['host'], i2['project_id'], i2['action'],
                          i2['action_attempts'], i2['instance_name']))
        self.assertRaises(ValueError, db_api.instance_create_or_update,
                          sid, 'i2', {'host': 'c1'})
        self.assertRaises(exception.SessionNotFound,
                          db_api.instance_create_or_update, 'nope', 'i1',
                          {'project_id': 'p1'})

    def test_instances_put(self):
        sid = self._session()['session_id']
        db_api.instance_create_or_update(sid, 'old', {'project_id': 'p1'})
        db_api.instance_create_or_update(sid, 'keep', {
            'project_id': 'p1', 'host': 'c1', 'details': {'a': 1}})
        items = {'i%04d' % n: {'project_id': 'p%d' % (n % 3),
                               'host': 'c%d' % (n % 7),
                               'details': {'n': n}}
                 for n in range(1200)}      # more than one IN chunk
        items['keep'] = {'host': 'c9', 'details': {'a': 2}}
        rows = db_api.instances_put(sid, items, delete=['old', 'never'])
        self.assertEqual(list(items), [r['instance_id'] for r in rows])
        self.assertIsPlainDict(rows[0])
        got = {i['instance_id']: i for i in db_api.instances_get(sid)}
        self.assertEqual(set(items), set(got))
        self.assertEqual(('p2', 'c2', {'n': 1199}),
                         (got['i1199']['project_id'], got['i1199']['host'],
                          got['i1199']['details']))
        # An update keeps what it does not name.
        self.assertEqual(('p1', 'c9', {'a': 2}),
                         (got['keep']['project_id'], got['keep']['host'],
                          got['keep']['details']))
        # A row to insert without project_id: nothing of the call is kept.
        self.assertRaises(ValueError, db_api.instances_put, sid,
                          {'i0000': {'host': 'x'}, 'new': {'host': 'c1'}},
                          delete=['keep'])
        self.assertEqual('c0', db_api.instance_get(sid, 'i0000')['host'])
        self.assertEqual('c9', db_api.instance_get(sid, 'keep')['host'])
        self.assertRaises(ValueError, db_api.instances_put, sid,
                          {'i0000': {'session_id': 'other'}})
        self.assertRaises(exception.SessionNotFound, db_api.instances_put,
                          'nope', {'i1': {'project_id': 'p1'}})
        self.assertEqual([], db_api.instances_put(sid, {}))

    def test_instances_update(self):
        sid = self._session()['session_id']
        other = self._session()['session_id']
        db_api.instances_put(sid, {
            'i%04d' % n: {'project_id': 'p%d' % (n % 2), 'host': 'c1'}
            for n in range(1100)})
        db_api.instance_create_or_update(other, 'i0000',
                                         {'project_id': 'p0'})
        self.assertEqual(550, db_api.instances_update(
            sid, {'event': 'MAINTENANCE'}, project_id='p0'))
        ids = ['i%04d' % n for n in range(0, 1100, 2)][:520] + ['i0001']
        self.assertEqual(520, db_api.instances_update(
            sid, {'event': 'PLANNED_MAINTENANCE'}, project_id='p0',
            instance_ids=ids))
        rows = {i['instance_id']: i for i in db_api.instances_get(sid)}
        self.assertEqual('PLANNED_MAINTENANCE', rows['i1038']['event'])
        self.assertEqual('MAINTENANCE', rows['i1040']['event'])
        self.assertIsNone(rows['i0001']['event'])
        self.assertIsNone(db_api.instance_get(other, 'i0000')['event'])
        self.assertEqual(1100, db_api.instances_update(sid, {'reply': None}))
        self.assertRaises(ValueError, db_api.instances_update, sid, {})
        self.assertRaises(ValueError, db_api.instances_update, sid,
                          {'instance_id': 'x'})

    def test_instances_get(self):
        sid = self._session()['session_id']
        other = self._session()['session_id']
        for iid, project, host in (('i1', 'p1', 'c1'), ('i2', 'p2', 'c1'),
                                   ('i3', 'p1', 'c2'), ('i4', 'p1', None)):
            db_api.instance_create_or_update(
                sid, iid, {'project_id': project, 'host': host})
        db_api.instance_create_or_update(other, 'i1', {'project_id': 'p1',
                                                       'host': 'c1'})

        def ids(*args, **kwargs):
            return [i['instance_id']
                    for i in db_api.instances_get(*args, **kwargs)]

        self.assertEqual(['i1', 'i2', 'i3', 'i4'], ids(sid))
        self.assertEqual(['i1', 'i3', 'i4'], ids(sid, project_id='p1'))
        self.assertEqual(['i1', 'i2'], ids(sid, host='c1'))
        self.assertEqual(['i3'], ids(sid, project_id='p1', host='c2'))
        self.assertEqual([], ids(sid, project_id='p9'))
        self.assertEqual(['i1'], ids(other))
        self.assertEqual(['i1', 'i3'], ids(sid, instance_ids=['i3', 'i1',
                                                              'i9']))
        self.assertEqual(['i1'], ids(sid, instance_ids=['i1', 'i2'],
                                     project_id='p1'))
        self.assertEqual([], ids(sid, instance_ids=[]))
        many = ['x%d' % n for n in range(1100)] + ['i4', 'i2']
        self.assertEqual(['i2', 'i4'], ids(sid, instance_ids=many))

    def test_instances_moving_elsewhere(self):
        sid = self._session()['session_id']
        other = self._session(state=states.PLANNED_MAINTENANCE)['session_id']
        ended = self._session(state=states.MAINTENANCE_FAILED)['session_id']
        for session, iid in ((sid, 'mine'), (other, 'moving'),
                             (other, 'moved'), (other, 'waiting'),
                             (ended, 'left')):
            db_api.instance_create_or_update(session, iid,
                                             {'project_id': 'p1'})
        for session, iid in ((sid, 'mine'), (other, 'moving'),
                             (other, 'moved'), (ended, 'left')):
            db_api.instance_update(
                session, iid, {'action_state': states.ACTION_IN_PROGRESS})
        db_api.instance_update(other, 'moved',
                               {'action_state': states.ACTION_DONE})

        def moving(since):
            return sorted((r['session_id'] == other, r['instance_id'],
                           r['action_state'])
                          for r in db_api.instances_moving_elsewhere(
                              sid, since))

        # Only other live sessions; a move done since ``since`` too.
        past = timeutils.utcnow() - datetime.timedelta(seconds=60)
        self.assertEqual([(True, 'moved', states.ACTION_DONE),
                          (True, 'moving', states.ACTION_IN_PROGRESS)],
                         moving(past))
        future = timeutils.utcnow() + datetime.timedelta(seconds=60)
        self.assertEqual([(True, 'moving', states.ACTION_IN_PROGRESS)],
                         moving(future))
        row = db_api.instances_moving_elsewhere(other, past)
        self.assertEqual(['mine'], [r['instance_id'] for r in row])
        self.assertIsNotNone(row[0]['updated_at'])

    def test_instances_moving_elsewhere_alone_reads_no_instance(self):
        # With no other live session, no instance row is read (each
        # running session asks every second).
        sid = self._session()['session_id']
        self._session(state=states.MAINTENANCE_DONE)
        db_api.instance_create_or_update(sid, 'i1', {'project_id': 'p1'})
        statements = self._record_statements()
        self.assertEqual([], db_api.instances_moving_elsewhere(
            sid, timeutils.utcnow()))
        self.assertEqual([], [s for s in statements if 'INSTANCES' in s])

    # --- group budgets across sessions -----------------------------------

    def _live(self, **values):
        values.setdefault('state', states.PLANNED_MAINTENANCE)
        return self._session(**values)['session_id']

    @staticmethod
    def _past():
        return timeutils.utcnow() - datetime.timedelta(seconds=5)

    def _impacts_set(self, group_id, **values):
        """Change the rows of ``group_id`` as time would (tests)."""
        table = models.GroupImpact.__table__
        with db_api.get_engine().begin() as conn:
            conn.execute(table.update().where(
                table.c.group_id == group_id).values(**values))

    def test_group_impact_take_holds_budget_across_sessions(self):
        s1, s2, s3 = self._live(), self._live(), self._live()
        take = db_api.group_impact_take
        self.assertEqual((True, None), take('g1', 2, s1, 'a', 600))
        self.assertEqual((True, None), take('g1', 2, s2, 'b', 600))
        ok, after = take('g1', 2, s3, 'c', 600)
        self.assertFalse(ok)
        # Only a release (or the leases, 600 s) frees one.
        self.assertGreater(after, 500)
        # Taken again by its holder: renewed, not a second slot.
        self.assertEqual((True, None), take('g1', 2, s1, 'a', 600))
        rows = db_api.group_impacts_get('g1')
        self.assertEqual([(0, s1, 'a'), (1, s2, 'b')],
                         [(r['slot'], r['session_id'], r['instance_id'])
                          for r in rows])
        self.assertEqual({'g1': 2}, db_api.group_impacts_held())
        self.assertEqual({'g1': 1},
                         db_api.group_impacts_held(exclude_session=s1))
        self.assertEqual({}, db_api.group_impacts_held(['g2']))
        # Another group has its own budget.
        self.assertEqual((True, None), take('g2', 1, s3, 'd', 600))
        self.assertEqual(1, db_api.group_impact_release(s1, 'a'))
        self.assertEqual(0, db_api.group_impact_release(s1, 'a'))
        self.assertEqual((True, None), take('g1', 2, s3, 'c', 600))
        self.assertEqual({0, 1}, {r['slot'] for r in
                                  db_api.group_impacts_get('g1')})

    def test_group_impact_recovery_then_free(self):
        s1, s2 = self._live(), self._live()
        take = db_api.group_impact_take
        self.assertEqual((True, None), take('g1', 1, s1, 'a', 600))
        self.assertEqual(1, db_api.group_impact_release(s1, 'a',
                                                        recovery=30))
        # Recovering: the slot holds about 30 s more (whole seconds).
        ok, after = take('g1', 1, s2, 'b', 600)
        self.assertFalse(ok)
        self.assertTrue(25 < after <= 31, after)
        row, = db_api.group_impacts_get('g1')
        self.assertIsNotNone(row['ends_at'])
        self.assertEqual({'g1': 1}, db_api.group_impacts_held())
        # Recovered.
        self._impacts_set('g1', ends_at=self._past())
        self.assertEqual({}, db_api.group_impacts_held())
        self.assertEqual((True, None), take('g1', 1, s2, 'b', 600))
        self.assertEqual([(s2, 'b')], [(r['session_id'], r['instance_id'])
                                       for r in db_api.group_impacts_get()])

    def test_group_impact_expires_and_ends_with_its_session(self):
        s1, s2, s3 = self._live(), self._live(), self._live()
        take = db_api.group_impact_take
        self.assertEqual((True, None), take('g1', 1, s1, 'a', 600))
        self.assertFalse(take('g1', 1, s2, 'b', 600)[0])
        # Its engine died and nobody resumed the session: the lease ends.
        self._impacts_set('g1', expires_at=self._past())
        self.assertEqual({}, db_api.group_impacts_held())
        self.assertEqual((True, None), take('g1', 1, s2, 'b', 600))
        self.assertEqual([s2], [r['session_id']
                                for r in db_api.group_impacts_get('g1')])
        # Its session failed: its member is no longer counted...
        db_api.session_update(s2, {'state': states.MAINTENANCE_FAILED})
        self.assertEqual({}, db_api.group_impacts_held())
        self.assertEqual((True, None), take('g1', 1, s3, 'c', 600))
        # ... unless it still recovers.
        db_api.group_impact_release(s3, 'c', recovery=60)
        db_api.session_update(s3, {'state': states.MAINTENANCE_DONE})
        self.assertFalse(take('g1', 1, s1, 'a2', 600)[0])
        self.assertEqual({'g1': 1}, db_api.group_impacts_held())
        # A deleted session's slots go with it.
        db_api.session_delete(s3)
        self.assertEqual((True, None), take('g1', 1, s1, 'a2', 600))

    def test_group_impact_forced_and_fenced_release(self):
        s1, s2 = self._live(), self._live()
        take = db_api.group_impact_take
        self.assertEqual((True, None),
                         take('g1', 1, s1, 'a', 600, generation=3))
        # An impact already under way is recorded over the budget.
        self.assertEqual((True, None),
                         take('g1', 1, s2, 'b', 600, force=True))
        self.assertEqual({'g1': 2}, db_api.group_impacts_held())
        self.assertFalse(take('g1', 2, s2, 'c', 600)[0])
        # Renewed by the session's new owner (generation 4): the stale
        # runner's release leaves it held.
        self.assertEqual((True, None),
                         take('g1', 1, s1, 'a', 600, generation=4))
        self.assertEqual(0, db_api.group_impact_release(s1, 'a',
                                                        generation=3))
        self.assertEqual(1, db_api.group_impact_release(s1, 'a',
                                                        generation=4))

    def test_group_impact_release_ended_uses_group_recovery(self):
        # A move seen through after a takeover: the slots the stopped
        # runner took hold their group's registered recovery_time.
        s1, s2 = self._live(), self._live()
        db_api.instance_group_constraint_put('g1', {
            'project_id': 'p1', 'max_impacted_members': 1,
            'recovery_time': 40})
        take = db_api.group_impact_take
        self.assertTrue(take('g1', 1, s1, 'a', 600, generation=2)[0])
        self.assertTrue(take('g2', 1, s1, 'a', 600, generation=2)[0])
        self.assertEqual(2, db_api.group_impact_release_ended(s1, 'a'))
        self.assertEqual(0, db_api.group_impact_release_ended(s1, 'a'))
        # g1 recovers about 40 s; g2 (no rule: no recovery) is free.
        ok, after = take('g1', 1, s2, 'b', 600)
        self.assertFalse(ok)
        self.assertTrue(35 < after <= 41, after)
        self.assertEqual((True, None), take('g2', 1, s2, 'b', 600))

    # Waiting for a group's slot: first come, first served.

    def _waiters(self, group_id):
        return [(r['session_id'], r['instance_id'])
                for r in db_api.group_impacts_get(group_id, waiting=True)]

    def test_group_impact_waiters_served_in_turn(self):
        # s2 starts waiting before s3; when the slot frees, s3 asks again
        # and again (a shorter retry, a faster engine) and is refused
        # while s2, the first in line, has not taken it.
        s1, s2, s3, s4 = (self._live() for _n in range(4))
        take = db_api.group_impact_take
        self.assertEqual((True, None), take('g1', 1, s1, 'a', 600))
        self.assertFalse(take('g1', 1, s2, 'b', 600)[0])
        self.assertFalse(take('g1', 1, s3, 'c', 600)[0])
        self.assertFalse(take('g1', 1, s3, 'c', 600)[0])
        db_api.group_impact_release(s1, 'a')
        for _n in range(5):
            # The slot is free, for s2: asked again at its retry.
            self.assertEqual((False, None), take('g1', 1, s3, 'c', 600))
            self.assertEqual((False, None), take('g1', 1, s4, 'd', 600))
        self.assertEqual({}, db_api.group_impacts_held())
        # Asking again kept the places (one row each, in order).
        self.assertEqual([(s2, 'b'), (s3, 'c'), (s4, 'd')],
                         self._waiters('g1'))
        place = db_api.group_impacts_get('g1', waiting=True)[0]['id']
        self.assertEqual((True, None), take('g1', 1, s2, 'b', 600))
        # Its place became its slot.
        row, = db_api.group_impacts_get('g1')
        self.assertEqual((place, 0, s2, 'b'), (row['id'], row['slot'],
                                               row['session_id'],
                                               row['instance_id']))
        self.assertEqual([(s3, 'c'), (s4, 'd')], self._waiters('g1'))
        # An impact under way is recorded whoever waits; then s3's turn.
        self.assertEqual((True, None),
                         take('g1', 1, s4, 'e', 600, force=True))
        db_api.group_impact_release(s2, 'b')
        db_api.group_impact_release(s4, 'e')
        self.assertFalse(take('g1', 1, s4, 'd', 600)[0])
        self.assertEqual((True, None), take('g1', 1, s3, 'c', 600))
        self.assertEqual((True, None), take('g2', 1, s4, 'f', 600))
        # A budget of 2: one slot free, two waiters ahead of s1; only the
        # first of them may take it.
        self.assertEqual((True, None), take('g3', 2, s1, 'x1', 600))
        self.assertEqual((True, None), take('g3', 2, s1, 'x2', 600))
        self.assertFalse(take('g3', 2, s2, 'y', 600)[0])
        self.assertFalse(take('g3', 2, s3, 'z', 600)[0])
        db_api.group_impact_release(s1, 'x1')
        self.assertFalse(take('g3', 2, s1, 'x3', 600)[0])
        self.assertFalse(take('g3', 2, s3, 'z', 600)[0])
        self.assertEqual((True, None), take('g3', 2, s2, 'y', 600))
        self.assertEqual([(s3, 'z'), (s1, 'x3')], self._waiters('g3'))
        # One place per session and group, whichever member asks: s3's
        # other member asks with s3's place (no second row) ...
        self.assertFalse(take('g3', 2, s3, 'z2', 600)[0])
        self.assertEqual([(s3, 'z2'), (s1, 'x3')], self._waiters('g3'))
        # ... and s3's turn taken, its members still waiting are behind
        # s1: the sessions take turns.
        db_api.group_impact_release(s1, 'x2')
        self.assertEqual((True, None), take('g3', 2, s3, 'z2', 600))
        self.assertFalse(take('g3', 2, s3, 'z', 600)[0])
        self.assertEqual([(s1, 'x3'), (s3, 'z')], self._waiters('g3'))

    def test_group_impact_vanished_waiter_blocks_for_its_lease_only(self):
        s1, s2, s3 = self._live(), self._live(), self._live()
        take = db_api.group_impact_take
        self.assertEqual((True, None), take('g1', 1, s1, 'a', 600))
        self.assertFalse(take('g1', 1, s2, 'b', 600)[0])
        db_api.group_impact_release(s1, 'a')
        # s2 waits ahead of s3.
        self.assertFalse(take('g1', 1, s3, 'c', 600)[0])
        with db_api.get_engine().connect() as conn:
            now = conn.execute(sa.select(db_api.db_utc_now())).scalar_one()
        place = db_api.group_impacts_get('g1', waiting=True)[0]
        self.assertEqual(s2, place['session_id'])
        # Its place holds 10 s after its last ask (a second more where
        # the database keeps whole seconds).
        left = (place['expires_at'] - now).total_seconds()
        self.assertTrue(8 < left <= 11, left)
        # s2's engine died (it asks no more): once its place expired, s3
        # takes the slot; s2 gone from the queue.
        table = models.GroupImpact.__table__
        with db_api.get_engine().begin() as conn:
            conn.execute(table.update().where(
                table.c.session_id == s2).values(expires_at=self._past()))
        self.assertEqual((True, None), take('g1', 1, s3, 'c', 600))
        self.assertEqual([], self._waiters('g1'))
        # Asking again later: at the back of the queue.
        self.assertFalse(take('g1', 1, s2, 'b', 600)[0])
        self.assertFalse(take('g1', 1, s1, 'a', 600)[0])
        self.assertEqual([(s2, 'b'), (s1, 'a')], self._waiters('g1'))
        db_api.group_impact_release(s3, 'c')
        # s2 taken over (its session's generation raised): the stale
        # runner's place is gone at once.
        sessions = models.Session.__table__
        with db_api.get_engine().begin() as conn:
            conn.execute(sessions.update().where(
                sessions.c.session_id == s2).values(generation=5))
        self.assertEqual((True, None), take('g1', 1, s1, 'a', 600))
        db_api.group_impact_release(s1, 'a')
        # Its new owner (generation 5) asks: at the back, and keeps it.
        self.assertEqual((True, None), take('g2', 1, s3, 'x', 600))
        self.assertFalse(take('g2', 1, s2, 'y', 600, generation=5)[0])
        self.assertFalse(take('g2', 1, s1, 'z', 600)[0])
        self.assertEqual([(s2, 'y'), (s1, 'z')], self._waiters('g2'))
        # A session that ends gives its places up at once.
        db_api.session_update(s2, {'state': states.MAINTENANCE_FAILED})
        db_api.group_impact_release(s3, 'x')
        self.assertEqual((True, None), take('g2', 1, s1, 'z', 600))
        self.assertEqual([], self._waiters('g2'))
        # And a runner that stops asking leaves its places.
        self.assertFalse(take('g2', 1, s3, 'w', 600)[0])
        self.assertEqual(0, db_api.group_impact_leave(s3, ['g1']))
        self.assertEqual(1, db_api.group_impact_leave(s3, ['g2']))
        self.assertEqual([], self._waiters('g2'))

    def test_group_impact_no_queue_without_contention(self):
        # Nobody waits: a take reads and writes what it did before the
        # queues (the time, the group's rows, the insert of the slot);
        # no place is written.
        s1, s2 = self._live(), self._live()
        statements = self._record_statements()
        self.assertEqual((True, None),
                         db_api.group_impact_take('g1', 2, s1, 'a', 600))
        self.assertEqual((True, None),
                         db_api.group_impact_take('g1', 2, s2, 'b', 600))
        db_api.group_impact_release(s1, 'a')
        self.assertEqual((True, None),
                         db_api.group_impact_take('g1', 2, s1, 'c', 600))
        kinds = [s.split()[0] for s in statements
                 if s.split()[0] not in ('BEGIN', 'COMMIT')]
        self.assertEqual(['SELECT', 'SELECT', 'INSERT'] * 2 + ['DELETE'] +
                         ['SELECT', 'SELECT', 'INSERT'], kinds)
        # Contention: the refused member's place in the queue is written.
        del statements[:]
        self.assertFalse(db_api.group_impact_take('g1', 2, s1, 'd', 600)[0])
        self.assertEqual(['SELECT', 'SELECT', 'INSERT'],
                         [s.split()[0] for s in statements
                          if s.split()[0] not in ('BEGIN', 'COMMIT')])
        self.assertEqual([(s1, 'd')], self._waiters('g1'))

    def test_group_impact_queue_before_asking(self):
        # A session whose plan holds its member back while others hold
        # the slots takes a place before it asks for the slot; the places
        # ahead of a session count as impacted for it.
        s1, s2, s3 = self._live(), self._live(), self._live()
        take, queue = db_api.group_impact_take, db_api.group_impact_queue
        held = db_api.group_impacts_held
        self.assertEqual((True, None), take('g1', 1, s1, 'a', 600))
        queue('g1', s2, 'b', 10)
        queue('g1', s3, 'c', 10)
        # Asked again: renewed, one place per session (the last asker).
        queue('g1', s2, 'b2', 10)
        self.assertEqual([(s2, 'b2'), (s3, 'c')], self._waiters('g1'))
        self.assertEqual({'g1': 1}, held())
        self.assertEqual({'g1': 1}, held(exclude_session=s2, waiting=True))
        self.assertEqual({'g1': 2}, held(exclude_session=s3, waiting=True))
        # s1 has no place: every waiter is ahead of it.
        self.assertEqual({'g1': 2}, held(exclude_session=s1, waiting=True))
        self.assertEqual({}, held(['g2'], exclude_session=s1, waiting=True))
        db_api.group_impact_release(s1, 'a')
        self.assertEqual({}, held(exclude_session=s2, waiting=True))
        self.assertEqual({'g1': 1}, held(exclude_session=s3, waiting=True))
        self.assertFalse(take('g1', 1, s3, 'c', 600)[0])
        self.assertEqual((True, None), take('g1', 1, s2, 'b', 600))
        self.assertEqual({'g1': 1}, held(exclude_session=s3, waiting=True))
        # A place not renewed in time is gone, for every reader.
        self._impacts_set('g1', expires_at=self._past())
        self.assertEqual({}, held(exclude_session=s1, waiting=True))
        queue('g1', s3, 'c', 10)
        queue('g1', s1, 'a', 10)
        self.assertEqual([(s3, 'c'), (s1, 'a')], self._waiters('g1'))
        self.assertEqual({'g1': 1}, held(exclude_session=s1, waiting=True))

    def test_group_impact_concurrent_takers_one_winner(self):
        # Sessions of different engines take the last slot at once: the
        # unique (group, slot) key lets exactly the budget win, every
        # round.
        sessions = [self._live() for _n in range(THREADS)]
        for budget in (1, 2, 3):
            gid = 'race%d' % budget
            results, errors = run_in_threads(
                lambda i: db_api.group_impact_take(
                    gid, budget, sessions[i], 'm%d' % i, 600))
            self.assertEqual([None] * THREADS, errors)
            self.assertEqual(budget, sum(1 for ok, _a in results if ok),
                             results)
            rows = db_api.group_impacts_get(gid)
            self.assertEqual(list(range(budget)), [r['slot'] for r in rows])
            winners = {sessions[i] for i, (ok, _a) in enumerate(results)
                       if ok}
            self.assertEqual(winners, {r['session_id'] for r in rows})

    def test_group_impact_concurrent_take_and_release(self):
        # Takers and releasers of a budget of 1 racing for many rounds:
        # never two holders at once.
        sessions = [self._live() for _n in range(4)]
        seen = []

        def work(i):
            for n in range(15):
                ok, _after = db_api.group_impact_take(
                    'g1', 1, sessions[i], 'm%d' % i, 600)
                if ok:
                    seen.append(len(db_api.group_impacts_get('g1')))
                    db_api.group_impact_release(sessions[i], 'm%d' % i)
            return True

        results, errors = run_in_threads(work, count=4)
        self.assertEqual([None] * 4, errors)
        self.assertTrue(seen)
        self.assertEqual({1}, set(seen))

    def test_instance_get(self):
        sid = self._session()['session_id']
        db_api.instance_create_or_update(sid, 'i1', {'project_id': 'p1'})
        self.assertEqual('p1', db_api.instance_get(sid, 'i1')['project_id'])
        e = self.assertRaises(exception.InstanceNotFound,
                              db_api.instance_get, sid, 'i9')
        self.assertEqual(404, e.code)
        self.assertIn('i9', str(e))
        self.assertIn(sid, str(e))
        self.assertEqual('?', e.kwargs['project_id'])

    def test_instance_update(self):
        sid = self._session()['session_id']
        db_api.instance_create_or_update(sid, 'i1', {'project_id': 'p1'})
        i = db_api.instance_update(sid, 'i1', {
            'action_state': states.ACTION_FAILED,
            'action_message': 'boom', 'reply_at': T1})
        self.assertEqual(i, db_api.instance_get(sid, 'i1'))
        self.assertEqual(('FAILED', 'boom', T1),
                         (i['action_state'], i['action_message'],
                          i['reply_at']))
        self.assertRaises(exception.InstanceNotFound, db_api.instance_update,
                          sid, 'i9', {'host': 'c1'})

    def test_updates_return_what_a_read_gives(self):
        # The returned dicts are built from what was written, converted
        # as the database would (JSON: new objects, tuples as lists).
        sid = self._session(hosts=[{'hostname': 'c1'}])['session_id']
        db_api.instance_create_or_update(sid, 'i1', {'project_id': 'p1'})
        details = {'move_from': 'c1', 'path': ('a', 'b')}
        i = db_api.instance_update(sid, 'i1', {
            'details': details, 'event_at': T1, 'action_attempts': 2},
            history={'kind': states.EVENT_ACTION, 'message': 'm'})
        details['move_from'] = 'changed afterwards'
        self.assertEqual(db_api.instance_get(sid, 'i1'), i)
        self.assertEqual({'move_from': 'c1', 'path': ['a', 'b']},
                         i['details'])
        h = db_api.host_update(sid, 'c1', {'state': states.HOST_EMPTYING,
                                           'details': {'k': (1,)}})
        self.assertEqual(db_api.host_get(sid, 'c1'), h)
        e = db_api.event_add(sid, states.EVENT_STATE, message='x',
                             data={'n': (1, 2)})
        self.assertEqual(db_api.events_get(sid)[-1], e)
        self.assertEqual({'n': [1, 2]}, e['data'])
        step = self._plan_steps(sid)[2]
        moved = db_api.step_transition(step['id'], 'start',
                                       values={'result': {'t': ('c2',)}},
                                       bump_attempt=True)
        self.assertEqual(db_api.step_get(step['id']), moved)
        self.assertEqual({'t': ['c2']}, moved['result'])

    def test_instance_update_with_history(self):
        sid = self._session()['session_id']
        db_api.instance_create_or_update(sid, 'i1', {'project_id': 'p1'})
        db_api.instance_update(sid, 'i1', {'reply': 'ACK_X'}, history={
            'kind': states.EVENT_REPLY, 'message': 'i1 said yes',
            'state': 'ACK_X', 'project_id': 'p1', 'instance_id': 'i1'})
        events = db_api.events_get(sid)
        self.assertEqual([(states.EVENT_REPLY, 'i1 said yes', 'ACK_X', 'p1',
                           'i1')],
                         [(e['kind'], e['message'], e['state'],
                           e['project_id'], e['instance_id'])
                          for e in events])
        # Nothing is recorded when the update fails.
        self.assertRaises(exception.InstanceNotFound, db_api.instance_update,
                          sid, 'i9', {'host': 'c1'},
                          history={'kind': states.EVENT_ACTION})
        self.assertEqual(1, len(db_api.events_get(sid)))

    def test_instance_delete(self):
        sid = self._session()['session_id']
        db_api.instance_create_or_update(sid, 'i1', {'project_id': 'p1'})
        db_api.instance_create_or_update(sid, 'i2', {'project_id': 'p1'})
        self.assertIsNone(db_api.instance_delete(sid, 'i1'))
        self.assertEqual(['i2'], [i['instance_id']
                                  for i in db_api.instances_get(sid)])
        self.assertRaises(exception.InstanceNotFound, db_api.instance_delete,
                          sid, 'i1')

    # --- action plug-ins ------------------------------------------------

    def test_action_plugins_get_order(self):
        sid = self._session(action_plugins=[
            {'plugin': 'z-post', 'type': 'post'},
            {'plugin': 'c-compute', 'type': 'compute'},
            {'plugin': 'b-host', 'type': 'host', 'position': 1},
            {'plugin': 'a-host', 'type': 'host', 'position': 1},
            {'plugin': 'y-host', 'type': 'host', 'position': 0},
            {'plugin': 'x-ctl', 'type': 'controller'},
            {'plugin': 'w-pre', 'type': 'pre'},
        ])['session_id']
        self.assertEqual(
            ['w-pre', 'y-host', 'a-host', 'b-host', 'c-compute', 'x-ctl',
             'z-post'],
            [p['plugin'] for p in db_api.action_plugins_get(sid)])
        self.assertEqual(
            ['y-host', 'a-host', 'b-host'],
            [p['plugin'] for p in db_api.action_plugins_get(sid, 'host')])
        self.assertEqual([], db_api.action_plugins_get(sid, type='nope'))
        self.assertEqual([], db_api.action_plugins_get('nope'))

    def test_action_runs(self):
        sid = self._session(action_plugins=[
            {'plugin': 'dummy', 'type': 'host'},
            {'plugin': 'check', 'type': 'pre'}])['session_id']
        r = db_api.action_run_create_or_update(sid, 'dummy', 'host', 'c1',
                                               {'started_at': T0})
        self.assertIsPlainDict(r)
        self.assertEqual(('dummy', 'host', 'c1', states.RUN_PENDING, T0),
                         (r['plugin'], r['type'], r['hostname'], r['state'],
                          r['started_at']))
        pre = db_api.action_run_create_or_update(
            sid, 'check', 'pre', None, {'state': states.RUN_RUNNING})
        self.assertEqual(('', states.RUN_RUNNING),
                         (pre['hostname'], pre['state']))
        db_api.action_run_create_or_update(sid, 'dummy', 'host', 'c2', {})
        db_api.action_run_create_or_update(sid, 'dummy', 'host', 'c1',
                                           {'state': states.RUN_RUNNING})
        r2 = db_api.action_run_create_or_update(
            sid, 'dummy', 'host', 'c1',
            {'state': states.RUN_DONE, 'message': 'ok', 'finished_at': T1})
        self.assertEqual(r['id'], r2['id'])
        self.assertEqual((states.RUN_DONE, 'ok', T0, T1),
                         (r2['state'], r2['message'], r2['started_at'],
                          r2['finished_at']))

        def runs(**kwargs):
            return [(x['plugin'], x['hostname'])
                    for x in db_api.action_runs_get(sid, **kwargs)]

        self.assertEqual([('dummy', 'c1'), ('check', ''), ('dummy', 'c2')],
                         runs())
        self.assertEqual([('dummy', 'c1'), ('dummy', 'c2')],
                         runs(plugin='dummy'))
        self.assertEqual([('check', '')], runs(type='pre'))
        self.assertEqual([('dummy', 'c2')], runs(hostname='c2'))
        self.assertEqual([('check', '')], runs(hostname=''))
        self.assertEqual([], runs(plugin='dummy', type='pre'))
        self.assertRaises(exception.SessionNotFound,
                          db_api.action_run_create_or_update, 'nope',
                          'dummy', 'host', 'c1', {})

    def test_row_states_follow_their_machines(self):
        sid = self._session(hosts=[{'hostname': 'c1'}])['session_id']
        r = db_api.action_run_create_or_update(sid, 'dummy', 'host', 'c1',
                                               {})
        e = self.assertRaises(exception.InvalidStepTransition,
                              db_api.action_run_update, r['id'],
                              {'state': states.RUN_DONE})
        self.assertIn('plug-in run cannot move from PENDING to DONE', str(e))
        self.assertEqual(states.RUN_PENDING,
                         db_api.action_runs_get(sid)[0]['state'])
        e = self.assertRaises(exception.InvalidStepTransition,
                              db_api.host_update, sid, 'c1',
                              {'state': states.HOST_MAINTAINED})
        self.assertIn('host cannot move from PENDING to MAINTAINED', str(e))
        db_api.host_update(sid, 'c1', {'state': states.HOST_IN_MAINTENANCE})
        db_api.host_update(sid, 'c1', {'state': states.HOST_MAINTAINED})
        self.assertRaises(exception.InvalidStepTransition,
                          db_api.host_update, sid, 'c1',
                          {'state': states.HOST_PENDING})
        db_api.instance_create_or_update(sid, 'i1', {'project_id': 'p1'})
        db_api.instance_update(sid, 'i1',
                               {'action_state': states.ACTION_IN_PROGRESS})
        db_api.instance_update(sid, 'i1',
                               {'action_state': states.ACTION_FAILED})
        self.assertRaises(exception.InvalidStepTransition,
                          db_api.instance_update, sid, 'i1',
                          {'action_state': states.ACTION_DONE})

    def test_action_run_update(self):
        sid = self._session()['session_id']
        r = db_api.action_run_create_or_update(
            sid, 'dummy', 'host', 'c1', {'state': states.RUN_RUNNING})
        u = db_api.action_run_update(r['id'], {'state': states.RUN_FAILED,
                                               'message': 'disk full'})
        self.assertEqual((states.RUN_FAILED, 'disk full'),
                         (u['state'], u['message']))
        self.assertEqual([u], db_api.action_runs_get(sid))
        e = self.assertRaises(exception.ActionPluginRunNotFound,
                              db_api.action_run_update, r['id'] + 1000,
                              {'state': states.RUN_DONE})
        self.assertEqual(404, e.code)
        self.assertIn(str(r['id'] + 1000), str(e))

    def test_action_run_start_counts_attempts(self):
        sid = self._session()['session_id']
        first = db_api.action_run_start(sid, 'dummy', 'host', 'c1')
        self.assertEqual((states.RUN_RUNNING, 1, False, None, None),
                         (first['state'], first['attempt'],
                          first['asynchronous'], first['message'],
                          first['finished_at']))
        self.assertIsNotNone(first['started_at'])
        db_api.action_run_update_attempt(first['id'], 1, {
            'state': states.RUN_FAILED, 'message': 'disk full',
            'finished_at': T1, 'asynchronous': True})
        second = db_api.action_run_start(sid, 'dummy', 'host', 'c1',
                                         expected_attempt=1)
        self.assertEqual(first['id'], second['id'])
        # A new attempt starts clean: no outcome, not handed over.
        self.assertEqual((states.RUN_RUNNING, 2, False, None, None),
                         (second['state'], second['attempt'],
                          second['asynchronous'], second['message'],
                          second['finished_at']))
        self.assertEqual([second], db_api.action_runs_get(sid))

    def test_action_run_attempts_unique_over_types(self):
        # A report names plug-in, host and attempt (no type): the compute
        # run of a plug-in that also ran as ``host`` on c1 gets a new
        # number, so a late report of the host run never matches it.
        sid = self._session()['session_id']
        host = db_api.action_run_start(sid, 'tool', 'host', 'c1')
        other = db_api.action_run_start(sid, 'tool', 'host', 'c2')
        compute = db_api.action_run_start(sid, 'tool', 'compute', 'c1')
        self.assertEqual((1, 1, 2), (host['attempt'], other['attempt'],
                                     compute['attempt']))
        again = db_api.action_run_start(sid, 'tool', 'host', 'c1',
                                        expected_attempt=1)
        self.assertEqual(3, again['attempt'])
        self.assertRaises(exception.ActionRunAttemptConflict,
                          db_api.action_run_update_attempt, compute['id'],
                          1, {'state': states.RUN_DONE})

    def test_action_run_start_is_compare_and_set(self):
        sid = self._session()['session_id']
        db_api.action_run_start(sid, 'dummy', 'host', 'c1')
        # The starter saw no run (or an old attempt): nothing changes.
        for seen in (0, 2):
            e = self.assertRaises(exception.ActionRunAttemptConflict,
                                  db_api.action_run_start, sid, 'dummy',
                                  'host', 'c1', expected_attempt=seen)
            self.assertEqual(409, e.code)
            self.assertIn('the current attempt is 1 (RUNNING)', str(e))
        self.assertEqual([1], [r['attempt']
                               for r in db_api.action_runs_get(sid)])
        self.assertRaises(exception.ActionPluginRunNotFound,
                          db_api.action_run_start, sid, 'dummy', 'host',
                          'c2', expected_attempt=1)
        self.assertRaises(exception.SessionNotFound,
                          db_api.action_run_start, 'nope', 'dummy', 'host',
                          'c1')

    def test_action_run_start_race_has_one_winner(self):
        sid = self._session()['session_id']
        db_api.action_run_start(sid, 'dummy', 'host', 'c1')
        results, errors = run_in_threads(
            lambda i: db_api.action_run_start(sid, 'dummy', 'host', 'c1',
                                              expected_attempt=1))
        self.assertEqual(1, len([r for r in results if r]))
        self.assertEqual(
            THREADS - 1,
            len([e for e in errors
                 if isinstance(e, exception.ActionRunAttemptConflict)]))
        self.assertEqual(2, db_api.action_runs_get(sid)[0]['attempt'])

    def test_action_run_update_attempt(self):
        sid = self._session()['session_id']
        run = db_api.action_run_start(sid, 'dummy', 'host', 'c1')
        db_api.action_run_update_attempt(run['id'], 1, {'message': 'x'})
        db_api.action_run_start(sid, 'dummy', 'host', 'c1',
                                expected_attempt=1)
        # An earlier attempt is refused, naming the current one.
        e = self.assertRaises(exception.ActionRunAttemptConflict,
                              db_api.action_run_update_attempt, run['id'],
                              1, {'state': states.RUN_DONE})
        self.assertEqual(409, e.code)
        self.assertEqual('Attempt 1 of action plug-in dummy on c1 is not '
                         'the current one: the current attempt is 2 '
                         '(RUNNING).', str(e))
        done = db_api.action_run_update_attempt(
            run['id'], 2, {'state': states.RUN_DONE, 'message': 'ok'})
        self.assertEqual((states.RUN_DONE, 2, 'ok'),
                         (done['state'], done['attempt'], done['message']))
        # The attempt ended: a second outcome is refused.
        e = self.assertRaises(exception.ActionRunStateConflict,
                              db_api.action_run_update_attempt, run['id'],
                              2, {'state': states.RUN_FAILED})
        self.assertEqual('Run of action plug-in dummy on c1 (attempt 2) is '
                         'DONE, not RUNNING.', str(e))
        self.assertEqual([done], db_api.action_runs_get(sid))
        # Without a state to expect, only the attempt counts.
        marked = db_api.action_run_update_attempt(
            run['id'], 2, {'asynchronous': True}, expected_state=None)
        self.assertEqual((states.RUN_DONE, True),
                         (marked['state'], marked['asynchronous']))
        self.assertRaises(ValueError, db_api.action_run_update_attempt,
                          run['id'], 2, {'attempt': 5})
        # A state is written only along an edge of the declared machine.
        self.assertRaises(ValueError, db_api.action_run_update_attempt,
                          run['id'], 2, {'state': states.RUN_FAILED},
                          expected_state=None)
        self.assertRaises(exception.InvalidStepTransition,
                          db_api.action_run_update_attempt, run['id'], 2,
                          {'state': states.RUN_FAILED},
                          expected_state=states.RUN_DONE)
        # Nor is a finished run started again.
        self.assertRaises(exception.InvalidStepTransition,
                          db_api.action_run_start, sid, 'dummy', 'host',
                          'c1', expected_attempt=2)
        self.assertEqual(states.RUN_DONE,
                         db_api.action_runs_get(sid)[0]['state'])
        self.assertRaises(exception.ActionPluginRunNotFound,
                          db_api.action_run_update_attempt, run['id'] + 99,
                          1, {'state': states.RUN_DONE})

    def test_action_run_reports_race_has_one_winner(self):
        sid = self._session()['session_id']
        run = db_api.action_run_start(sid, 'dummy', 'host', 'c1')

        def report(i):
            return db_api.action_run_update_attempt(
                run['id'], 1, {'state': states.RUN_DONE,
                               'message': str(i)})

        results, errors = run_in_threads(report)
        winners = [r for r in results if r]
        self.assertEqual(1, len(winners))
        self.assertEqual(
            THREADS - 1,
            len([e for e in errors
                 if isinstance(e, exception.ActionRunStateConflict)]))
        self.assertEqual(winners[0]['message'],
                         db_api.action_runs_get(sid)[0]['message'])

    # --- constraints ----------------------------------------------------

    def test_instance_constraints(self):
        c = db_api.instance_constraint_put('i1', {
            'instance_id': 'i1', 'project_id': 'p1', 'group_id': 'g1',
            'instance_name': 'vm1', 'max_interruption_time': 30,
            'migration_type': states.LIVE_MIGRATE,
            'resource_mitigation': True, 'lead_time': 60})
        self.assertIsPlainDict(c)
        self.assertEqual(c, db_api.instance_constraint_get('i1'))
        self.assertEqual(('p1', 'g1', 30, 'LIVE_MIGRATE', True, 60),
                         (c['project_id'], c['group_id'],
                          c['max_interruption_time'], c['migration_type'],
                          c['resource_mitigation'], c['lead_time']))
        d = db_api.instance_constraint_put('i2', {'project_id': 'p2'})
        self.assertEqual((None, False, 0), (d['group_id'],
                                            d['resource_mitigation'],
                                            d['lead_time']))
        db_api.instance_constraint_put('i0', {'project_id': 'p1'})
        # Update: only the given fields change.
        c2 = db_api.instance_constraint_put('i1', {'lead_time': 5,
                                                   'group_id': None})
        self.assertEqual((5, None, 30, 'p1'),
                         (c2['lead_time'], c2['group_id'],
                          c2['max_interruption_time'], c2['project_id']))

        def ids(**kwargs):
            return [x['instance_id']
                    for x in db_api.instance_constraints_list(**kwargs)]

        self.assertEqual(['i0', 'i1', 'i2'], ids())
        self.assertEqual(['i0', 'i1'], ids(project_id='p1'))
        db_api.instance_constraint_put('i3', {'project_id': 'p1',
                                              'group_id': 'g2'})
        self.assertEqual(['i3'], ids(group_id='g2'))
        self.assertEqual(['i3'], ids(project_id='p1', group_id='g2'))
        self.assertEqual([], ids(project_id='p2', group_id='g2'))

        self.assertIsNone(db_api.instance_constraint_delete('i1'))
        e = self.assertRaises(exception.InstanceConstraintNotFound,
                              db_api.instance_constraint_get, 'i1')
        self.assertEqual(404, e.code)
        self.assertIn('i1', str(e))
        self.assertRaises(exception.InstanceConstraintNotFound,
                          db_api.instance_constraint_delete, 'i1')

    def test_constraints_version_follows_every_change(self):
        versions = [db_api.constraints_version()]

        def changed():
            versions.append(db_api.constraints_version())
            self.assertNotEqual(versions[-2], versions[-1])

        db_api.instance_constraint_put('i1', {'project_id': 'p1'})
        changed()
        self.assertEqual(versions[-1], db_api.constraints_version())
        db_api.instance_constraint_put('i1', {'group_id': 'g1'})
        changed()
        db_api.instance_group_constraint_put('g1', {'project_id': 'p1'})
        changed()
        db_api.instance_group_constraint_put('g1', {'max_impacted_members':
                                                    2})
        changed()
        db_api.instance_constraint_delete('i1')
        changed()

    def test_instance_constraint_put_errors(self):
        self.assertRaises(exception.Invalid, db_api.instance_constraint_put,
                          'i1', {'lead_time': 3})
        self.assertRaises(exception.Invalid, db_api.instance_constraint_put,
                          'i1', {'instance_id': 'i2', 'project_id': 'p'})
        self.assertRaises(ValueError, db_api.instance_constraint_put, 'i1',
                          {'project_id': 'p', 'bogus': 1})
        self.assertEqual([], db_api.instance_constraints_list())

    def test_instance_group_constraints(self):
        g = db_api.instance_group_constraint_put('g1', {
            'group_id': 'g1', 'project_id': 'p1', 'group_name': 'db',
            'anti_affinity_group': True, 'max_instances_per_host': 1,
            'max_impacted_members': 2, 'recovery_time': 15,
            'resource_mitigation': True})
        self.assertIsPlainDict(g)
        self.assertEqual(g, db_api.instance_group_constraint_get('g1'))
        self.assertEqual(('db', True, 1, 2, 15, True),
                         (g['group_name'], g['anti_affinity_group'],
                          g['max_instances_per_host'],
                          g['max_impacted_members'], g['recovery_time'],
                          g['resource_mitigation']))
        d = db_api.instance_group_constraint_put('g2', {'project_id': 'p2'})
        self.assertEqual((False, 0, 1, 0, False),
                         (d['anti_affinity_group'],
                          d['max_instances_per_host'],
                          d['max_impacted_members'], d['recovery_time'],
                          d['resource_mitigation']))
        g2 = db_api.instance_group_constraint_put(
            'g1', {'max_impacted_members': 3})
        self.assertEqual((3, 15, 'db'), (g2['max_impacted_members'],
                                         g2['recovery_time'],
                                         g2['group_name']))
        self.assertEqual(
            ['g1', 'g2'],
            [x['group_id']
             for x in db_api.instance_group_constraints_list()])
        self.assertEqual(
            ['g2'],
            [x['group_id'] for x in
             db_api.instance_group_constraint_list(project_id='p2')])
        self.assertIsNone(db_api.instance_group_constraint_delete('g1'))
        e = self.assertRaises(exception.InstanceGroupNotFound,
                              db_api.instance_group_constraint_get, 'g1')
        self.assertIn('g1', str(e))
        self.assertRaises(exception.InstanceGroupNotFound,
                          db_api.instance_group_constraint_delete, 'g1')
        self.assertRaises(exception.Invalid,
                          db_api.instance_group_constraint_put, 'g3', {})

    # --- outbox ---------------------------------------------------------

    def _message(self, sid, mid=None, **payload):
        return {'message_id': mid or uuidutils.generate_uuid(),
                'session_id': sid, 'event_type': 'maintenance.session',
                'payload': payload}

    def test_outbox_add_unsent_mark_sent(self):
        sid = self._session()['session_id']
        m1, m2 = self._message(sid, n=1), self._message(sid, n=2)
        rows = db_api.outbox_add([m1, m2])
        self.assertEqual([m1['message_id'], m2['message_id']],
                         [r['message_id'] for r in rows])
        self.assertEqual('info', rows[0]['priority'])
        unsent = db_api.outbox_unsent()
        self.assertEqual([{'n': 1}, {'n': 2}], [r['payload'] for r in unsent])
        db_api.outbox_mark_sent([unsent[0]['id']])
        unsent = db_api.outbox_unsent()
        self.assertEqual([m2['message_id']],
                         [r['message_id'] for r in unsent])

    def test_outbox_add_same_message_id_once(self):
        sid = self._session()['session_id']
        m = self._message(sid, n=1)
        db_api.outbox_add([m])
        self.assertEqual([], db_api.outbox_add([dict(m, payload={'n': 2})]))
        self.assertEqual([{'n': 1}],
                         [r['payload'] for r in db_api.outbox_unsent()])

    def test_outbox_unsent_of_an_engine_and_of_a_session(self):
        mine = self._session()['session_id']
        theirs = self._session()['session_id']
        db_api.session_set_engine(mine, 'e1', expected_engine=None)
        db_api.session_set_engine(theirs, 'e2', expected_engine=None)
        db_api.outbox_add([self._message(mine), self._message(theirs)])
        self.assertEqual([mine], [r['session_id'] for r in
                                  db_api.outbox_unsent(engine='e1')])
        self.assertEqual([theirs], [r['session_id'] for r in
                                    db_api.outbox_unsent(session_id=theirs)])

    def test_outbox_add_lean(self):
        sid = self._session()['session_id']
        m = self._message(sid, n=1)
        m['created_at'] = T0
        # Nothing read back, nothing looked up: only the insert.
        ids = db_api.outbox_add([m], check_known=False, fetch=False)
        [row] = db_api.outbox_unsent()
        self.assertEqual({m['message_id']: row['id']}, ids)
        self.assertEqual(T0, row['created_at'])
        self.assertRaises(db_exc.DBDuplicateEntry, db_api.outbox_add,
                          [m], check_known=False, fetch=False)

    def test_outbox_unsent_after_id(self):
        sid = self._session()['session_id']
        rows = db_api.outbox_add([self._message(sid, n=n)
                                  for n in range(3)])
        self.assertEqual([{'n': 1}, {'n': 2}], [
            r['payload'] for r in db_api.outbox_unsent(
                after_id=rows[0]['id'])])
        self.assertEqual([{'n': 1}], [
            r['payload'] for r in db_api.outbox_unsent(
                after_id=rows[0]['id'], limit=1)])

    def test_outbox_pending_sessions(self):
        mine = self._session(engine='e1')['session_id']
        other = self._session(engine='e2')['session_id']
        self._session(engine='e3')
        db_api.outbox_add([self._message(mine), self._message(mine)])
        row = db_api.outbox_add([self._message(other)])[0]
        self.assertEqual(sorted([{'session_id': mine, 'engine': 'e1'},
                                 {'session_id': other, 'engine': 'e2'}],
                                key=lambda p: p['session_id']),
                         db_api.outbox_pending_sessions())
        db_api.outbox_mark_sent([row['id']])
        self.assertEqual([{'session_id': mine, 'engine': 'e1'}],
                         db_api.outbox_pending_sessions())

    def test_in_transaction(self):
        self.assertFalse(db_api.in_transaction())
        with db_api.transaction():
            self.assertTrue(db_api.in_transaction())
        self.assertFalse(db_api.in_transaction())

    def test_outbox_mark_failed(self):
        sid = self._session()['session_id']
        row = db_api.outbox_add([self._message(sid)])[0]
        db_api.outbox_mark_failed(row['id'], 'broker down')
        row = db_api.outbox_unsent()[0]
        self.assertEqual((1, 'broker down'),
                         (row['attempts'], row['last_error']))

    def test_transaction_commits_all_or_nothing(self):
        sid = self._session(hosts=[{'hostname': 'c1'}])['session_id']
        with db_api.transaction():
            db_api.host_update(sid, 'c1', {'state': states.HOST_EMPTYING})
            db_api.outbox_add([self._message(sid)])
        self.assertEqual(states.HOST_EMPTYING,
                         db_api.host_get(sid, 'c1')['state'])
        self.assertEqual(1, len(db_api.outbox_unsent()))

        def fail():
            with db_api.transaction():
                db_api.host_update(sid, 'c1',
                                   {'state': states.HOST_IN_MAINTENANCE})
                db_api.outbox_add([self._message(sid)])
                raise RuntimeError('crash before commit')

        self.assertRaises(RuntimeError, fail)
        self.assertEqual(states.HOST_EMPTYING,
                         db_api.host_get(sid, 'c1')['state'])
        self.assertEqual(1, len(db_api.outbox_unsent()))

    # --- history --------------------------------------------------------

    def test_events(self):
        sid = self._session()['session_id']
        other = self._session()['session_id']
        e1 = db_api.event_add(sid, states.EVENT_STATE,
                              state=states.MAINTENANCE)
        self.assertIsPlainDict(e1)
        self.assertEqual((sid, 'state', 'MAINTENANCE', {}, None),
                         (e1['session_id'], e1['kind'], e1['state'],
                          e1['data'], e1['message']))
        e2 = db_api.event_add(
            sid, states.EVENT_NOTIFY, message='told p1',
            state=states.MAINTENANCE, host='c1', project_id='p1',
            instance_id='i1',
            data={'instance_ids': ['i1', 'i2'], 'reply_at': '2030-01-02'})
        db_api.event_add(other, states.EVENT_ERROR, message='x')
        e3 = db_api.event_add(sid, states.EVENT_ERROR, message='boom')
        events = db_api.events_get(sid)
        self.assertEqual([e1, e2, e3], events)
        self.assertEqual(('told p1', 'c1', 'p1', 'i1'),
                         (e2['message'], e2['host'], e2['project_id'],
                          e2['instance_id']))
        self.assertEqual({'instance_ids': ['i1', 'i2'],
                          'reply_at': '2030-01-02'}, events[1]['data'])
        self.assertEqual([e2, e3], db_api.events_get(sid, since_id=e1['id']))
        self.assertEqual([], db_api.events_get(sid, since_id=e3['id']))
        self.assertEqual([e1, e2], db_api.events_get(sid, limit=2))
        self.assertEqual([e2], db_api.events_get(sid, since_id=e1['id'],
                                                 limit=1))
        self.assertEqual(1, len(db_api.events_get(other)))
        self.assertRaises(exception.SessionNotFound, db_api.event_add,
                          'nope', states.EVENT_STATE)

    # --- engines --------------------------------------------------------

    def test_engines(self):
        self.assertEqual([], db_api.engines_get())
        e = db_api.engine_heartbeat('engine-b')
        self.assertIsPlainDict(e)
        self.assertEqual('engine-b', e['host'])
        self.assertEqual(e['started_at'], e['heartbeat_at'])
        db_api.engine_heartbeat('engine-a')
        e2 = db_api.engine_heartbeat('engine-b')
        self.assertEqual(e['started_at'], e2['started_at'])
        self.assertGreaterEqual(e2['heartbeat_at'], e['heartbeat_at'])
        self.assertEqual(['engine-a', 'engine-b'],
                         [x['host'] for x in db_api.engines_get()])
        self.assertIsNone(db_api.engine_delete('engine-b'))
        self.assertEqual(['engine-a'],
                         [x['host'] for x in db_api.engines_get()])
        e = self.assertRaises(exception.NotFound, db_api.engine_delete,
                              'engine-b')
        self.assertIn('engine-b', str(e))

    def test_heartbeat_and_liveness_by_the_database_clock(self):
        # An engine whose own clock is 26 years behind still beats "now":
        # the time written is the database server's.
        with mock.patch.object(timeutils, 'utcnow',
                               return_value=datetime.datetime(2000, 1, 1)):
            e = db_api.engine_heartbeat('skewed')
            db_api.engine_heartbeat('fresh')
        self.assertGreater(e['heartbeat_at'], datetime.datetime(2025, 1, 1))
        self.assertEqual({'skewed', 'fresh'}, db_api.engines_alive(60))
        # A heartbeat 100 s old by the database's clock is dead at 60 s.
        with db_api.transaction() as session:
            session.execute(sa.update(models.Engine).where(
                models.Engine.host == 'skewed').values(
                heartbeat_at=db_api.db_utc_now(sa.literal(100))))
        self.assertEqual({'fresh'}, db_api.engines_alive(60))
        self.assertEqual({'skewed', 'fresh'}, db_api.engines_alive(1000))
        db_api.engine_heartbeat('skewed')
        self.assertEqual({'skewed', 'fresh'}, db_api.engines_alive(60))

    # --- ownership and fencing ------------------------------------------

    def test_generation_goes_up_at_every_claim(self):
        sid = self._session(engine='e1')['session_id']
        self.assertEqual(('e1', 0), db_api.session_generation(sid))
        self.assertEqual(1, db_api.session_claim(sid, 'e1'))
        self.assertEqual(2, db_api.session_claim(sid, 'e1'))
        # Not the owner: no claim, no change.
        self.assertIsNone(db_api.session_claim(sid, 'e2'))
        self.assertTrue(db_api.session_set_engine(sid, 'e2',
                                                  expected_engine='e1'))
        self.assertEqual(('e2', 3), db_api.session_generation(sid))
        self.assertFalse(db_api.session_set_engine(sid, 'e3',
                                                   expected_engine='e1'))
        self.assertEqual(('e2', 3), db_api.session_generation(sid))
        self.assertEqual({sid: ('e2', 3)},
                         db_api.sessions_owners([sid, 'nope']))
        self.assertRaises(exception.SessionNotFound, db_api.session_claim,
                          'nope', 'e1')
        # A session of no engine is anyone's to claim.
        db_api.session_set_engine(sid, None)
        self.assertEqual(5, db_api.session_claim(sid, 'e3'))
        self.assertEqual(('e3', 5), db_api.session_generation(sid))

    def test_a_stale_generation_cannot_write(self):
        sid = self._session(engine='e1',
                            hosts=[{'hostname': 'c1'}])['session_id']
        fence = fencing.Fence(sid, 'e1', db_api.session_claim(sid, 'e1'))
        with fencing.bound(fence):
            db_api.event_add(sid, states.EVENT_STATE, message='mine')
        # Another engine takes the session over while e1 stalls.
        self.assertTrue(db_api.session_set_engine(sid, 'e2',
                                                  expected_engine='e1'))
        with fencing.bound(fence):
            # One transaction, several writes: all refused together.
            def stale_writes():
                with db_api.transaction():
                    db_api.host_update(sid, 'c1', {'details': {'x': 1}})
                    db_api.event_add(sid, states.EVENT_STATE,
                                     message='late')
            e = self.assertRaises(exception.SessionFenced, stale_writes)
            self.assertIn(sid, str(e))
            self.assertTrue(fence.lost)
            # Once lost, refused before any statement.
            with mock.patch.object(db_api.transaction_context.writer,
                                   'using', side_effect=AssertionError):
                self.assertRaises(exception.SessionFenced, db_api.event_add,
                                  sid, states.EVENT_STATE)
        self.assertEqual(['mine'], [e['message']
                                    for e in db_api.events_get(sid)])
        self.assertEqual({}, db_api.host_get(sid, 'c1')['details'] or {})
        # The new owner's runner (its own fence) writes.
        new = fencing.Fence(sid, 'e2', db_api.session_claim(sid, 'e2'))
        with fencing.bound(new):
            db_api.event_add(sid, states.EVENT_STATE, message='new owner')
        # Outside a runner nothing is checked.
        db_api.event_add(sid, states.EVENT_STATE, message='api')
        self.assertEqual(['mine', 'new owner', 'api'],
                         [e['message'] for e in db_api.events_get(sid)])

    def test_outbox_marks_only_the_owners_rows(self):
        sid = self._session(engine='e1')['session_id']
        rows = db_api.outbox_add([{'message_id': uuidutils.generate_uuid(),
                                   'session_id': sid, 'event_type': 'x',
                                   'payload': {}}])
        ids = [r['id'] for r in rows]
        self.assertEqual(0, db_api.outbox_mark_sent(ids, engine='e2'))
        self.assertEqual(ids, [r['id'] for r in db_api.outbox_unsent()])
        self.assertEqual(1, db_api.outbox_mark_sent(ids, engine='e1'))
        self.assertEqual([], db_api.outbox_unsent())

    def test_sessions_count(self):
        self._session(engine='e1')
        self._session(engine='e2')
        self._session(engine='e2', state=states.MAINTENANCE_DONE)
        self.assertEqual(2, db_api.sessions_count(
            states.ACTIVE_SESSION_STATES))

    def test_sessions_count_by_engine(self):
        self._session(engine='e1')
        self._session(engine='e2')
        self._session(engine='e2', state=states.PAUSED)
        self._session(engine='e3', state=states.MAINTENANCE_DONE)
        self._session(engine=None)
        self.assertEqual({'e1': 1, 'e2': 2}, db_api.sessions_count_by_engine(
            states.ACTIVE_SESSION_STATES))

    # --- many threads at once -------------------------------------------

    def test_threads_compare_and_set_state(self):
        sid = self._session()['session_id']
        results, errors = run_in_threads(
            lambda i: db_api.session_update(
                sid, {'state': states.SCALE_IN, 'error': str(i)},
                expected_state=states.MAINTENANCE))
        winners = [i for i, r in enumerate(results) if r is not None]
        self.assertEqual(1, len(winners), errors)
        for i, e in enumerate(errors):
            if i not in winners:
                self.assertIsInstance(e, exception.SessionStateConflict)
        s = db_api.session_get(sid)
        self.assertEqual((states.SCALE_IN, 1, str(winners[0])),
                         (s['state'], s['version'], s['error']))

    def test_threads_claim_session(self):
        sid = self._session()['session_id']
        results, errors = run_in_threads(
            lambda i: db_api.session_set_engine(sid, 'engine-%d' % i,
                                                expected_engine=None))
        self.assertEqual([None] * THREADS, errors)
        self.assertEqual(1, results.count(True))
        self.assertEqual('engine-%d' % results.index(True),
                         db_api.session_get(sid)['engine'])

    def test_threads_upsert_and_append(self):
        sid = self._session()['session_id']

        def work(i):
            db_api.project_create_or_update(sid, 'p1', {'event': str(i)})
            db_api.instance_create_or_update(sid, 'i1', {'project_id': 'p1'})
            db_api.action_run_create_or_update(sid, 'dummy', 'host', 'c1',
                                               {'message': str(i)})
            db_api.instance_constraint_put('i1', {'project_id': 'p1',
                                                  'lead_time': i})
            db_api.engine_heartbeat('engine')
            return db_api.event_add(sid, states.EVENT_DECISION,
                                    message=str(i))['id']

        results, errors = run_in_threads(work)
        self.assertEqual([None] * THREADS, errors)
        self.assertEqual(1, len(db_api.projects_get(sid)))
        self.assertEqual(1, len(db_api.instances_get(sid)))
        self.assertEqual(1, len(db_api.action_runs_get(sid)))
        self.assertEqual(1, len(db_api.instance_constraints_list()))
        self.assertEqual(1, len(db_api.engines_get()))
        events = db_api.events_get(sid)
        self.assertEqual(sorted(results), [e['id'] for e in events])
        self.assertEqual({str(i) for i in range(THREADS)},
                         {e['message'] for e in events})

    # --- idempotency keys and outages (outage11) ---------------------------
    def test_idempotency_key_is_unique(self):
        first = db_api.session_create({'idempotency_key': 'k' * 64,
                                       'request_hash': 'h' * 64})
        self.assertEqual(first['session_id'], db_api.
                         session_find_by_idempotency_key('k' * 64)[
                             'session_id'])
        self.assertIsNone(db_api.session_find_by_idempotency_key('x' * 64))
        self.assertRaises(exception.IdempotencyKeyInUse,
                          db_api.session_create,
                          {'idempotency_key': 'k' * 64})
        # Without a key (NULL) any number of sessions.
        db_api.session_create({})
        db_api.session_create({})

    def test_ping(self):
        self.assertIsNone(db_api.ping())

    # --- steps of the plan ------------------------------------------------

    def _plan_steps(self, sid):
        return db_api.steps_create(sid, [
            {'ref': 'off', 'kind': states.STEP_DISABLE_COMPUTE, 'host': 'c1',
             'wave': 0},
            {'ref': 'tell', 'kind': states.STEP_NOTIFY_INSTANCE,
             'host': 'c1', 'instance_id': 'i1', 'project_id': 'p1',
             'wave': 0, 'depends_on': ['off']},
            {'ref': 'mv', 'kind': states.STEP_MOVE, 'host': 'c1',
             'instance_id': 'i1', 'project_id': 'p1', 'wave': 0,
             'inputs': {'target': 'c2', 'action': states.LIVE_MIGRATE},
             'depends_on': ['tell']},
            {'kind': states.STEP_MAINTAIN_HOST, 'host': 'c1', 'wave': 0,
             'depends_on': ['mv']},
        ])

    def test_steps_create_in_bulk(self):
        sid = self._session()['session_id']
        steps = self._plan_steps(sid)
        self.assertEqual([states.STEP_DISABLE_COMPUTE,
                          states.STEP_NOTIFY_INSTANCE, states.STEP_MOVE,
                          states.STEP_MAINTAIN_HOST],
                         [s['kind'] for s in steps])
        for step in steps:
            self.assertIsPlainDict(step)
            self.assertEqual(states.STEP_PENDING, step['state'])
            self.assertEqual(0, step['attempt'])
            self.assertIsNone(step['started_at'])
        self.assertEqual([0, 1, 2, 3], [s['seq'] for s in steps])
        ids = [s['id'] for s in steps]
        self.assertEqual([[], [ids[0]], [ids[1]], [ids[2]]],
                         [s['depends_on'] for s in steps])
        self.assertEqual({'target': 'c2', 'action': states.LIVE_MIGRATE},
                         steps[2]['inputs'])
        self.assertEqual(steps, db_api.steps_get(sid))
        # A later batch may depend on steps already there, by id.
        more = db_api.steps_create(sid, [
            {'kind': states.STEP_ENABLE_COMPUTE, 'host': 'c1', 'wave': 0,
             'seq': 9, 'depends_on': [ids[3]]}])
        self.assertEqual([ids[3]], more[0]['depends_on'])
        self.assertEqual([], db_api.steps_create(sid, []))

    def test_steps_depend_extends_dependencies(self):
        # A step added at run time makes stored steps wait for it too: the
        # one way depends_on changes after the plan was written.
        sid = self._session()['session_id']
        other = self._session()['session_id']
        steps = self._plan_steps(sid)
        ids = [s['id'] for s in steps]
        extra = db_api.steps_create(sid, [
            {'kind': states.STEP_MOVE, 'host': 'c1', 'instance_id': 'i2',
             'depends_on': [ids[0]]}])[0]
        changed = db_api.steps_depend(sid, {ids[3]: [extra['id'], ids[2]]})
        # Extended, not replaced; an id already there is not repeated.
        self.assertEqual([[ids[2], extra['id']]],
                         [s['depends_on'] for s in changed])
        self.assertEqual([ids[2], extra['id']],
                         db_api.step_get(ids[3])['depends_on'])
        self.assertEqual([], db_api.steps_depend(sid, {}))
        theirs = db_api.steps_create(other, [
            {'kind': states.STEP_MOVE, 'instance_id': 'x'}])[0]
        self.assertRaises(exception.Invalid, db_api.steps_depend, sid,
                          {ids[3]: [theirs['id']]})
        self.assertRaises(exception.Invalid, db_api.steps_depend, sid,
                          {theirs['id']: [ids[0]]})
        self.assertRaises(exception.Invalid, db_api.steps_depend, sid,
                          {ids[3]: [ids[3]]})
        # Steps named for a session that has none of them.
        self.assertRaises(exception.Invalid, db_api.steps_depend,
                          'nope', {ids[3]: [ids[0]]})
        # Nothing of a refused change was written.
        self.assertEqual([ids[2], extra['id']],
                         db_api.step_get(ids[3])['depends_on'])

    def test_steps_create_refuses_bad_steps(self):
        sid = self._session()['session_id']
        other = self._session()['session_id']
        theirs = db_api.steps_create(other, [
            {'kind': states.STEP_MOVE, 'instance_id': 'x'}])[0]
        self.assertRaises(exception.Invalid, db_api.steps_create, sid,
                          [{'kind': 'dance'}])
        self.assertRaises(exception.InvalidState, db_api.steps_create, sid,
                          [{'kind': states.STEP_MOVE, 'state': 'BOGUS'}])
        self.assertRaises(exception.Invalid, db_api.steps_create, sid,
                          [{'kind': states.STEP_MOVE,
                            'depends_on': ['nope']}])
        self.assertRaises(exception.Invalid, db_api.steps_create, sid,
                          [{'kind': states.STEP_MOVE,
                            'depends_on': [theirs['id']]}])
        self.assertRaises(exception.Invalid, db_api.steps_create, sid,
                          [{'kind': states.STEP_MOVE, 'ref': 'a'},
                           {'kind': states.STEP_MOVE, 'ref': 'a'}])
        self.assertRaises(ValueError, db_api.steps_create, sid,
                          [{'kind': states.STEP_MOVE, 'colour': 'red'}])
        self.assertRaises(exception.SessionNotFound, db_api.steps_create,
                          'nope', [{'kind': states.STEP_MOVE}])
        # Nothing of a refused batch was written.
        self.assertEqual([], db_api.steps_get(sid))

    def test_steps_list_by_state_host_kind(self):
        sid = self._session()['session_id']
        steps = self._plan_steps(sid)
        db_api.steps_create(sid, [{'kind': states.STEP_MAINTAIN_HOST,
                                   'host': 'c2', 'wave': 1}])
        db_api.step_transition(steps[0]['id'], 'start')
        self.assertEqual([steps[0]['id']], [s['id'] for s in db_api.steps_get(
            sid, state=states.STEP_RUNNING)])
        self.assertEqual(4, len(db_api.steps_get(sid, host='c1')))
        self.assertEqual(['c1', 'c2'], [s['host'] for s in db_api.steps_get(
            sid, kind=states.STEP_MAINTAIN_HOST)])
        self.assertEqual(2, len(db_api.steps_get(
            sid, kind=[states.STEP_MOVE, states.STEP_NOTIFY_INSTANCE],
            instance_id='i1')))
        self.assertEqual(4, len(db_api.steps_get(
            sid, state=[states.STEP_PENDING])))
        self.assertEqual(steps[2], db_api.step_get(steps[2]['id']))
        self.assertRaises(exception.StepNotFound, db_api.step_get, -1)

    def test_step_transition_follows_the_machine(self):
        sid = self._session()['session_id']
        move = self._plan_steps(sid)[2]
        running = db_api.step_transition(move['id'], 'start',
                                         bump_attempt=True)
        self.assertEqual(states.STEP_RUNNING, running['state'])
        self.assertEqual(1, running['attempt'])
        self.assertIsNotNone(running['started_at'])
        self.assertIsNone(running['finished_at'])
        # Resumed after a restart: the same attempt, the same start.
        resumed = db_api.step_transition(move['id'], 'resume')
        self.assertEqual((1, running['started_at']),
                         (resumed['attempt'], resumed['started_at']))
        failed = db_api.step_transition(move['id'], 'fail',
                                        values={'message': 'no room'})
        self.assertEqual((states.STEP_FAILED, 'no room'),
                         (failed['state'], failed['message']))
        self.assertIsNotNone(failed['finished_at'])
        # An edge the machine does not have changes nothing.
        self.assertRaises(exception.InvalidStepTransition,
                          db_api.step_transition, move['id'], 'done')
        self.assertRaises(exception.InvalidStepTransition,
                          db_api.step_transition, move['id'], 'again')
        self.assertEqual(states.STEP_FAILED,
                         db_api.step_get(move['id'])['state'])
        again = db_api.step_transition(move['id'], 'retry_now',
                                       bump_attempt=True)
        self.assertEqual((states.STEP_RUNNING, 2),
                         (again['state'], again['attempt']))
        done = db_api.step_transition(move['id'], 'done',
                                      values={'result': {'host': 'c2'}})
        self.assertEqual({'host': 'c2'}, done['result'])
        self.assertRaises(exception.StepStateConflict,
                          db_api.step_transition, move['id'], 'again',
                          expected_state=states.STEP_RUNNING)
        self.assertRaises(exception.StepNotFound, db_api.step_transition,
                          -1, 'start')
        self.assertRaises(ValueError, db_api.step_transition, move['id'],
                          'again', values={'state': states.STEP_PENDING})

    def test_step_state_written_directly_is_checked(self):
        # The generic row check refuses an undeclared edge too.
        sid = self._session()['session_id']
        step = self._plan_steps(sid)[0]
        db_api.step_transition(step['id'], 'cancel')
        self.assertRaises(exception.InvalidStepTransition,
                          db_api.step_transition, step['id'], 'start')

    def test_steps_transition_all_or_nothing(self):
        sid = self._session()['session_id']
        steps = self._plan_steps(sid)
        ids = [s['id'] for s in steps]
        db_api.step_transition(ids[0], 'start')
        self.assertRaises(exception.InvalidStepTransition,
                          db_api.steps_transition, sid, ids, 'start')
        self.assertEqual([states.STEP_RUNNING] + [states.STEP_PENDING] * 3,
                         [s['state'] for s in db_api.steps_get(sid)])
        cancelled = db_api.steps_transition(sid, ids[1:], 'cancel',
                                            values={'message': 'skipped'})
        self.assertEqual({states.STEP_CANCELLED},
                         {s['state'] for s in cancelled})
        self.assertRaises(exception.StepNotFound, db_api.steps_transition,
                          sid, [ids[0], -5], 'done')
        self.assertEqual([], db_api.steps_transition(sid, [], 'done'))

    def test_steps_transition_each_own_values_in_one_write(self):
        sid = self._session()['session_id']
        off, tell, mv, _down = [s['id'] for s in self._plan_steps(sid)]
        db_api.step_transition(tell, 'done', values={'event_id': 'e0'})
        at = datetime.datetime(2026, 12, 5, 10, 0, 1)
        rows = db_api.steps_transition_each(sid, [
            (off, ('done',), {'message': 'disabled'}),
            # Planned again, then done with the new event's values.
            (tell, ('again', 'done'), {'event_id': 'e1', 'reply_at': at,
                                       'result': {'event': 'E'}}),
            (mv, ('start',), None)])
        self.assertEqual(
            [(states.STEP_DONE, 'disabled', None),
             (states.STEP_DONE, None, 'e1'),
             (states.STEP_RUNNING, None, None)],
            [(r['state'], r['message'], r['event_id']) for r in rows])
        stored = {s['id']: s for s in db_api.steps_get(sid)}
        self.assertEqual(
            [(r['id'], r['state'], r['event_id'], r['result'])
             for r in rows],
            [(i, stored[i]['state'], stored[i]['event_id'],
              stored[i]['result']) for i in (off, tell, mv)])
        self.assertEqual(at, stored[tell]['reply_at'])
        self.assertIsNotNone(stored[mv]['started_at'])
        # One step that may not take its event: nothing is written.
        self.assertRaises(exception.InvalidStepTransition,
                          db_api.steps_transition_each, sid,
                          [(mv, ('done',), None), (off, ('start',), None)])
        self.assertEqual(states.STEP_RUNNING,
                         db_api.step_get(mv)['state'])
        self.assertRaises(exception.StepNotFound,
                          db_api.steps_transition_each, sid,
                          [(mv, ('done',), None), (-5, ('done',), None)])
        self.assertEqual([], db_api.steps_transition_each(sid, []))

    def test_steps_with_the_plan_in_one_transaction(self):
        sid = self._session()['session_id']

        class Boom(Exception):
            pass

        try:
            with db_api.transaction():
                db_api.session_update(sid, {'plan': {'nfv': {'waves': []}}})
                self._plan_steps(sid)
                raise Boom()
        except Boom:
            pass
        self.assertEqual([], db_api.steps_get(sid))
        self.assertFalse(db_api.session_get(sid)['plan'])
