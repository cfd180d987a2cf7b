# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The /sim control API."""
import json
import os

import fixtures
from novaclient import exceptions as nova_exc
import requests
import webob

from fenix.tests.unit.simcloud import base
from fenix_tools.simcloud import server as sim_server
from fenix_tools.simcloud import topology


class TestControl(base.SimCloudTestCase):

    def sim_get(self, path, **params):
        resp = requests.get(self.sim.control_url + path, params=params)
        self.assertEqual(200, resp.status_code, resp.text)
        return resp.json()

    def sim_call(self, method, path, body=None, status=200):
        resp = requests.request(method, self.sim.control_url + path,
                                json=body)
        self.assertEqual(status, resp.status_code, resp.text)
        return resp.json()

    def test_index_health_and_root(self):
        routes = self.sim_get('/')['routes']
        self.assertIn('/sim/notifications', [r['path'] for r in routes])
        self.assertEqual('ok', self.sim_get('/health')['status'])
        root = requests.get(self.url + '/').json()
        self.assertEqual(self.sim.compute_url, root['services']['compute'])

    def test_topology_snapshot_round_trip(self):
        snap = self.sim_get('/topology')
        hosts = {h['name']: h for h in snap['hosts']}
        self.assertEqual({'vcpus': 2, 'memory_mb': 4096, 'disk_gb': 40},
                         hosts['compute-0']['usage'])
        self.assertTrue(all('password' not in u for u in snap['users']))
        self.assertEqual(4, len(snap['servers']))
        full = self.sim.snapshot()
        again = sim_server.SimCloud(full)
        self.assertEqual(
            {s.id: s.host for s in self.sim.cloud.servers.values()},
            {s.id: s.host for s in again.cloud.servers.values()})
        self.assertEqual(self.sim.project_id('tenant1'),
                         again.project_id('tenant1'))

    def test_faults(self):
        rules = {'seed': 3, 'migration_failure_rate': 0.5,
                 'migrations': [{'server': 'vm-0', 'times': 2}]}
        got = self.sim_call('PUT', '/faults', rules)['faults']
        self.assertEqual(0.5, got['migration_failure_rate'])
        self.assertEqual(2, got['migrations'][0]['times'])
        self.sim_call('POST', '/faults/migrations',
                      {'host': 'compute-1', 'type': 'live'})
        self.assertEqual(2, len(self.sim_get('/faults')['faults'][
            'migrations']))
        bad = self.sim_call('PUT', '/faults', {'migrations': [
            {'type': 'teleport'}]}, status=400)
        self.assertIn('faults.migrations[0].type', bad['error']['message'])
        cleared = self.sim_call('DELETE', '/faults')['faults']
        self.assertEqual([], cleared['migrations'])
        self.assertEqual(0.0, cleared['migration_failure_rate'])

    def test_rule_added_after_one_is_used_up(self):
        # A rule that has fired its last time (times: 0) is kept and
        # saved as such; adding another rule must still work.
        self.sim.fail_migrations(server='vm-0', type='live', times=1)
        nova = self.nova()
        sid = self.server_id('vm-0')
        nova.servers.live_migrate(sid, None, 'auto')
        self.assertIsNotNone(self.sim.wait_for_event(
            'migration.error', base.WAIT, server=sid))
        got = self.sim_call('POST', '/faults/migrations',
                            {'host': 'compute-1', 'leak': True})['faults']
        self.assertEqual([(0, None), (None, True)],
                         [(r['times'], r['leak'])
                          for r in got['migrations']])
        self.assertEqual(got, topology.normalize_faults(got))

    def test_heal_allocations(self):
        self.sim.set_faults({'leak_allocations': True, 'migrations': [
            {'server': 'vm-0', 'type': 'live'}]})
        self.nova().servers.live_migrate(self.server_id('vm-0'),
                                         'compute-1', 'auto')
        self.assertIsNotNone(self.sim.wait_for_event('allocation.leak',
                                                     base.WAIT))
        hosts = {h['name']: h for h in self.sim_get('/topology')['hosts']}
        self.assertEqual({'vcpus': 1, 'memory_mb': 2048, 'disk_gb': 20},
                         hosts['compute-1']['leaked'])
        self.assertEqual({'healed': ['compute-1']},
                         self.sim_call('POST', '/allocations/heal'))
        self.assertEqual({'healed': []},
                         self.sim_call('POST', '/allocations/heal'))

    def test_api_fault(self):
        self.sim_call('POST', '/faults/api', {
            'service': 'compute', 'method': 'GET',
            'path': '^/v2.1/os-hypervisors', 'status': 503, 'times': 1})
        nova = self.nova()
        exc = self.assertRaises(nova_exc.ClientException,
                                nova.hypervisors.list)
        self.assertEqual(503, exc.code)
        self.assertEqual(3, len(nova.hypervisors.list()))
        self.assertEqual(1, len(self.sim.get_events(
            kind='fault.trigger', service='compute')))

    def test_timing(self):
        self.assertEqual(0.05, self.sim_get('/timing')['timing'][
            'live_migration'])
        got = self.sim_call('PUT', '/timing', {'live_migration': 0.01})
        self.assertEqual(0.01, got['timing']['live_migration'])
        self.sim_call('PUT', '/timing', {'warp': 1}, status=400)

    def test_endpoints(self):
        self.sim_call('PUT', '/endpoints/maintenance',
                      {'url': 'http://127.0.0.1:12333'})
        self.assertEqual('http://127.0.0.1:12333', self.sim_get(
            '/endpoints')['endpoints']['maintenance'])
        sess = self.session('fenix')
        self.assertEqual('http://127.0.0.1:12333', sess.get_endpoint(
            service_type='maintenance'))
        self.sim_call('PUT', '/endpoints/compute', {'url': 'http://x'},
                      status=400)
        self.sim_call('DELETE', '/endpoints/maintenance')
        self.assertNotIn('maintenance',
                         self.sim_get('/endpoints')['endpoints'])

    def test_host_down_and_up(self):
        self.sim_call('PUT', '/hosts/compute-2', {'state': 'down'})
        nova = self.nova()
        svc = nova.services.list(host='compute-2')[0]
        self.assertEqual('down', svc.state)
        hyp = nova.hypervisors.search('compute-2', detailed=True)[0]
        self.assertEqual('down', hyp.state)
        self.sim_call('PUT', '/hosts/compute-2', {'state': 'up'})
        self.assertEqual('up', nova.services.list(host='compute-2')[0].state)
        self.sim_call('PUT', '/hosts/nowhere', {'state': 'up'}, status=404)

    def test_host_upgrade(self):
        before = self.sim_get('/hosts/compute-1/software')
        self.assertEqual(('1.0', []), (before['version'],
                                       before['capabilities']))
        nova = self.nova()
        self.assertEqual(8002000, nova.hypervisors.search(
            'compute-1', detailed=True)[0].hypervisor_version)
        done = self.sim_call('POST', '/hosts/compute-1/upgrade',
                             {'version': '2026.2.1',
                              'capabilities': ['fast-io']})
        self.assertEqual((True, '2026.2.1', ['fast-io']),
                         (done['changed'], done['version'],
                          done['capabilities']))
        self.assertEqual(2026002001, nova.hypervisors.search(
            'compute-1', detailed=True)[0].hypervisor_version)
        # The same again changes nothing and is not recorded again.
        again = self.sim_call('POST', '/hosts/compute-1/upgrade',
                              {'version': '2026.2.1'})
        self.assertFalse(again['changed'])
        [event] = self.sim.get_events(kind='host.upgrade')
        self.assertEqual(('compute-1', '2026.2.1', '1.0', False),
                         (event['host'], event['version'],
                          event['previous'], event['disabled']))
        self.assertEqual('2026.2.1', [
            h for h in self.sim_get('/topology')['hosts']
            if h['name'] == 'compute-1'][0]['version'])
        self.sim_call('POST', '/hosts/compute-1/upgrade', {}, status=400)
        self.sim_call('POST', '/hosts/nowhere/upgrade', {'version': '2'},
                      status=404)

    def test_tokens_expire_and_wait_idle(self):
        token = self.session().get_token()
        self.assertGreaterEqual(self.sim_call('POST', '/tokens/expire')[
            'expired'], 1)
        resp = requests.get(self.sim.compute_url + '/servers',
                            headers={'X-Auth-Token': token})
        self.assertEqual(401, resp.status_code)
        self.assertTrue(self.sim_get('/wait-idle', timeout=5)['idle'])

    def test_save_state_file_and_restart_from_it(self):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'state.json')
        nova = self.nova()
        sid = self.server_id('vm-0')
        nova.servers.live_migrate(sid, None, 'auto')
        self.sim.wait_for_event('migration.finish', base.WAIT)
        svc = nova.services.list(host='compute-0', binary='nova-compute')[0]
        nova.services.disable_log_reason(svc.id, 'kept')
        self.aodh('vnfm1').alarm.create({
            'name': 'keep', 'type': 'event',
            'event_rule': {'event_type': 'maintenance.*'},
            'alarm_actions': ['log://']})
        self.assertEqual(path, self.sim_call('POST', '/save',
                                             {'path': path})['path'])
        with open(path) as f:
            saved = json.load(f)
        self.assertIn('events', saved)
        restored = sim_server.SimCloud(state_file=path)
        self.assertEqual('compute-1', restored.cloud.servers[sid].host)
        self.assertTrue(restored.cloud.hosts['compute-0']
                        .compute_service.disabled)
        self.assertEqual(['keep'], [a.name for a in
                                    restored.alarms.alarms.values()])
        self.assertEqual('compute-1', restored.history.host_of(sid))
        self.assertEqual(['compute-0'], restored.history.disabled_hosts())
        self.assertEqual([], topology.normalize(saved)['faults'][
            'migrations'])

    def test_loopback_only(self):
        req = webob.Request.blank('/sim/health')
        req.environ['REMOTE_ADDR'] = '10.1.2.3'
        resp = req.get_response(self.sim.app)
        self.assertEqual(403, resp.status_int)
        req = webob.Request.blank('/sim/health')
        req.environ['REMOTE_ADDR'] = '127.0.0.1'
        self.assertEqual(200, req.get_response(self.sim.app).status_int)
