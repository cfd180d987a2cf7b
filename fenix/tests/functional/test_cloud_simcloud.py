# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The Cloud facade with the real clients against the simulated cloud.

Each test starts a :class:`fenix_tools.simcloud.SimCloud` in-process
(Keystone v3, Nova and AODH over HTTP on one loopback port), points
``[service_user]`` at its Keystone as the ``fenix`` service user, and drives
python-novaclient, aodhclient and keystoneauth exactly as in production.
Moves are waited for by Fenix's own polling of Nova's state; the tests
never sleep.
"""

from aodhclient import client as aodh_client
from aodhclient import exceptions as aodh_exc
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1.identity import v3
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import session as ks_session
from novaclient import api_versions
from novaclient import client as nova_client

from fenix.common import clients
from fenix.common import cloud
from fenix.common import exception
from fenix.common import states as st
from fenix.tests import base

from fenix_tools import simcloud

# The tests' two-tenant cloud, with four bigger computes.
TOPOLOGY = simcloud.two_tenants(
    name='test-cloud', computes=4, vcpus=4, memory_mb=8192, disk_gb=80,
    flavors=[{'id': '2', 'name': 'm1.medium', 'vcpus': 2, 'ram': 4096,
              'disk': 40}],
    server_groups=[{'name': 'app-ha', 'project': 'tenant1',
                    'policy': 'anti-affinity'}],
    servers=[
        {'name': 'app-active', 'project': 'tenant1', 'flavor': 'm1.small',
         'server_group': 'app-ha', 'host': 'compute-0',
         'floating_ip': True},
        {'name': 'app-standby', 'project': 'tenant1', 'flavor': 'm1.small',
         'server_group': 'app-ha', 'host': 'compute-1'},
        {'name': 'worker-0', 'project': 'tenant1', 'flavor': 'm1.medium',
         'host': 'compute-0'},
        {'name': 'other-0', 'project': 'tenant2', 'flavor': 'm1.small',
         'host': 'compute-2'},
    ],
    timing={'cold_migration': 0.1, 'live_migration': 0.1,
            'confirm_resize': 0.05})


class SimCloudTestCase(base.TestCase):
    """A fresh simulated cloud and a Cloud facade using it."""

    def setUp(self):
        super().setUp()
        self.sim = simcloud.SimCloud(topology=TOPOLOGY)
        self.sim.start()
        self.addCleanup(self.sim.stop)
        # The password plug-in's options are registered when it is loaded;
        # register them first so that the test can set them.
        self.conf.register_opts(
            ks_loading.get_auth_plugin_conf_options('password'),
            group='service_user')
        self.config(group='service_user', auth_type='password',
                    auth_url=self.sim.auth_url, username='fenix',
                    password='fenixpass', project_name='service',
                    user_domain_name='Default',
                    project_domain_name='Default',
                    region_name='RegionOne', interface='public')
        self.config(group='workflow', nova_poll_interval=0.02,
                    migration_timeout=15, migration_retries=2,
                    own_action_timeout=15)
        clients.reset()
        self.addCleanup(clients.reset)
        self.cloud = cloud.Cloud()
        self.ids = {s['name']: s['id'] for s in self.cloud.servers()}

    def user_session(self, username):
        return ks_session.Session(auth=v3.Password(
            **self.sim.auth_args(username)))

    def admin_nova(self, version='2.96'):
        return nova_client.Client(version,
                                  session=self.user_session('admin'))

    def host_of(self, name):
        return self.cloud.server(self.ids[name])['host']


class TestComputeServices(SimCloudTestCase):

    def test_negotiated_microversion(self):
        self.assertEqual(api_versions.APIVersion('2.96'),
                         self.cloud.nova_version)

    def test_list_services(self):
        computes = self.cloud.compute_services()
        self.assertEqual(['compute-0', 'compute-1', 'compute-2',
                          'compute-3'], [s['host'] for s in computes])
        for svc in computes:
            self.assertEqual(('nova-compute', 'enabled', 'up', False),
                             (svc['binary'], svc['status'], svc['state'],
                              svc['forced_down']))
        self.assertEqual(['controller-0'], self.cloud.controller_hosts())
        one = self.cloud.compute_services(host='compute-2')
        self.assertEqual(['compute-2'], [s['host'] for s in one])

    def _disable_enable(self, facade):
        svc = facade.disable_compute('compute-1', 'fenix maintenance')
        self.assertEqual(('disabled', 'fenix maintenance'),
                         (svc['status'], svc['disabled_reason']))
        # Nova itself says so, read with another user and client.
        raw = self.admin_nova().services.list(host='compute-1',
                                              binary='nova-compute')[0]
        self.assertEqual('disabled', raw.status)
        others = [s['status'] for s in facade.compute_services()
                  if s['host'] != 'compute-1']
        self.assertEqual(['enabled'] * 3, others)
        svc = facade.enable_compute('compute-1')
        self.assertEqual('enabled', svc['status'])
        self.assertIsNone(svc['disabled_reason'])

    def test_disable_enable_by_service_id(self):
        self._disable_enable(self.cloud)

    def test_disable_enable_before_2_53(self):
        self.config(group='service_user', nova_api_version='2.52')
        old = cloud.Cloud()
        self.assertEqual('2.52', old.nova_version.get_string())
        self.assertIsInstance(old.compute_services()[0]['id'], int)
        self._disable_enable(old)

    def test_force_down(self):
        svc = self.cloud.force_down('compute-3', True)
        self.assertTrue(svc['forced_down'])
        self.assertEqual('down', svc['state'])
        svc = self.cloud.force_down('compute-3', False)
        self.assertFalse(svc['forced_down'])

    def test_unknown_host_is_named(self):
        err = self.assertRaises(exception.CloudError,
                                self.cloud.disable_compute, 'compute-9',
                                'x')
        self.assertIn('compute-9', str(err))

    def test_nova_error_is_translated(self):
        self.sim.fail_api(r'^/v2\.1/os-services/', status=503,
                          service='compute', method='PUT',
                          message='nova-api is overloaded')
        err = self.assertRaises(exception.CloudError,
                                self.cloud.disable_compute, 'compute-0',
                                'maintenance')
        self.assertIn('compute-0', str(err))
        self.assertIn('nova-api is overloaded', str(err))

    def test_session_is_shared_and_survives_token_expiry(self):
        self.cloud.compute_services()
        self.assertIs(self.cloud.session, cloud.Cloud().session)
        self.assertGreater(self.sim.expire_tokens(), 0)
        # keystoneauth re-authenticates on the 401 and retries.
        self.assertEqual(4, len(self.cloud.compute_services()))

    def test_unsupported_explicit_version(self):
        self.config(group='service_user', nova_api_version='2.200')
        err = self.assertRaises(exception.CloudError,
                                lambda: cloud.Cloud().nova_version)
        self.assertIn('2.200', str(err))


class TestInventory(SimCloudTestCase):

    def test_hypervisors_report_usage(self):
        hyps = {h['hostname']: h for h in self.cloud.hypervisors()}
        self.assertEqual(['compute-0', 'compute-1', 'compute-2',
                          'compute-3'], sorted(hyps))
        c0 = hyps['compute-0']
        self.assertEqual('hypervisor', c0['usage_source'])
        self.assertEqual((4, 3, 8192, 6144, 80, 60, 2),
                         (c0['vcpus'], c0['vcpus_used'], c0['memory_mb'],
                          c0['memory_mb_used'], c0['local_gb'],
                          c0['local_gb_used'], c0['running_vms']))
        self.assertEqual(0, hyps['compute-3']['vcpus_used'])
        self.assertEqual(('up', 'enabled'), (c0['state'], c0['status']))

    def test_hypervisor_usage_needs_the_2_87_pin(self):
        # What the pin avoids: at the negotiated 2.96 Nova no longer
        # reports usage in the hypervisor API.
        raw = self.admin_nova('2.96').hypervisors.list()[0].to_dict()
        self.assertNotIn('vcpus_used', raw)
        self.assertIsNotNone(self.cloud.hypervisors()[0]['vcpus_used'])

    def test_servers(self):
        servers = {s['name']: s for s in self.cloud.servers()}
        self.assertEqual({'app-active', 'app-standby', 'worker-0',
                          'other-0'}, set(servers))
        active = servers['app-active']
        tenant1 = self.sim.project_id('tenant1')
        self.assertEqual((tenant1, 'compute-0', 'ACTIVE', 'active', None),
                         (active['project_id'], active['host'],
                          active['status'], active['vm_state'],
                          active['task_state']))
        self.assertTrue(active['floating_ip'])
        self.assertFalse(servers['worker-0']['floating_ip'])
        self.assertEqual({'vcpus': 2, 'ram': 4096, 'disk': 40,
                          'name': 'm1.medium'},
                         {k: servers['worker-0']['flavor'][k]
                          for k in ('vcpus', 'ram', 'disk', 'name')})
        self.assertTrue(active['addresses'])

    def test_servers_by_host(self):
        names = sorted(s['name'] for s in
                       self.cloud.servers(host='compute-0'))
        self.assertEqual(['app-active', 'worker-0'], names)
        self.assertEqual([], self.cloud.servers(host='compute-3'))

    def test_servers_before_embedded_flavors(self):
        self.config(group='service_user', nova_api_version='2.46')
        old = cloud.Cloud()
        worker = old.server(self.ids['worker-0'])
        self.assertEqual((2, 4096, 40, 'm1.medium'),
                         tuple(worker['flavor'][k] for k in
                               ('vcpus', 'ram', 'disk', 'name')))

    def test_server_gone(self):
        self.assertIsNone(
            self.cloud.server('0c7fb2c1-8d0e-4cf7-9a6c-0d3b0a1e0f00'))

    def test_server_groups_of_all_projects(self):
        groups = self.cloud.server_groups()
        self.assertEqual(1, len(groups))
        group = groups[0]
        self.assertEqual(('app-ha', 'anti-affinity', ['anti-affinity'],
                          self.sim.project_id('tenant1')),
                         (group['name'], group['policy'],
                          group['policies'], group['project_id']))
        self.assertEqual(sorted([self.ids['app-active'],
                                 self.ids['app-standby']]),
                         sorted(group['members']))


class TestMoves(SimCloudTestCase):

    def test_cold_migration_is_confirmed(self):
        sid = self.ids['worker-0']
        self.cloud.migrate(sid)
        result = self.cloud.wait_for_move(sid, 'compute-0', st.MIGRATE)
        self.assertTrue(result['ok'], result['message'])
        self.assertNotEqual('compute-0', result['host'])
        srv = self.cloud.server(sid)
        self.assertEqual(('ACTIVE', None, result['host']),
                         (srv['status'], srv['task_state'], srv['host']))
        migs = self.admin_nova().migrations.list(instance_uuid=sid)
        self.assertEqual(['confirmed'], [m.status for m in migs])

    def test_cold_migration_to_a_host(self):
        sid = self.ids['worker-0']
        result = self.cloud.move(sid, st.MIGRATE, host='compute-3')
        self.assertEqual({'ok': True, 'host': 'compute-3', 'attempts': 1},
                         {k: result[k] for k in ('ok', 'host',
                                                 'attempts')})

    def test_live_migration(self):
        sid = self.ids['app-active']
        result = self.cloud.move(sid, st.LIVE_MIGRATE)
        self.assertTrue(result['ok'], result['message'])
        self.assertEqual(1, result['attempts'])
        # Anti-affinity: never next to app-standby.
        self.assertNotIn(result['host'], ('compute-0', 'compute-1'))
        self.assertEqual(result['host'], self.host_of('app-active'))
        self.assertEqual('ACTIVE', self.cloud.server(sid)['status'])

    def test_live_migration_to_a_host(self):
        sid = self.ids['other-0']
        self.cloud.live_migrate(sid, host='compute-3')
        result = self.cloud.wait_for_move(sid, 'compute-2',
                                          st.LIVE_MIGRATE)
        self.assertTrue(result['ok'], result['message'])
        self.assertEqual('compute-3', result['host'])

    def test_failure_once_is_retried(self):
        sid = self.ids['app-standby']
        self.sim.fail_migrations(server=sid, type='live', times=1,
                                 reason='Injected: migration stream broke')
        result = self.cloud.move(sid, st.LIVE_MIGRATE)
        self.assertTrue(result['ok'], result['message'])
        self.assertEqual(2, result['attempts'])
        self.assertNotEqual('compute-1', result['host'])
        statuses = sorted(m.status for m in self.admin_nova()
                          .migrations.list(instance_uuid=sid))
        self.assertEqual(['completed', 'error'], statuses)

    def test_failure_always_is_reported(self):
        sid = self.ids['worker-0']
        self.sim.fail_migrations(server=sid, type='cold',
                                 reason='Injected: disk image corrupt')
        result = self.cloud.move(sid, st.MIGRATE)
        self.assertFalse(result['ok'])
        self.assertIsNone(result['host'])
        self.assertEqual(3, result['attempts'])  # migration_retries = 2
        for text in (sid, 'compute-0', "'error'",
                     'Injected: disk image corrupt', 'after 3 attempts'):
            self.assertIn(text, result['message'])
        self.assertEqual('compute-0', self.host_of('worker-0'))

    def test_failure_into_error_is_not_retried(self):
        sid = self.ids['other-0']
        self.sim.fail_migrations(server=sid, type='live', vm_state='error',
                                 reason='Injected: hypervisor crashed')
        result = self.cloud.move(sid, st.LIVE_MIGRATE)
        self.assertFalse(result['ok'])
        self.assertEqual(1, result['attempts'])
        self.assertIn('ERROR', result['message'])
        self.assertIn('Injected: hypervisor crashed', result['message'])

    def test_refused_request_is_reported(self):
        # compute-9 does not exist: Nova refuses the request itself.
        sid = self.ids['other-0']
        self.config(group='workflow', migration_retries=0)
        result = self.cloud.move(sid, st.LIVE_MIGRATE, host='compute-9')
        self.assertFalse(result['ok'])
        self.assertEqual(1, result['attempts'])
        self.assertIn(sid, result['message'])
        self.assertIn('compute-9', result['message'])

    def test_timeout(self):
        sid = self.ids['other-0']
        self.sim.slow_migrations(30, server=sid)
        self.cloud.live_migrate(sid)
        result = self.cloud.wait_for_move(sid, 'compute-2',
                                          st.LIVE_MIGRATE, timeout=0.3)
        self.assertFalse(result['ok'])
        self.assertIn('timed out', result['message'])
        self.assertIn('task_state migrating', result['message'])

    def test_wait_host_empty(self):
        self.assertFalse(self.cloud.wait_host_empty('compute-0',
                                                    timeout=0))
        for name in ('app-active', 'worker-0'):
            self.cloud.live_migrate(self.ids[name])
        self.assertTrue(self.cloud.wait_host_empty('compute-0'))
        self.assertEqual([], self.cloud.servers(host='compute-0'))
        # Both moves are over: their servers sit on other hosts, settled.
        moved = [self.cloud.server(self.ids[name])
                 for name in ('app-active', 'worker-0')]
        self.assertEqual([None, None], [s['task_state'] for s in moved])
        self.assertNotIn('compute-0', [s['host'] for s in moved])


class TestManagers(SimCloudTestCase):

    def create_alarm(self, username, event_type, enabled=True):
        aodh = aodh_client.Client('2', session=self.user_session(username),
                                  interface='public',
                                  region_name='RegionOne')
        return aodh.alarm.create({
            'name': '%s-%s' % (username, event_type),
            'type': 'event', 'enabled': enabled, 'repeat_actions': True,
            'alarm_actions': ['http://127.0.0.1:9/maintenance'],
            'event_rule': {'event_type': event_type, 'query': []}})

    def test_projects_with_manager(self):
        tenant1 = self.sim.project_id('tenant1')
        tenant2 = self.sim.project_id('tenant2')
        self.assertEqual(set(), self.cloud.projects_with_manager())
        alarm = self.create_alarm('vnfm1', 'maintenance.scheduled')
        self.assertEqual(tenant1, alarm['project_id'])
        self.create_alarm('vnfm2', 'compute.instance.*')
        self.create_alarm('vnfm2', 'maintenance.planned', enabled=False)
        self.assertEqual({tenant1}, self.cloud.projects_with_manager())
        self.assertEqual(set(), self.cloud.projects_with_manager(
            ['maintenance.host']))
        self.create_alarm('vnfm2', 'maintenance.*')
        self.assertEqual({tenant1, tenant2},
                         self.cloud.projects_with_manager())

    def test_member_cannot_list_all_projects(self):
        # Why Fenix must list as admin: the filter is refused to members.
        aodh = aodh_client.Client('2', session=self.user_session('vnfm1'))
        err = self.assertRaises(aodh_exc.ClientException, aodh.alarm.list,
                                filters={'all_projects': 'true'})
        self.assertEqual(403, err.code)

    def test_keystone_failure_is_a_cloud_error(self):
        self.config(group='service_user', password='wrong')
        err = self.assertRaises(exception.CloudError,
                                cloud.Cloud().projects_with_manager)
        self.assertIn('AODH', str(err))
        self.assertNotIsInstance(err, ks_exc.ClientException)
