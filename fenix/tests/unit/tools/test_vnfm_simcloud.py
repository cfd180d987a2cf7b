# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The sample VNFM against the simulated cloud.

The VNFM uses only keystoneauth, novaclient and aodhclient towards the
cloud; events reach it the real way: a notification into the cloud's
intake, converted to traits like Ceilometer, matched against its AODH
event alarm and POSTed to its webhook. Replies go to a fake Fenix.
"""
import datetime

from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session
from novaclient import client as nova_client

from fenix.tests.unit.tools import base
from fenix.tests.unit.tools import fakes
from fenix_tools import common
from fenix_tools import demo_cloud
from fenix_tools.vnfm import app as app_mod
from fenix_tools.vnfm import checker
from fenix_tools.vnfm import manager

WAIT = 30


class SimTestCase(base.TestCase):

    timeout = 120
    behaviour = None
    event_types = (manager.DEFAULT_EVENT_TYPE,)

    def setUp(self):
        super().setUp()
        self.fenix = fakes.FakeFenix().start()
        self.addCleanup(self.fenix.stop)
        self.cloud = demo_cloud.DemoCloud(fenix_url=self.fenix.url + '/v1')
        self.cloud.start()
        self.addCleanup(self.cloud.stop)
        self.sim = self.cloud.sim
        creds = self.cloud.tenant_credentials()
        session = common.make_session(
            creds['auth_url'], creds['username'], creds['password'],
            creds['project_name'])
        app = app_mod.get_app('seed004').updated(flavor=demo_cloud.FLAVOR)
        # No fenix_url: found in the catalog.
        self.vnfm = manager.SampleVNFM(
            session=session, app=app, event_types=self.event_types,
            behaviour=self.behaviour or app_mod.Behaviour(),
            check_interval=0.05)
        self.vnfm.start()
        self.addCleanup(self.vnfm.stop)
        self.project = self.vnfm.project_id
        admin = ks_session.Session(auth=v3.Password(
            **self.sim.auth_args('admin')))
        self.admin_nova = nova_client.Client('2.1', session=admin)
        self.sid = 'session-1'
        self.url = '%s/v1/maintenance/%s/%s' % (self.fenix.url, self.sid,
                                                self.project)

    def hosts(self):
        return self.cloud.server_hosts()

    def notify(self, state, instance_ids=None, reply_url=None,
               event_type=manager.DEFAULT_EVENT_TYPE, **extra):
        now = datetime.datetime.utcnow().replace(microsecond=0)
        payload = {'service': 'fenix', 'project_id': self.project,
                   'session_id': self.sid, 'state': state,
                   'instance_ids': instance_ids or self.url,
                   'allowed_actions': ['MIGRATE', 'LIVE_MIGRATE',
                                       'OWN_ACTION'],
                   'actions_at': (now + datetime.timedelta(seconds=30))
                   .strftime('%Y-%m-%d %H:%M:%S'),
                   'reply_at': (now + datetime.timedelta(seconds=30))
                   .strftime('%Y-%m-%d %H:%M:%S'),
                   'reply_url': reply_url or self.url, 'metadata': {}}
        payload.update(extra)
        result = self.sim.notify(event_type, payload)
        self.assertIsNone(result['dropped'])
        return result

    def deliver(self, state, **kw):
        """Send one event through AODH; return once the VNFM handled it.
        """
        before = sum(1 for e in self.vnfm.events.list()
                     if e.get('state') == state)
        result = self.notify(state, **kw)
        self.assertEqual(1, len(result['alarms']))
        self.assertTrue(self.vnfm.wait_for_event(state, WAIT,
                                                 count=before + 1))
        self.assertTrue(self.vnfm.wait_idle(WAIT))

    def affect(self, ids):
        self.fenix.affected[(self.sid, self.project)] = list(ids)

    def cold_migrate(self, server_id):
        self.admin_nova.servers.migrate(server_id)
        common.wait_until(
            lambda: self.admin_nova.servers.get(server_id).status ==
            'VERIFY_RESIZE', WAIT, interval=0.05, what='VERIFY_RESIZE')
        self.admin_nova.servers.confirm_resize(server_id)
        common.wait_until(
            lambda: self.admin_nova.servers.get(server_id).status ==
            'ACTIVE', WAIT, interval=0.05, what='ACTIVE')


class TestSubscription(SimTestCase):

    def test_alarm_as_specified(self):
        created = self.sim.get_events(kind='alarm.create')
        self.assertEqual(1, len(created))
        self.assertEqual('maintenance.planned', created[0]['event_type'])
        self.assertEqual(self.project, created[0]['project'])
        aodh = self.vnfm.aodh.alarm.get(created[0]['alarm'])
        self.assertEqual('event', aodh['type'])
        self.assertEqual([self.vnfm.webhook_url], aodh['alarm_actions'])
        self.assertTrue(aodh['repeat_actions'])
        self.assertEqual('maintenance.planned',
                         aodh['event_rule']['event_type'])
        query = aodh['event_rule']['query']
        self.assertEqual('traits.project_id', query[0]['field'])
        self.assertEqual(self.project, query[0]['value'])

    def test_other_event_type_not_delivered(self):
        result = self.notify('MAINTENANCE',
                             event_type='maintenance.scheduled')
        self.assertEqual([], result['alarms'])

    def test_stop_deletes_alarm_servers_and_constraints(self):
        self.vnfm.stop()
        self.assertEqual(1, len(self.sim.get_events(kind='alarm.delete')))
        self.assertEqual({}, self.hosts())
        self.assertEqual({}, self.fenix.groups)
        self.assertEqual({}, self.fenix.instances)


class TestScheduledSubscriber(SimTestCase):

    event_types = ('maintenance.scheduled',)

    def test_scheduled_event_answered(self):
        self.affect(self.vnfm.own_ids())
        self.notify('MAINTENANCE', event_type='maintenance.scheduled')
        self.assertTrue(self.vnfm.wait_for_event('MAINTENANCE', WAIT))
        self.assertTrue(self.vnfm.wait_idle(WAIT))
        self.assertEqual([{'state': 'ACK_MAINTENANCE'}],
                         [r['body'] for r in self.fenix.replies])


class TestSeed004Sequence(SimTestCase):

    def test_full_sequence(self):
        six = set(self.hosts())
        self.assertEqual(6, len(six))
        # Every compute is full.
        per_host = {}
        for host in self.hosts().values():
            per_host[host] = per_host.get(host, 0) + 1
        self.assertEqual({'compute-0': 2, 'compute-1': 2, 'compute-2': 2},
                         per_host)

        self.affect(six)
        self.deliver('MAINTENANCE')
        self.assertEqual({'state': 'ACK_MAINTENANCE'},
                         self.fenix.replies[-1]['body'])

        self.deliver('SCALE_IN')
        self.assertEqual({'state': 'ACK_SCALE_IN'},
                         self.fenix.replies[-1]['body'])
        four = set(self.hosts())
        self.assertEqual(4, len(four))
        self.assertEqual(four, set(self.fenix.instances))

        # PLANNED_MAINTENANCE of the active server's host.
        active = self.vnfm.roles()['active']
        standby = self.vnfm.roles()['standby'][0]
        host = self.hosts()[active]
        on_host = sorted(s for s, h in self.hosts().items() if h == host)
        self.affect(on_host)
        at_reply = []
        self.fenix.on_reply = lambda rec: at_reply.append(
            self.vnfm.roles()['active'])
        self.deliver('PLANNED_MAINTENANCE',
                     metadata={'openstack_version': 'Train'})
        self.assertEqual([standby], at_reply)
        self.assertEqual({'state': 'ACK_PLANNED_MAINTENANCE',
                          'instance_actions': {s: 'MIGRATE'
                                               for s in on_host}},
                         self.fenix.replies[-1]['body'])
        self.fenix.on_reply = None

        # What Fenix would do: move them, tell the VNFM each is done.
        for sid in on_host:
            self.cold_migrate(sid)
            self.assertNotEqual(host, self.hosts()[sid])
            self.deliver('INSTANCE_ACTION_DONE', instance_ids=[sid])
        self.assertEqual({}, self.vnfm.status()['pending_moves'])

        self.deliver('MAINTENANCE_COMPLETE')
        self.assertEqual({'state': 'ACK_MAINTENANCE_COMPLETE'},
                         self.fenix.replies[-1]['body'])
        self.assertEqual(6, len(self.hosts()))
        self.assertEqual(set(self.hosts()), set(self.fenix.instances))
        self.assertTrue(self.vnfm.checker.wait_checks(2, WAIT))
        self.assertEqual([], self.vnfm.violations())
        states = [e['state'] for e in self.vnfm.events.list()]
        self.assertEqual(['MAINTENANCE', 'SCALE_IN', 'PLANNED_MAINTENANCE',
                          'INSTANCE_ACTION_DONE', 'INSTANCE_ACTION_DONE',
                          'MAINTENANCE_COMPLETE'], states)
        self.assertEqual([], self.vnfm.errors.list())

    def test_per_instance_event_through_aodh(self):
        sid = [s['id'] for s in self.vnfm.servers()
               if s['kind'] == app_mod.NON_HA][0]
        self.deliver('PREPARE_MAINTENANCE', instance_ids=[sid],
                     reply_url='%s/%s' % (self.url, sid))
        reply = self.fenix.replies[-1]
        self.assertEqual(sid, reply['instance_id'])
        self.assertEqual({'state': 'ACK_PREPARE_MAINTENANCE',
                          'instance_action': 'MIGRATE'}, reply['body'])


class TestViolationsOnRealMoves(SimTestCase):

    behaviour = app_mod.Behaviour(switch_over=False)

    def test_active_moved_is_recorded(self):
        active = self.vnfm.roles()['active']
        self.assertTrue(self.vnfm.checker.wait_checks(2, WAIT))
        self.assertEqual([], self.vnfm.violations())
        # Make room, then move the active server as Fenix would.
        self.deliver('SCALE_IN')
        before = datetime.datetime.utcnow()
        self.cold_migrate(active)
        self.assertTrue(self.vnfm.checker.wait_checks(2, WAIT))
        found = [v for v in self.vnfm.violations()
                 if v['kind'] == checker.ACTIVE_NOT_IN_SERVICE]
        self.assertEqual(1, len(found))
        self.assertEqual(active, found[0]['subject'])
        since = datetime.datetime.fromisoformat(found[0]['since'])
        self.assertLessEqual(before.replace(microsecond=0), since)
        self.assertIsNotNone(found[0]['until'])
        # It was seen moving, as the cloud recorded it.
        moves = self.cloud.migrations(self.project)
        self.assertEqual([active], [m['server'] for m in moves])
        self.assertTrue(moves[0]['ok'])
