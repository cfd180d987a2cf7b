# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""An admin's control of a running session (SPEC 3.7), end to end, on the
``default`` and the ``nfv`` workflow: ``POST /v1/maintenance/{id}`` with
``pause``, ``skip_host``, ``resume`` and ``retry``, against the simulated
cloud, whose own record says what really happened (which migrations
started when, which services were enabled, which host went down).

The cloud is the small one of the default workflow's tests: a and b on
compute-0, c on compute-1, d on compute-2, compute-3 empty; their project
has no manager (the default move, a cold migration), one move at a time.
"""
import testtools

from fenix.tests.functional import base
from fenix.tests.functional import test_default_workflow as tdw

PAUSED = 'PAUSED'
COMPUTES = ['compute-%d' % n for n in range(4)]
# Seconds the first migration is held in flight: long enough to be sure
# it is in flight when the pause comes (the test ends it at once).
HELD = 60


class SessionControlTestCase(tdw.WorkflowHelpers, testtools.TestCase):

    def control(self, cloud, sid, **body):
        resp = cloud.client.post('/v1/maintenance/%s' % sid, body)
        self.assertEqual(200, resp.status_code, resp.text)
        return resp.json()

    def last_seq(self, cloud):
        events = cloud.sim.get_events()
        return events[-1]['seq'] if events else 0

    def started_since(self, cloud, seq):
        return [e for e in cloud.sim.get_events(since=seq,
                                                kind='migration.start')]

    def servers_on(self, cloud):
        """{host: [server name]} as Nova sees it now."""
        out = {}
        for srv in cloud.servers().values():
            out.setdefault(getattr(srv, 'OS-EXT-SRV-ATTR:host'),
                           []).append(srv.name)
        return out

    def _pause_skip_resume_retry(self, workflow):
        """One session: pause while a migration is in flight, skip a host
        while paused, resume, fail a migration, retry."""
        cloud = self.start_cloud(tdw._pre_placed())
        cloud.sim.slow_migrations(HELD, times=1)
        sid = cloud.create_session(workflow=workflow,
                                   max_concurrent_migrations=1)
        first = cloud.sim.wait_for_event('migration.start', timeout=60)
        self.assertIsNotNone(first, 'no migration started')

        # 1. Pause while the first migration is in flight: the session is
        # pausing, not paused, until it ends; then no migration starts.
        pause_seq = self.last_seq(cloud)
        answer = self.control(cloud, sid, action='pause',
                              reason='change freeze')
        self.assertTrue(answer['pause_requested'], answer)
        self.assertNotEqual(PAUSED, answer['state'])
        self.assertTrue(cloud.sim.complete_now(first['server']))
        cloud.wait_state(sid, PAUSED)
        summary = cloud.summary(sid)
        self.assertIn(summary['hold_state'], tdw.ALL_STATES)
        self.assertIsNone(summary['eta'])
        self.assertEqual([], self.started_since(cloud, pause_seq),
                         'a migration started after the pause')
        self.assertEqual([first['server']],
                         [m['server'] for m in cloud.migrations()])
        paused = [p for p in cloud.notifications('maintenance.session')
                  if p.get('session_id') == sid and p['state'] == PAUSED]
        self.assertEqual(1, len(paused))

        # 2. While paused, skip a host not maintained yet (applied at
        # once: it is enabled again and never goes down); and make the
        # migration of a server of another such host fail from now on.
        detail = cloud.detail(sid)
        left = [h['hostname'] for h in detail['hosts']
                if not h['maintained'] and h['state'] != 'IN_MAINTENANCE']
        on = self.servers_on(cloud)
        doomed_host = max(left, key=lambda h: (len(on.get(h, ())), h))
        doomed = on[doomed_host][0]
        skipped = [h for h in left if h != doomed_host][0]
        skip_seq = self.last_seq(cloud)
        self.control(cloud, sid, action='skip_host', host=skipped,
                     reason='DIMM to replace')
        base.wait_for(lambda: cloud.summary(sid)['hosts_skipped'] == 1,
                      30, what='%s skipped' % skipped)
        self.assertEqual(PAUSED, cloud.state(sid))
        self.assertEqual([], self.started_since(cloud, pause_seq),
                         'a migration started while paused')
        self.assertNotIn(skipped, cloud.nova_disabled())
        cloud.sim.fail_migrations(server=doomed, reason='injected: always')

        # 3. Resume: the session goes on until the doomed migration fails.
        self.control(cloud, sid, action='resume')
        self.assertEqual(tdw.FAILED, cloud.wait_final(sid))
        doomed_id = [i for i, n in cloud.server_names().items()
                     if n == doomed][0]
        self.assertIn(doomed_id, cloud.summary(sid)['error'])
        self.wait_hosts_enabled(cloud)

        # 4. Fixed: retry what failed.
        cloud.sim.clear_faults()
        answer = self.control(cloud, sid, action='retry')
        self.assertNotEqual(tdw.FAILED, answer['state'])
        self.assertEqual(tdw.DONE, cloud.wait_final(sid),
                         cloud.summary(sid).get('error'))

        detail = cloud.detail(sid)
        hosts = {h['hostname']: h for h in detail['hosts']}
        self.assertEqual('SKIPPED', hosts[skipped]['state'])
        self.assertEqual('DIMM to replace',
                         hosts[skipped]['details']['skipped'])
        self.assertNotIn(skipped, [h for h, _s in cloud.host_events(sid)])
        # Nothing was moved from it after the skip (what it holds stays).
        self.assertEqual([], [m for m in cloud.migrations(since=skip_seq)
                              if m['source'] == skipped])
        self.assert_each_maintained_once(
            cloud, sid, [h for h in COMPUTES if h != skipped])
        self.assert_no_move_repeated(cloud)
        self.assertEqual(1, self.good_moves(cloud)[doomed])
        summary = cloud.summary(sid)
        self.assertEqual((100, 1, 0), (summary['percent_done'],
                                       summary['hosts_skipped'],
                                       summary['seconds_left']))
        self.assert_history_says(detail, 'pause requested by',
                                 'change freeze', kind='admin')
        self.assert_history_says(detail, 'skip of host %s' % skipped,
                                 kind='admin')
        self.assert_history_says(detail, 'PAUSED', 'resumed', kind='state')
        self.assert_history_says(detail, 'retried by', 'projects are not '
                                 'asked again', kind='state')
        self.assert_clean(cloud)

    def test_default_workflow(self):
        self._pause_skip_resume_retry('default')

    def test_nfv_workflow(self):
        self._pause_skip_resume_retry('nfv')
