# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Tests of the migrations, run on every database backend.

A test case class mixes :class:`MigrationTests` (and oslo.db's
ModelsMigrationsSync) with a base whose ``get_engine()`` gives an engine on
an empty database.
"""
import datetime
import json

from oslo_db import exception as db_exc
import sqlalchemy as sa

from fenix.common import states
from fenix.db import migration
from fenix.db.sqlalchemy import models


class MigrationTests:

    # --- for oslo.db's ModelsMigrationsSync -----------------------------

    def db_sync(self, engine):
        migration.upgrade('head', engine=engine)

    def get_metadata(self):
        return models.Base.metadata

    # --- hooks ----------------------------------------------------------

    def fk_engine(self):
        """An engine on the same database that enforces foreign keys."""
        return self.get_engine()

    # --- tests ----------------------------------------------------------

    def _tables(self):
        return set(sa.inspect(self.get_engine()).get_table_names())

    def test_walk_versions(self):
        engine = self.get_engine()
        self.assertIsNone(migration.version(engine=engine))
        revisions = migration.revisions()
        self.assertEqual(migration.head(), revisions[-1])
        for revision in revisions:
            migration.upgrade(revision, engine=engine)
            self.assertEqual(revision, migration.version(engine=engine))
        self.assertEqual(
            set(models.Base.metadata.tables) | {'alembic_version'},
            self._tables())

    def test_upgrade_twice(self):
        engine = self.get_engine()
        migration.upgrade(engine=engine)
        migration.upgrade('head', engine=engine)
        self.assertEqual(migration.head(), migration.version(engine=engine))

    def test_stamp(self):
        engine = self.get_engine()
        migration.stamp('head', engine=engine)
        self.assertEqual(migration.head(), migration.version(engine=engine))
        # Stamping migrates nothing.
        self.assertEqual({'alembic_version'}, self._tables())
        migration.stamp('base', engine=engine)
        self.assertIsNone(migration.version(engine=engine))

    def test_constraints(self):
        engine = self.get_engine()
        migration.upgrade(engine=engine)
        inspector = sa.inspect(engine)
        for table in models.Base.metadata.sorted_tables:
            fks = inspector.get_foreign_keys(table.name)
            if 'session_id' in table.c and table.name != 'sessions':
                self.assertEqual(1, len(fks), table.name)
                self.assertEqual(
                    ('sessions', ['session_id'], ['session_id'], 'CASCADE'),
                    (fks[0]['referred_table'], fks[0]['referred_columns'],
                     fks[0]['constrained_columns'],
                     (fks[0]['options'].get('ondelete') or '').upper()),
                    table.name)
            else:
                self.assertEqual([], fks, table.name)
            expected = {tuple(c.columns.keys()) for c in table.constraints
                        if isinstance(c, sa.UniqueConstraint)}
            reflected = {tuple(u['column_names'])
                         for u in inspector.get_unique_constraints(
                             table.name)}
            self.assertEqual(expected, reflected, table.name)
            expected = {(i.name, tuple(i.columns.keys()))
                        for i in table.indexes}
            reflected = {(i['name'], tuple(i['column_names']))
                         for i in inspector.get_indexes(table.name)
                         if i['name'].startswith('ix_')}
            self.assertEqual(expected, reflected, table.name)

    def test_delete_cascades(self):
        migration.upgrade(engine=self.get_engine())
        engine = self.fk_engine()
        tables = models.Base.metadata.tables
        now = sa.func.now()
        with engine.begin() as conn:
            conn.execute(tables['sessions'].insert().values(
                session_id='s1', state=states.MAINTENANCE,
                workflow='default', maintenance_at=now, meta={},
                options={}, download=[], version=0, created_at=now))
            conn.execute(tables['hosts'].insert().values(
                session_id='s1', hostname='c1', type='compute',
                state='PENDING', maintained=False, disabled_by_fenix=False,
                disabled_by_operator=False, details={}, created_at=now))
            conn.execute(tables['session_events'].insert().values(
                session_id='s1', kind='state', data={}, created_at=now))
        with engine.begin() as conn:
            conn.execute(tables['sessions'].delete())
            for name in ('hosts', 'session_events'):
                self.assertEqual(0, conn.execute(
                    sa.select(sa.func.count()).select_from(tables[name])
                ).scalar(), name)

    def test_group_impacts_slot_is_unique_and_goes_with_session(self):
        # Revision 3e7a5c9d1f24: a slot of a group's budget is one row
        # (the unique key makes a take atomic across engines), gone with
        # its session.
        engine = self.get_engine()
        migration.upgrade('d9f4c2a81e06', engine=engine)
        self.assertNotIn('group_impacts', self._tables())
        migration.upgrade('3e7a5c9d1f24', engine=engine)
        engine = self.fk_engine()
        tables = models.Base.metadata.tables
        impacts = tables['group_impacts']
        dt = datetime.datetime(2026, 12, 6, 2, 0, 0)

        def slot(sid, iid, n):
            return impacts.insert().values(
                group_id='g1', slot=n, session_id=sid, instance_id=iid,
                generation=1, expires_at=dt, created_at=dt)

        with engine.begin() as conn:
            for sid in ('s1', 's2'):
                conn.execute(tables['sessions'].insert().values(
                    session_id=sid, state=states.PLANNED_MAINTENANCE,
                    workflow='nfv', maintenance_at=dt, meta={}, options={},
                    download=[], version=0, created_at=dt))
            conn.execute(slot('s1', 'a', 0))
            conn.execute(slot('s2', 'b', 1))
        with engine.connect() as conn:
            # oslo.db's engines say DBDuplicateEntry, plain ones
            # IntegrityError.
            self.assertRaises((sa.exc.IntegrityError,
                               db_exc.DBDuplicateEntry), conn.execute,
                              slot('s2', 'c', 0))
            conn.rollback()
        with engine.begin() as conn:
            conn.execute(tables['sessions'].delete().where(
                tables['sessions'].c.session_id == 's1'))
        with engine.connect() as conn:
            self.assertEqual([('s2', 'b', 1)], [tuple(r) for r in conn.execute(
                sa.select(impacts.c.session_id, impacts.c.instance_id,
                          impacts.c.slot))])

    def test_group_impacts_waiters_have_no_slot(self):
        # Revision 6b2d8f4e0a93: a place in a group's queue is a row
        # without a slot; several never clash in the unique key, and the
        # slots taken before the upgrade are kept.
        engine = self.get_engine()
        migration.upgrade('3e7a5c9d1f24', engine=engine)
        tables = models.Base.metadata.tables
        impacts = tables['group_impacts']
        dt = datetime.datetime(2026, 12, 6, 8, 0, 0)

        def row(sid, slot):
            return impacts.insert().values(
                group_id='g1', slot=slot, session_id=sid, instance_id=sid,
                generation=1, expires_at=dt, created_at=dt)

        with engine.begin() as conn:
            for sid in ('s1', 's2', 's3'):
                conn.execute(tables['sessions'].insert().values(
                    session_id=sid, state=states.PLANNED_MAINTENANCE,
                    workflow='nfv', maintenance_at=dt, meta={}, options={},
                    download=[], version=0, created_at=dt))
            conn.execute(row('s1', 0))
        migration.upgrade('6b2d8f4e0a93', engine=engine)
        with engine.begin() as conn:
            conn.execute(row('s2', None))
            conn.execute(row('s3', None))
        with engine.connect() as conn:
            self.assertRaises((sa.exc.IntegrityError,
                               db_exc.DBDuplicateEntry), conn.execute,
                              row('s2', 0))
            conn.rollback()
        with engine.connect() as conn:
            self.assertEqual(
                [('s1', 0), ('s2', None), ('s3', None)],
                [tuple(r) for r in conn.execute(
                    sa.select(impacts.c.session_id, impacts.c.slot)
                    .order_by(impacts.c.id))])

    def test_plan_state_carried_over_to_columns(self):
        # Revision b5e1f7a3c920 moves what sessions in flight kept as JSON
        # into columns and rows: an upgrade mid-session goes on from them.
        engine = self.get_engine()
        migration.upgrade('e2b8d4c61f37', engine=engine)
        dt = datetime.datetime(2026, 12, 5, 10, 0, 0)

        def table(name, *cols):
            return sa.table(name, *(sa.column(c) for c in cols))

        sessions = table('sessions', 'session_id', 'state', 'workflow',
                         'maintenance_at', 'meta', 'options', 'download',
                         'version', 'created_at', 'plan')
        hosts = table('hosts', 'session_id', 'hostname', 'type', 'state',
                      'maintained', 'disabled_by_fenix',
                      'disabled_by_operator', 'details', 'created_at')
        steps = table('steps', 'session_id', 'kind', 'host', 'instance_id',
                      'seq', 'inputs', 'depends_on', 'state', 'attempt',
                      'result', 'created_at')
        exchange = {'key': 'MAINTENANCE', 'event': 'MAINTENANCE',
                    'projects': ['p1', 'p2'],
                    'reply_at': '2026-12-05 10:05:00',
                    'event_ids': {'p1': 'e-1', 'p2': 'e-2'}}
        with engine.begin() as conn:
            for sid, state in (('s1', states.MAINTENANCE),
                               ('s2', states.MAINTENANCE_DONE)):
                conn.execute(sessions.insert().values(
                    session_id=sid, state=state, workflow='nfv',
                    maintenance_at=dt, meta='{}', options='{}',
                    download='[]', version=0, created_at=dt,
                    plan=json.dumps({'exchange': exchange, 'told': False,
                                     'nfv': {'waves': []}})))
            for name, details in (('c1', {'refusals': 1, 'deferred': 'x'}),
                                  ('c2', {})):
                conn.execute(hosts.insert().values(
                    session_id='s1', hostname=name, type='compute',
                    state='PENDING', maintained=False,
                    disabled_by_fenix=False, disabled_by_operator=False,
                    details=json.dumps(details), created_at=dt))
            conn.execute(steps.insert().values(
                session_id='s1', kind='move', host='c2', instance_id='i1',
                seq=1, depends_on='[]', state='PENDING', attempt=0,
                result='{}', created_at=dt, inputs=json.dumps(
                    {'target': 'c1', 'action': 'MIGRATE', 'again': False})))
            conn.execute(steps.insert().values(
                session_id='s1', kind='notify_instance', host='c2',
                instance_id='i1', seq=0, depends_on='[]', state='DONE',
                attempt=1, created_at=dt, inputs='{}', result=json.dumps(
                    {'event': 'PLANNED_MAINTENANCE', 'event_id': 'e-9',
                     'reply_at': '2026-12-05 10:01:00',
                     'actions_at': None})))
        # (The next revision moves ``told`` on: see the test below.)
        migration.upgrade('b5e1f7a3c920', engine=engine)
        tables = models.Base.metadata.tables
        with engine.connect() as conn:
            rows = {(r.kind, r.project_id or r.instance_id): r
                    for r in conn.execute(sa.select(tables['steps']))}
            plans = {r.session_id: r.plan for r in conn.execute(
                sa.select(tables['sessions'].c.session_id,
                          tables['sessions'].c.plan))}
            host_rows = {r.hostname: r for r in conn.execute(
                sa.select(tables['hosts']))}
        move = rows[('move', 'i1')]
        self.assertEqual(('c1', {'action': 'MIGRATE', 'again': False}),
                         (move.target, move.inputs))
        note = rows[('notify_instance', 'i1')]
        self.assertEqual(('e-9', datetime.datetime(2026, 12, 5, 10, 1),
                          {'event': 'PLANNED_MAINTENANCE',
                           'actions_at': None}),
                         (note.event_id, note.reply_at, note.result))
        # The exchange of the session in flight: a running notify step per
        # project, with its event id and deadline; none for a session over.
        told = sorted((r for k, r in rows.items()
                       if k[0] == 'notify_project'),
                      key=lambda r: r.project_id)
        self.assertEqual(
            [('s1', None, 'p1', 'e-1'), ('s1', None, 'p2', 'e-2')],
            [(r.session_id, r.host, r.project_id, r.event_id)
             for r in told])
        for r in told:
            self.assertEqual(
                ('RUNNING', 1, {'event': 'MAINTENANCE'},
                 datetime.datetime(2026, 12, 5, 10, 5)),
                (r.state, r.attempt, r.inputs, r.reply_at))
        self.assertEqual({'s1': {'told': False, 'nfv': {'waves': []}},
                          's2': {'told': False, 'nfv': {'waves': []}}},
                         plans)
        self.assertEqual((1, {'deferred': 'x'}),
                         (host_rows['c1'].refusals, host_rows['c1'].details))
        self.assertEqual((0, {}),
                         (host_rows['c2'].refusals, host_rows['c2'].details))

    def test_session_progress_carried_over_to_columns(self):
        # Revision f1c8d2a6b437 moves ``told`` and the usage before a
        # scale-in round out of the session's plan JSON into columns: a
        # session upgraded mid-flight neither tells the projects again nor
        # loses what its scale-in round is measured against.
        engine = self.get_engine()
        migration.upgrade('b5e1f7a3c920', engine=engine)
        dt = datetime.datetime(2026, 12, 5, 10, 0, 0)
        sessions = sa.table(*(['sessions'] + [sa.column(c) for c in (
            'session_id', 'state', 'workflow', 'maintenance_at', 'meta',
            'options', 'download', 'version', 'created_at', 'plan')]))
        plans = {
            's1': {'told': True, 'nfv': {'waves': []},
                   'scale_in': {'missing': 'x', 'used_before': [4, 2048, 20]}},
            's2': {'told': False, 'dry_run': {'hosts': 1}},
            's3': {'nfv': {'waves': []}},
            's4': {'scale_in': {'used_before': 'garbage'}},
        }
        with engine.begin() as conn:
            for sid, plan in plans.items():
                conn.execute(sessions.insert().values(
                    session_id=sid, state=states.SCALE_IN, workflow='nfv',
                    maintenance_at=dt, meta='{}', options='{}',
                    download='[]', version=0, created_at=dt,
                    plan=json.dumps(plan)))
        migration.upgrade('head', engine=engine)
        table = models.Base.metadata.tables['sessions']
        with engine.connect() as conn:
            rows = {r.session_id: r for r in conn.execute(sa.select(table))}
        got = {sid: (bool(r.told), r.scale_in_used_vcpus,
                     r.scale_in_used_ram_mb, r.scale_in_used_disk_gb,
                     r.plan) for sid, r in rows.items()}
        self.assertEqual({
            's1': (True, 4.0, 2048.0, 20.0, {'nfv': {'waves': []}}),
            's2': (False, None, None, None, {'dry_run': {'hosts': 1}}),
            's3': (False, None, None, None, {'nfv': {'waves': []}}),
            's4': (False, None, None, None, {}),
        }, got)

    def test_legacy_nfv_plan_carried_over_to_steps(self):
        # An nfv session in flight whose engine wrote no steps (its plan
        # only in plan['nfv']) gets its plan as steps, each in the state
        # the host and instance rows say: a restart reads the rows only.
        engine = self.get_engine()
        migration.upgrade('b5e1f7a3c920', engine=engine)
        dt = datetime.datetime(2026, 12, 5, 10, 0, 0)

        def table(name, *cols):
            return sa.table(name, *(sa.column(c) for c in cols))

        sessions = table('sessions', 'session_id', 'state', 'workflow',
                         'maintenance_at', 'meta', 'options', 'download',
                         'version', 'created_at', 'plan')
        hosts = table('hosts', 'session_id', 'hostname', 'type', 'state',
                      'maintained', 'disabled_by_fenix',
                      'disabled_by_operator', 'details', 'created_at')
        instances = table('instances', 'session_id', 'instance_id',
                          'project_id', 'host', 'event', 'event_id',
                          'event_at', 'reply_at', 'action', 'action_state',
                          'action_attempts', 'details', 'created_at')
        steps = table('steps', 'session_id', 'kind', 'host', 'seq',
                      'inputs', 'depends_on', 'state', 'attempt', 'result',
                      'created_at')

        def mv(iid, source, target):
            return {'instance_id': iid, 'source': source, 'target': target,
                    'kind': 'LIVE_MIGRATE', 'project_id': 'p1'}

        plan = {'nfv': {'waves': [
            {'index': 0, 'hosts': ['c1', 'c2'],
             'moves': [mv('i1', 'c1', 'c3'), mv('a', 'c2', 'c1'),
                       mv('b', 'c2', 'c1'), mv('c', 'c2', 'c1')]},
            {'index': 1, 'hosts': ['c3'], 'moves': []}]}}
        with engine.begin() as conn:
            for sid, state in (('n1', states.PLANNED_MAINTENANCE),
                               ('n2', states.PLANNED_MAINTENANCE),
                               ('n3', states.MAINTENANCE_DONE)):
                conn.execute(sessions.insert().values(
                    session_id=sid, state=state, workflow='nfv',
                    maintenance_at=dt, meta='{}', options='{}',
                    download='[]', version=0, created_at=dt,
                    plan=json.dumps(plan)))
            for name, state, done in (('c1', 'MAINTAINED', True),
                                      ('c2', 'EMPTYING', False),
                                      ('c3', 'PENDING', False)):
                conn.execute(hosts.insert().values(
                    session_id='n1', hostname=name, type='compute',
                    state=state, maintained=done, disabled_by_fenix=False,
                    disabled_by_operator=False, details='{}',
                    created_at=dt))
            for iid, event, action_state, details in (
                    ('a', 'PLANNED_MAINTENANCE', 'IN_PROGRESS',
                     {'move_from': 'c2'}),
                    ('b', 'PLANNED_MAINTENANCE', None, {}),
                    ('c', None, None, {})):
                conn.execute(instances.insert().values(
                    session_id='n1', instance_id=iid, project_id='p1',
                    host='c2', event=event,
                    event_id='e-' + iid if event else None,
                    event_at=dt if event else None,
                    reply_at=dt if event else None, action='LIVE_MIGRATE',
                    action_state=action_state, action_attempts=0,
                    details=json.dumps(details), created_at=dt))
            # A session that has steps already is left as it is.
            conn.execute(steps.insert().values(
                session_id='n2', kind='maintain_host', host='c9', seq=0,
                inputs='{}', depends_on='[]', state='PENDING', attempt=0,
                result='{}', created_at=dt))
        migration.upgrade('head', engine=engine)
        table = models.Base.metadata.tables['steps']
        with engine.connect() as conn:
            rows = list(conn.execute(sa.select(table).order_by(table.c.id)))
        self.assertEqual({'n1': 17, 'n2': 1, 'n3': 0},
                         {sid: sum(1 for r in rows if r.session_id == sid)
                          for sid in ('n1', 'n2', 'n3')})
        got = {(r.kind, r.host, r.instance_id): r
               for r in rows if r.session_id == 'n1'}
        self.assertEqual({
            ('disable_compute', 'c1', None): 'DONE',
            ('notify_instance', 'c1', 'i1'): 'DONE',
            ('move', 'c1', 'i1'): 'DONE',
            ('maintain_host', 'c1', None): 'DONE',
            ('enable_compute', 'c1', None): 'DONE',
            ('disable_compute', 'c2', None): 'DONE',
            ('notify_instance', 'c2', 'a'): 'DONE',
            ('move', 'c2', 'a'): 'RUNNING',
            ('notify_instance', 'c2', 'b'): 'DONE',
            ('move', 'c2', 'b'): 'PENDING',
            ('notify_instance', 'c2', 'c'): 'PENDING',
            ('move', 'c2', 'c'): 'PENDING',
            ('maintain_host', 'c2', None): 'PENDING',
            ('enable_compute', 'c2', None): 'PENDING',
            ('disable_compute', 'c3', None): 'PENDING',
            ('maintain_host', 'c3', None): 'PENDING',
            ('enable_compute', 'c3', None): 'PENDING',
        }, {k: r.state for k, r in got.items()})
        # The event sent for b: its id and deadline, as a restart reads.
        b = got[('notify_instance', 'c2', 'b')]
        self.assertEqual(('e-b', dt, 'PLANNED_MAINTENANCE'),
                         (b.event_id, b.reply_at, b.result['event']))
        move_a = got[('move', 'c2', 'a')]
        self.assertEqual(('c1', {'action': 'LIVE_MIGRATE', 'again': False},
                          {'action': 'LIVE_MIGRATE'}),
                         (move_a.target, move_a.inputs, move_a.result))
        maintain = got[('maintain_host', 'c2', None)]
        self.assertEqual(
            sorted([got[('move', 'c2', i)].id for i in 'abc'] +
                   [got[('disable_compute', 'c2', None)].id]),
            sorted(maintain.depends_on))
        self.assertEqual([got[('notify_instance', 'c2', 'b')].id],
                         got[('move', 'c2', 'b')].depends_on)
