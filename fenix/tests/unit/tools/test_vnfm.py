# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The sample VNFM's event handling, against a fake Fenix over HTTP.

Nova is an in-memory double here (the same handling runs against the
simulated cloud in test_vnfm_simcloud); every event is POSTed to the VNFM's
real webhook as AODH would, and every reply is read from what the fake
Fenix received.
"""
import datetime
import threading

from novaclient import exceptions as nova_exc
import requests

from fenix.tests.unit.tools import base
from fenix.tests.unit.tools import fakes
from fenix_tools import common
from fenix_tools.vnfm import app as app_mod
from fenix_tools.vnfm import checker
from fenix_tools.vnfm import manager

PROJECT = 'p-1'
SESSION = 's-1'


class VNFMTestCase(base.TestCase):

    behaviour = None
    app = None

    def setUp(self):
        super().setUp()
        self.fenix = fakes.FakeFenix().start()
        self.addCleanup(self.fenix.stop)
        self.nova = fakes.FakeNova()
        self.vnfm = self.make_vnfm(self.behaviour or app_mod.Behaviour(
            retry_interval=0.05))
        self.vnfm.start()
        self.addCleanup(self.vnfm.stop)
        self.url = '%s/v1/maintenance/%s/%s' % (self.fenix.url, SESSION,
                                                PROJECT)

    def make_vnfm(self, behaviour):
        client = common.FenixClient(
            url=self.fenix.url, headers=common.noauth_headers(PROJECT, 'u'))
        return manager.SampleVNFM(
            nova=self.nova, fenix=client, project_id=PROJECT,
            subscribe=False, check_interval=0.02, behaviour=behaviour,
            app=self.app or app_mod.get_app('seed004'))

    def ids(self, kind=None):
        return [s['id'] for s in self.vnfm.servers()
                if kind is None or s['kind'] == kind]

    def by_name(self, name):
        return [s['id'] for s in self.vnfm.servers() if s['name'] == name][0]

    def payload(self, state, instance_ids=None, reply_url=None,
                reply_in=60, **extra):
        now = fakes.utcnow().replace(microsecond=0)
        body = {'service': 'fenix', 'project_id': PROJECT,
                'session_id': SESSION, 'state': state,
                'instance_ids': (self.url if instance_ids is None
                                 else instance_ids),
                'allowed_actions': [],
                'actions_at': now + datetime.timedelta(seconds=reply_in),
                'reply_at': now + datetime.timedelta(seconds=reply_in),
                'reply_url': reply_url or self.url,
                'metadata': {}}
        if state in (manager.PREPARE_MAINTENANCE,
                     manager.PLANNED_MAINTENANCE):
            body['allowed_actions'] = ['MIGRATE', 'LIVE_MIGRATE',
                                       'OWN_ACTION']
        if state == manager.INSTANCE_ACTION_DONE:
            body['reply_at'] = body['actions_at'] = None
        body.update(extra)
        return body

    def send(self, payload, event_type='maintenance.planned'):
        resp = requests.post(self.vnfm.webhook_url,
                             json=fakes.aodh_body(payload, event_type),
                             timeout=10)
        self.assertEqual(200, resp.status_code)
        self.assertTrue(self.vnfm.wait_idle(30))

    def affect(self, ids):
        self.fenix.affected[(SESSION, PROJECT)] = list(ids)

    def reply_bodies(self):
        return [r['body'] for r in self.fenix.replies]


class TestDeployAndConstraints(VNFMTestCase):

    def test_servers_and_roles(self):
        servers = self.vnfm.servers()
        self.assertEqual(6, len(servers))
        ha = [s for s in servers if s['kind'] == app_mod.HA]
        self.assertEqual(2, len(ha))
        # Anti-affinity: the pair is on two hosts.
        self.assertNotEqual(self.nova.host_of(ha[0]['id']),
                            self.nova.host_of(ha[1]['id']))
        roles = self.vnfm.roles()
        self.assertEqual(ha[0]['id'], roles['active'])
        self.assertEqual([ha[1]['id']], roles['standby'])
        self.assertEqual('active', self.nova.data[ha[0]['id']]['metadata']
                         ['ha_role'])
        self.assertEqual('standby', self.nova.data[ha[1]['id']]['metadata']
                         ['ha_role'])

    def test_constraints_registered(self):
        groups = self.fenix.groups
        self.assertEqual(2, len(groups))
        ha_group = [g for g in groups.values() if g['anti_affinity_group']]
        self.assertEqual(1, len(ha_group))
        ha_group = ha_group[0]
        self.assertIn(ha_group['group_id'], self.nova.groups)
        self.assertEqual({'group_id': ha_group['group_id'],
                          'project_id': PROJECT,
                          'group_name': 'seed004-ha-group',
                          'anti_affinity_group': True,
                          'max_instances_per_host': 1,
                          'max_impacted_members': 1,
                          'recovery_time': 2,
                          'resource_mitigation': True}, ha_group)
        nonha = [g for g in groups.values()
                 if not g['anti_affinity_group']][0]
        self.assertEqual(2, nonha['max_impacted_members'])
        self.assertEqual(0, nonha['max_instances_per_host'])
        self.assertEqual(6, len(self.fenix.instances))
        for sid, body in self.fenix.instances.items():
            self.assertEqual({'instance_id', 'project_id', 'group_id',
                              'instance_name', 'max_interruption_time',
                              'migration_type', 'resource_mitigation',
                              'lead_time'}, set(body))
            self.assertEqual(sid, body['instance_id'])
            self.assertEqual('MIGRATE', body['migration_type'])
            self.assertIn(body['group_id'], groups)
        # The noauth identity of the project is sent.
        headers = self.fenix.calls[0][3]
        self.assertEqual(PROJECT, headers['X-Project-Id'])

    def test_stop_removes_everything(self):
        self.vnfm.stop()
        self.assertEqual({}, self.fenix.groups)
        self.assertEqual({}, self.fenix.instances)
        self.assertEqual({}, self.nova.data)
        self.assertEqual({}, self.nova.groups)

    def test_status_over_http(self):
        data = requests.get(self.vnfm.url + '/status', timeout=10).json()
        self.assertEqual(PROJECT, data['project_id'])
        self.assertEqual(6, len(data['servers']))
        for key in ('roles', 'events', 'replies', 'violations', 'checker',
                    'groups', 'actions', 'errors'):
            self.assertIn(key, data)
        self.assertEqual([], data['violations'])


class TestEvents(VNFMTestCase):

    def test_maintenance_ack(self):
        self.affect(self.ids())
        self.send(self.payload('MAINTENANCE'))
        self.assertEqual([{'state': 'ACK_MAINTENANCE'}],
                         self.reply_bodies())
        reply = self.fenix.replies[0]
        self.assertEqual((SESSION, PROJECT, None),
                         (reply['session_id'], reply['project_id'],
                          reply['instance_id']))
        # The instance list was read from the URL in instance_ids.
        self.assertIn(('GET', '/v1/maintenance/%s/%s' % (SESSION, PROJECT)),
                      [c[:2] for c in self.fenix.calls])

    def test_maintenance_nack_for_foreign_instances(self):
        self.affect(self.ids() + ['not-mine'])
        self.send(self.payload('MAINTENANCE'))
        self.assertEqual([{'state': 'NACK_MAINTENANCE'}],
                         self.reply_bodies())
        self.assertIn('not-mine', self.vnfm.errors.list()[-1]['message'])

    def test_scale_in_then_complete_scales_out(self):
        newest = [self.by_name('seed004-nonha-3'),
                  self.by_name('seed004-nonha-2')]
        self.send(self.payload('SCALE_IN'))
        self.assertEqual([{'state': 'ACK_SCALE_IN'}], self.reply_bodies())
        self.assertEqual(sorted(newest), sorted(self.nova.deleted))
        self.assertEqual(4, len(self.nova.data))
        self.assertEqual(4, len(self.ids()))
        for sid in newest:
            self.assertNotIn(sid, self.fenix.instances)
        self.assertEqual(4, len(self.fenix.instances))

        self.send(self.payload('MAINTENANCE_COMPLETE'))
        self.assertEqual({'state': 'ACK_MAINTENANCE_COMPLETE'},
                         self.reply_bodies()[-1])
        self.assertEqual(6, len(self.nova.data))
        self.assertEqual(4, len(self.ids(app_mod.NON_HA)))
        self.assertEqual(set(self.ids()), set(self.fenix.instances))
        self.assertEqual([], self.vnfm.violations())

    def test_prepare_switches_over_before_replying(self):
        active = self.vnfm.roles()['active']
        standby = self.vnfm.roles()['standby'][0]
        host = self.nova.host_of(active)
        on_host = [sid for sid in self.ids()
                   if self.nova.host_of(sid) == host]
        self.assertIn(active, on_host)
        self.affect(on_host)
        seen = []
        self.fenix.on_reply = lambda rec: seen.append(
            (self.vnfm.roles()['active'],
             self.nova.data[standby]['metadata']['ha_role']))
        self.send(self.payload('PREPARE_MAINTENANCE'))
        # When the reply reached Fenix, the standby was already active.
        self.assertEqual([(standby, 'active')], seen)
        self.assertEqual([{'state': 'ACK_PREPARE_MAINTENANCE',
                           'instance_actions': {sid: 'MIGRATE'
                                                for sid in on_host}}],
                         self.reply_bodies())
        switch = [a for a in self.vnfm.actions.list()
                  if a['action'] == 'switch_over']
        self.assertEqual(1, len(switch))
        self.assertEqual((active, standby, 'PREPARE_MAINTENANCE'),
                         (switch[0]['old_active'], switch[0]['new_active'],
                          switch[0]['reason']))
        self.assertEqual('standby',
                         self.nova.data[active]['metadata']['ha_role'])

    def test_busy_server_does_not_stop_role_marking(self):
        # Real Nova answers 409 to a metadata change while the server is
        # busy (e.g. migrating): that one role stays stale, the others
        # are still written, now and at the next change.
        active = self.vnfm.roles()['active']
        standby = self.vnfm.roles()['standby'][0]
        set_item = self.nova.servers.set_meta_item

        def busy_active(sid, key, value):
            if sid == active:
                raise nova_exc.Conflict(409, 'task_state migrating')
            return set_item(sid, key, value)

        self.nova.servers.set_meta_item = busy_active
        self.affect([sid for sid in self.ids()
                     if self.nova.host_of(sid) == self.nova.host_of(
                         active)])
        self.send(self.payload('PREPARE_MAINTENANCE'))
        self.assertEqual(standby, self.vnfm.roles()['active'])
        self.assertEqual('active',
                         self.nova.data[standby]['metadata']['ha_role'])
        self.assertEqual('active',  # stale: Nova refused the change
                         self.nova.data[active]['metadata']['ha_role'])
        self.assertEqual([], [a for a in self.vnfm.actions.list()
                              if a['action'] == 'roles_in_nova'])

    def test_planned_without_active_keeps_roles(self):
        active = self.vnfm.roles()['active']
        others = [sid for sid in self.ids(app_mod.NON_HA)
                  if self.nova.host_of(sid) != self.nova.host_of(active)]
        self.affect(others[:1])
        self.send(self.payload('PLANNED_MAINTENANCE',
                               metadata={'openstack_version': 'Train'}))
        self.assertEqual([{'state': 'ACK_PLANNED_MAINTENANCE',
                           'instance_actions': {others[0]: 'MIGRATE'}}],
                         self.reply_bodies())
        self.assertEqual(active, self.vnfm.roles()['active'])
        meta = [a for a in self.vnfm.actions.list()
                if a['action'] == 'metadata']
        self.assertEqual({'openstack_version': 'Train'},
                         meta[0]['metadata'])

    def test_per_instance_event(self):
        sid = self.ids(app_mod.NON_HA)[0]
        self.send(self.payload('PLANNED_MAINTENANCE', instance_ids=[sid],
                               reply_url='%s/%s' % (self.url, sid)))
        self.assertEqual([{'state': 'ACK_PLANNED_MAINTENANCE',
                           'instance_action': 'MIGRATE'}],
                         self.reply_bodies())
        self.assertEqual(sid, self.fenix.replies[0]['instance_id'])
        # No GET: the event named its instance.
        self.assertNotIn('GET', [c[0] for c in self.fenix.calls])

    def test_per_instance_event_for_active(self):
        active = self.vnfm.roles()['active']
        self.send(self.payload('PREPARE_MAINTENANCE', instance_ids=[active],
                               reply_url='%s/%s' % (self.url, active)))
        self.assertEqual([{'state': 'ACK_PREPARE_MAINTENANCE',
                           'instance_action': 'MIGRATE'}],
                         self.reply_bodies())
        self.assertNotEqual(active, self.vnfm.roles()['active'])

    def test_instance_action_done_noted_not_answered(self):
        active = self.vnfm.roles()['active']
        sid = self.ids(app_mod.NON_HA)[0]
        self.affect([sid])
        self.send(self.payload('PLANNED_MAINTENANCE'))
        self.assertIn(sid, self.vnfm.status()['pending_moves'])
        self.send(self.payload('INSTANCE_ACTION_DONE', instance_ids=[sid]))
        self.assertEqual(1, len(self.fenix.replies))
        self.assertNotIn(sid, self.vnfm.status()['pending_moves'])
        done = [a for a in self.vnfm.actions.list()
                if a['action'] == 'instance_action_done']
        self.assertEqual([sid], done[0]['instances'])
        self.assertEqual(active, self.vnfm.roles()['active'])

    def test_duplicate_delivery_answered_once(self):
        self.affect(self.ids())
        payload = self.payload('MAINTENANCE')
        self.send(payload, 'maintenance.planned')
        self.send(payload, 'maintenance.scheduled')
        self.assertEqual(1, len(self.fenix.replies))
        self.assertEqual([False, True], [bool(e.get('duplicate'))
                                         for e in self.vnfm.events.list()])

    def test_alike_events_of_one_type_are_both_handled(self):
        # Two PLANNED_MAINTENANCE for two hosts, sent within one second,
        # carry the same reply_at: both must be answered.
        self.affect(self.ids())
        payload = self.payload('PLANNED_MAINTENANCE')
        self.send(payload, 'maintenance.planned')
        self.send(payload, 'maintenance.planned')
        self.assertEqual(2, len(self.fenix.replies))
        self.assertFalse(any(e.get('duplicate')
                             for e in self.vnfm.events.list()))

    def test_other_project_ignored(self):
        self.send(self.payload('MAINTENANCE', project_id='someone-else'))
        self.assertEqual([], self.fenix.replies)
        self.assertEqual('other project',
                         self.vnfm.events.list()[0]['ignored'])

    def test_reply_retried(self):
        self.affect(self.ids())
        self.fenix.fail_replies = 2
        self.send(self.payload('MAINTENANCE'))
        reply = self.vnfm.replies.list()[-1]
        self.assertTrue(reply['ok'])
        self.assertEqual(3, reply['attempts'])
        self.assertEqual(1, len(self.fenix.replies))

    def test_event_times_recorded(self):
        self.affect(self.ids())
        self.send(self.payload('MAINTENANCE'))
        event = self.vnfm.events.list()[0]
        self.assertEqual('MAINTENANCE', event['state'])
        self.assertTrue(event['time'])
        self.assertTrue(event['reply_at'])
        self.assertTrue(self.vnfm.replies.list()[0]['time'])


class TestConfiguredActions(VNFMTestCase):

    behaviour = app_mod.Behaviour(
        instance_actions={'seed004-nonha-1': 'LIVE_MIGRATE',
                          'seed004-nonha-0': 'OWN_ACTION'},
        ack_instance_action_done=True)

    def test_actions_and_instance_constraints(self):
        live = self.by_name('seed004-nonha-1')
        self.assertEqual('LIVE_MIGRATE',
                         self.fenix.instances[live]['migration_type'])
        self.affect([live])
        self.send(self.payload('PLANNED_MAINTENANCE'))
        self.assertEqual([{'state': 'ACK_PLANNED_MAINTENANCE',
                           'instance_actions': {live: 'LIVE_MIGRATE'}}],
                         self.reply_bodies())

    def test_not_allowed_action_falls_back(self):
        live = self.by_name('seed004-nonha-1')
        self.affect([live])
        self.send(self.payload('PLANNED_MAINTENANCE',
                               allowed_actions=['MIGRATE']))
        self.assertEqual({live: 'MIGRATE'},
                         self.reply_bodies()[0]['instance_actions'])

    def test_own_action_replaces_the_server(self):
        own = self.by_name('seed004-nonha-0')
        self.affect([own])
        self.send(self.payload('PREPARE_MAINTENANCE'))
        self.assertEqual({own: 'OWN_ACTION'},
                         self.reply_bodies()[0]['instance_actions'])
        self.assertIn(own, self.nova.deleted)
        self.assertNotIn(own, self.ids())
        self.assertEqual(6, len(self.ids()))
        self.assertNotIn(own, self.fenix.instances)
        self.assertEqual(set(self.ids()), set(self.fenix.instances))

    def test_instance_action_done_acknowledged(self):
        sid = self.ids(app_mod.NON_HA)[0]
        self.send(self.payload('INSTANCE_ACTION_DONE', instance_ids=[sid],
                               reply_url='%s/%s' % (self.url, sid)))
        self.assertEqual([{'state': 'ACK_INSTANCE_ACTION_DONE'}],
                         self.reply_bodies())


class TestSilentAndNack(VNFMTestCase):

    behaviour = app_mod.Behaviour(silent=['MAINTENANCE'],
                                  nack=['PLANNED_MAINTENANCE'])

    def test_silent(self):
        self.affect(self.ids())
        self.send(self.payload('MAINTENANCE'))
        self.assertEqual([], self.fenix.replies)
        self.assertEqual(1, len(self.vnfm.events.list()))
        self.assertEqual('silent', self.vnfm.actions.list()[-1]['action'])

    def test_nack(self):
        active = self.vnfm.roles()['active']
        self.affect([active])
        self.send(self.payload('PLANNED_MAINTENANCE'))
        self.assertEqual([{'state': 'NACK_PLANNED_MAINTENANCE'}],
                         self.reply_bodies())
        # A NACK changes nothing.
        self.assertEqual(active, self.vnfm.roles()['active'])
        self.assertEqual({}, self.vnfm.status()['pending_moves'])


class TestReplyDelay(VNFMTestCase):

    behaviour = app_mod.Behaviour(reply_delay=30, reply_margin=0.5)

    def test_delay_capped_by_reply_at(self):
        self.affect(self.ids())
        payload = self.payload('MAINTENANCE', reply_in=2)
        self.send(payload)
        self.assertEqual([{'state': 'ACK_MAINTENANCE'}],
                         self.reply_bodies())
        reply = self.vnfm.replies.list()[0]
        self.assertFalse(reply['late'])
        sent = datetime.datetime.fromisoformat(reply['time'])
        self.assertLess(sent, payload['reply_at'])


class TestHeldReplies(VNFMTestCase):

    def setUp(self):
        self.release = threading.Event()
        self.behaviour = app_mod.Behaviour(
            retry_interval=0.05, hold_replies={'MAINTENANCE': self.release})
        super().setUp()

    def post(self, payload):
        resp = requests.post(self.vnfm.webhook_url,
                             json=fakes.aodh_body(payload,
                                                  'maintenance.planned'),
                             timeout=10)
        self.assertEqual(200, resp.status_code)

    def test_answer_waits_for_its_release(self):
        self.affect(self.ids())
        self.post(self.payload('MAINTENANCE', reply_in=120))
        # Held: the manager stays busy with it, nothing is sent.
        self.assertFalse(self.vnfm.wait_idle(0.5))
        self.assertEqual([], self.fenix.replies)
        self.release.set()
        self.assertTrue(self.vnfm.wait_idle(30))
        self.assertEqual([{'state': 'ACK_MAINTENANCE'}], self.reply_bodies())

    def test_reply_at_ends_the_hold(self):
        self.affect(self.ids())
        payload = self.payload('MAINTENANCE', reply_in=2)
        self.post(payload)
        self.assertTrue(self.vnfm.wait_idle(30))
        self.assertEqual([{'state': 'ACK_MAINTENANCE'}], self.reply_bodies())
        reply = self.vnfm.replies.list()[0]
        self.assertFalse(reply['late'])
        self.assertFalse(self.release.is_set())

    def test_other_events_are_not_held(self):
        self.affect(self.ids())
        self.send(self.payload('SCALE_IN', reply_in=120))
        self.assertEqual([{'state': 'ACK_SCALE_IN'}], self.reply_bodies())


class TestRepeatedReplies(VNFMTestCase):

    behaviour = app_mod.Behaviour(repeat_replies=(0.05, 0.1),
                                  retry_interval=0.05)
    EVENT = '5e1c2f0a-0000-4000-8000-00000000000e'

    def event_url(self):
        return '%s?event_id=%s' % (self.url, self.EVENT)

    def test_every_reply_delivered_again_to_its_url(self):
        self.fenix.refuse_repeats = True
        self.affect(self.ids())
        self.send(self.payload('MAINTENANCE', reply_url=self.event_url(),
                               instance_ids=self.event_url(),
                               event_id=self.EVENT))
        self.assertEqual(1, len(self.fenix.replies))
        self.assertEqual({'event_id': [self.EVENT]},
                         self.fenix.replies[0]['query'])
        repeats = self.vnfm.repeats.list()
        self.assertEqual([409, 409], [r['status'] for r in repeats])
        puts = [c for c in self.fenix.calls if c[0] == 'PUT' and
                '/maintenance/' in c[1]]
        self.assertEqual(3, len(puts))
        self.assertEqual(1, len({(c[1], str(c[2])) for c in puts}))
        self.assertEqual({self.event_url()}, {r['url'] for r in repeats})
        # Refused copies are what Fenix must do: no error, no violation.
        self.assertEqual([], self.vnfm.errors.list())
        self.assertEqual([], self.vnfm.violations())
        self.assertTrue(self.vnfm.replies.list()[0]['ok'])
        self.assertEqual(self.EVENT, self.vnfm.events.list()[0]['event_id'])

    def test_copy_taken_again_is_an_error(self):
        self.affect(self.ids())
        self.send(self.payload('MAINTENANCE'))
        self.assertEqual(3, len(self.fenix.replies))
        errors = [e['message'] for e in self.vnfm.errors.list()]
        self.assertEqual(2, len(errors))
        self.assertIn('taken again', errors[0])

    def test_answer_lost_then_already_answered_is_taken(self):
        self.fenix.refuse_repeats = True
        self.fenix.lose_answers = 1
        self.affect(self.ids())
        self.send(self.payload('MAINTENANCE'))
        reply = self.vnfm.replies.list()[0]
        self.assertTrue(reply['ok'], reply)
        self.assertEqual(2, reply['attempts'])
        self.assertEqual('taken at an earlier attempt', reply['note'])
        self.assertEqual([], self.vnfm.errors.list())

    def test_stop_drops_copies_not_sent(self):
        self.vnfm.behaviour = app_mod.Behaviour(repeat_replies=(30,))
        self.affect(self.ids())
        requests.post(self.vnfm.webhook_url, timeout=10,
                      json=fakes.aodh_body(self.payload('MAINTENANCE'),
                                           'maintenance.planned'))
        self.fenix.wait_replies(1)
        self.vnfm.stop()
        self.assertTrue(self.vnfm.wait_idle(5))
        self.assertEqual([], self.vnfm.repeats.list())
        self.assertEqual(1, len(self.fenix.replies))


class TestReplyOrder(VNFMTestCase):
    """The checker's moved_without_reply, with the VNFM's own events."""

    behaviour = app_mod.Behaviour(silent=['PLANNED_MAINTENANCE'])

    def test_move_of_an_unanswered_instance(self):
        sid = self.ids(app_mod.NON_HA)[0]
        self.send(self.payload('PLANNED_MAINTENANCE', event_id='E1',
                               instance_ids=[sid],
                               reply_url='%s/%s' % (self.url, sid)))
        self.assertTrue(self.vnfm.checker.wait_checks(2, timeout=10))
        self.assertEqual([], self.vnfm.violations())
        # Fenix moves it although the manager did not answer and the
        # deadline (60 s) is far.
        self.nova.set_state(sid, 'RESIZE', 'resize_migrating')
        self.assertTrue(self.vnfm.checker.wait_checks(2, timeout=10))
        found = [v for v in self.vnfm.violations()
                 if v['kind'] == checker.MOVED_WITHOUT_REPLY]
        self.assertEqual([sid], [v['subject'] for v in found])
        self.assertIn('E1', found[0]['detail'])
        self.assertIn('had no answer', found[0]['detail'])


class TestNoSwitchOver(VNFMTestCase):

    behaviour = app_mod.Behaviour(switch_over=False)

    def test_checker_records_violations(self):
        active = self.vnfm.roles()['active']
        self.affect([active])
        self.send(self.payload('PLANNED_MAINTENANCE'))
        self.assertEqual(active, self.vnfm.roles()['active'])
        self.assertTrue(self.vnfm.checker.wait_checks(2, timeout=10))
        kinds = [v['kind'] for v in self.vnfm.violations()]
        self.assertEqual([checker.ACTIVE_ON_HOST_IN_MAINTENANCE], kinds)
        # Fenix moves it: the active server is out of service.
        self.nova.set_state(active, 'RESIZE', 'resize_migrating')
        self.assertTrue(self.vnfm.checker.wait_checks(2, timeout=10))
        violations = {v['kind']: v for v in self.vnfm.violations()}
        self.assertIn(checker.ACTIVE_NOT_IN_SERVICE, violations)
        self.assertTrue(violations[checker.ACTIVE_NOT_IN_SERVICE]['since'])
        # It comes back on another host: both episodes end.
        self.nova.set_state(active, 'ACTIVE', None, host='c9')
        self.assertTrue(self.vnfm.checker.wait_checks(2, timeout=10))
        self.assertEqual([], self.vnfm.recorder.open_violations())
        for v in self.vnfm.violations():
            self.assertIsNotNone(v['until'])


class TestThroughFenixOutage(VNFMTestCase):
    """Fenix answering 503 (engine, broker or database away) is waited
    out until reply_at: never a NACK, a reply applied once."""

    behaviour = app_mod.Behaviour(retry_interval=0.05, reply_retries=2)

    def test_reading_the_instances_waits_for_fenix(self):
        self.affect(self.ids())
        self.fenix.outage = 4
        self.send(self.payload('MAINTENANCE'))
        self.assertEqual([{'state': 'ACK_MAINTENANCE'}],
                         self.reply_bodies())
        self.assertEqual(0, self.fenix.outage)

    def test_a_reply_is_tried_beyond_its_retries_until_it_lands(self):
        self.affect(self.ids())
        self.fenix.fail_replies = 6
        self.send(self.payload('MAINTENANCE'))
        # Taken once, after 6 refusals (reply_retries is 2).
        self.assertEqual([{'state': 'ACK_MAINTENANCE'}],
                         self.reply_bodies())
        reply = self.vnfm.replies.list()[0]
        self.assertTrue(reply['ok'])
        self.assertEqual(7, reply['attempts'])
        self.assertTrue(reply['outage'])

    def test_fenix_away_until_the_deadline_gets_no_nack(self):
        self.affect(self.ids())
        self.fenix.outage = 10 ** 6
        self.send(self.payload('MAINTENANCE', reply_in=2))
        self.fenix.outage = 0
        self.assertEqual([], self.reply_bodies())
        self.assertIn('unavailable', self.vnfm.errors.list()[-1]['message'])

    def test_constraint_updates_wait_for_fenix(self):
        victims = [self.by_name('seed004-nonha-3'),
                   self.by_name('seed004-nonha-2')]
        self.fenix.outage = 3
        self.send(self.payload('SCALE_IN'))
        self.assertEqual([{'state': 'ACK_SCALE_IN'}], self.reply_bodies())
        for sid in victims:
            self.assertNotIn(sid, self.fenix.instances)
        self.assertEqual(set(self.ids()), set(self.fenix.instances))
        self.assertEqual([], [e for e in self.vnfm.errors.list()
                              if 'register' in e['message']])


class TestStartFailure(base.TestCase):

    def test_cleans_up_and_raises(self):
        fenix = fakes.FakeFenix().start()
        self.addCleanup(fenix.stop)
        nova = fakes.FakeNova(hosts=('c1',), slots=1)
        vnfm = manager.SampleVNFM(
            nova=nova, fenix=common.FenixClient(url=fenix.url),
            project_id=PROJECT, subscribe=False)
        # One slot for six servers: the second create fails.
        e = self.assertRaises(manager.VNFMError, vnfm.start)
        self.assertIn('start failed', str(e))
        self.assertEqual({}, nova.data)
        self.assertEqual({}, nova.groups)
        self.assertIsNone(vnfm.url)
