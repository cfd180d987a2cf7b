# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The ``default`` workflow end to end: real DB, real session runner, a
fake cloud and fake VNFMs that answer through the engine's reply API."""
import os
import pathlib
import threading
import time
from unittest import mock

import fixtures

from fenix.common import exception
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.engine import runner as session_runner
from fenix.tests.unit.workflow import fakes
from fenix.workflow import base as workflow_base
from fenix.workflow.workflows import default


class WorkflowTest(fakes.FakeCloudTestCase):

    # --- helpers ------------------------------------------------------------
    def create(self, hosts=(), options=None, plugins=(), download=(),
               meta=None, maintenance_at=None):
        opts = dict(options or {})
        opts['requested_hosts'] = list(hosts)
        session = db_api.session_create({
            'workflow': 'default', 'state': st.MAINTENANCE,
            'maintenance_at': maintenance_at or timeutils.utcnow(),
            'meta': meta if meta is not None else
            {'openstack_version': 'Train'},
            'options': opts, 'download': list(download),
            'action_plugins': [{'plugin': 'dummy', 'type': t,
                                'meta': m or {}} for t, m in plugins]})
        return session['session_id']

    def run_session(self, sid):
        runner = session_runner.SessionRunner(sid, self.notifier)
        runner._run()
        return db_api.session_get(sid)

    def history(self, sid, kind=None):
        return [e['message'] for e in db_api.events_get(sid)
                if kind in (None, e['kind'])]

    def states(self, sid):
        # Sessions are created in MAINTENANCE; then every transition.
        return [st.MAINTENANCE] + [e['state'] for e in db_api.events_get(sid)
                                   if e['kind'] == st.EVENT_STATE]

    def hosts(self, sid):
        return {h['hostname']: h for h in db_api.hosts_get(sid)}

    def assertDone(self, session):
        self.assertEqual(st.MAINTENANCE_DONE, session['state'],
                         session.get('error'))
        self.assertEqual([], self.notifier.violations)

    def assertAllEnabled(self, *except_hosts):
        for name, host in self.cloud.hosts.items():
            if name not in except_hosts:
                self.assertEqual('enabled', host['status'], name)

    def assertInHistory(self, sid, text):
        for message in self.history(sid):
            if text in (message or ''):
                return
        self.fail('%r not in history:\n%s' % (
            text, '\n'.join(m or '' for m in self.history(sid))))

    def two_hosts(self, vms=('a', 'b'), project='p1'):
        """c1 empty, c2 holding ``vms``."""
        self.cloud.add_host('c1')
        self.cloud.add_host('c2')
        for vm in vms:
            self.cloud.add_server(vm, 'c2', project=project)


class TestSeed004(WorkflowTest):
    """Three full computes, an ACT-STDBY VNF: scale in, prepare, roll."""

    def build(self):
        for name in ('c1', 'c2', 'c3'):
            self.cloud.add_host(name)
        self.cloud.add_server('ha0', 'c1', floating_ip=True)
        self.cloud.add_server('na0', 'c1')
        self.cloud.add_server('ha1', 'c2')
        self.cloud.add_server('na1', 'c2')
        self.cloud.add_server('na2', 'c3')
        self.cloud.add_server('na3', 'c3')
        self.cloud.add_group('ha-group', 'anti-affinity', ['ha0', 'ha1'])

        def scale_in(payload, vnfm):
            # Heat removes two non-HA instances, from two hosts.
            self.cloud.delete_server('na1')
            self.cloud.delete_server('na2')

        def scale_out(payload, vnfm):
            self.cloud.add_server('na4', 'c1')
            self.cloud.add_server('na5', 'c2')

        return fakes.FakeVNFM(
            self.cloud, self.notifier, 'p1',
            actions={st.PLANNED_MAINTENANCE: st.LIVE_MIGRATE},
            hooks={st.SCALE_IN: scale_in,
                   st.MAINTENANCE_COMPLETE: scale_out})

    def test_full_run(self):
        vnfm = self.build()
        sid = self.create(plugins=[('pre', None), ('host', None),
                                   ('compute', None), ('post', None)])
        session = self.run_session(sid)
        self.assertDone(session)
        self.assertEqual(
            [st.MAINTENANCE, st.SCALE_IN, st.PREPARE_MAINTENANCE,
             st.START_MAINTENANCE, st.PLANNED_MAINTENANCE,
             st.START_MAINTENANCE, st.PLANNED_MAINTENANCE,
             st.START_MAINTENANCE, st.MAINTENANCE_COMPLETE,
             st.MAINTENANCE_DONE], self.states(sid))
        self.assertEqual(
            [st.MAINTENANCE, st.SCALE_IN, st.PREPARE_MAINTENANCE,
             st.PLANNED_MAINTENANCE, st.PLANNED_MAINTENANCE,
             st.MAINTENANCE_COMPLETE],
            [e for e in vnfm.received if e != st.INSTANCE_ACTION_DONE])
        hosts = self.hosts(sid)
        self.assertTrue(all(h['maintained'] for h in hosts.values()))
        self.assertTrue(all(h['state'] == st.HOST_MAINTAINED
                            for h in hosts.values()))
        self.assertTrue(all(h['started_at'] and h['finished_at']
                            for h in hosts.values()))
        self.assertFalse(any(h['disabled_by_fenix']
                             for h in hosts.values()))
        self.assertAllEnabled()
        # Each host: IN_MAINTENANCE then MAINTENANCE_COMPLETE, one by one.
        events = self.notifier.host_events
        self.assertEqual(6, len(events))
        for i in range(0, 6, 2):
            self.assertEqual(events[i][0], events[i + 1][0])
            self.assertEqual(st.IN_MAINTENANCE, events[i][1])
            self.assertEqual(st.HOST_MAINTENANCE_COMPLETE, events[i + 1][1])
        # Every move was announced; PLANNED moves were live.
        moved = [m[0] for m in self.cloud.moves]
        self.assertEqual(sorted(moved), sorted(vnfm.done))
        self.assertTrue(all(m[1] == st.LIVE_MIGRATE
                            for m in self.cloud.moves[1:]))
        # Anti-affinity held all the way.
        self.assertNotEqual(self.cloud.server('ha0')['host'],
                            self.cloud.server('ha1')['host'])
        # Plug-ins: pre and post once, host and compute on every host.
        runs = db_api.action_runs_get(sid)
        self.assertEqual(8, len(runs))
        self.assertTrue(all(r['state'] == st.RUN_DONE for r in runs))
        self.assertEqual(1, len([r for r in runs if r['type'] == 'pre']))
        # Events carry the metadata, deadlines in the future, tagged ids.
        planned = self.notifier.events_of('p1', st.PLANNED_MAINTENANCE)
        self.assertEqual({'openstack_version': 'Train'},
                         planned[0]['metadata'])
        self.assertEqual(workflow_base.ALL_ACTIONS,
                         planned[0]['allowed_actions'])
        for event in self.notifier.events_of('p1'):
            if event['state'] != st.INSTANCE_ACTION_DONE:
                self.assertIsNotNone(event['reply_at'])
        # Scale-out happened; the session ends at 100 %.
        self.assertEqual((st.MAINTENANCE_DONE, 100),
                         self.notifier.session_events[-1])
        self.assertInHistory(sid, 'scale-in needed: to empty a host 4 vCPU '
                                  '/ 8192 MB RAM / 80 GB disk more must be '
                                  'free')
        self.assertInHistory(sid, 'chosen to be emptied')
        self.assertIsNone(session['plan'].get('exchange'))
        # Every session-wide exchange is over: its notify steps are done.
        self.assertEqual([], [s for s in db_api.steps_get(
            sid, kind=st.STEP_NOTIFY_PROJECT) if not s['host'] and
            s['state'] != st.STEP_DONE])

    def test_instances_recorded(self):
        self.build()
        sid = self.create()
        self.run_session(sid)
        rows = {i['instance_id']: i for i in db_api.instances_get(sid)}
        # Scaled-in instances are gone, the others moved and are DONE.
        self.assertNotIn('na1', rows)
        self.assertNotIn('na2', rows)
        self.assertTrue(rows['ha0']['details']['floating_ip'])
        self.assertEqual('ha-group', rows['ha0']['details']['group'])
        self.assertEqual(st.ACTION_DONE, rows['ha0']['action_state'])
        self.assertEqual(self.cloud.server('ha0')['host'],
                         rows['ha0']['host'])
        self.assertEqual(1, rows['ha0']['action_attempts'])


class TestProjects(WorkflowTest):

    def test_silent_project_gets_defaults(self):
        self.two_hosts()
        vnfm = fakes.FakeVNFM(self.cloud, self.notifier, 'p1', replies={
            e: None for e in st.REPLY_EVENTS})
        db_api.instance_constraint_put('a', {
            'project_id': 'p1', 'migration_type': st.LIVE_MIGRATE})
        sid = self.create(options={'reply_window': 1})
        session = self.run_session(sid)
        self.assertDone(session)
        self.assertEqual({('a', st.LIVE_MIGRATE), ('b', st.MIGRATE)},
                         {(m[0], m[1]) for m in self.cloud.moves})
        self.assertInHistory(sid, 'project p1 did not answer '
                                  'PLANNED_MAINTENANCE: default '
                                  'LIVE_MIGRATE (its constraint '
                                  'migration_type)')
        self.assertInHistory(sid, 'default MIGRATE ([workflow] '
                                  'default_migration_type)')
        self.assertIn(st.MAINTENANCE_COMPLETE, vnfm.received)
        self.assertAllEnabled()

    def test_silent_manager_of_own_action_instance_moved(self):
        # Only its manager would move it, and the manager is silent:
        # Fenix moves it rather than wait own_action_timeout and fail.
        self.two_hosts(vms=('a',))
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1', replies={
            st.PREPARE_MAINTENANCE: None, st.PLANNED_MAINTENANCE: None})
        db_api.instance_constraint_put('a', {
            'project_id': 'p1', 'migration_type': st.OWN_ACTION})
        self.config(group='workflow', own_action_timeout=600)
        sid = self.create(options={'reply_window': 1})
        self.assertDone(self.run_session(sid))
        self.assertEqual([('a', st.MIGRATE)],
                         [(m[0], m[1]) for m in self.cloud.moves])
        self.assertInHistory(sid, 'its constraint says OWN_ACTION but its '
                                  'manager was silent: silent_own_action '
                                  'move')

    def test_silent_manager_of_own_action_instance_skip_host(self):
        self.two_hosts(vms=('a',))
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1', replies={
            st.PREPARE_MAINTENANCE: None, st.PLANNED_MAINTENANCE: None})
        db_api.instance_constraint_put('a', {
            'project_id': 'p1', 'migration_type': st.OWN_ACTION})
        sid = self.create(options={'reply_window': 1,
                                   'silent_own_action': 'skip_host'})
        self.assertDone(self.run_session(sid))
        self.assertEqual([], self.cloud.moves)
        hosts = self.hosts(sid)
        self.assertEqual(st.HOST_SKIPPED, hosts['c2']['state'])
        self.assertTrue(hosts['c1']['maintained'])
        self.assertInHistory(sid, 'instance(s) a must move by their '
                                  "manager's own action, but the manager "
                                  'was silent (silent_own_action skip_host)')
        self.assertAllEnabled()

    def test_host_disabled_before_its_instances_are_asked_to_leave(self):
        # No host is empty: PREPARE_MAINTENANCE empties one; nothing new
        # may land on it from the moment its instances are asked to leave.
        self.cloud.add_host('c1')
        self.cloud.add_host('c2')
        self.cloud.add_server('a', 'c1', vcpus=1, ram=1024)
        self.cloud.add_server('b', 'c2', vcpus=1, ram=1024)
        seen = []

        def prepare(payload, vnfm):
            seen.append(sorted(name for name, h in self.cloud.hosts.items()
                               if h['status'] == 'disabled'))

        fakes.FakeVNFM(self.cloud, self.notifier, 'p1',
                       hooks={st.PREPARE_MAINTENANCE: prepare})
        sid = self.create()
        self.assertDone(self.run_session(sid))
        self.assertEqual(1, len(seen))
        self.assertEqual(1, len(seen[0]), seen)
        self.assertIn('%s chosen to be emptied' % seen[0][0],
                      '\n'.join(self.history(sid)))

    def test_project_without_manager(self):
        self.two_hosts(vms=('a',), project='p2')
        self.config(group='workflow', default_migration_type=st.LIVE_MIGRATE)
        sid = self.create()
        session = self.run_session(sid)
        self.assertDone(session)
        self.assertEqual([], self.notifier.project_events)
        self.assertEqual([('a', st.LIVE_MIGRATE, 'c2', 'c1')],
                         self.cloud.moves)
        self.assertInHistory(sid, 'project p2 has no manager')
        self.assertFalse(db_api.project_get(sid, 'p2')['has_manager'])

    def test_waits_for_maintenance_at(self):
        self.two_hosts(vms=('a',))
        vnfm = fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        start = timeutils.utcnow().replace(microsecond=0)
        at = timeutils.after(600, start)
        slept = []

        def sleep(wf, seconds, holdable=False):
            # What had happened to the hosts when the wait began.
            slept.append((seconds, [e for e in db_api.events_get(sid)
                                    if e['kind'] == st.EVENT_HOST]))

        self.useFixture(fixtures.MockPatchObject(
            workflow_base.BaseWorkflow, 'sleep', sleep))
        sid = self.create(maintenance_at=at)
        self.assertDone(self.run_session(sid))
        # Fenix acts at maintenance_at (here later than the reply window),
        # and says so in the event.
        event = self.notifier.events_of('p1', st.MAINTENANCE)[0]
        self.assertEqual(at, event['actions_at'])
        self.assertInHistory(sid, 'waiting until %s to start'
                             % timeutils.format_time(at))
        # It waited for maintenance_at before touching any host.
        (seconds, host_events), = slept
        self.assertGreater(seconds, 590)
        self.assertEqual([], host_events)
        self.assertEqual(1, vnfm.received.count(st.MAINTENANCE))

    def test_group_budget_holds_while_moving(self):
        # a and b of group g may not be out of service together
        # (max_impacted_members 1): b's move starts after a's is done,
        # although four moves may run at once; c, in no group, with a.
        self.cloud.add_host('c1')
        self.cloud.add_host('c2')
        for vm in ('a', 'b', 'c'):
            self.cloud.add_server(vm, 'c2', vcpus=1, ram=2048, disk=20)
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        db_api.instance_group_constraint_put('g', {
            'project_id': 'p1', 'max_impacted_members': 1})
        for iid in ('a', 'b'):
            db_api.instance_constraint_put(iid, {'project_id': 'p1',
                                                 'group_id': 'g'})
        sid = self.create()
        self.assertDone(self.run_session(sid))
        history = self.history(sid, st.EVENT_ACTION)

        def at(iid, what):
            """Where in the history the move of ``iid`` ``what``
            ('started' or 'done:')."""
            return [n for n, m in enumerate(history)
                    if 'of instance %s from c2 ' % iid in m and
                    what in m][0]

        first, second = sorted(('a', 'b'), key=lambda i: at(i, 'started'))
        self.assertLess(at(first, 'done:'), at(second, 'started'))
        self.assertLess(at('c', 'started'), at(first, 'done:'))

    def test_move_waits_for_slot_another_session_holds(self):
        # Another session (another engine) holds the last slot of g's
        # budget in the database: a's move waits until it is released.
        self.two_hosts(vms=('a',))
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        db_api.instance_group_constraint_put('g', {
            'project_id': 'p1', 'max_impacted_members': 1})
        for iid in ('a', 'hb'):
            db_api.instance_constraint_put(iid, {'project_id': 'p1',
                                                 'group_id': 'g'})
        other = self.create()
        db_api.session_update(other, {'state': st.PLANNED_MAINTENANCE})
        self.assertTrue(db_api.group_impact_take('g', 1, other, 'hb',
                                                 600)[0])
        real = db_api.group_impact_take
        refused, released = [], []

        def take(group_id, budget, session_id, instance_id, *args,
                 **kwargs):
            ok, after = real(group_id, budget, session_id, instance_id,
                             *args, **kwargs)
            if not ok and instance_id == 'a':
                refused.append(len(self.cloud.moves))
                if len(refused) == 2:
                    released.append(db_api.group_impact_release(other,
                                                                'hb'))
            return ok, after

        sid = self.create()
        with mock.patch.object(db_api, 'group_impact_take',
                               side_effect=take):
            self.assertDone(self.run_session(sid))
        # Refused twice with nothing moved, then moved once released.
        self.assertEqual([0, 0], refused)
        self.assertEqual([1], released)
        self.assertEqual(['a'], [m[0] for m in self.cloud.moves])
        self.assertInHistory(sid, 'instance a waits: its group g')
        self.assertEqual([], db_api.group_impacts_get('g'))

    def test_own_action_counts_for_other_sessions(self):
        # While its manager moves b (OWN_ACTION), b holds a slot of its
        # group's budget for every session; freed once b left.
        self.two_hosts(vms=('b',))
        db_api.instance_group_constraint_put('g', {
            'project_id': 'p1', 'max_impacted_members': 1})
        db_api.instance_constraint_put('b', {'project_id': 'p1',
                                             'group_id': 'g'})
        seen = []

        def act(server_id):
            self.cloud.on_server_read = None
            seen.extend((r['instance_id'], r['ends_at'])
                        for r in db_api.group_impacts_get('g'))
            with self.cloud.lock:
                self.cloud.servers_['b']['host'] = 'c1'

        self.cloud.on_server_read = act
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1',
                       actions={st.PLANNED_MAINTENANCE: st.OWN_ACTION})
        sid = self.create()
        self.assertDone(self.run_session(sid))
        self.assertEqual([('b', None)], seen)
        self.assertEqual([], db_api.group_impacts_get('g'))

    def test_lead_time_is_announced_and_kept(self):
        self.two_hosts(vms=('a', 'b'))
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        db_api.instance_constraint_put('a', {'project_id': 'p1',
                                             'lead_time': 300})
        waits = []

        def sleep(wf, seconds, holdable=False):
            waits.append((seconds, list(self.cloud.moves)))

        self.useFixture(fixtures.MockPatchObject(
            workflow_base.BaseWorkflow, 'sleep', sleep))
        # (Events carry times to the second.)
        started = timeutils.utcnow().replace(microsecond=0)
        sid = self.create()
        self.assertDone(self.run_session(sid))
        event = self.notifier.events_of('p1', st.PLANNED_MAINTENANCE)[0]
        # Fenix announces when it will act on the host's instances: after
        # the notice a's constraint asks for (the reply window is 120 s),
        # counted from a time no earlier than the session's start (the
        # history's entry is written a moment after the event's times are
        # set: on a loaded machine more than a second).
        self.assertGreaterEqual(
            (event['actions_at'] - started).total_seconds(), 300)
        self.assertGreater(event['actions_at'], event['reply_at'])
        # ... and waits for it although the manager answered at once.
        (seconds, moved), = waits
        self.assertGreater(seconds, 290)
        self.assertEqual([], moved)
        self.assertInHistory(sid, "the notice the instances' lead_time "
                                  'asks for')

    def test_actions_at_without_lead_time_is_now(self):
        self.two_hosts(vms=('a',))
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        sid = self.create()
        self.assertDone(self.run_session(sid))
        event = self.notifier.events_of('p1', st.PLANNED_MAINTENANCE)[0]
        # Fenix acts as soon as the project answered: no later than the
        # deadline, and never before what it announced.
        self.assertLess(event['actions_at'], event['reply_at'])
        moved = [e for e in db_api.events_get(sid)
                 if e['kind'] == st.EVENT_ACTION and
                 e['state'] == st.ACTION_IN_PROGRESS][0]['created_at']
        self.assertGreaterEqual(moved, event['actions_at'])

    def test_own_action_without_manager_falls_back(self):
        self.two_hosts(vms=('a',), project='p2')
        db_api.instance_constraint_put('a', {
            'project_id': 'p2', 'migration_type': st.OWN_ACTION})
        sid = self.create()
        self.assertDone(self.run_session(sid))
        self.assertEqual([('a', st.MIGRATE, 'c2', 'c1')], self.cloud.moves)

    def test_stopped_instance_is_cold_migrated(self):
        self.cloud.add_host('c1')
        self.cloud.add_host('c2')
        self.cloud.add_server('a', 'c2', vm_state='stopped')
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1', actions={
            st.PLANNED_MAINTENANCE: st.LIVE_MIGRATE})
        sid = self.create()
        self.assertDone(self.run_session(sid))
        self.assertEqual([('a', st.MIGRATE, 'c2', 'c1')], self.cloud.moves)
        self.assertInHistory(sid, 'cold-migrated instead of live-migrated')

    def test_own_action(self):
        self.two_hosts(vms=('a', 'b'))

        def act(server_id):
            # Once Fenix waits, the manager re-creates 'a' on the
            # maintained host and moves 'b' there by its own means.
            self.cloud.on_server_read = None
            self.cloud.delete_server('a')
            self.cloud.add_server('a2', 'c1')
            with self.cloud.lock:
                self.cloud.servers_['b']['host'] = 'c1'

        self.cloud.on_server_read = act
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1',
                       actions={st.PLANNED_MAINTENANCE: st.OWN_ACTION})
        sid = self.create()
        self.assertDone(self.run_session(sid))
        self.assertEqual([], [c for c in self.cloud.calls if c[0] == 'move'])
        self.assertEqual('c1', db_api.instance_get(sid, 'b')['host'])
        self.assertEqual(st.ACTION_DONE,
                         db_api.instance_get(sid, 'b')['action_state'])
        self.assertInHistory(sid, 'instance a left c2 (project p1 chose '
                                  'OWN_ACTION): deleted')

    def test_own_action_timeout(self):
        self.config(group='workflow', own_action_timeout=1)
        self.two_hosts(vms=('a',))
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1',
                       actions={st.PLANNED_MAINTENANCE: st.OWN_ACTION})
        sid = self.create()
        session = self.run_session(sid)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertIn('could not empty host c2: instance a still on c2 '
                      'after 1 s (project p1 chose OWN_ACTION)',
                      session['error'])
        self.assertEqual(st.ACTION_FAILED,
                         db_api.instance_get(sid, 'a')['action_state'])
        self.assertAllEnabled()


class TestNack(WorkflowTest):

    def test_fail_at_maintenance_touches_nothing(self):
        self.two_hosts()
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1',
                       replies={st.MAINTENANCE: 'NACK'})
        sid = self.create()
        session = self.run_session(sid)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertEqual(st.MAINTENANCE, session['failed_state'])
        self.assertIn('project(s) p1 refused MAINTENANCE '
                      '(NACK_MAINTENANCE); nack_policy is fail',
                      session['error'])
        self.assertFalse([c for c in self.cloud.calls
                          if c[0] in ('disable_compute', 'move')])

    def test_fail_at_planned_enables_hosts(self):
        self.two_hosts()
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1',
                       replies={st.PLANNED_MAINTENANCE: 'NACK'})
        sid = self.create()
        session = self.run_session(sid)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertIn('refused PLANNED_MAINTENANCE', session['error'])
        self.assertIn(('disable_compute', 'c2', 'fenix maintenance %s'
                       % sid), self.cloud.calls)
        self.assertAllEnabled()
        self.assertFalse(any(h['disabled_by_fenix']
                             for h in self.hosts(sid).values()))
        self.assertInHistory(sid, 'enabled on c2 again (session failed)')

    def test_skip_host_defers_then_skips(self):
        self.two_hosts()
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1',
                       replies={st.PLANNED_MAINTENANCE: 'NACK'})
        sid = self.create(options={'nack_policy': 'skip_host'})
        session = self.run_session(sid)
        self.assertDone(session)
        hosts = self.hosts(sid)
        self.assertTrue(hosts['c1']['maintained'])
        self.assertFalse(hosts['c2']['maintained'])
        self.assertEqual(st.HOST_SKIPPED, hosts['c2']['state'])
        self.assertEqual([], self.cloud.moves)
        self.assertEqual(2, len(self.notifier.events_of(
            'p1', st.PLANNED_MAINTENANCE)))
        self.assertInHistory(sid, 'host c2 deferred')
        self.assertInHistory(sid, 'host c2 skipped')
        self.assertAllEnabled()
        self.assertEqual(100, self.notifier.session_events[-1][1])

    def test_skip_host_at_maintenance_then_accepted(self):
        self.two_hosts()
        self.config(group='workflow', nack_policy='skip_host')
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1',
                       replies={st.MAINTENANCE: 'NACK'})
        sid = self.create()
        self.assertDone(self.run_session(sid))
        self.assertInHistory(sid, 'host c2 deferred (nack_policy '
                                  'skip_host): project p1 refused '
                                  'MAINTENANCE')
        self.assertTrue(all(h['maintained']
                            for h in self.hosts(sid).values()))

    def test_nack_prepare_skip_host_tries_another(self):
        for name in ('c1', 'c2', 'c3'):
            self.cloud.add_host(name)
        self.cloud.add_server('a', 'c1', project='p1')
        self.cloud.add_server('b', 'c2', project='p2', vcpus=1, ram=1024,
                              disk=10)
        self.cloud.add_server('c', 'c3', project='p3')
        fakes.FakeVNFM(self.cloud, self.notifier, 'p2', replies={
            st.PREPARE_MAINTENANCE: 'NACK'})
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        fakes.FakeVNFM(self.cloud, self.notifier, 'p3')
        sid = self.create(options={'nack_policy': 'skip_host'})
        session = self.run_session(sid)
        self.assertDone(session)
        self.assertInHistory(sid, 'host c2 deferred')
        states = self.states(sid)
        self.assertEqual([st.PREPARE_MAINTENANCE, st.PREPARE_MAINTENANCE],
                         states[1:3])


class TestFailures(WorkflowTest):

    def test_migration_failure(self):
        self.two_hosts()
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        self.cloud.fail_moves['b'] = 'Migration pre-check error: boom'
        sid = self.create()
        session = self.run_session(sid)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertEqual(st.PLANNED_MAINTENANCE, session['failed_state'])
        self.assertIn('could not empty host c2: MIGRATE of instance b (b) '
                      'failed after', session['error'])
        self.assertIn('boom', session['error'])
        row = db_api.instance_get(sid, 'b')
        self.assertEqual(st.ACTION_FAILED, row['action_state'])
        self.assertIn('boom', row['action_message'])
        self.assertEqual(st.HOST_FAILED, self.hosts(sid)['c2']['state'])
        self.assertFalse(self.hosts(sid)['c2']['maintained'])
        self.assertAllEnabled()
        # The planned target failed and no other host can take it: never
        # Nova's scheduler (that room may be reserved for another).
        tries = [c for c in self.cloud.calls
                 if c[0] == 'move' and c[1] == 'b']
        self.assertEqual([('move', 'b', st.MIGRATE, 'c1')], tries)
        self.assertIn('no other host can take it now', session['error'])

    def test_target_disabled_meanwhile_is_placed_again_at_once(self):
        for name in ('c1', 'c2', 'c3'):
            self.cloud.add_host(name)
        self.cloud.add_server('a', 'c1')
        self.cloud.add_server('b', 'c1')
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        dead = self.cloud.disable_first_target()
        sid = self.create()
        self.assertDone(self.run_session(sid))
        asked = [c[3] for c in self.cloud.calls if c[0] == 'move']
        # One request to the dead target (the other move planned there
        # is placed again before Nova is asked), none where Nova chooses.
        self.assertEqual(1, asked.count(dead[0]), asked)
        self.assertNotIn(None, asked)
        self.assertEqual({'a', 'b'}, {m[0] for m in self.cloud.moves})
        for _iid, _kind, source, target in self.cloud.moves:
            self.assertEqual('c1', source)
            self.assertNotEqual(dead[0], target)
        self.assertInHistory(sid, 'refused by Nova at once, not asked '
                                  'again there')
        self.assertAllEnabled(dead[0])

    def test_no_target_left_after_a_refusal_fails_clearly(self):
        self.two_hosts(vms=('a',))
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        dead = self.cloud.disable_first_target()
        sid = self.create()
        session = self.run_session(sid)
        self.assertEqual(['c1'], dead)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertIn('no other host can take it now', session['error'])
        asked = [c[3] for c in self.cloud.calls if c[0] == 'move']
        self.assertEqual(['c1'], asked)
        self.assertEqual([], self.cloud.moves)

    def test_continue_after_failure(self):
        self.two_hosts()
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        self.cloud.fail_moves['b'] = 'boom'
        sid = self.create()
        self.run_session(sid)
        # The admin fixes Nova and continues from where it failed.
        del self.cloud.fail_moves['b']
        db_api.session_update(sid, {'state': st.PLANNED_MAINTENANCE,
                                    'error': None, 'failed_state': None})
        self.assertDone(self.run_session(sid))
        self.assertEqual(['a', 'b'], sorted(m[0] for m in self.cloud.moves))
        self.assertAllEnabled()

    def test_host_plugin_failure(self):
        self.two_hosts(vms=())
        sid = self.create(plugins=[('host', {'fail_on': ['c2']})])
        session = self.run_session(sid)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertIn('host plug-in dummy failed on c2', session['error'])
        self.assertEqual(st.HOST_FAILED, self.hosts(sid)['c2']['state'])
        self.assertAllEnabled()

    def test_unknown_requested_host(self):
        self.two_hosts()
        sid = self.create(hosts=['c1', 'ghost'])
        session = self.run_session(sid)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertIn('ghost', session['error'])

    def test_scale_in_without_progress(self):
        for name in ('c1', 'c2'):
            self.cloud.add_host(name)
            self.cloud.add_server(name + 'a', name)
            self.cloud.add_server(name + 'b', name)
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        sid = self.create()
        session = self.run_session(sid)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertEqual(st.SCALE_IN, session['failed_state'])
        self.assertIn('to empty a host 4 vCPU / 8192 MB RAM / 80 GB disk '
                      'more must be free', session['error'])
        self.assertIn('projects freed 0 vCPU / 0 MB RAM / 0 GB disk (p1: '
                      'ACK_SCALE_IN)',
                      session['error'])
        self.assertFalse([c for c in self.cloud.calls
                          if c[0] == 'disable_compute'])

    def test_scale_in_forbidden_by_constraints(self):
        for name in ('c1', 'c2'):
            self.cloud.add_host(name)
            self.cloud.add_server(name + 'a', name)
            self.cloud.add_server(name + 'b', name)
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        db_api.instance_group_constraint_put('g', {
            'project_id': 'p1', 'resource_mitigation': False})
        sid = self.create()
        session = self.run_session(sid)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertIn('no project with a manager allows scale-in',
                      session['error'])
        self.assertInHistory(sid, 'project p1 not asked to scale in')

    def test_scale_in_over_rounds(self):
        for name in ('c1', 'c2'):
            self.cloud.add_host(name)
            self.cloud.add_server(name + 'a', name)
            self.cloud.add_server(name + 'b', name)
        victims = ['c1a', 'c2a']

        def scale_in(payload, vnfm):
            self.cloud.delete_server(victims.pop(0))

        fakes.FakeVNFM(self.cloud, self.notifier, 'p1',
                       hooks={st.SCALE_IN: scale_in})
        sid = self.create()
        self.assertDone(self.run_session(sid))
        self.assertEqual([st.MAINTENANCE, st.SCALE_IN, st.SCALE_IN],
                         self.states(sid)[:3])
        self.assertInHistory(sid, 'scale-in freed 2 vCPU / 4096 MB RAM / '
                                  '40 GB disk; not enough yet')


class TestHosts(WorkflowTest):

    def test_empty_cloud(self):
        sid = self.create(plugins=[('pre', None), ('post', None)])
        session = self.run_session(sid)
        self.assertDone(session)
        self.assertEqual([st.MAINTENANCE, st.START_MAINTENANCE,
                          st.MAINTENANCE_COMPLETE, st.MAINTENANCE_DONE],
                         self.states(sid))
        self.assertEqual(2, len(db_api.action_runs_get(sid)))

    def test_hosts_without_instances(self):
        for name in ('c1', 'c2', 'c3'):
            self.cloud.add_host(name)
        sid = self.create()
        session = self.run_session(sid)
        self.assertDone(session)
        self.assertEqual([], self.notifier.project_events)
        self.assertTrue(all(h['maintained']
                            for h in self.hosts(sid).values()))
        self.assertEqual(3, len([c for c in self.cloud.calls
                                 if c[0] == 'enable_compute']))
        self.assertAllEnabled()

    def test_operator_disabled_host_is_skipped(self):
        self.two_hosts(vms=('a',))
        self.cloud.add_host('c3', status='disabled', reason='broken disk')
        self.cloud.add_server('x', 'c3', project='p9')
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        sid = self.create()
        session = self.run_session(sid)
        self.assertDone(session)
        hosts = self.hosts(sid)
        self.assertEqual(st.HOST_SKIPPED, hosts['c3']['state'])
        self.assertTrue(hosts['c3']['disabled_by_operator'])
        self.assertFalse(hosts['c3']['maintained'])
        self.assertEqual({'status': 'disabled', 'reason': 'broken disk'},
                         {k: self.cloud.hosts['c3'][k]
                          for k in ('status', 'reason')})
        self.assertNotIn(('enable_compute', 'c3'), self.cloud.calls)
        self.assertFalse([m for m in self.cloud.moves if m[3] == 'c3'])
        self.assertInHistory(sid, 'host c3 skipped: nova-compute disabled '
                                  'by an operator (broken disk)')
        self.assertEqual(100, self.notifier.session_events[-1][1])

    def test_operator_disabled_host_requested(self):
        self.two_hosts(vms=('a',))
        self.cloud.add_host('c3', status='disabled', reason='broken disk')
        self.cloud.add_server('x', 'c3')
        sid = self.create(hosts=['c1', 'c2', 'c3'])
        session = self.run_session(sid)
        self.assertDone(session)
        hosts = self.hosts(sid)
        self.assertTrue(hosts['c3']['maintained'])
        self.assertEqual('disabled', self.cloud.hosts['c3']['status'])
        self.assertEqual('broken disk', self.cloud.hosts['c3']['reason'])
        self.assertNotIn(('enable_compute', 'c3'), self.cloud.calls)
        self.assertFalse([m for m in self.cloud.moves if m[3] == 'c3'])
        self.assertNotEqual('c3', self.cloud.server('x')['host'])

    def test_requested_subset_and_outside_target(self):
        # Only c2 is maintained; its instance may go to c1 outside.
        self.two_hosts(vms=('a',))
        sid = self.create(hosts=['c2'])
        self.assertDone(self.run_session(sid))
        self.assertEqual(['c2'], list(self.hosts(sid)))
        self.assertEqual([('a', st.MIGRATE, 'c2', 'c1')], self.cloud.moves)
        self.assertEqual([st.MAINTENANCE, st.PREPARE_MAINTENANCE,
                          st.START_MAINTENANCE], self.states(sid)[:3])

    def test_controllers_after_computes(self):
        self.two_hosts(vms=())
        self.cloud.controllers = ['ctl1']
        sid = self.create(hosts=['c1', 'c2', 'ctl1'],
                          plugins=[('compute', None),
                                   ('controller', None)])
        self.assertDone(self.run_session(sid))
        hosts = self.hosts(sid)
        self.assertEqual(st.CONTROLLER, hosts['ctl1']['type'])
        self.assertTrue(hosts['ctl1']['maintained'])
        self.assertEqual('ctl1', self.notifier.host_events[-1][0])
        runs = {(r['type'], r['hostname']): r['state']
                for r in db_api.action_runs_get(sid)}
        self.assertEqual({('compute', 'c1'): st.RUN_DONE,
                          ('compute', 'c2'): st.RUN_DONE,
                          ('controller', 'ctl1'): st.RUN_DONE}, runs)
        self.assertNotIn(('disable_compute', 'ctl1'),
                         [c[:2] for c in self.cloud.calls])

    def test_dry_run(self):
        for name in ('c1', 'c2', 'c3'):
            self.cloud.add_host(name)
        self.cloud.add_server('a', 'c1')
        self.cloud.add_server('b', 'c2')
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        sid = self.create(options={'dry_run': True})
        session = self.run_session(sid)
        self.assertDone(session)
        self.assertEqual([], self.notifier.project_events)
        self.assertEqual([], self.notifier.host_events)
        self.assertFalse([c for c in self.cloud.calls
                          if c[0] in ('disable_compute', 'move',
                                      'enable_compute')])
        plan = session['plan']['dry_run']
        self.assertEqual(['c3', 'c1', 'c2'],
                         [s['host'] for s in plan['steps']])
        self.assertIsNone(plan['blocked'])
        self.assertInHistory(sid, 'dry run: order c3 (empty)')
        # The nfv plan's shape: one host a wave, moves with their kind and
        # times from the planner's default durations.
        self.assertTrue(plan['feasible'])
        self.assertEqual([['c3'], ['c1'], ['c2']],
                         [w['hosts'] for w in plan['waves']])
        moves = [m for w in plan['waves'] for m in w['moves']]
        self.assertEqual(plan['moves'], len(moves))
        self.assertEqual([('a', 'c1', 'c3', st.MIGRATE)],
                         [(m['instance_id'], m['source'], m['target'],
                           m['kind']) for m in moves
                          if m['instance_id'] == 'a'])
        # c3 is empty: host time only; c1: a cold move (180 s), then 900 s.
        self.assertEqual([0, 900, 1980], [w['start']
                                          for w in plan['waves']])
        self.assertEqual(plan['waves'][-1]['end'],
                         plan['estimated_duration'])


class TestDownloads(WorkflowTest):

    def setUp(self):
        super().setUp()
        self.config(group='download', allowed_schemes=['https', 'file'],
                    file_directories=[self.tmpdir])

    def test_failed_download_touches_nothing(self):
        self.two_hosts()
        fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        missing = pathlib.Path(self.tmpdir, 'nonexistent', 'pkg.rpm')
        sid = self.create(download=[missing.as_uri()])
        session = self.run_session(sid)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertIn('Download of %s failed' % missing.as_uri(),
                      session['error'])
        self.assertEqual([], self.notifier.project_events)
        self.assertFalse([c for c in self.cloud.calls
                          if c[0] in ('disable_compute', 'move')])

    def test_downloads_recorded(self):
        self.two_hosts(vms=())
        src = os.path.join(self.tmpdir, 'plugin.py')
        with open(src, 'w') as f:
            f.write('print(1)\n')
        sid = self.create(download=[pathlib.Path(src).as_uri()])
        self.assertDone(self.run_session(sid))
        self.assertTrue(os.path.isfile(os.path.join(
            workflow_base.session_download_dir(sid), 'plugin.py')))
        self.assertInHistory(sid, 'downloaded file://')
        self.assertInHistory(sid, 'plugin.py holds Python code: not loaded '
                                  '([download] allow_plugin_code is off)')


class TestRestart(WorkflowTest):
    """An engine that stops in the middle of PLANNED_MAINTENANCE."""

    def interrupt(self, in_flight):
        self.two_hosts()
        vnfm = fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        sid = self.create(options={'max_concurrent_migrations': 1})
        release = threading.Event()
        runner = session_runner.SessionRunner(sid, self.notifier)

        def hook(server_id, kind, host):
            if server_id != 'b':
                return None
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and db_api.instance_get(
                    sid, 'a')['action_state'] != st.ACTION_DONE:
                time.sleep(0.01)
            if in_flight:
                # Nova goes on migrating while no engine watches.
                with self.cloud.lock:
                    srv = self.cloud.servers_['b']
                    srv['task_state'] = 'migrating'
                    srv['pending_target'] = 'c1'
            runner.stop(session_runner.STOP_SHUTDOWN)
            release.wait(10)
            return {'ok': False, 'host': None, 'attempts': 1,
                    'message': 'engine went away'}

        self.cloud.move_hook = hook
        runner.start()
        runner._thread.join(20)
        self.assertFalse(runner.is_alive())
        self.cloud.move_hook = None
        release.set()
        session = db_api.session_get(sid)
        self.assertEqual(st.PLANNED_MAINTENANCE, session['state'])
        self.assertEqual(st.ACTION_DONE,
                         db_api.instance_get(sid, 'a')['action_state'])
        self.assertEqual(st.ACTION_IN_PROGRESS,
                         db_api.instance_get(sid, 'b')['action_state'])
        return sid, vnfm

    def test_restart_does_not_repeat_done_move(self):
        sid, vnfm = self.interrupt(in_flight=False)
        session = self.run_session(sid)
        self.assertDone(session)
        moves = [c for c in self.cloud.calls if c[0] == 'move']
        self.assertEqual(1, len([m for m in moves if m[1] == 'a']))
        self.assertEqual(2, len([m for m in moves if m[1] == 'b']))
        self.assertEqual(1, len(self.notifier.events_of(
            'p1', st.PLANNED_MAINTENANCE)))
        self.assertEqual(['a', 'b'], sorted(vnfm.done))
        self.assertAllEnabled()

    def test_restart_watches_move_in_flight(self):
        sid, vnfm = self.interrupt(in_flight=True)
        session = self.run_session(sid)
        self.assertDone(session)
        moves = [c for c in self.cloud.calls if c[0] == 'move']
        self.assertEqual(1, len([m for m in moves if m[1] == 'b']))
        self.assertIn(('wait_for_move', 'b', 'c2', st.MIGRATE),
                      self.cloud.calls)
        self.assertEqual('c1', self.cloud.server('b')['host'])
        self.assertInHistory(sid, 'MIGRATE of instance b from c2 to c1 '
                                  'watched again')

    def test_restart_continues_from_the_steps(self):
        sid, vnfm = self.interrupt(in_flight=True)
        steps = {(s['kind'], s['instance_id'] or s['project_id']): s
                 for s in db_api.steps_get(sid, host='c2')
                 if s['state'] != st.STEP_CANCELLED}
        self.assertEqual(st.STEP_DONE,
                         steps[(st.STEP_DISABLE_COMPUTE, None)]['state'])
        told = steps[(st.STEP_NOTIFY_PROJECT, 'p1')]
        self.assertEqual(st.STEP_DONE, told['state'])
        event = self.notifier.events_of('p1', st.PLANNED_MAINTENANCE)[0]
        self.assertEqual(event['event_id'], told['event_id'])
        self.assertEqual(event['reply_at'], told['reply_at'])
        self.assertEqual((st.STEP_DONE, 1),
                         (steps[(st.STEP_MOVE, 'a')]['state'],
                          steps[(st.STEP_MOVE, 'a')]['attempt']))
        self.assertEqual((st.STEP_RUNNING, 1),
                         (steps[(st.STEP_MOVE, 'b')]['state'],
                          steps[(st.STEP_MOVE, 'b')]['attempt']))
        self.assertEqual(st.STEP_PENDING,
                         steps[(st.STEP_MAINTAIN_HOST, None)]['state'])
        # The host being emptied is no key of the plan any more.
        plan = db_api.session_get(sid)['plan'] or {}
        self.assertNotIn('current', plan)
        self.assertNotIn('targets', plan)
        # The instance row no longer tells that b's move is under way:
        # the steps do.
        db_api.instance_update(sid, 'b', {'action_state': st.ACTION_PENDING,
                                          'details': {}})
        self.assertDone(self.run_session(sid))
        moves = [c for c in self.cloud.calls if c[0] == 'move']
        self.assertEqual(1, len([m for m in moves if m[1] == 'b']))
        self.assertIn(('wait_for_move', 'b', 'c2', st.MIGRATE),
                      self.cloud.calls)
        self.assertEqual(1, len(self.notifier.events_of(
            'p1', st.PLANNED_MAINTENANCE)))
        after = {(s['kind'], s['instance_id']): s
                 for s in db_api.steps_get(sid, host='c2')
                 if s['state'] != st.STEP_CANCELLED}
        self.assertEqual((st.STEP_DONE, 1),
                         (after[(st.STEP_MOVE, 'b')]['state'],
                          after[(st.STEP_MOVE, 'b')]['attempt']))
        self.assertEqual([], [k for k, s in after.items()
                              if s['state'] not in st.STEP_OVER])
        # The events about the whole session are steps too.
        announced = [s for s in db_api.steps_get(sid,
                                                 kind=st.STEP_ANNOUNCE)]
        self.assertEqual([(None, st.STEP_DONE)] * len(announced),
                         [(s['host'], s['state']) for s in announced])
        self.assertIn(st.MAINTENANCE_COMPLETE,
                      [s['result']['event'] for s in announced])

    def test_crash_after_disable_is_cleaned_up(self):
        # The DB says "disabled by Fenix" before Nova is asked: a session
        # deleted right then enables the host again.
        self.two_hosts()
        sid = self.create()
        db_api.hosts_create(sid, [{'hostname': 'c2', 'type': st.COMPUTE,
                                   'state': st.HOST_PENDING,
                                   'disabled_by_fenix': True}])
        self.cloud.disable_compute('c2', 'fenix maintenance %s' % sid)
        runner = session_runner.SessionRunner(sid, self.notifier)
        workflow = default.DefaultWorkflow(sid, runner, self.notifier)
        workflow.cleanup('session deleted')
        self.assertAllEnabled()
        self.assertFalse(self.hosts(sid)['c2']['disabled_by_fenix'])


class TestOneReplyOneEvent(WorkflowTest):
    """A reply answers the event it was given for, never the next one of
    the same name (SPEC 3.7)."""

    def three_hosts(self):
        """c1 empty, a on c2, b on c3: two PLANNED_MAINTENANCE events."""
        for name in ('c1', 'c2', 'c3'):
            self.cloud.add_host(name)
        self.cloud.add_server('a', 'c2')
        self.cloud.add_server('b', 'c3')

    def repeating_vnfm(self, name_events):
        """Answers the first PLANNED_MAINTENANCE; when the second comes it
        sends its previous answer again (a retry, late) and stays
        silent."""
        repeats = []

        def repeat(payload, vnfm):
            old_payload, body, _result = vnfm.answered[-1]
            old = old_payload['event_id'] if name_events else None
            try:
                vnfm.engine.project_reply(vnfm.ctx, payload['session_id'],
                                          vnfm.project_id, dict(body),
                                          event_id=old)
                repeats.append('applied')
            except exception.ReplyConflict as e:
                repeats.append(str(e))

        vnfm = fakes.FakeVNFM(
            self.cloud, self.notifier, 'p1', name_events=name_events,
            replies={st.PLANNED_MAINTENANCE: ['ACK', None]},
            hooks={st.PLANNED_MAINTENANCE: lambda payload, vnfm: (
                repeat(payload, vnfm) if any(
                    p['state'] == st.PLANNED_MAINTENANCE
                    for p, _b, _r in vnfm.answered) else None)})
        return vnfm, repeats

    def check_repeat_refused(self, name_events, words):
        self.three_hosts()
        vnfm, repeats = self.repeating_vnfm(name_events)
        sid = self.create(options={'reply_window': 1})
        self.assertDone(self.run_session(sid))
        self.assertEqual(1, len(repeats))
        for word in words:
            self.assertIn(word, repeats[0])
        planned = self.notifier.events_of('p1', st.PLANNED_MAINTENANCE)
        self.assertEqual(2, len(planned))
        self.assertIn(planned[1]['event_id'], repeats[0])
        # The second host waited for its own deadline: its project was
        # silent, and its instance got the default action.
        self.assertInHistory(sid, 'project p1 did not answer '
                                  'PLANNED_MAINTENANCE: default MIGRATE')
        replies = [e for e in db_api.events_get(sid)
                   if e['kind'] == st.EVENT_REPLY and
                   e['state'] == st.ack(st.PLANNED_MAINTENANCE)]
        self.assertEqual([planned[0]['event_id']],
                         [e['data']['event_id'] for e in replies])
        self.assertEqual({'a', 'b'}, {m[0] for m in self.cloud.moves})

    def test_repeat_naming_its_event(self):
        self.check_repeat_refused(True, ['not the current event'])

    def test_repeat_to_the_upstream_url(self):
        # Judged by its content: it names c2's instance, not c3's.
        self.check_repeat_refused(False, ['instance(s) a', 'is not about'])

    def test_restart_keeps_the_exchange_and_its_ids(self):
        self.two_hosts(vms=('a',))
        vnfm = fakes.FakeVNFM(self.cloud, self.notifier, 'p1',
                              replies={st.MAINTENANCE: None})
        sid = self.create(options={'reply_window': 60})
        runner = session_runner.SessionRunner(sid, self.notifier)
        runner.start()

        def exchange():
            # The exchange in flight: its notify steps, running.
            return {s['project_id']: s['event_id'] for s in db_api.steps_get(
                sid, kind=st.STEP_NOTIFY_PROJECT, state=st.STEP_RUNNING)
                if not s['host'] and
                s['inputs'].get('event') == st.MAINTENANCE}

        deadline = time.monotonic() + 20
        while not exchange() and time.monotonic() < deadline:
            runner.join(0.01)
        ids = exchange()
        runner.stop(session_runner.STOP_SHUTDOWN, timeout=20)
        self.assertFalse(runner.is_alive())
        event = self.notifier.events_of('p1', st.MAINTENANCE)[0]
        self.assertEqual({'p1': event['event_id']}, ids)
        # Answered while no engine ran the session.
        vnfm.engine.project_reply(vnfm.ctx, sid, 'p1',
                                  {'state': st.ack(st.MAINTENANCE)},
                                  event_id=event['event_id'])
        self.assertDone(self.run_session(sid))
        # Not sent again, and the answer given meanwhile counted.
        self.assertEqual(1, len(self.notifier.events_of(
            'p1', st.MAINTENANCE)))
        self.assertNotIn('project p1 did not answer MAINTENANCE',
                         '\n'.join(m or '' for m in self.history(sid)))
        step, = [s for s in db_api.steps_get(
            sid, kind=st.STEP_NOTIFY_PROJECT) if not s['host'] and
            s['inputs'].get('event') == st.MAINTENANCE]
        self.assertEqual((st.STEP_DONE, 1, event['event_id']),
                         (step['state'], step['attempt'], step['event_id']))


class TestComputeDown(WorkflowTest):
    """Moves wait for a nova-compute that is down (restarting)."""

    def test_moves_wait_until_compute_is_up(self):
        self.two_hosts()
        self.cloud.hosts['c2']['state'] = 'down'
        sid = self.create()
        real = self.cloud.compute_services

        def services(*args, **kwargs):
            # Back up once the workflow has noted that it waits for it.
            if any('is down' in (m or '') for m in self.history(sid)):
                self.cloud.hosts['c2']['state'] = 'up'
            return real(*args, **kwargs)

        self.cloud.compute_services = services
        self.assertDone(self.run_session(sid))
        self.assertInHistory(sid, 'nova-compute on c2 is down: its moves '
                                  'wait until it is up')

    def test_compute_staying_down_fails_cleanly(self):
        self.config(group='workflow', migration_timeout=1)
        self.two_hosts()
        self.cloud.hosts['c2']['state'] = 'down'
        sid = self.create()
        session = self.run_session(sid)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertIn('nova-compute stayed down on c2', session['error'])
        self.assertEqual(['a', 'b'], sorted(
            s['id'] for s in self.cloud.servers(host='c2')))
        self.assertAllEnabled()
