# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The ``nfv`` workflow end to end, through the real clients.

A simulated cloud, ``fenix-all-in-one`` and the sample VNFM (which
registers its constraints: an active/standby anti-affinity pair with
``max_impacted_members`` 1 and a ``recovery_time``, non-redundant members
with a budget of 2) and answers every per-instance event. The VNFM's own
checker must see no invariant broken; the cloud's record must show every
host maintained once, only when empty, and nothing left disabled.
"""
from urllib import parse as urlparse

import testtools

from fenix.tests.functional import cloud_fixture as cf
from fenix.tests.functional import test_default_workflow as tdw

from fenix_tools.vnfm import app as app_mod

MOVE_EVENTS = ('PREPARE_MAINTENANCE', 'PLANNED_MAINTENANCE')
KINDS = {'cold': 'MIGRATE', 'live': 'LIVE_MIGRATE'}


def _app(**changes):
    """The seed-004 application, short notice (lead_time 1 s)."""
    values = {'lead_time': 1, 'ha_recovery_time': 1,
              'nonha_recovery_time': 1}
    values.update(changes)
    return app_mod.get_app('seed004').updated(**values)


class NFVWorkflowTestCase(tdw.WorkflowHelpers, testtools.TestCase):

    def per_instance_events(self, vnfm):
        return [e for e in vnfm.events.list()
                if e['state'] in MOVE_EVENTS and not e.get('duplicate')]

    def test_seed004_constraints(self):
        """Full cloud: scale in, per-instance events, every host."""
        cloud = self.start_cloud(cf.vnfm_topology())
        vnfm = self.start_vnfm(cloud, app=_app())
        sid = self.run_session(cloud, workflow='vnf',
                               metadata={'openstack_version': 'Train'})
        self.settle_vnfm(vnfm)
        detail = cloud.detail(sid)
        path = self.state_path(detail)
        self.assertEqual(['MAINTENANCE', 'SCALE_IN', 'START_MAINTENANCE',
                          'PLANNED_MAINTENANCE', 'START_MAINTENANCE',
                          'MAINTENANCE_COMPLETE', 'MAINTENANCE_DONE'], path)
        self.assertEqual([], vnfm.violations())
        self.assert_each_maintained_once(cloud, sid, tdw.COMPUTES3)
        self.assert_progress_reached_100(cloud, sid)
        events = self.per_instance_events(vnfm)
        self.assertTrue(events)
        for e in events:
            self.assertEqual(1, len(e['instance_ids']), e)
            url = urlparse.urlsplit(e['reply_url'])
            self.assertTrue(url.path.endswith(
                '/%s' % e['instance_ids'][0]), e)
            self.assertIn('event_id=', url.query, e)
        replies = [r for r in vnfm.replies.list()
                   if r['state'].split('_', 1)[1] in MOVE_EVENTS]
        self.assertEqual(len(events), len(replies))
        self.assertEqual([], [r for r in replies if not r['ok']])
        # Every move was the cold migration the VNFM chose.
        moves = cloud.migrations()
        self.assertTrue(moves)
        self.assertEqual({('cold', True)},
                         {(m['type'], m['ok']) for m in moves})
        plan = detail['plan']['nfv']
        self.assertTrue(plan['feasible'])
        deleted = self.vnfm_deletes(vnfm)
        self.assert_clean(cloud, allowed_deletes=deleted)

    def test_silent_manager_gets_migration_type(self):
        cloud = self.start_cloud(cf.vnfm_topology(computes=4),
                                 reply_window=1)
        vnfm = self.start_vnfm(
            cloud, app=_app(scale_in_count=0,
                            migration_type='LIVE_MIGRATE'),
            behaviour=app_mod.Behaviour(silent=MOVE_EVENTS))
        sid = self.run_session(cloud, workflow='nfv')
        self.settle_vnfm(vnfm)
        detail = cloud.detail(sid)
        self.assertTrue(self.per_instance_events(vnfm))
        moves = cloud.migrations()
        self.assertTrue(moves)
        self.assertEqual({('live', True)},
                         {(m['type'], m['ok']) for m in moves})
        self.assert_history_says(detail, 'did not answer', 'LIVE_MIGRATE')
        # A silent manager does not switch its active role over, so the
        # active server may be the one migrating; every constraint Fenix
        # owns still holds.
        self.assertEqual([], [v for v in vnfm.violations()
                              if not v['kind'].startswith('active')])
        self.assert_each_maintained_once(
            cloud, sid, ['compute-%d' % n for n in range(4)])
        self.assert_clean(cloud)

    def test_dry_run_matches_real_run(self):
        cloud = self.start_cloud(cf.vnfm_topology(computes=4))
        vnfm = self.start_vnfm(
            cloud, app=_app(scale_in_count=0, max_interruption_time=600))
        dry = self.run_session(cloud, workflow='nfv', dry_run=True)
        detail = cloud.detail(dry)
        plan = detail['plan']['dry_run']
        self.assertTrue(plan['feasible'], plan)
        self.assertTrue(plan['moves'])
        for wave in plan['waves']:
            for move in wave['moves']:
                for key in ('instance_id', 'source', 'target', 'kind',
                            'start', 'end'):
                    self.assertIn(key, move)
        self.assertIsNotNone(plan['lower_bound'])
        self.assertIsNotNone(plan['estimated_duration'])
        self.assert_history_says(detail, 'dry run', 'nothing was touched')
        # Nothing touched: no migration, no service change, no event.
        self.assertEqual([], cloud.migrations())
        self.assertEqual([], cloud.service_changes())
        self.assertEqual([], self.per_instance_events(vnfm))
        self.assertEqual([], cloud.host_events(dry))

        sid = self.run_session(cloud, workflow='nfv')
        self.settle_vnfm(vnfm)
        real = cloud.detail(sid)['plan']['nfv']
        self.assertEqual([w['hosts'] for w in plan['waves']],
                         [w['hosts'] for w in real['waves']])
        # Hosts went down in the order of their waves.
        wave_of = {h: w['index'] for w in plan['waves'] for h in w['hosts']}
        downs = [h for h, s in cloud.host_events(sid)
                 if s == 'IN_MAINTENANCE']
        self.assertEqual(sorted(wave_of), sorted(downs))
        indexes = [wave_of[h] for h in downs]
        self.assertEqual(sorted(indexes), indexes)
        # The same instances moved, the same way.
        planned = sorted((m['instance_id'], m['kind'])
                         for w in plan['waves'] for m in w['moves'])
        done = sorted((m['server'], KINDS[m['type']])
                      for m in cloud.migrations() if m['ok'])
        self.assertEqual(planned, done)
        self.assertEqual([], vnfm.violations())
        self.assert_clean(cloud)

    def test_engine_killed_while_agent_runs_plugin(self):
        # One host at a time, so that the kill finds exactly one run with
        # its agent (and no other half-started).
        self.kill_during_agent_run('nfv', max_parallel_hosts=1)
