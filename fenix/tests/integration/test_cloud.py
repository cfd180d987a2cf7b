# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Smoke: Fenix's Cloud facade against real Nova 34 and AODH 23.

Fenix's own code path (``[service_user]`` = the ``fenix`` service user,
keystoneauth session from the stack's fenix.conf, novaclient/aodhclient
through the catalog) with servers of tenant vnfm1 on fake-driver computes.
"""
import os
import threading

from oslo_config import cfg

from fenix.common import clients
from fenix.common import cloud as cloud_mod
from fenix.conf import service_user
from fenix.conf import workflow
from fenix.tests.integration import base


def fenix_conf():
    conf = cfg.ConfigOpts()
    service_user.register_opts(conf)
    workflow.register_opts(conf)
    conf([], project='fenix', default_config_files=[
        os.path.join(base.DIR, 'etc', 'fenix', 'fenix.conf')])
    conf.set_override('nova_poll_interval', 0.3, group='workflow')
    conf.set_override('migration_timeout', 120, group='workflow')
    return conf


class TestCloudFacade(base.IntegrationTestCase):

    def setUp(self):
        super().setUp()
        self.conf = fenix_conf()
        clients.reset()
        self.facade = cloud_mod.Cloud(conf=self.conf)
        self.computes = self.cloud.data['computes']

    def boot(self, name, user='vnfm1', group=None, host=None):
        nova = self.cloud.nova(user, version='2.74')
        kwargs = {'nics': 'none'}
        if group:
            kwargs['scheduler_hints'] = {'group': group}
        flavor = nova.flavors.find(name=self.cloud.data['flavor'])
        server = nova.servers.create(name, self.cloud.data['image_id'],
                                     flavor, **kwargs)
        base.wait_for(lambda: nova.servers.get(server.id).status == 'ACTIVE',
                      90, what='%s ACTIVE' % name)
        return server.id

    def test_services_hypervisors_controllers(self):
        services = self.facade.compute_services()
        self.assertEqual(self.computes, [s['host'] for s in services])
        for s in services:
            self.assertEqual(('enabled', 'up'), (s['status'], s['state']))
        self.assertGreaterEqual(self.facade.nova_version.ver_minor, 96)
        hyps = self.facade.hypervisors()
        self.assertEqual(self.computes, [h['hostname'] for h in hyps])
        for h in hyps:
            self.assertEqual('hypervisor', h['usage_source'])
            self.assertEqual(4, h['vcpus'])
            self.assertEqual(4096, h['memory_mb'])
        self.assertTrue(self.facade.controller_hosts())

    def test_disable_enable(self):
        host = self.computes[0]
        svc = self.facade.disable_compute(host, 'fenix integration')
        self.assertEqual('disabled', svc['status'])
        self.assertEqual('fenix integration', svc['disabled_reason'])
        svc = self.facade.enable_compute(host)
        self.assertEqual('enabled', svc['status'])
        self.assertIsNone(svc['disabled_reason'])

    def test_servers_groups_and_moves(self):
        nova = self.cloud.nova('vnfm1', version='2.64')
        group = nova.server_groups.create(name='it-aa',
                                          policy='anti-affinity')
        a = self.boot('it-a', group=group.id)
        b = self.boot('it-b', group=group.id)
        hosts = self.cloud.hosts_of({a, b})
        self.assertNotEqual(hosts[a], hosts[b])

        groups = [g for g in self.facade.server_groups()
                  if g['id'] == group.id]
        self.assertEqual(1, len(groups))
        self.assertEqual('anti-affinity', groups[0]['policy'])
        self.assertEqual({a, b}, set(groups[0]['members']))
        self.assertEqual(self.cloud.project_id('vnfm1'),
                         groups[0]['project_id'])

        on_host = self.facade.servers(host=hosts[a])
        self.assertIn(a, [s['id'] for s in on_host])
        server = self.facade.server(a)
        self.assertEqual('fenix.half', server['flavor']['name'])
        self.assertEqual(2, server['flavor']['vcpus'])

        # Live then cold migration of a; the third host is the only place
        # the anti-affinity group allows.
        third = (set(self.computes) - set(hosts.values())).pop()
        result = self.facade.move(a, 'LIVE_MIGRATE')
        self.assertTrue(result['ok'], result)
        self.assertEqual(third, result['host'])
        self.assertEqual(third, self.facade.server(a)['host'])
        result = self.facade.move(a, 'MIGRATE')
        self.assertTrue(result['ok'], result)
        self.assertEqual(hosts[a], result['host'])
        server = self.facade.server(a)
        self.assertEqual(('ACTIVE', None),
                         (server['status'], server['task_state']))

        # Emptying a host: b away from its host, wait_host_empty agrees.
        src = hosts[b]
        result = self.facade.move(b, 'LIVE_MIGRATE')
        self.assertTrue(result['ok'], result)
        self.assertNotIn(b, [s['id'] for s in self.facade.servers(src)])

    def test_cold_migration_caught_by_a_compute_restart(self):
        """Real Nova, nova-compute of the source restarted under a move.

        Asked while the source's nova-compute is gone (killed here: a
        crash, restarted at once as systemd would) but not yet marked
        down, the migration's resize_instance RPC waits in the compute's
        queue; the restarted compute first clears the server's resize_prep
        task (init_host), so the server looks back, unmoved, with its
        migration still 'pre-migrating'; then it takes the queued RPC,
        which finds no resize_prep and puts the server in ERROR. A move
        retried in between makes that stale RPC carry the server off
        under the retry, and leaves its Placement allocation on a host it
        is not on. Cloud.move must wait for the record to end, report the
        ERROR and not retry; Placement must agree with Nova.
        """
        a = self.boot('it-restart')
        src = self.cloud.hosts_of({a})[a]
        self.addCleanup(self.cloud.ensure_computes)
        self.cloud.stack('kill-compute', src, check=True)
        self.assertEqual('up', self.cloud.compute_service(src).state,
                         'Nova marked %s down too early for this test' % src)
        result = {}
        mover = threading.Thread(target=lambda: result.update(
            self.facade.move(a, 'MIGRATE')), daemon=True)
        mover.start()
        nova = self.cloud.nova()

        def queued():
            srv = nova.servers.get(a)
            return getattr(srv, 'OS-EXT-STS:task_state') == 'resize_prep'
        base.wait_for(queued, 60, what='the migration queued on %s' % src)
        self.cloud.stack('start-compute', src, check=True)
        mover.join(240)
        self.assertFalse(mover.is_alive())
        self.assertFalse(result['ok'], result)
        self.assertIn('ERROR', result['message'])
        self.assertEqual(1, result['attempts'], result)
        migrations = self.cloud.migrations()
        self.assertEqual(1, len([m for m in migrations
                                 if m.instance_uuid == a]))
        server = nova.servers.get(a)
        self.assertEqual(('ERROR', src), (
            server.status, getattr(server, 'OS-EXT-SRV-ATTR:host')))
        # Placement holds the server where Nova says it is, nowhere else.
        placement = {'service_type': 'placement'}
        session = self.cloud.session('admin')
        providers = {rp['uuid']: rp['name'] for rp in session.get(
            '/resource_providers',
            endpoint_filter=placement).json()['resource_providers']}
        allocations = session.get('/allocations/%s' % a,
                                  endpoint_filter=placement).json()
        self.assertEqual([src], [providers[rp] for rp in
                                 allocations['allocations']])

    def test_projects_with_manager(self):
        vnfm1 = self.cloud.project_id('vnfm1')
        self.assertNotIn(vnfm1, self.facade.projects_with_manager())
        aodh = self.cloud.aodh('vnfm1')
        alarm = aodh.alarm.create({
            'name': 'it-vnfm1', 'type': 'event',
            'event_rule': {'event_type': 'maintenance.scheduled',
                           'query': [{'field': 'traits.project_id',
                                      'op': 'eq', 'type': 'string',
                                      'value': vnfm1}]},
            'alarm_actions': ['http://127.0.0.1:9/none'],
            'repeat_actions': True})
        self.assertEqual(vnfm1, alarm['project_id'])
        self.assertEqual({vnfm1}, self.facade.projects_with_manager() & {
            vnfm1, self.cloud.project_id('vnfm2')})
        # A reader of the project cannot subscribe (AODH policy).
        from aodhclient import exceptions as aodh_exc
        self.assertRaises(aodh_exc.Forbidden,
                          self.cloud.aodh('reader1').alarm.create, {
                              'name': 'it-reader', 'type': 'event',
                              'event_rule': {'event_type': 'x'}})
