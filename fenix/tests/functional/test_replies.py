# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A reply answers one event (SPEC 3.7), end to end.

Sample VNFMs whose every reply arrives three more times, the copies late
(``replies_scenario``), against both workflows, several sessions at once
in one ``fenix-all-in-one``: no instance of an event may move before that
event had its own manager's answer (or its deadline passed), every copy
is refused (409) and none is taken again. Then replies after the end,
through HTTP. ``tools/bench/repeated_replies.py`` runs the same with as
many sessions as asked for.
"""
import json

import fixtures
import testtools
from testtools import content

from fenix.tests.functional import replies_scenario as scenario

# Sessions of each workflow, all at once (one per cell).
CELLS = 4
DONE = 'MAINTENANCE_DONE'


class RepliesTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(400, gentle=True))
        self.cloud = self.useFixture(scenario.fenix_cloud(CELLS))

        def attach(exc_info):
            self.addDetail('fenix-log', content.text_content(
                self.cloud.log_tail(200)))
        self.addOnException(attach)

    def test_repeated_late_replies_answer_nothing_else(self):
        storm, result = scenario.run(self.cloud, CELLS, rounds=1)
        self.addDetail('result', content.text_content(
            json.dumps(result, indent=1, default=str)))
        self.assertEqual({'default': {DONE: CELLS}, 'nfv': {DONE: CELLS}},
                         result['sessions'], result['failed_sessions'])
        self.assertGreaterEqual(result['move_events'], 2 * CELLS)
        # What this is about: no instance moved before its event had its
        # own manager's answer (or its deadline passed).
        self.assertEqual([], result['moved_without_reply'])
        # Every copy was refused, none taken again.
        self.assertEqual(['409'], list(result['repeats_by_status']))
        self.assertEqual([], [e for e in result['vnfm_errors']
                              if 'taken again' in e['message']])
        self.check_replies_after_the_end(storm)

    def check_replies_after_the_end(self, storm):
        """Replies to an ended session, through HTTP: 409 naming the end;
        ACK_INSTANCE_ACTION_DONE is still taken (and ignored)."""
        vnfm = storm.vnfms[0]
        sid = [s for w, _c, s, _st in storm.sessions if w == 'default'][0]
        client = self.cloud.client
        client.headers = {'X-Project-Id': vnfm.project_id,
                          'X-User-Id': vnfm.user_id,
                          'X-Roles': 'member,reader'}
        url = '/v1/maintenance/%s/%s' % (sid, vnfm.project_id)
        view = client.get(url)
        self.assertEqual(200, view.status_code, view.text)
        event_id = view.json()['event_id']
        self.assertEqual('MAINTENANCE_COMPLETE', view.json()['state'])
        self.assertTrue(event_id)
        for query in ('?event_id=' + event_id, ''):
            resp = client.put(url + query,
                              {'state': 'ACK_MAINTENANCE_COMPLETE'})
            self.assertEqual(409, resp.status_code, resp.text)
            message = resp.json()['error']['message']
            self.assertIn('has ended (MAINTENANCE_DONE)', message)
            self.assertIn(sid, message)
        resp = client.put(url + '?event_id=' + event_id,
                          {'state': 'ACK_INSTANCE_ACTION_DONE'})
        self.assertEqual(200, resp.status_code, resp.text)
        resp = client.put(url + '?event_id=not-an-id',
                          {'state': 'ACK_MAINTENANCE_COMPLETE'})
        self.assertEqual(400, resp.status_code, resp.text)
        self.assertIn('event_id', resp.json()['error']['message'])
        # The managers' own late copies of their last answers met the
        # same refusal.
        ended = [r for v in storm.vnfms for r in v.repeats.list()
                 if 'has ended' in (r['error'] or '')]
        self.assertTrue(ended)
        self.assertEqual({409}, {r['status'] for r in ended})
