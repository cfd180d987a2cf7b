# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Nova subset through the real python-novaclient."""
import re
import uuid

from novaclient import api_versions
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc
import requests

from fenix.tests.unit.simcloud import base


class TestVersions(base.SimCloudTestCase):

    def test_version_documents(self):
        root = requests.get(self.url + '/compute/').json()
        current = [v for v in root['versions'] if v['id'] == 'v2.1'][0]
        self.assertEqual('2.96', current['version'])
        self.assertEqual('2.1', current['min_version'])
        one = requests.get(self.sim.compute_url + '/').json()['version']
        self.assertEqual('CURRENT', one['status'])

    def test_microversion_negotiation_and_echo(self):
        token = self.session().get_token()
        url = self.sim.compute_url + '/os-services'
        resp = requests.get(url, headers={
            'X-Auth-Token': token, 'OpenStack-API-Version': 'compute 2.53'})
        self.assertEqual('compute 2.53',
                         resp.headers['OpenStack-API-Version'])
        self.assertEqual('2.53', resp.headers['X-OpenStack-Nova-API-Version'])
        self.assertEqual(36, len(resp.json()['services'][0]['id']))
        resp = requests.get(url, headers={
            'X-Auth-Token': token, 'X-OpenStack-Nova-API-Version': '2.10'})
        self.assertIsInstance(resp.json()['services'][0]['id'], int)
        self.assertNotIn('forced_down', resp.json()['services'][0])
        resp = requests.get(url, headers={'X-Auth-Token': token})
        self.assertEqual('2.1', resp.headers['X-OpenStack-Nova-API-Version'])
        resp = requests.get(url, headers={
            'X-Auth-Token': token, 'OpenStack-API-Version': 'compute latest'})
        self.assertEqual('compute 2.96',
                         resp.headers['OpenStack-API-Version'])
        resp = requests.get(url, headers={
            'X-Auth-Token': token, 'OpenStack-API-Version': 'compute 2.99'})
        self.assertEqual(406, resp.status_code)
        resp = requests.get(url, headers={
            'X-Auth-Token': token, 'OpenStack-API-Version': 'compute 2.x'})
        self.assertEqual(400, resp.status_code)

    def test_novaclient_discovers_the_maximum(self):
        nova = nova_client.Client('2.1', session=self.session())
        version = api_versions.discover_version(
            nova, api_versions.APIVersion('2.96'))
        self.assertEqual('2.96', version.get_string())

    def test_unauthenticated_is_401(self):
        resp = requests.get(self.sim.compute_url + '/servers')
        self.assertEqual(401, resp.status_code)


class TestServices(base.SimCloudTestCase):

    def test_list_by_binary_and_host(self):
        nova = self.nova()
        computes = nova.services.list(binary='nova-compute')
        self.assertEqual(['compute-0', 'compute-1', 'compute-2'],
                         sorted(s.host for s in computes))
        self.assertTrue(all(s.zone == 'nova' and s.state == 'up' and
                            s.status == 'enabled' and
                            s.forced_down is False for s in computes))
        conductors = nova.services.list(binary='nova-conductor')
        self.assertEqual(['controller-0'], [s.host for s in conductors])
        self.assertEqual('internal', conductors[0].zone)
        on_host = nova.services.list(host='compute-1',
                                     binary='nova-compute')
        self.assertEqual(1, len(on_host))
        self.assertEqual(2, len(nova.services.list(host='controller-0')))
        self.assertEqual([], nova.services.list(host='nope'))

    def test_disable_with_reason_enable_force_down_253(self):
        nova = self.nova(version='2.53')
        svc = nova.services.list(host='compute-1', binary='nova-compute')[0]
        out = nova.services.disable_log_reason(svc.id, 'maintenance')
        self.assertEqual('disabled', out.status)
        self.assertEqual('maintenance', out.disabled_reason)
        again = nova.services.list(host='compute-1',
                                   binary='nova-compute')[0]
        self.assertEqual(('disabled', 'maintenance'),
                         (again.status, again.disabled_reason))
        hyp = nova.hypervisors.search('compute-1', detailed=True)[0]
        self.assertEqual('disabled', hyp.status)
        self.assertEqual('maintenance', hyp.service['disabled_reason'])
        out = nova.services.enable(svc.id)
        self.assertEqual('enabled', out.status)
        self.assertIsNone(out.disabled_reason)
        out = nova.services.force_down(svc.id, True)
        self.assertTrue(out.forced_down)
        self.assertEqual('down', out.state)
        nova.services.force_down(svc.id, False)
        changes = self.sim.get_events(kind='service.update', host='compute-1')
        self.assertEqual([(True, 'maintenance', False), (False, None, False),
                          (False, None, True), (False, None, False)],
                         [(e['disabled'], e['disabled_reason'],
                           e['forced_down']) for e in changes])
        self.assertEqual([], self.sim.history.disabled_hosts())

    def test_legacy_host_binary_updates(self):
        nova = self.nova(version='2.11')
        out = nova.services.disable_log_reason('compute-2', 'nova-compute',
                                               'patching')
        self.assertEqual('disabled', out.status)
        self.assertEqual(['compute-2'], self.sim.history.disabled_hosts())
        nova.services.enable('compute-2', 'nova-compute')
        out = nova.services.force_down('compute-2', 'nova-compute', True)
        self.assertTrue(out.forced_down)
        self.assertEqual([], self.sim.history.disabled_hosts())

    def test_update_errors(self):
        nova = self.nova(version='2.53')
        conductor = nova.services.list(binary='nova-conductor')[0]
        self.assertRaises(nova_exc.BadRequest, nova.services.disable,
                          conductor.id)
        self.assertRaises(nova_exc.NotFound, nova.services.disable,
                          '00000000-0000-0000-0000-000000000000')
        member = self.nova('vnfm1')
        self.assertRaises(nova_exc.Forbidden, member.services.list)


class TestHypervisors(base.SimCloudTestCase):

    def test_detail_with_usage_below_288(self):
        nova = self.nova(version='2.87')
        hyps = {h.hypervisor_hostname: h for h in nova.hypervisors.list()}
        self.assertEqual(['compute-0', 'compute-1', 'compute-2'],
                         sorted(hyps))
        h0 = hyps['compute-0']
        # ha-0 and other-0 (m1.small each) run on compute-0
        self.assertEqual((2, 2, 4096, 4096, 40, 40, 2),
                         (h0.vcpus, h0.vcpus_used, h0.memory_mb,
                          h0.memory_mb_used, h0.local_gb, h0.local_gb_used,
                          h0.running_vms))
        self.assertEqual(0, h0.free_ram_mb)
        self.assertEqual(('up', 'enabled'), (h0.state, h0.status))
        self.assertEqual('compute-0', h0.service['host'])
        self.assertIsInstance(h0.cpu_info, dict)
        self.assertEqual(1, hyps['compute-2'].running_vms)

    def test_288_drops_usage_fields(self):
        nova = self.nova(version='2.88')
        hyp = nova.hypervisors.list()[0]
        self.assertFalse(hasattr(hyp, 'vcpus_used'))
        self.assertFalse(hasattr(hyp, 'running_vms'))
        self.assertTrue(hasattr(hyp, 'uptime'))

    def test_search_and_get_253(self):
        nova = self.nova(version='2.53')
        found = nova.hypervisors.search('compute-1', servers=True)
        self.assertEqual(['compute-1'],
                         [h.hypervisor_hostname for h in found])
        self.assertEqual([self.server_id('ha-1')],
                         [s['uuid'] for s in found[0].servers])
        self.assertEqual(3, len(nova.hypervisors.search('compute')))
        self.assertRaises(nova_exc.NotFound, nova.hypervisors.search,
                          'nothing')
        one = nova.hypervisors.get(found[0].id)
        self.assertEqual('compute-1', one.hypervisor_hostname)
        self.assertEqual(1, one.running_vms)

    def test_search_before_253(self):
        nova = self.nova(version='2.33')
        found = nova.hypervisors.search('compute-2', servers=True)
        self.assertEqual([self.server_id('vm-0')],
                         [s['uuid'] for s in found[0].servers])
        self.assertIsInstance(found[0].id, int)
        one = nova.hypervisors.get(found[0].id)
        self.assertEqual('compute-2', one.hypervisor_hostname)
        stats = nova.hypervisor_stats.statistics()
        self.assertEqual((3, 6, 4), (stats.count, stats.vcpus,
                                     stats.running_vms))


class TestServers(base.SimCloudTestCase):

    def test_list_all_tenants_and_by_host(self):
        nova = self.nova()
        everything = nova.servers.list(search_opts={'all_tenants': True})
        self.assertEqual({'ha-0', 'ha-1', 'vm-0', 'other-0'},
                         {s.name for s in everything})
        on_host = nova.servers.list(search_opts={'all_tenants': True,
                                                 'host': 'compute-0'})
        self.assertEqual({'ha-0', 'other-0'}, {s.name for s in on_host})
        self.assertTrue(all(getattr(s, 'OS-EXT-SRV-ATTR:host') ==
                            'compute-0' for s in on_host))
        tenant2 = nova.servers.list(search_opts={
            'all_tenants': True,
            'project_id': self.sim.project_id('tenant2')})
        self.assertEqual(['other-0'], [s.name for s in tenant2])
        # Without all_tenants an admin sees its own project only.
        self.assertEqual([], nova.servers.list())
        active = nova.servers.list(search_opts={'all_tenants': True,
                                                'status': 'ACTIVE'})
        self.assertEqual(4, len(active))

    def test_member_sees_own_project_only(self):
        member = self.nova('vnfm1')
        names = {s.name for s in member.servers.list()}
        self.assertEqual({'ha-0', 'ha-1', 'vm-0'}, names)
        # host filter is silently ignored for non-admins, as in Nova
        names = {s.name for s in member.servers.list(
            search_opts={'host': 'compute-0'})}
        self.assertEqual({'ha-0', 'ha-1', 'vm-0'}, names)
        self.assertRaises(nova_exc.Forbidden, member.servers.list,
                          search_opts={'all_tenants': True})
        self.assertRaises(nova_exc.NotFound, member.servers.get,
                          self.server_id('other-0'))
        server = member.servers.get(self.server_id('ha-0'))
        self.assertFalse(hasattr(server, 'OS-EXT-SRV-ATTR:host'))

    def test_get_fields(self):
        nova = self.nova(version='2.53')
        server = nova.servers.get(self.server_id('ha-0'))
        self.assertEqual('ACTIVE', server.status)
        self.assertEqual('compute-0', getattr(server, 'OS-EXT-SRV-ATTR:host'))
        self.assertEqual('compute-0', getattr(
            server, 'OS-EXT-SRV-ATTR:hypervisor_hostname'))
        self.assertEqual('active', getattr(server, 'OS-EXT-STS:vm_state'))
        self.assertIsNone(getattr(server, 'OS-EXT-STS:task_state'))
        self.assertEqual(self.sim.project_id('tenant1'), server.tenant_id)
        self.assertEqual({'vcpus': 1, 'ram': 2048, 'disk': 20,
                          'ephemeral': 0, 'swap': 0,
                          'original_name': 'm1.small', 'extra_specs': {}},
                         server.flavor)
        kinds = sorted(a['OS-EXT-IPS:type']
                       for a in server.addresses['private'])
        self.assertEqual(['fixed', 'floating'], kinds)
        self.assertEqual('UP', server.host_status)
        old = self.nova(version='2.46').servers.get(server.id)
        self.assertEqual({'id', 'links'}, set(old.flavor))
        self.assertEqual('1', old.flavor['id'])
        show = self.nova(version='2.71').servers.get(server.id)
        self.assertEqual([self.sim.cloud.servers[server.id].group_id],
                         show.server_groups)

    def test_create_boot_delete(self):
        nova = self.nova('vnfm2', version='2.53')
        server = nova.servers.create('new-vm', image='cirros', flavor='1',
                                     nics='none')
        server = self.wait_status(nova, server.id, 'ACTIVE')
        statuses = [e.get('status') for e in self.sim.get_events(
            server=server.id) if e['kind'] in ('server.create',
                                               'server.state')]
        self.assertEqual('BUILD', statuses[0])
        self.assertEqual('ACTIVE', statuses[-1])
        self.assertEqual(self.sim.project_id('tenant2'), server.tenant_id)
        self.assertEqual({}, server.addresses)
        actions = nova.instance_action.list(server.id)
        self.assertEqual(['create'], [a.action for a in actions])
        nova.servers.delete(server.id)
        self.assertRaises(nova_exc.NotFound, nova.servers.get, server.id)
        kinds = [e['kind'] for e in self.sim.get_events(server=server.id)]
        self.assertEqual('server.create', kinds[0])
        self.assertEqual('server.delete', kinds[-1])
        self.assertIn('server.host', kinds)

    def test_create_into_group_and_no_valid_host(self):
        nova = self.nova('vnfm1', version='2.64')
        group = nova.server_groups.create('aa2', 'anti-affinity')
        first = nova.servers.create('m-0', image='img', flavor='1',
                                    nics='auto',
                                    scheduler_hints={'group': group.id})
        second = nova.servers.create('m-1', image='img', flavor='1',
                                     nics='auto',
                                     scheduler_hints={'group': group.id})
        first = self.wait_status(nova, first.id, 'ACTIVE')
        second = self.wait_status(nova, second.id, 'ACTIVE')
        hosts = {self.sim.cloud.servers[s.id].host
                 for s in (first, second)}
        self.assertEqual(2, len(hosts))
        self.assertEqual({first.id, second.id},
                         set(nova.server_groups.get(group.id).members))
        # Two m1.small slots are left in the cloud: the third fits, the
        # fourth does not (the cloud is then full).
        nova.servers.create('m-2', image='img', flavor='1', nics='auto')
        full = nova.servers.create('m-3', image='img', flavor='2',
                                   nics='auto')
        full = self.wait_status(nova, full.id, 'ERROR')
        self.assertIn('No valid host was found', full.fault['message'])

    def test_max_limit_paging(self):
        self.sim.cloud.max_limit = 2
        nova = self.nova()
        page = nova.servers.list(search_opts={'all_tenants': True})
        self.assertEqual(2, len(page))
        everything = nova.servers.list(search_opts={'all_tenants': True},
                                       limit=-1)
        self.assertEqual(4, len(everything))
        self.assertEqual(4, len({s.id for s in everything}))

    def test_stop_start_and_reset_state(self):
        nova = self.nova()
        sid = self.server_id('vm-0')
        nova.servers.stop(sid)
        self.assertEqual('SHUTOFF', nova.servers.get(sid).status)
        self.assertRaises(nova_exc.Conflict, nova.servers.stop, sid)
        nova.servers.start(sid)
        self.assertEqual('ACTIVE', nova.servers.get(sid).status)
        nova.servers.reset_state(sid, 'error')
        self.assertEqual('ERROR', nova.servers.get(sid).status)


class TestGroupsFlavorsLimits(base.SimCloudTestCase):

    def test_server_groups_list_get(self):
        nova = self.nova(version='2.53')
        mine = self.nova('vnfm1', version='2.53').server_groups.list()
        self.assertEqual(['ha'], [g.name for g in mine])
        self.assertEqual(['anti-affinity'], mine[0].policies)
        self.assertEqual({self.server_id('ha-0'), self.server_id('ha-1')},
                         set(mine[0].members))
        self.assertEqual([], nova.server_groups.list())
        everything = nova.server_groups.list(all_projects=True)
        self.assertEqual(['ha'], [g.name for g in everything])
        one = nova.server_groups.get(mine[0].id)
        self.assertEqual(self.sim.project_id('tenant1'), one.project_id)
        new = self.nova('vnfm1', version='2.64')
        got = new.server_groups.get(mine[0].id)
        self.assertEqual('anti-affinity', got.policy)
        self.assertEqual({}, got.rules)
        self.assertRaises(nova_exc.NotFound,
                          self.nova('vnfm2').server_groups.get, mine[0].id)

    def test_server_group_create_delete(self):
        nova = self.nova('vnfm2', version='2.64')
        group = nova.server_groups.create(
            'spread', 'anti-affinity', rules={'max_server_per_host': 2})
        self.assertEqual({'max_server_per_host': 2}, group.rules)
        old = self.nova('vnfm2', version='2.15')
        soft = old.server_groups.create('soft', ['soft-affinity'])
        self.assertEqual(['soft-affinity'], soft.policies)
        self.assertRaises(nova_exc.BadRequest, old.server_groups.create,
                          'bad', ['whatever'])
        nova.server_groups.delete(group.id)
        self.assertRaises(nova_exc.NotFound, nova.server_groups.get,
                          group.id)

    def test_flavors(self):
        nova = self.nova()
        flavor = nova.flavors.get('1')
        self.assertEqual(('m1.small', 1, 2048, 20),
                         (flavor.name, flavor.vcpus, flavor.ram,
                          flavor.disk))
        self.assertEqual(['m1.small', 'm1.large'],
                         [f.name for f in nova.flavors.list()])
        self.assertRaises(nova_exc.NotFound, nova.flavors.get, '99')
        created = nova.flavors.create('m1.xl', 8192, 4, 80, flavorid='9')
        self.assertEqual('9', created.id)
        self.assertEqual('m1.xl', nova.flavors.find(name='m1.xl').name)

    def test_limits_and_zones(self):
        nova = self.nova('vnfm1')
        limits = nova.limits.get()
        absolute = {a.name: a.value for a in limits.absolute}
        self.assertEqual(3, absolute['totalInstancesUsed'])
        self.assertEqual(-1, absolute['maxTotalInstances'])
        zones = nova.availability_zones.list(detailed=False)
        self.assertEqual(['nova'], [z.zoneName for z in zones])


REQUEST_ID = re.compile(
    r'^req-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$')


class TestRequestIds(base.SimCloudTestCase):
    """As oslo.middleware's RequestId in Nova, Keystone and AODH: every
    answer carries a new ``X-Openstack-Request-Id``, which is also the
    ``request_id`` of the instance action the request started. A caller's
    own (valid) id is its global request id: not echoed."""

    def test_every_answer_has_one(self):
        token = self.session().get_token()
        seen = set()
        for url, headers, status in (
                (self.sim.auth_url, {}, 200),
                (self.sim.compute_url + '/servers', {}, 401),
                (self.sim.compute_url + '/servers/nope',
                 {'X-Auth-Token': token}, 404),
                (self.sim.compute_url + '/os-services',
                 {'X-Auth-Token': token}, 200),
                (self.sim.alarming_url + '/v2/alarms',
                 {'X-Auth-Token': token}, 200)):
            resp = requests.get(url, headers=headers)
            self.assertEqual(status, resp.status_code, url)
            rid = resp.headers['X-Openstack-Request-Id']
            self.assertRegex(rid, REQUEST_ID)
            if url.startswith(self.sim.compute_url):
                self.assertEqual(rid, resp.headers['X-Compute-Request-Id'])
            seen.add(rid)
        self.assertEqual(5, len(seen))

    def test_instance_actions_record_the_answered_id(self):
        nova = self.nova(version='2.56')
        sid = self.server_id('vm-0')
        resp = nova.servers.migrate(sid)
        rid = resp.request_ids[0]
        self.assertRegex(rid, REQUEST_ID)
        action = nova.instance_action.get(sid, rid)
        self.assertEqual(('migrate', rid), (action.action,
                                            action.request_id))
        self.wait_status(nova, sid, 'VERIFY_RESIZE')
        confirm = nova.servers.confirm_resize(sid).request_ids[0]
        self.assertEqual('confirmResize',
                         nova.instance_action.get(sid, confirm).action)
        member = self.nova('vnfm1', version='2.37')
        server = member.servers.create('new', None, '1', nics='none')
        self.assertEqual(
            ['create'], [a.action for a in member.instance_action.list(
                server.id) if a.request_id == server.request_ids[0]])

    def test_the_callers_id_is_not_echoed(self):
        mine = 'req-' + str(uuid.uuid4())
        nova = nova_client.Client('2.53', session=self.session(),
                                  global_request_id=mine)
        sid = self.server_id('vm-0')
        rid = nova.servers.live_migrate(sid, None, 'auto').request_ids[0]
        self.assertNotEqual(mine, rid)
        self.assertRegex(rid, REQUEST_ID)
        self.assertEqual('live-migration',
                         nova.instance_action.get(sid, rid).action)
        self.assertRaises(nova_exc.NotFound, nova.instance_action.get, sid,
                          mine)
        # An invalid inbound id is ignored the same way.
        resp = requests.get(self.sim.compute_url + '/', headers={
            'X-Openstack-Request-Id': 'not-an-id'})
        self.assertRegex(resp.headers['X-Openstack-Request-Id'], REQUEST_ID)
