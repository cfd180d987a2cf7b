# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``/metrics`` scraped during and after a session of the all-in-one on
the simulated cloud, with the sample VNFM: the figures are not zero and
agree with what the session's ``/detail`` says (moves, hosts, replies)
and with the notifications the cloud received.

The session is held still for the scrape "during": the first migration is
slowed, the session paused while it is in flight, and scraped once
``PAUSED`` (nothing moves until it is resumed).
"""
from prometheus_client.parser import text_string_to_metric_families
import requests
import testtools

from fenix.tests.functional import base
from fenix.tests.functional import cloud_fixture as cf
from fenix.tests.functional import test_default_workflow as tdw

# Seconds the first migration would take (the test ends it at once).
HELD = 60


def scrape(cloud):
    resp = requests.get(cloud.url + '/metrics', timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.headers['Content-Type'].startswith('text/plain'), \
        resp.headers
    found = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(found, name, **labels):
    return found[(name, tuple(sorted(labels.items())))]


class MetricsTestCase(tdw.WorkflowHelpers, testtools.TestCase):
    """The workflow tests' helpers (not their tests)."""

    def moves(self, detail):
        """(started, done, failed) of the detail's move steps."""
        steps = [s for s in detail['steps']
                 if s['kind'] == 'move' and s['started_at']]
        return (sum(s['attempt'] for s in steps),
                sum(1 for s in steps if s['state'] == 'DONE'),
                sum(1 for s in steps if s['state'] == 'FAILED'))

    def assert_match_detail(self, found, detail):
        started, done, failed = self.moves(detail)
        self.assertEqual(
            (started, done, failed),
            (value(found, 'fenix_migrations_started_total'),
             value(found, 'fenix_migrations_done_total'),
             value(found, 'fenix_migrations_failed_total')))
        self.assertEqual(done, value(
            found, 'fenix_migration_duration_seconds_count'))
        hosts = {}
        for h in detail['hosts']:
            hosts[h['state']] = hosts.get(h['state'], 0) + 1
        for state, count in hosts.items():
            self.assertEqual(count, value(found, 'fenix_hosts',
                                          state=state), state)
        self.assertEqual(detail['hosts_done'],
                         value(found, 'fenix_hosts', state='MAINTAINED'))
        self.assertEqual(1, value(found, 'fenix_sessions',
                                  state=detail['state']))
        self.assertEqual(1, sum(v for (n, _l), v in found.items()
                                if n == 'fenix_sessions'))
        # Every reply of the project answered an event sent before it.
        for project in detail['projects']:
            pid = project['project_id']
            replies = [e for e in detail['history']
                       if e['kind'] == 'reply' and e['project_id'] == pid]
            self.assertEqual(len(replies), value(
                found, 'fenix_reply_latency_seconds_count', project_id=pid))
        return started, done

    def test_scraped_during_and_after_a_session(self):
        cloud = self.start_cloud(cf.vnfm_topology())
        vnfm = self.start_vnfm(cloud)
        cloud.sim.slow_migrations(HELD, times=1)
        sid = cloud.create_session()
        first = cloud.sim.wait_for_event('migration.start', timeout=60)
        self.assertIsNotNone(first, 'no migration started')
        resp = cloud.client.post('/v1/maintenance/%s' % sid,
                                 {'action': 'pause'})
        self.assertEqual(200, resp.status_code, resp.text)
        self.assertTrue(cloud.sim.complete_now(first['server']))
        cloud.wait_state(sid, 'PAUSED')

        # During: the session is paused, its figures stand still.
        during = scrape(cloud)
        detail = cloud.detail(sid)
        self.assertEqual('PAUSED', detail['state'])
        started, done = self.assert_match_detail(during, detail)
        self.assertGreater(done, 0)
        project = cloud.sim.project_id('demo')
        self.assertGreater(value(during, 'fenix_reply_latency_seconds_count',
                                 project_id=project), 0)
        self.assertGreater(value(during, 'fenix_notifications_sent_total',
                                 event_type='maintenance.session'), 0)
        ages = {dict(labels)['engine']: v for (n, labels), v
                in during.items()
                if n == 'fenix_engine_heartbeat_age_seconds'}
        self.assertEqual(1, len(ages), ages)
        self.assertGreaterEqual(list(ages.values())[0], 0)

        # After: resumed to its end.
        resp = cloud.client.post('/v1/maintenance/%s' % sid,
                                 {'action': 'resume'})
        self.assertEqual(200, resp.status_code, resp.text)
        self.assertEqual(tdw.DONE, cloud.wait_final(sid))
        self.settle_vnfm(vnfm)
        detail = cloud.detail(sid)
        after = scrape(cloud)
        started_after, done_after = self.assert_match_detail(after, detail)
        self.assertGreater(done_after, done)
        self.assertGreaterEqual(started_after, started)
        self.assertEqual(0, value(after, 'fenix_migrations_failed_total'))
        self.assertEqual(len(tdw.COMPUTES3),
                         value(after, 'fenix_hosts', state='MAINTAINED'))
        # Sent: what the cloud received, once the outbox is empty.
        kinds = ('maintenance.session', 'maintenance.host')

        def drained():
            found = scrape(cloud)
            return all(value(found, 'fenix_notifications_queued',
                             event_type=k) == 0 for k in kinds) and found
        found = base.wait_for(drained, 30, what='the outbox to be sent')
        for kind in kinds:
            self.assertEqual(
                len(cloud.notifications(kind)),
                value(found, 'fenix_notifications_sent_total',
                      event_type=kind), kind)
