# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The event log and the questions tests ask of it."""
import requests

from fenix.tests.unit.simcloud import base
from fenix_tools.simcloud import events as events_mod


class TestEventLog(base.SimCloudTestCase):

    def test_load_is_recorded(self):
        load = self.sim.get_events(kind='cloud.load')
        self.assertEqual([(4, 4)], [(e['hosts'], e['servers'])
                                    for e in load])
        created = self.sim.get_events(kind='server.create')
        self.assertEqual({'ha-0': 'compute-0', 'ha-1': 'compute-1',
                          'vm-0': 'compute-2', 'other-0': 'compute-0'},
                         {e['name']: e['host'] for e in created})
        seqs = [e['seq'] for e in self.sim.get_events()]
        self.assertEqual(list(range(1, len(seqs) + 1)), seqs)
        times = [e['t'] for e in self.sim.get_events()]
        self.assertEqual(sorted(times), times)

    def test_since_kind_prefix_and_fields(self):
        nova = self.nova()
        mark = self.sim.events.last_seq
        nova.servers.live_migrate(self.server_id('vm-0'), None, 'auto')
        self.sim.wait_for_event('migration.finish', base.WAIT)
        later = self.sim.get_events(since=mark)
        self.assertTrue(all(e['seq'] > mark for e in later))
        kinds = [e['kind'] for e in self.sim.get_events(
            since=mark, kind='migration.')]
        self.assertEqual(['migration.start', 'migration.finish'], kinds)
        self.assertEqual(1, len(self.sim.get_events(
            since=mark, kind='migration.start', source='compute-2')))
        by_host = self.sim.get_events(since=mark, host='compute-1')
        self.assertIn('server.host', [e['kind'] for e in by_host])
        resp = requests.get(self.sim.control_url + '/events', params={
            'since': mark, 'kind': 'migration.'}).json()
        self.assertEqual(kinds, [e['kind'] for e in resp['events']])
        self.assertEqual(self.sim.events.last_seq, resp['last'])

    def test_host_of_at_a_time_and_timeline(self):
        nova = self.nova()
        sid = self.server_id('vm-0')
        before = self.sim.now()
        nova.servers.live_migrate(sid, None, 'auto')
        done = self.sim.wait_for_event('migration.finish', base.WAIT,
                                       server=sid)
        self.assertEqual('compute-2', self.sim.history.host_of(sid, before))
        self.assertEqual('compute-1',
                         self.sim.history.host_of(sid, done['t']))
        timeline = self.sim.history.server_timeline(sid)
        self.assertEqual([('compute-2', 'ACTIVE'), ('compute-2', 'MIGRATING'),
                          ('compute-1', 'MIGRATING'), ('compute-1', 'ACTIVE')],
                         [(h, s) for _, h, s in timeline])
        nova.servers.delete(sid)
        self.assertIsNone(self.sim.history.host_of(sid))

    def test_disabled_hosts_at_the_end_and_in_between(self):
        nova = self.nova()
        svc = nova.services.list(host='compute-0', binary='nova-compute')[0]
        nova.services.disable_log_reason(svc.id, 'maintenance')
        middle = self.sim.now()
        self.assertEqual(['compute-0'], self.sim.history.disabled_hosts())
        nova.services.enable(svc.id)
        self.assertEqual([], self.sim.history.disabled_hosts())
        self.assertEqual(['compute-0'],
                         self.sim.history.disabled_hosts(at=middle))
        resp = requests.get(self.sim.control_url +
                            '/history/disabled-hosts').json()
        self.assertEqual([], resp['hosts'])

    def test_maintenance_violations(self):
        nova = self.nova()
        sid = self.server_id('vm-0')
        service = self.sim.project_id('service')

        def host_event(host, state):
            self.sim.notify('maintenance.host', {
                'project_id': service, 'host': host, 'state': state,
                'session_id': 's1'})
        # compute-1 is emptied of nothing and maintained: fine.
        nova.servers.live_migrate(self.server_id('ha-1'), 'compute-2',
                                  'auto')
        self.sim.wait_for_event('migration.finish', base.WAIT)
        host_event('compute-1', 'IN_MAINTENANCE')
        host_event('compute-1', 'MAINTENANCE_COMPLETE')
        self.assertEqual([], self.sim.history.maintenance_violations(
            [self.server_id('ha-1')]))
        # compute-2 goes into maintenance while vm-0 and ha-1 are there.
        host_event('compute-2', 'IN_MAINTENANCE')
        violations = self.sim.history.maintenance_violations([sid])
        self.assertEqual([(sid, 'compute-2')],
                         [(v[0], v[1]) for v in violations])
        self.assertIsNone(violations[0][3])  # still open
        windows = self.sim.history.maintenance_intervals()
        self.assertEqual([('compute-1', 's1'), ('compute-2', 's1')],
                         [(w[0], w[3]) for w in windows])
        resp = requests.get(self.sim.control_url +
                            '/history/maintenance').json()
        self.assertEqual(sorted([sid, self.server_id('ha-1')]),
                         sorted(v['server'] for v in resp['violations']))

    def test_wait_for_times_out_with_none(self):
        self.assertIsNone(self.sim.wait_for_event('migration.finish', 0.05))
        self.assertIn('alarm.delivery', events_mod.KINDS)
