# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The ``default`` workflow end to end, through the real clients.

Every test starts its own simulated cloud (in-process) and its own
``fenix-all-in-one`` (a child process, own port, own SQLite), optionally a
sample VNFM, runs one maintenance session and then asks the cloud's own
record what really happened: which services were disabled and enabled,
every migration, every notification, where every server was and when each
host was in maintenance. Besides the scenario's own expectations, every
session must leave the cloud clean (:meth:`WorkflowHelpers.
assert_clean`): no compute left disabled by Fenix (the cloud's record and
novaclient agree), no instance lost, none left half-moved, and no host
maintained while it held an instance.
"""
import collections
import json
import os
import signal

import fixtures
import testtools
from testtools import content

from fenix.tests.functional import base
from fenix.tests.functional import cloud_fixture as cf

from fenix_tools.vnfm import app as app_mod

DONE = 'MAINTENANCE_DONE'
FAILED = 'MAINTENANCE_FAILED'
COMPUTES3 = ['compute-0', 'compute-1', 'compute-2']
ALL_STATES = ('MAINTENANCE', 'SCALE_IN', 'PREPARE_MAINTENANCE',
              'START_MAINTENANCE', 'PLANNED_MAINTENANCE',
              'MAINTENANCE_COMPLETE')
SEED004_EMPTY = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'etc',
    'simcloud', 'seed004-empty.yaml')
# Seconds Fenix may take to undo what it did once the session ended.
CLEANUP_TIMEOUT = 15


def _small_app(**changes):
    """The seed-004 application without the need to scale in: the
    active/standby pair and two non-redundant servers (two of the six
    slots stay free)."""
    return app_mod.get_app('seed004').updated(nonha_count=2,
                                              scale_in_count=0, **changes)


def _pre_placed(computes=4):
    """A cloud whose tenant2 has no manager: a, b on compute-0, c on
    compute-1, d on compute-2 (compute-3 empty when there are four)."""
    return cf.topology(computes=computes, servers=[
        {'name': 'a', 'project': 'tenant2', 'host': 'compute-0'},
        {'name': 'b', 'project': 'tenant2', 'host': 'compute-0'},
        {'name': 'c', 'project': 'tenant2', 'host': 'compute-1'},
        {'name': 'd', 'project': 'tenant2', 'host': 'compute-2'},
    ])


class WorkflowHelpers(object):
    """The helpers of the end-to-end workflow tests, and no test.

    Mixed with ``testtools.TestCase`` by every test class that drives a
    simulated cloud and Fenix through a session; such a class inherits
    what it uses, not the tests of :class:`DefaultWorkflowTestCase`.
    """

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(400, gentle=True))
        self.clouds = 0

    # --- setup helpers -------------------------------------------------------

    def start_cloud(self, topology, **kwargs):
        cloud = self.useFixture(cf.FenixCloud(topology, **kwargs))
        name = 'cloud%d' % self.clouds
        self.clouds += 1

        def attach(exc_info):
            self.addDetail(name + '-fenix-log', content.text_content(
                cloud.log_tail(200)))
            events = cloud.sim.get_events()[-120:]
            self.addDetail(name + '-cloud-events', content.text_content(
                '\n'.join(json.dumps(e, default=str, sort_keys=True)
                          for e in events)))
        self.addOnException(attach)
        return cloud

    def start_vnfm(self, cloud, **kwargs):
        vnfm = cloud.add_vnfm(**kwargs)

        def attach(exc_info):
            status = vnfm.status()
            self.addDetail('vnfm-status', content.text_content(json.dumps(
                {k: status[k] for k in ('events', 'replies', 'actions',
                                        'errors', 'violations')},
                default=str, indent=1)))
        self.addOnException(attach)
        return vnfm

    def run_session(self, cloud, expected=DONE, **body):
        sid = cloud.create_session(**body)
        state = cloud.wait_final(sid)
        if state != expected:
            summary = cloud.summary(sid)
            self.fail('session ended in %s (error: %s), not %s'
                      % (state, summary.get('error'), expected))
        return sid

    # --- what the cloud recorded ---------------------------------------------

    @staticmethod
    def fenix_disabled(cloud, operator=()):
        """Computes disabled now, other than the operator's: from the
        cloud's record and from novaclient."""
        record = set(cloud.sim.history.disabled_hosts()) - set(operator)
        nova = set(cloud.nova_disabled()) - set(operator)
        return sorted(record | nova)

    def wait_hosts_enabled(self, cloud, operator=()):
        """Fenix re-enables what it disabled; the record and Nova's API
        must both show it (bounded wait: the engine undoes its changes
        right after it wrote the final state)."""
        try:
            base.wait_for(lambda: not self.fenix_disabled(cloud, operator),
                          CLEANUP_TIMEOUT, interval=0.1,
                          what='every compute Fenix disabled to be '
                               'enabled again')
        except AssertionError:
            self.fail('computes left disabled: %s (record %s, nova %s)'
                      % (self.fenix_disabled(cloud, operator),
                         cloud.sim.history.disabled_hosts(),
                         cloud.nova_disabled()))

    @staticmethod
    def unsettled(cloud):
        """{name: (status, task_state)} of servers not ACTIVE and idle."""
        return {s.name: (s.status, getattr(s, 'OS-EXT-STS:task_state',
                                           None))
                for s in cloud.servers().values()
                if s.status != 'ACTIVE' or
                getattr(s, 'OS-EXT-STS:task_state', None)}

    def assert_clean(self, cloud, allowed_deletes=(), operator=None):
        """The cloud as Fenix must leave it when a session ends.

        ``allowed_deletes``: servers their own manager deleted (scale-in,
        own action). ``operator``: {host: reason} disabled by an operator,
        which must still be so.
        """
        operator = operator or {}
        self.wait_hosts_enabled(cloud, operator)
        self.assertTrue(cloud.wait_idle(30), 'cloud still busy')
        nova_disabled = cloud.nova_disabled()
        for host, reason in operator.items():
            self.assertEqual(reason, nova_disabled.get(host),
                             'operator-disabled %s was touched' % host)
        # Nothing Fenix did not ask for disappeared.
        lost = set(cloud.deleted()) - set(allowed_deletes)
        names = cloud.server_names()
        self.assertEqual([], sorted(names[s] for s in lost),
                         'instances lost')
        # Nothing is left half-moved (VERIFY_RESIZE, MIGRATING...): a
        # move Fenix started is seen through (bounded wait: Fenix confirms
        # a resize at its next read of Nova).
        try:
            base.wait_for(lambda: not self.unsettled(cloud),
                          CLEANUP_TIMEOUT, interval=0.1,
                          what='servers to settle')
        except AssertionError:
            pass
        self.assertEqual({}, self.unsettled(cloud), 'servers not settled')
        # No server was on a host while that host was in maintenance.
        violations = cloud.sim.history.maintenance_violations(
            set(cloud.created()))
        self.assertEqual([], [(names.get(s), h) for s, h, _, _ in
                              violations],
                         'servers on a host in maintenance')
        self.assertEqual([], cloud.sim.errors(), 'simulator API errors')

    @staticmethod
    def maintained_counts(cloud, session_id):
        """{host: times it went IN_MAINTENANCE} from maintenance.host."""
        return collections.Counter(
            h for h, state in cloud.host_events(session_id)
            if state == 'IN_MAINTENANCE')

    def assert_each_maintained_once(self, cloud, session_id, hosts):
        events = cloud.host_events(session_id)
        for host in hosts:
            self.assertEqual(
                ['IN_MAINTENANCE', 'MAINTENANCE_COMPLETE'],
                [s for h, s in events if h == host],
                'maintenance.host of %s' % host)
        self.assertEqual(sorted(hosts),
                         sorted({h for h, _s in events}))
        detail = cloud.detail(session_id)
        for row in detail['hosts']:
            if row['hostname'] in hosts:
                self.assertTrue(row['maintained'], row)
                self.assertEqual('MAINTAINED', row['state'], row)

    def assert_progress_reached_100(self, cloud, session_id):
        sessions = [p for p in cloud.notifications('maintenance.session')
                    if p.get('session_id') == session_id]
        percents = [p['percent_done'] for p in sessions]
        self.assertEqual(sorted(percents), percents,
                         'percent_done went backwards: %s' % percents)
        self.assertEqual(('MAINTENANCE_DONE', 100),
                         (sessions[-1]['state'], sessions[-1]['percent_done']))
        summary = cloud.summary(session_id)
        self.assertEqual(100, summary['percent_done'])

    @staticmethod
    def history(detail, kind=None):
        return [e for e in detail['history']
                if kind is None or e['kind'] == kind]

    def assert_history_says(self, detail, *words, kind=None):
        """One history entry (of ``kind``) holds every word."""
        messages = [e['message'] or '' for e in self.history(detail, kind)]
        for message in messages:
            if all(w in message for w in words):
                return message
        self.fail('no %s history entry with %s in:\n%s'
                  % (kind or 'any', words, '\n'.join(messages)))

    @staticmethod
    def state_path(detail):
        """The session's transitions (resumes and continues left out)."""
        return [e['state'] for e in detail['history']
                if e['kind'] == 'state' and e['message'] and
                ('->' in e['message'] or
                 e['message'].startswith('session created'))]

    @staticmethod
    def good_moves(cloud):
        """{server name: number of completed migrations}."""
        return collections.Counter(m['name'] for m in cloud.migrations()
                                   if m['ok'])

    @staticmethod
    def disabled_when_told(cloud, state):
        """Computes disabled when the project event ``state`` reached the
        cloud (the first one), from the cloud's record."""
        for event in cloud.sim.get_events(kind='notification.receive'):
            if event.get('event_type') in cf.PROJECT_EVENT_TYPES and \
                    (event.get('payload') or {}).get('state') == state:
                return cloud.sim.history.disabled_hosts(at=event['t'])
        raise AssertionError('no %s project event' % state)

    def assert_no_move_repeated(self, cloud):
        """No server was moved off the same host twice (each host is
        emptied once per session)."""
        moves = collections.Counter((m['name'], m['source'])
                                    for m in cloud.migrations() if m['ok'])
        self.assertEqual([], [k for k, n in moves.items() if n > 1],
                         'moves repeated')

    @staticmethod
    def started_moves(cloud):
        """{server name: number of migrations started}."""
        return dict(collections.Counter(m['name']
                                        for m in cloud.migrations()))

    @staticmethod
    def vnfm_deletes(vnfm):
        out = set()
        for action in vnfm.actions.list():
            if action.get('action') == 'delete':
                out.update(action.get('servers') or ())
        return out

    def settle_vnfm(self, vnfm):
        """The VNFM handled every event; its checker looked again."""
        self.assertTrue(vnfm.wait_idle(30))
        vnfm.checker.wait_checks(2, timeout=5)

    # --- scenarios shared by the workflows ----------------------------------

    def kill_during_agent_run(self, workflow, **options):
        """SIGKILL the engine while a host is in maintenance and its
        ``host`` plug-in is with its agent (RUNNING, handed over).

        The restarted engine must not announce IN_MAINTENANCE again nor
        start the plug-in again: it waits for the agent's report of that
        attempt, which then completes the session. This test is the
        agents: each reports DONE for the attempt it was handed.
        """
        cloud = self.start_cloud(SEED004_EMPTY)
        sid = cloud.create_session(
            workflow=workflow, actions=[{'plugin': 'dummy', 'type': 'host',
                                         'metadata': {'async': True}}],
            **options)
        runs_url = '/v1/action_plugin_run/%s' % sid

        def handed_over():
            resp = cloud.client.get(runs_url)
            self.assertEqual(200, resp.status_code, resp.text)
            return [r for r in resp.json()['action_plugin_runs']
                    if r['state'] == 'RUNNING' and r['asynchronous']]

        # The kill point: the hand-over is recorded (with the attempt's
        # start, before the agent is called).
        [victim] = base.wait_for(handed_over, cf.SESSION_TIMEOUT,
                                 interval=0.02,
                                 what='a run handed to its agent')
        host = victim['hostname']
        self.assertEqual(1, victim['attempt'])
        self.assertEqual({host: 1},
                         dict(self.maintained_counts(cloud, sid)))
        cloud.kill_fenix()
        cloud.start_fenix()

        # The new engine resumed the host, handed the same attempt over
        # again (the dummy declares its hand-over when async) and waits
        # for that attempt's report.
        waiting = ('host plug-in dummy on %s: attempt 1 was handed to its '
                   'agent before the engine restarted; handed over again '
                   '(the same attempt) and waiting for its report' % host)
        base.wait_for(lambda: any(e['message'] == waiting for e in
                                  cloud.detail(sid)['history']),
                      cf.SESSION_TIMEOUT, interval=0.05,
                      what='the engine to wait for the report again')
        url = '%s/dummy/%s' % (runs_url, host)
        resp = cloud.client.put(url, {'state': 'DONE', 'attempt': 2})
        self.assertEqual(409, resp.status_code, resp.text)
        self.assertIn('the current attempt is 1 (RUNNING)',
                      resp.json()['error']['message'])
        resp = cloud.client.put(url, {'state': 'DONE', 'attempt': 1,
                                      'message': 'upgraded'})
        self.assertEqual(200, resp.status_code, resp.text)
        self.assertEqual(('DONE', 1), (resp.json()['state'],
                                       resp.json()['attempt']))

        reported = {host}

        def agents():
            state = cloud.state(sid)
            if state in cf.FINAL_STATES:
                return state
            for run in handed_over():
                if run['hostname'] in reported:
                    continue
                resp = cloud.client.put(
                    '%s/dummy/%s' % (runs_url, run['hostname']),
                    {'state': 'DONE', 'attempt': run['attempt']})
                self.assertEqual(200, resp.status_code, resp.text)
                reported.add(run['hostname'])
            return None

        state = base.wait_for(agents, cf.SESSION_TIMEOUT, interval=0.05,
                              what='the session to end')
        self.assertEqual(DONE, state, cloud.summary(sid).get('error'))
        self.assertEqual(set(COMPUTES3), reported)
        detail = cloud.detail(sid)
        self.assertEqual({h: ('DONE', 1) for h in COMPUTES3},
                         {r['hostname']: (r['state'], r['attempt'])
                          for r in detail['action_plugin_runs']})
        # Started once per host: never again on the victim.
        started = [e['host'] for e in self.history(detail, 'plugin')
                   if 'started on' in (e['message'] or '')]
        self.assertEqual(sorted(COMPUTES3), sorted(started))
        self.assert_history_says(detail, host, 'resumed in maintenance',
                                 kind='host')
        self.assert_each_maintained_once(cloud, sid, COMPUTES3)
        self.assert_clean(cloud)


class DefaultWorkflowTestCase(WorkflowHelpers, testtools.TestCase):

    # --- 1. the seed-004 scenario --------------------------------------------

    def test_seed004_with_sample_vnfm(self):
        """Full cloud: scale in, prepare, every host, scale back out."""
        cloud = self.start_cloud(cf.vnfm_topology())
        vnfm = self.start_vnfm(cloud)
        sid = self.run_session(cloud,
                               metadata={'openstack_version': 'Train'})
        self.settle_vnfm(vnfm)
        detail = cloud.detail(sid)

        self.assertEqual(
            ['MAINTENANCE', 'SCALE_IN', 'PREPARE_MAINTENANCE',
             'START_MAINTENANCE', 'PLANNED_MAINTENANCE', 'START_MAINTENANCE',
             'PLANNED_MAINTENANCE', 'START_MAINTENANCE',
             'MAINTENANCE_COMPLETE', 'MAINTENANCE_DONE'],
            self.state_path(detail))
        self.assertEqual([], vnfm.violations())
        self.assert_each_maintained_once(cloud, sid, COMPUTES3)
        self.assert_progress_reached_100(cloud, sid)

        # The manager heard every step, answered each, and got the
        # session metadata with the planned moves.
        events = [e['state'] for e in vnfm.events.list()
                  if not e.get('duplicate')]
        for state in ('MAINTENANCE', 'SCALE_IN', 'PREPARE_MAINTENANCE',
                      'PLANNED_MAINTENANCE', 'MAINTENANCE_COMPLETE',
                      'INSTANCE_ACTION_DONE'):
            self.assertIn(state, events)
        replies = vnfm.replies.list()
        self.assertEqual([], [r for r in replies if not r['ok']])
        self.assertEqual(['ACK_MAINTENANCE', 'ACK_SCALE_IN',
                          'ACK_PREPARE_MAINTENANCE',
                          'ACK_PLANNED_MAINTENANCE',
                          'ACK_PLANNED_MAINTENANCE',
                          'ACK_MAINTENANCE_COMPLETE'],
                         [r['state'] for r in replies])
        metadata = [a['metadata'] for a in vnfm.actions.list()
                    if a.get('action') == 'metadata']
        self.assertIn({'openstack_version': 'Train'}, metadata)

        # When told it may scale out, every compute is usable again.
        self.assertEqual([], self.disabled_when_told(
            cloud, 'MAINTENANCE_COMPLETE'))
        # Scaled in by two, back to six servers at the end, all in place.
        deleted = self.vnfm_deletes(vnfm)
        self.assertEqual(2, len(deleted))
        self.assertEqual(6, len(vnfm.servers()))
        self.assertEqual(6, len(cloud.servers()))
        # Every move was a confirmed cold migration, as the VNFM chose.
        moves = cloud.migrations()
        self.assertTrue(moves)
        self.assertEqual({('cold', True)},
                         {(m['type'], m['ok']) for m in moves})
        self.assertEqual({'MIGRATE'}, {i['action'] for i in
                                       detail['instances']
                                       if i['action']})
        self.assert_clean(cloud, allowed_deletes=deleted)
        # Nothing was sent twice in a run without crashes.
        self.assertEqual([], cloud.repeated_notifications())

    # --- 2. a silent manager -------------------------------------------------

    def test_silent_vnfm_gets_default_behaviour(self):
        cloud = self.start_cloud(cf.vnfm_topology(), reply_window=2)
        vnfm = self.start_vnfm(
            cloud, app=_small_app(migration_type='LIVE_MIGRATE'),
            behaviour=app_mod.Behaviour(silent=['*']))
        sid = self.run_session(cloud)
        detail = cloud.detail(sid)
        project = vnfm.project_id

        self.assertTrue(vnfm.events.list(), 'the manager heard nothing')
        self.assertEqual([], vnfm.replies.list())
        self.assertEqual([True], [p['has_manager'] for p in
                                  detail['projects']])
        # Moved as its constraints say (live), each decision recorded.
        moves = cloud.migrations()
        self.assertTrue(moves)
        self.assertEqual({('live', True)},
                         {(m['type'], m['ok']) for m in moves})
        self.assert_history_says(detail, project, 'did not answer',
                                 'PLANNED_MAINTENANCE', kind='decision')
        self.assert_history_says(
            detail, 'did not answer', 'default LIVE_MIGRATE',
            'its constraint migration_type', kind='decision')
        self.assertEqual({'LIVE_MIGRATE'}, {i['action'] for i in
                                            detail['instances']
                                            if i['action']})
        self.assert_each_maintained_once(cloud, sid, COMPUTES3)
        self.assert_clean(cloud)

    # --- 3. NACKs ------------------------------------------------------------

    def test_nack_with_policy_fail(self):
        cloud = self.start_cloud(cf.vnfm_topology())
        vnfm = self.start_vnfm(cloud, app=_small_app(),
                               behaviour=app_mod.Behaviour(
                                   nack=['PLANNED_MAINTENANCE']))
        sid = self.run_session(cloud, expected=FAILED, nack_policy='fail')
        summary = cloud.summary(sid)
        self.assertIn(vnfm.project_id, summary['error'])
        self.assertIn('NACK_PLANNED_MAINTENANCE', summary['error'])
        self.assertEqual('PLANNED_MAINTENANCE', summary['failed_state'])
        self.assertEqual('fail', summary['options']['nack_policy'])
        # The host emptied in PREPARE_MAINTENANCE was maintained; nothing
        # was maintained after the refusal.
        self.assertEqual(1, sum(self.maintained_counts(cloud, sid).values()))
        self.assert_clean(cloud)
        # Fenix disabled the others for the session and enabled them again.
        detail = cloud.detail(sid)
        self.assertEqual(
            [], [h['hostname'] for h in detail['hosts']
                 if h['disabled_by_fenix']])
        self.assert_history_says(detail, 'enabled', 'again',
                                 'session failed', kind='host')

    def test_nack_with_policy_skip_host(self):
        cloud = self.start_cloud(cf.vnfm_topology())
        vnfm = self.start_vnfm(cloud, app=_small_app(),
                               behaviour=app_mod.Behaviour(
                                   nack=['PLANNED_MAINTENANCE']))
        sid = self.run_session(cloud, nack_policy='skip_host')
        detail = cloud.detail(sid)
        by_state = collections.defaultdict(list)
        for host in detail['hosts']:
            by_state[host['state']].append(host['hostname'])
        # PREPARE_MAINTENANCE was accepted: that host is maintained; the
        # two whose PLANNED_MAINTENANCE was refused are deferred, then
        # skipped, with the reason.
        self.assertEqual(1, len(by_state['MAINTAINED']), by_state)
        self.assertEqual(2, len(by_state['SKIPPED']), by_state)
        for host in detail['hosts']:
            if host['state'] == 'SKIPPED':
                self.assertFalse(host['maintained'])
                self.assertIn(vnfm.project_id, host['details']['skipped'])
                self.assert_history_says(detail, host['hostname'],
                                         'deferred', kind='decision')
                self.assert_history_says(detail, host['hostname'],
                                         'skipped', kind='decision')
        counts = self.maintained_counts(cloud, sid)
        self.assertEqual({by_state['MAINTAINED'][0]: 1}, dict(counts))
        # Skipped hosts keep their instances.
        where = {getattr(s, 'OS-EXT-SRV-ATTR:host')
                 for s in cloud.servers().values()}
        self.assertTrue(set(by_state['SKIPPED']) <= where, where)
        self.assert_clean(cloud)

    def test_hosts_skipped_are_usable_for_scale_out(self):
        """Every host refused (skip_host): none is maintained, so at
        MAINTENANCE_COMPLETE, when projects may scale back out, Fenix must
        not hold any of them disabled."""
        cloud = self.start_cloud(cf.vnfm_topology())
        vnfm = self.start_vnfm(cloud, behaviour=app_mod.Behaviour(
            nack=['PREPARE_MAINTENANCE']))
        sid = self.run_session(cloud, nack_policy='skip_host')
        self.assertTrue(vnfm.wait_idle(30))
        detail = cloud.detail(sid)
        self.assertEqual({'SKIPPED'}, {h['state'] for h in detail['hosts']})
        self.assertEqual({}, dict(self.maintained_counts(cloud, sid)))
        disabled = self.disabled_when_told(cloud, 'MAINTENANCE_COMPLETE')
        complete = [r for r in vnfm.replies.list()
                    if r['event'] == 'MAINTENANCE_COMPLETE']
        errors = [e['message'] for e in vnfm.errors.list()]
        self.assertEqual(
            [], disabled, 'computes Fenix held disabled (though it '
            'maintains none) when it told the project to scale out; the '
            'manager answered %s (%s)'
            % ([r['state'] for r in complete], '; '.join(errors)))
        self.assertEqual(['ACK_MAINTENANCE_COMPLETE'],
                         [r['state'] for r in complete])
        self.assert_clean(cloud, allowed_deletes=self.vnfm_deletes(vnfm))

    # --- 4. no manager -------------------------------------------------------

    def test_project_without_manager_moved_by_default(self):
        cloud = self.start_cloud(
            _pre_placed(computes=3),
            workflow={'default_migration_type': 'LIVE_MIGRATE'})
        before = set(cloud.servers())
        sid = self.run_session(cloud)
        detail = cloud.detail(sid)
        tenant2 = cloud.sim.project_id('tenant2')

        self.assertEqual([(tenant2, False)],
                         [(p['project_id'], p['has_manager'])
                          for p in detail['projects']])
        self.assert_history_says(detail, tenant2, 'has no manager',
                                 kind='decision')
        self.assert_history_says(
            detail, 'has no manager', 'default LIVE_MIGRATE',
            '[workflow] default_migration_type', kind='decision')
        # Nobody was asked anything.
        self.assertEqual([], cloud.project_events())
        moves = cloud.migrations()
        self.assertTrue(moves)
        self.assertEqual({('live', True)},
                         {(m['type'], m['ok']) for m in moves})
        self.assertEqual(before, set(cloud.servers()))
        self.assert_each_maintained_once(cloud, sid, COMPUTES3)
        self.assert_progress_reached_100(cloud, sid)
        self.assert_clean(cloud)

    # --- 5. failing migrations -----------------------------------------------

    def test_migration_failing_once_is_retried(self):
        cloud = self.start_cloud(_pre_placed())
        cloud.sim.fail_migrations(server='a', times=1,
                                  reason='injected: once')
        sid = self.run_session(cloud)
        detail = cloud.detail(sid)
        rows = {i['instance_name']: i for i in detail['instances']}
        self.assertEqual(2, rows['a']['action_attempts'], rows['a'])
        self.assertEqual('DONE', rows['a']['action_state'])
        for name in 'bcd':
            self.assertEqual(1, rows[name]['action_attempts'], rows[name])
        states = [m['state'] for m in cloud.migrations() if m['name'] == 'a']
        self.assertEqual(['error', 'confirm'], states)
        self.assertEqual({'a': 1, 'b': 1, 'c': 1, 'd': 1},
                         dict(self.good_moves(cloud)))
        self.assert_each_maintained_once(
            cloud, sid, COMPUTES3 + ['compute-3'])
        self.assert_clean(cloud)

    def test_migration_always_failing_then_continue(self):
        cloud = self.start_cloud(_pre_placed())
        cloud.sim.fail_migrations(server='a', reason='injected: always')
        sid = self.run_session(cloud, expected=FAILED)
        a_id = [s for s, n in cloud.server_names().items() if n == 'a'][0]
        summary = cloud.summary(sid)
        self.assertIn(a_id, summary['error'])
        self.assertIn('compute-0', summary['error'])
        self.wait_hosts_enabled(cloud)
        detail = cloud.detail(sid)
        rows = {i['instance_name']: i for i in detail['instances']}
        self.assertEqual('FAILED', rows['a']['action_state'])
        self.assertIn('compute-0', [h['hostname'] for h in detail['hosts']
                                    if h['state'] == 'FAILED'])
        self.assertEqual('compute-0', getattr(
            cloud.nova.servers.get(a_id), 'OS-EXT-SRV-ATTR:host'))
        done_before = self.good_moves(cloud)
        self.assertTrue(done_before, 'nothing moved before the failure')
        self.assertNotIn('a', done_before)
        self.assertTrue(self.maintained_counts(cloud, sid),
                        'nothing maintained before the failure')

        # The admin fixes the cloud, then continues the session.
        cloud.sim.clear_faults()
        resp = cloud.client.put('/v1/maintenance/%s' % sid, {})
        self.assertEqual(200, resp.status_code, resp.text)
        self.assertEqual(DONE, cloud.wait_final(sid))

        # Every server moved exactly once over the whole session (the
        # moves done before the failure were not repeated), every host
        # maintained exactly once (those done before not again).
        self.assertEqual({'a': 1, 'b': 1, 'c': 1, 'd': 1},
                         dict(self.good_moves(cloud)))
        self.assert_each_maintained_once(
            cloud, sid, COMPUTES3 + ['compute-3'])
        self.assert_clean(cloud)

    # --- 6. a failing action plug-in -----------------------------------------

    def test_action_plugin_failing_on_one_host(self):
        # compute-2 is empty, so it is maintained first; compute-1 next.
        topo = _pre_placed(computes=3)
        del topo['servers'][3]
        cloud = self.start_cloud(topo)
        sid = self.run_session(
            cloud, expected=FAILED,
            actions=[{'plugin': 'dummy', 'type': 'pre'},
                     {'plugin': 'dummy', 'type': 'host',
                      'metadata': {'fail_on': ['compute-1']}},
                     {'plugin': 'dummy', 'type': 'post'}])
        summary = cloud.summary(sid)
        self.assertIn('dummy', summary['error'])
        self.assertIn('compute-1', summary['error'])
        self.wait_hosts_enabled(cloud)
        detail = cloud.detail(sid)
        runs = {(r['type'], r['hostname']): r['state']
                for r in detail['action_plugin_runs']}
        self.assertEqual({('pre', ''): 'DONE',
                          ('host', 'compute-2'): 'DONE',
                          ('host', 'compute-1'): 'FAILED'}, runs)
        hosts = {h['hostname']: h for h in detail['hosts']}
        self.assertEqual('FAILED', hosts['compute-1']['state'])
        self.assertFalse(hosts['compute-1']['maintained'])
        self.assertTrue(hosts['compute-2']['maintained'])
        self.assertEqual({'compute-2': 1, 'compute-1': 1},
                         dict(self.maintained_counts(cloud, sid)))
        # The host was emptied before its plug-ins ran.
        self.assertEqual([], [s.name for s in cloud.servers().values()
                              if getattr(s, 'OS-EXT-SRV-ATTR:host') ==
                              'compute-1'])
        self.assert_clean(cloud)

    # --- 7. engine crashes ---------------------------------------------------

    def _kill_run_cloud(self, timing, reply_delay):
        # The manager keeps retrying its replies while Fenix restarts.
        cloud = self.start_cloud(cf.vnfm_topology(timing=timing),
                                 reply_window=8)
        vnfm = self.start_vnfm(cloud, behaviour=app_mod.Behaviour(
            reply_delay=reply_delay, reply_retries=40, retry_interval=0.25))
        return cloud, vnfm

    def test_engine_killed_in_every_state_resumes(self):
        # A run without kills, for comparison.
        baseline, base_vnfm = self._kill_run_cloud({}, reply_delay=0)
        base_sid = self.run_session(baseline)
        expected_moves = self.good_moves(baseline)
        expected_starts = self.started_moves(baseline)
        expected_order = [h for h, s in baseline.host_events(base_sid)
                          if s == 'IN_MAINTENANCE']
        self.assertEqual(sorted(expected_order), COMPUTES3)
        self.assert_clean(baseline,
                          allowed_deletes=self.vnfm_deletes(base_vnfm))

        # Every state lasts long enough to be seen: the manager answers
        # each event after a second, migrations take half a second, every
        # disable/enable of a service (START_MAINTENANCE) takes a while.
        cloud, vnfm = self._kill_run_cloud({'cold_migration': 0.5},
                                           reply_delay=1.0)
        cloud.sim.fail_api('^/v2.1/os-services', status=200, method='PUT',
                           delay=0.5)
        sid = cloud.create_session()
        killed = []
        for target in ALL_STATES:
            state = cloud.wait_state(sid, (target,) + cf.FINAL_STATES,
                                     interval=0.02)
            self.assertEqual(target, state,
                             'missed %s; killed in %s' % (target, killed))
            cloud.restart_fenix()
            killed.append(state)
        self.assertEqual(list(ALL_STATES), killed)
        self.assertEqual(DONE, cloud.wait_final(sid))
        detail = cloud.detail(sid)
        resumed = [e['state'] for e in self.history(detail, 'state')
                   if 'resumed' in (e['message'] or '')]
        self.assertEqual(list(ALL_STATES), resumed)

        # Same moves as without kills: none repeated, none skipped.
        self.assertEqual(dict(expected_moves), dict(self.good_moves(cloud)))
        self.assertEqual(expected_starts, self.started_moves(cloud))
        self.assertEqual(expected_order,
                         [h for h, s in cloud.host_events(sid)
                          if s == 'IN_MAINTENANCE'])
        self.assert_each_maintained_once(cloud, sid, COMPUTES3)
        self.settle_vnfm(vnfm)
        self.assertEqual([], vnfm.violations())
        self.assert_clean(cloud, allowed_deletes=self.vnfm_deletes(vnfm))

    def test_engine_killed_right_after_committing_done_announces_it(self):
        """The engine dies (SIGKILL, by fault injection) right after it
        committed MAINTENANCE_DONE, before maintenance.session went out:
        the restarted engine sends it from its outbox, and the history
        entry is there."""
        cloud = self.start_cloud(cf.topology(computes=2), extra_config={
            'fault_injection': {
                'kill_after_commit': 'maintenance.session:%s' % DONE}})
        sid = cloud.create_session()
        self.assertEqual(-signal.SIGKILL,
                         cloud.fenix.wait(cf.SESSION_TIMEOUT))

        def done_announced():
            return [p for p in cloud.notifications('maintenance.session',
                                                   repeats=True)
                    if p.get('session_id') == sid and p.get('state') == DONE]
        self.assertEqual([], done_announced())
        cloud.reconfigure({})
        cloud.start_fenix()
        self.assertEqual(DONE, cloud.wait_final(sid))
        self.assertEqual(1, len(done_announced()))
        detail = cloud.detail(sid)
        path = self.state_path(detail)
        self.assertEqual(DONE, path[-1])
        # None lost: every state announced, in order.
        self.assertEqual(path, [p['state'] for p in cloud.notifications(
            'maintenance.session') if p.get('session_id') == sid])
        self.assert_each_maintained_once(cloud, sid,
                                         ['compute-0', 'compute-1'])
        self.assert_progress_reached_100(cloud, sid)
        self.assert_clean(cloud)

    def _kill_during_move(self, migration_type, timing):
        cloud = self.start_cloud(cf.vnfm_topology(timing=timing),
                                 reply_window=8)
        vnfm = self.start_vnfm(cloud, app=_small_app(
            migration_type=migration_type))
        sid = cloud.create_session()
        started = cloud.sim.wait_for_event('migration.start', timeout=60)
        self.assertIsNotNone(started, 'no migration started')
        cloud.kill_fenix()
        # The move ends while no engine watches.
        self.assertIsNotNone(cloud.sim.wait_for_event(
            'migration.finish', timeout=30, migration=started['migration']))
        cloud.start_fenix()
        state = cloud.wait_final(sid)
        summary = cloud.summary(sid)
        # The interrupted move was seen through (a cold one confirmed),
        # not started again.
        moves = [m for m in cloud.migrations()
                 if m['server'] == started['server'] and
                 m['source'] == started['source']]
        server = cloud.nova.servers.get(started['server'])
        self.assertEqual(
            [(started['migration'], True)],
            [(m['migration'], m['ok']) for m in moves],
            'the %s migration of %s from %s interrupted by the crash was '
            'not seen through: the server is %s on %s; the session ended '
            '%s (%s)' % (started['type'], started['name'],
                         started['source'], server.status,
                         getattr(server, 'OS-EXT-SRV-ATTR:host'), state,
                         summary.get('error')))
        self.assertEqual(DONE, state, summary.get('error'))
        self.assert_each_maintained_once(cloud, sid, COMPUTES3)
        self.assert_clean(cloud, allowed_deletes=self.vnfm_deletes(vnfm))

    def test_engine_killed_during_live_migration(self):
        self._kill_during_move('LIVE_MIGRATE', {'live_migration': 1.0})

    def test_engine_killed_during_cold_migration_until_verify_resize(self):
        """The cold migration reaches VERIFY_RESIZE while the engine is
        down: the restarted engine must confirm it."""
        self._kill_during_move('MIGRATE', {'cold_migration': 1.0})

    def test_engine_killed_while_agent_runs_plugin(self):
        self.kill_during_agent_run('default')

    # --- 8. empty cloud, operator-disabled host ------------------------------

    def test_empty_cloud(self):
        cloud = self.start_cloud(SEED004_EMPTY)
        sid = self.run_session(cloud)
        self.assertEqual([], cloud.migrations())
        self.assert_each_maintained_once(cloud, sid, COMPUTES3)
        self.assert_progress_reached_100(cloud, sid)
        self.assert_clean(cloud)

    def _operator_cloud(self):
        topo = _pre_placed()
        topo['servers'][3]['host'] = 'compute-3'
        cloud = self.start_cloud(topo)
        cloud.disable_compute('compute-3', 'broken fan')
        return cloud, cloud.sim.events.last_seq

    def _assert_operator_host_untouched(self, cloud, since):
        # Never a target, never enabled (nor disabled again) by Fenix.
        self.assertEqual([], [m for m in cloud.migrations()
                              if m['dest'] == 'compute-3'])
        self.assertEqual([], cloud.service_changes('compute-3',
                                                   since=since))
        self.assertEqual('broken fan',
                         cloud.nova_service('compute-3').disabled_reason)
        self.assert_clean(cloud, operator={'compute-3': 'broken fan'})

    def test_operator_disabled_host_skipped_when_discovered(self):
        cloud, since = self._operator_cloud()
        sid = self.run_session(cloud)
        detail = cloud.detail(sid)
        hosts = {h['hostname']: h for h in detail['hosts']}
        self.assertEqual('SKIPPED', hosts['compute-3']['state'])
        self.assertTrue(hosts['compute-3']['disabled_by_operator'])
        self.assert_history_says(detail, 'compute-3', 'broken fan',
                                 kind='decision')
        self.assertNotIn('compute-3', self.maintained_counts(cloud, sid))
        # d stays where it was.
        self.assertEqual([], [m for m in cloud.migrations()
                              if m['name'] == 'd'])
        self.assert_each_maintained_once(cloud, sid, COMPUTES3)
        self._assert_operator_host_untouched(cloud, since)

    def test_operator_disabled_host_maintained_when_named(self):
        cloud, since = self._operator_cloud()
        sid = self.run_session(cloud,
                               hosts=COMPUTES3 + ['compute-3'])
        detail = cloud.detail(sid)
        hosts = {h['hostname']: h for h in detail['hosts']}
        self.assertTrue(hosts['compute-3']['disabled_by_operator'])
        self.assertFalse(hosts['compute-3']['disabled_by_fenix'])
        # Emptied and maintained as requested, left disabled.
        self.assertEqual(['compute-3'], [m['source'] for m in
                                         cloud.migrations()
                                         if m['name'] == 'd' and m['ok']])
        self.assert_each_maintained_once(cloud, sid,
                                         COMPUTES3 + ['compute-3'])
        self._assert_operator_host_untouched(cloud, since)

    # --- 9. dry run ----------------------------------------------------------

    def test_dry_run_touches_nothing(self):
        cloud = self.start_cloud(cf.vnfm_topology())
        vnfm = self.start_vnfm(cloud, app=_small_app())
        since = cloud.sim.events.last_seq
        deliveries = len(cloud.sim.deliveries())
        servers = {s.id: getattr(s, 'OS-EXT-SRV-ATTR:host')
                   for s in cloud.servers().values()}
        sid = self.run_session(cloud, dry_run=True)
        detail = cloud.detail(sid)
        self.assertTrue(vnfm.wait_idle(10))

        self.assertEqual([], cloud.service_changes(since=since))
        self.assertEqual([], cloud.sim.get_events(since=since,
                                                  kind='migration.'))
        self.assertEqual([], cloud.project_events(since=since))
        self.assertEqual(deliveries, len(cloud.sim.deliveries()))
        self.assertEqual([], vnfm.events.list())
        self.assertEqual([], cloud.host_events(sid))
        self.assertEqual(servers, {s.id: getattr(s, 'OS-EXT-SRV-ATTR:host')
                                   for s in cloud.servers().values()})
        self.assertEqual(['MAINTENANCE', 'MAINTENANCE_COMPLETE',
                          'MAINTENANCE_DONE'], self.state_path(detail))
        plan = (detail['plan'] or {}).get('dry_run')
        self.assertTrue(plan, detail['plan'])
        self.assertIsNone(plan['blocked'], plan)
        self.assertEqual(sorted(COMPUTES3),
                         sorted(s['host'] for s in plan['steps']), plan)
        self.assertEqual(['prepare', 'planned', 'planned'],
                         [s['step'] for s in plan['steps']], plan)
        self.assertEqual({vnfm.project_id: {'has_manager': True}},
                         plan['projects'])
        self.assert_history_says(detail, 'dry run', 'nothing was touched',
                                 kind='decision')
        self.assertEqual([], [h for h in detail['hosts']
                              if h['maintained']])
        self.assert_clean(cloud)

    # --- 10. the end of a session --------------------------------------------

    def _fail_with_slow_cleanup(self):
        """A session that fails on a's migration, and whose cleanup's
        first call to Nova (enabling a compute again) takes three
        seconds."""
        cloud = self.start_cloud(_pre_placed(computes=3))
        a_id = [s for s, n in cloud.server_names().items() if n == 'a'][0]
        cloud.sim.fail_migrations(server='a', reason='injected: always')
        sid = cloud.create_session(hosts=[])
        self.assertIsNotNone(cloud.sim.wait_for_event(
            'migration.error', timeout=60, server=a_id))
        # From now on, Fenix's next call to change a service is the
        # cleanup's.
        cloud.sim.fail_api('^/v2.1/os-services', status=200, method='PUT',
                           delay=3.0, times=1)
        self.assertEqual(FAILED, cloud.wait_state(sid, cf.FINAL_STATES,
                                                  interval=0.02))
        return cloud, sid

    def test_failed_session_shown_after_its_cleanup(self):
        """Once GET says MAINTENANCE_FAILED, what Fenix disabled is
        enabled again (an admin acts on what GET says)."""
        cloud, sid = self._fail_with_slow_cleanup()
        left = self.fenix_disabled(cloud)
        detail = cloud.detail(sid)
        self.assertEqual(
            [], left, 'GET shows %s while Fenix still holds %s disabled '
            '(disabled_by_fenix in /detail: %s)'
            % (detail['state'], left, [h['hostname'] for h in
                                       detail['hosts']
                                       if h['disabled_by_fenix']]))
        self.assert_clean(cloud)

    def test_continue_right_after_failure(self):
        """PUT as soon as GET shows MAINTENANCE_FAILED: it must
        continue (SPEC 3.1), not be acknowledged and then forgotten."""
        cloud, sid = self._fail_with_slow_cleanup()
        # Once the cleanup's (slow) call reached Nova, the admin fixes the
        # cloud and continues.
        self.assertIsNotNone(cloud.sim.wait_for_event(
            'fault.trigger', timeout=CLEANUP_TIMEOUT, service='compute'))
        cloud.sim.clear_faults()
        resp = cloud.client.put('/v1/maintenance/%s' % sid, {})
        self.assertEqual(200, resp.status_code, resp.text)
        continued = resp.json()['state']
        seen = []
        try:
            state = cloud.wait_state(sid, cf.FINAL_STATES, timeout=20)
        except AssertionError as e:
            seen.append(str(e))
            state = cloud.state(sid)
        self.assertEqual(
            DONE, state, 'continued in %s at once after the failure: '
            'still %s 20 s later (%s)' % (continued, state, seen))
        self.assert_no_move_repeated(cloud)
        self.assert_each_maintained_once(cloud, sid, COMPUTES3)
        self.assert_clean(cloud)

    def test_delete_running_session(self):
        """DELETE in the middle of a move: stopped cleanly, every host
        Fenix disabled enabled again, the move seen through by Nova."""
        cloud = self.start_cloud(_pre_placed(computes=3))
        cloud.sim.set_timing(cold_migration=1.5)
        sid = cloud.create_session()
        self.assertIsNotNone(cloud.sim.wait_for_event('migration.start',
                                                      timeout=60))
        resp = cloud.client.delete('/v1/maintenance/%s' % sid)
        self.assertEqual(200, resp.status_code, resp.text)
        self.assertEqual(404, cloud.client.get(
            '/v1/maintenance/%s' % sid).status_code)
        # Re-enabled before the delete answered.
        self.assertEqual([], self.fenix_disabled(cloud))
        self.assert_clean(cloud)
