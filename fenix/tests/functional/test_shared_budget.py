# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A group's budget holds across sessions, end to end.

Two sessions at once on disjoint hosts of the simulated cloud (as two
cells or two engines would run them), each with one member of an HA pair
whose manager registered ``max_impacted_members`` 1 and a
``recovery_time`` through the API. The cloud's own record (every
migration's start and end) must never show both members impacted at
once, recovery included, whichever workflow runs the sessions, nor
both on one host (the pair is an anti-affinity group).
"""
import collections
import time

from fenix.tests.functional import base
from fenix.tests.functional import cloud_fixture
from fenix.tests.functional import databases

TENANT = 'tenant1'
GROUP = '5f1c3a8e-0b7d-4e62-9d1a-2c4b6e8f0a13'
RECOVERY = 1


def impacted_at_once(sim, members, recovery):
    """The most ``members`` (server ids) impacted at once in the cloud's
    record: from a migration's start until ``recovery`` seconds after its
    end."""
    spans = {}
    for e in sim.get_events(kind='migration.'):
        if e.get('server') not in members:
            continue
        mid = e.get('migration')
        if e['kind'] == 'migration.start':
            spans[mid] = [e['t'], None]
        elif mid in spans and e['kind'] in ('migration.finish',
                                            'migration.confirm',
                                            'migration.error',
                                            'migration.abort'):
            spans[mid][1] = e['t']
    points = []
    for start, end in spans.values():
        points += [(start, 1), ((end or start) + recovery, -1)]
    level = peak = 0
    for _t, d in sorted(points, key=lambda p: (p[0], p[1])):
        level += d
        peak = max(peak, level)
    return peak, len(spans)


class SharedBudgetMixin(object):

    def setUp(self):
        super().setUp()
        # A migration takes 1.5 s: unchecked, the two sessions' moves
        # would overlap.
        self.cloud = self.useFixture(cloud_fixture.FenixCloud(
            cloud_fixture.topology(
                computes=4, tenants=(TENANT,),
                servers=[{'name': 'ha0', 'project': TENANT,
                          'host': 'compute-0'},
                         {'name': 'ha1', 'project': TENANT,
                          'host': 'compute-1'}],
                timing={'cold_migration': 1.5, 'live_migration': 1.5}),
            extra_config=databases.extra_config(self)))
        self.ids = {name: sid for sid, name in
                    self.cloud.server_names().items()}
        project = self.cloud.sim.project_id(TENANT)
        client = self.cloud.client
        resp = client.put('/v1/instance_group/%s' % GROUP, {
            'project_id': project, 'group_name': 'ha-pair',
            'anti_affinity_group': True, 'max_impacted_members': 1,
            'recovery_time': RECOVERY})
        self.assertEqual(200, resp.status_code, resp.text)
        for name in ('ha0', 'ha1'):
            resp = client.put('/v1/instance/%s' % self.ids[name], {
                'project_id': project, 'group_id': GROUP,
                'instance_name': name, 'migration_type': 'MIGRATE'})
            self.assertEqual(200, resp.status_code, resp.text)

    def _run_two(self, workflow):
        cloud = self.cloud
        sids = [cloud.create_session(hosts=['compute-%d' % n],
                                     workflow=workflow)
                for n in (0, 1)]
        for sid in sids:
            self.assertEqual('MAINTENANCE_DONE', cloud.wait_final(sid),
                             cloud.log_tail())
        peak, moves = impacted_at_once(
            cloud.sim, {self.ids['ha0'], self.ids['ha1']}, RECOVERY)
        self.assertEqual(2, moves)
        self.assertEqual(1, peak, cloud.migrations())
        # Nor on one host (the pair is an anti-affinity group of Fenix's
        # constraints, which Nova does not know): each session placed its
        # member with its own model, read before the other's move.
        moves = cloud.migrations()
        self.assertEqual({'ha0': 'compute-0', 'ha1': 'compute-1'},
                         {m['name']: m['source'] for m in moves}, moves)
        self.assertNotEqual(*[m['dest'] for m in moves], moves)
        # Each session's member was told to wait for the other's slot,
        # or took it first.
        waits = collections.Counter()
        for sid in sids:
            for e in cloud.detail(sid)['history']:
                if 'waits: its group %s' % GROUP in (e.get('message') or ''):
                    waits[sid] += 1
        return waits

    def test_nfv_sessions_share_the_budget(self):
        self._run_two('nfv')

    def test_default_sessions_share_the_budget(self):
        waits = self._run_two('default')
        # The serial policy plans without the other session: the member
        # that came second (unless it came after the first recovered, on
        # a slow machine) found the slot taken and waited for it, once.
        self.assertLessEqual(sum(waits.values()), 1, waits)


GROUP2 = '8a3e6c1f-2d4b-4f70-b9e5-7c1a0d3f5e24'
RECOVERY2 = 2


class TurnsMixin(object):
    """Two sessions contend for one group's slot (budget 1): session A
    has two members of it on compute-0, session B one on compute-1 (full:
    A places nothing there) and starts once A's first move is under way.
    B waits from then on; when the slot frees, B's member goes before A's
    second (first come, first served), however soon A asks again."""

    def setUp(self):
        super().setUp()
        self.cloud = self.useFixture(cloud_fixture.FenixCloud(
            cloud_fixture.topology(
                computes=5, tenants=(TENANT,),
                servers=[{'name': 'x0', 'project': TENANT,
                          'host': 'compute-0'},
                         {'name': 'x1', 'project': TENANT,
                          'host': 'compute-0'},
                         {'name': 'y0', 'project': TENANT,
                          'host': 'compute-1'},
                         {'name': 'f1', 'project': TENANT,
                          'host': 'compute-1'}],
                timing={'cold_migration': 2.5, 'live_migration': 2.5}),
            extra_config=databases.extra_config(self)))
        self.ids = {name: sid for sid, name in
                    self.cloud.server_names().items()}
        project = self.cloud.sim.project_id(TENANT)
        client = self.cloud.client
        resp = client.put('/v1/instance_group/%s' % GROUP2, {
            'project_id': project, 'group_name': 'pool',
            'anti_affinity_group': False, 'max_impacted_members': 1,
            'recovery_time': RECOVERY2})
        self.assertEqual(200, resp.status_code, resp.text)
        for name in ('x0', 'x1', 'y0'):
            resp = client.put('/v1/instance/%s' % self.ids[name], {
                'project_id': project, 'group_id': GROUP2,
                'instance_name': name, 'migration_type': 'MIGRATE'})
            self.assertEqual(200, resp.status_code, resp.text)

    def _turns(self, workflow):
        cloud = self.cloud
        first = cloud.create_session(hosts=['compute-0'], workflow=workflow)
        deadline = time.monotonic() + 60
        while not cloud.migrations() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(cloud.migrations(), cloud.log_tail())
        second = cloud.create_session(hosts=['compute-1'],
                                      workflow=workflow)
        for sid in (first, second):
            self.assertEqual('MAINTENANCE_DONE', cloud.wait_final(sid),
                             cloud.log_tail())
        moves = [m for m in cloud.migrations()
                 if m['name'] in ('x0', 'x1', 'y0')]
        self.assertEqual(['compute-0', 'compute-1', 'compute-0'],
                         [m['source'] for m in moves], moves)
        peak, count = impacted_at_once(
            cloud.sim, {self.ids[n] for n in ('x0', 'x1', 'y0')},
            RECOVERY2)
        self.assertEqual((1, 3), (peak, count), moves)

    def test_nfv_sessions_take_turns(self):
        self._turns('nfv')

    def test_default_sessions_take_turns(self):
        self._turns('default')


class TestSharedBudgetSQLite(databases.SQLiteMixin, SharedBudgetMixin,
                             base.FunctionalTestCase):
    pass


class TestTurnsSQLite(databases.SQLiteMixin, TurnsMixin,
                      base.FunctionalTestCase):
    pass


class TestTurnsMariaDB(databases.MariaDBMixin, TurnsMixin,
                       base.FunctionalTestCase):
    pass


class TestSharedBudgetMariaDB(databases.MariaDBMixin, SharedBudgetMixin,
                              base.FunctionalTestCase):
    pass
