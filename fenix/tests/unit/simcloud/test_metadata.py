# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Server metadata (``/servers/{id}/metadata``) through python-novaclient,
with Nova's policy: the owning project's readers may look, its members (or
an admin) may change; another project's server is 404."""
from novaclient import exceptions as nova_exc

from fenix.tests.unit.simcloud import base

LONG = 60.0


class TestServerMetadata(base.SimCloudTestCase):

    def setUp(self):
        super().setUp()
        self.sid = self.server_id('ha-0')

    def test_set_item_merge_and_delete(self):
        nova = self.nova('vnfm1')
        since = self.sim.events.last_seq
        ret = nova.servers.set_meta_item(self.sid, 'ha_role', 'active')
        self.assertEqual({'meta': {'ha_role': 'active'}}, ret.to_dict())
        merged = nova.servers.set_meta(self.sid, {'zone': 'a', 'x': '1'})
        self.assertEqual({'ha_role': 'active', 'zone': 'a', 'x': '1'},
                         merged.to_dict())
        self.assertEqual({'meta': {'zone': 'a'}},
                         dict(nova.servers.get_meta(self.sid, 'zone')))
        nova.servers.delete_meta(self.sid, ['x', 'zone'])
        self.assertEqual({'metadata': {'ha_role': 'active'}},
                         dict(nova.servers.list_meta(self.sid)))
        # The server view carries it too, for every project member.
        self.assertEqual({'ha_role': 'active'},
                         self.nova('reader1').servers.get(self.sid).metadata)
        changes = self.sim.get_events(since=since, kind='server.metadata',
                                      server=self.sid)
        self.assertEqual([{'ha_role': 'active'},
                          {'ha_role': 'active', 'zone': 'a', 'x': '1'},
                          {'ha_role': 'active', 'zone': 'a'},
                          {'ha_role': 'active'}],
                         [e['metadata'] for e in changes])

    def test_replace_all(self):
        nova = self.nova('vnfm1')
        nova.servers.set_meta(self.sid, {'a': '1', 'b': '2'})
        resp, body = nova.client.put('/servers/%s/metadata' % self.sid,
                                     body={'metadata': {'c': '3'}})
        self.assertEqual(200, resp.status_code)
        self.assertEqual({'metadata': {'c': '3'}}, body)
        self.assertEqual({'c': '3'}, nova.servers.get(self.sid).metadata)

    def test_policy(self):
        # Admin of another project: allowed (admin).
        self.nova('admin').servers.set_meta_item(self.sid, 'k', 'admin')
        # A reader of the owning project may look but not change.
        reader = self.nova('reader1')
        self.assertEqual({'metadata': {'k': 'admin'}},
                         dict(reader.servers.list_meta(self.sid)))
        exc = self.assertRaises(nova_exc.Forbidden,
                                reader.servers.set_meta_item, self.sid, 'k',
                                'reader')
        self.assertIn('os_compute_api:server-metadata:update', str(exc))
        self.assertRaises(nova_exc.Forbidden, reader.servers.delete_meta,
                          self.sid, ['k'])
        # Another project's member does not see the server at all.
        other = self.nova('vnfm2')
        for call, args in ((other.servers.list_meta, ()),
                           (other.servers.get_meta, ('k',)),
                           (other.servers.set_meta, ({'k': 'v'},)),
                           (other.servers.set_meta_item, ('k', 'v')),
                           (other.servers.delete_meta, (['k'],))):
            self.assertRaises(nova_exc.NotFound, call, self.sid, *args)
        self.assertEqual({'k': 'admin'},
                         self.sim.cloud.servers[self.sid].metadata)

    def test_bad_requests(self):
        nova = self.nova('vnfm1')
        self.assertRaises(nova_exc.NotFound, nova.servers.get_meta,
                          self.sid, 'missing')
        self.assertRaises(nova_exc.NotFound, nova.servers.delete_meta,
                          self.sid, ['missing'])
        for bad in ({'bad/key': 'v'}, {'k': 'v' * 256}, {'k': 1}, {'': 'v'}):
            self.assertRaises(nova_exc.BadRequest, nova.servers.set_meta,
                              self.sid, bad)
        # PUT .../metadata/{key}: exactly one item, named as in the URL.
        resp = self.assertRaises(
            nova_exc.BadRequest, nova.client.put,
            '/servers/%s/metadata/a' % self.sid,
            body={'meta': {'b': '1'}})
        self.assertIn('Request body and URI mismatch', str(resp))
        self.assertRaises(nova_exc.BadRequest, nova.client.put,
                          '/servers/%s/metadata/a' % self.sid,
                          body={'meta': {'a': '1', 'b': '2'}})
        self.assertRaises(nova_exc.BadRequest, nova.client.post,
                          '/servers/%s/metadata' % self.sid,
                          body={'metadata': {}, 'other': 1})
        # Nova's default quota: 128 items.
        many = {'k%d' % i: 'v' for i in range(129)}
        exc = self.assertRaises(nova_exc.Forbidden, nova.servers.set_meta,
                                self.sid, many)
        self.assertIn('Maximum number of metadata items exceeds 128',
                      str(exc))
        self.assertEqual({}, nova.servers.get(self.sid).metadata)

    def test_refused_while_the_server_moves(self):
        # check_instance_state(task_state=None): 409 during a migration.
        self.sim.slow_migrations(LONG, server=self.sid)
        admin = self.nova()
        admin.servers.live_migrate(self.sid, 'compute-2', 'auto')
        nova = self.nova('vnfm1')
        exc = self.assertRaises(nova_exc.Conflict,
                                nova.servers.set_meta_item, self.sid,
                                'ha_role', 'standby')
        self.assertIn("Cannot 'update metadata' instance %s while it is in "
                      "task_state migrating" % self.sid, str(exc))
        self.assertTrue(self.sim.complete_now(self.sid))
        self.assertIsNotNone(self.sim.wait_for_event(
            'migration.finish', base.WAIT, server=self.sid))
        nova.servers.set_meta_item(self.sid, 'ha_role', 'standby')
        self.assertEqual({'ha_role': 'standby'},
                         nova.servers.get(self.sid).metadata)
