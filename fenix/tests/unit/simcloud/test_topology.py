# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Topology files, the generator and the example files in etc/simcloud."""
import datetime
import os

import testtools
import yaml

from fenix.common import aodh_events
from fenix.tests.unit.simcloud import base
from fenix_tools.simcloud import model
from fenix_tools.simcloud import server as sim_server
from fenix_tools.simcloud import telemetry
from fenix_tools.simcloud import topology


class TestExampleFiles(testtools.TestCase):

    def test_seed004(self):
        sim = sim_server.SimCloud(os.path.join(base.ETC, 'seed004.yaml'))
        cloud = sim.cloud
        self.assertEqual(['compute-0', 'compute-1', 'compute-2'],
                         [h.name for h in cloud.compute_hosts])
        # every compute slot is used: 2 instances per host, none free
        self.assertEqual([2, 2, 2], [len(h.servers)
                                     for h in cloud.compute_hosts])
        self.assertEqual([[2, 4096, 40]] * 3,
                         [h.used for h in cloud.compute_hosts])
        ha = [s for s in cloud.servers.values() if s.group_id]
        self.assertEqual(2, len({s.host for s in ha}))
        self.assertEqual(['app-active'], [s.name for s in ha
                                          if s.floating_ip])
        for name, password in (('admin', 'adminpass'),
                               ('fenix', 'fenixpass'),
                               ('vnfm1', 'vnfm1pass'),
                               ('reader1', 'reader1pass'),
                               ('vnfm2', 'vnfm2pass')):
            self.assertEqual(password, sim.identity.user(name)['password'])
        fenix = sim.identity.user('fenix')
        self.assertEqual(['admin'],
                         fenix['roles'][sim.project_id('service')])

    def test_every_example_loads(self):
        for name in sorted(os.listdir(base.ETC)):
            if name.endswith('.yaml') and name != 'large.yaml':
                topo = topology.load(os.path.join(base.ETC, name))
                self.assertTrue(topo['hosts'], name)
                sim_server.SimCloud(topo)

    def test_large_generated_cloud_loads(self):
        # How fast it loads is a figure of tools/bench (simcloud_bench.py),
        # not a unit test's business.
        sim = sim_server.SimCloud(os.path.join(base.ETC, 'large.yaml'))
        self.assertEqual(1000, len(sim.cloud.compute_hosts))
        self.assertEqual(10000, len(sim.cloud.servers))
        self.assertEqual({10}, {len(h.servers)
                                for h in sim.cloud.compute_hosts})


class TestNormalize(testtools.TestCase):

    def test_defaults(self):
        topo = topology.normalize({})
        self.assertEqual(['admin', 'fenix'],
                         [u['name'] for u in topo['users']])
        self.assertEqual(['admin', 'service'],
                         [p['name'] for p in topo['projects']])
        self.assertEqual(topology.DEFAULT_TIMING, topo['timing'])
        self.assertEqual(1000, topo['compute']['max_limit'])
        # ids are stable: the same name always gives the same id
        self.assertEqual(topo['projects'][0]['id'],
                         topology.normalize({})['projects'][0]['id'])

    def test_count_expansion(self):
        topo = topology.normalize({
            'hosts': [{'name': 'c-{n}', 'count': 2, 'start': 5}],
            'servers': [{'name': 'v-{n}', 'count': 3,
                         'flavor': 'm1.tiny'}]})
        self.assertEqual(['c-5', 'c-6'], [h['name'] for h in topo['hosts']])
        self.assertEqual(['v-0', 'v-1', 'v-2'],
                         [s['name'] for s in topo['servers']])

    def test_errors_name_the_field(self):
        cases = [
            ({'hosts': [{'name': 'a', 'type': 'router'}]}, 'hosts[0].type'),
            ({'hosts': [{'name': 'a', 'vcpus': 'many'}]}, 'hosts[0].vcpus'),
            ({'servers': [{'name': 's', 'flavor': 'nope'}]},
             'servers[0].flavor'),
            ({'servers': [{'name': 's', 'flavor': 'm1.tiny',
                           'host': 'ghost'}]}, 'servers[0].host'),
            ({'users': [{'name': 'u', 'roles': {'nowhere': ['admin']}}]},
             'users[0].roles'),
            ({'users': [{'name': 'u', 'roles': {'admin': ['god']}}]},
             'users[0].roles'),
            ({'server_groups': [{'name': 'g', 'policy': 'random'}]},
             'server_groups[0].policy'),
            ({'timing': {'warp': 1}}, 'timing.warp'),
            ({'faults': {'migration_failure_rate': 2}},
             'faults.migration_failure_rate'),
            ({'hosts': [{'name': 'a'}, {'name': 'a'}]}, 'duplicate'),
        ]
        for data, where in cases:
            exc = self.assertRaises(topology.TopologyError,
                                    topology.normalize, data)
            self.assertIn(where, str(exc))

    def test_overfull_host_is_refused(self):
        data = {'hosts': [{'name': 'c', 'vcpus': 1, 'memory_mb': 1024,
                           'disk_gb': 10}],
                'servers': [{'name': 's-{n}', 'count': 2,
                             'flavor': 'm1.tiny', 'host': 'c'}]}
        self.assertRaises(topology.TopologyError, model.Cloud,
                          topology.normalize(data))

    def test_unplaced_servers_are_scheduled(self):
        data = {'hosts': [{'name': 'c-{n}', 'count': 2, 'vcpus': 1,
                           'memory_mb': 1024, 'disk_gb': 10}],
                'servers': [{'name': 's-{n}', 'count': 3,
                             'flavor': 'm1.tiny'}]}
        cloud = model.Cloud(topology.normalize(data))
        states = sorted((s.name, s.status) for s in cloud.servers.values())
        self.assertEqual([('s-0', 'ACTIVE'), ('s-1', 'ACTIVE'),
                          ('s-2', 'ERROR')], states)

    def test_generate_arguments(self):
        topo = topology.normalize({'generate': {
            'computes': 4, 'servers': 8, 'projects': 2,
            'groups_per_project': 1}})
        self.assertEqual(4 + 3, len(topo['hosts']))
        self.assertEqual(8, len(topo['servers']))
        self.assertIn('vnfm-1', [u['name'] for u in topo['users']])
        self.assertRaises(topology.TopologyError, topology.generate,
                          computes=1, servers=1000, vcpus=2)

    def test_custom_event_definitions(self):
        converter = telemetry.EventConverter([
            {'event_type': 'compute.*', 'traits': {
                'host': {'fields': 'payload.host'},
                'size': {'fields': ['payload.gb', 'payload.size'],
                         'type': 'float'}}}])
        event = converter.to_event({
            'event_type': 'compute.instance.update',
            'publisher_id': 'nova', 'payload': {'host': 'c1', 'size': 2},
            'ctxt': {'project_id': 'p1', 'request_id': 'req-1'}})
        # Ceilometer 27's defaults: project_id/tenant_id from the context's
        # project_id (as the real agent in the integration tier showed).
        self.assertEqual([['service', 1, 'nova'], ['request_id', 1, 'req-1'],
                          ['project_id', 1, 'p1'], ['tenant_id', 1, 'p1'],
                          ['host', 1, 'c1'], ['size', 3, 2.0]],
                         event['traits'])
        old_style = converter.to_event({
            'event_type': 'compute.x', 'publisher_id': 'nova',
            'payload': {}, 'ctxt': {'tenant': 'p1'}})
        self.assertNotIn('project_id', [t[0] for t in old_style['traits']])
        strict = telemetry.EventConverter([], drop_unmatched=True)
        self.assertRaises(telemetry.DropEvent, strict.to_event,
                          {'event_type': 'x', 'payload': {}})

    def test_default_definitions_are_the_integration_tiers(self):
        # The real Ceilometer of tools/integration gets these definitions;
        # the simulated one must convert Fenix's notifications the same
        # way (same traits, types and order).
        path = os.path.join(os.path.dirname(__file__), '..', '..', '..',
                            '..', 'tools', 'integration', 'etc',
                            'event_definitions.yaml')
        with open(path) as f:
            real = yaml.safe_load(f)

        def norm(definitions):
            out = []
            for d in definitions:
                types = d['event_type']
                types = sorted([types] if isinstance(types, str) else types)
                out.append((types, [(name, spec['fields'],
                                     spec.get('type', 'text'))
                                    for name, spec in d['traits'].items()]))
            return out
        self.assertEqual(norm(real), norm(telemetry.DEFAULT_DEFINITIONS))

    def test_events_equal_ceilometers_for_fenix_notifications(self):
        # Fenix's own copy of Ceilometer's conversion and signature is
        # checked against the real agent in the integration tier; the
        # simulated Ceilometer must give the same event, signature included.
        when = datetime.datetime(2026, 11, 24, 7, 30, 1, 250000)
        payloads = {
            'maintenance.planned': (aodh_events.PROJECT_EVENT_TRAITS, {
                'service': 'fenix', 'project_id': 'p1', 'session_id': 's1',
                'state': 'PLANNED_MAINTENANCE', 'instance_ids': ['i1'],
                'allowed_actions': ['MIGRATE'],
                'actions_at': '2026-11-24 07:35:00',
                'reply_at': '2026-11-24 07:31:00',
                'reply_url': 'http://fenix/v1/maintenance/s1/p1/i1',
                'metadata': {'openstack_version': 'Train'}}),
            'maintenance.host': (aodh_events.HOST_EVENT_TRAITS, {
                'service': 'fenix', 'host': 'c1', 'project_id': 'admin',
                'session_id': 's1', 'state': 'IN_MAINTENANCE'}),
            'maintenance.session': (aodh_events.SESSION_EVENT_TRAITS, {
                'service': 'fenix', 'project_id': 'admin',
                'session_id': 's1', 'state': 'DONE', 'percent_done': 100}),
        }
        converter = telemetry.EventConverter()
        for event_type, (traits, payload) in payloads.items():
            ours = converter.to_event({
                'event_type': event_type, 'publisher_id': 'fenix',
                'payload': payload, 'message_id': 'm-1',
                'timestamp': when.isoformat()})
            real = aodh_events.ceilometer_event(
                event_type, payload, traits, message_id='m-1',
                generated=when, secret=telemetry.SIGNING_SECRET)
            self.assertEqual(real, ours, event_type)

    def test_scheduler_ties_by_name_or_seeded_shuffle(self):
        def first_host(**sched):
            data = {'hosts': [{'name': 'c-{n}', 'count': 6, 'vcpus': 4,
                               'memory_mb': 8192, 'disk_gb': 80}],
                    'servers': [{'name': 's-0', 'flavor': 'm1.tiny'}],
                    'scheduler': sched}
            cloud = model.Cloud(topology.normalize(data))
            return [s.host for s in cloud.servers.values()][0]
        # Equal weights: the first host by name, every time.
        self.assertEqual({'c-0'}, {first_host() for _ in range(3)})
        # As real Nova: among equal hosts the choice varies between runs
        # (here between seeds); one seed always gives the same host.
        chosen = {seed: first_host(shuffle_ties=seed) for seed in range(10)}
        self.assertGreater(len(set(chosen.values())), 1)
        self.assertEqual(chosen[3], first_host(shuffle_ties=3))
        self.assertRaises(topology.TopologyError, topology.normalize,
                          {'scheduler': {'shuffle_ties': 'x'}})
