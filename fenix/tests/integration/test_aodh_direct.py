# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Fenix's events straight to AODH: a cloud without Ceilometer.

``[notification_aodh] enabled``: Fenix publishes each notification a second
time, as the event Ceilometer's notification agent would make of it, to
aodh-listener's topic. For this class the stack's
ceilometer-agent-notification is stopped (``stack.sh stop-ceilometer``), so
AODH can only hear of Fenix's events that way; the seed-004 session must
still reach the VNFM's webhook through AODH's event alarm and end
MAINTENANCE_DONE. The other classes run the default chain through
Ceilometer.

The events Fenix makes are compared with what the real Ceilometer (its own
converter and publisher, with tools/integration/etc/event_definitions.yaml)
makes of the same notifications.
"""
import datetime
import json
import os
import subprocess

from fenix.common import aodh_events
from fenix.tests.integration import base
from fenix.tests.integration import test_seed004

DEFINITIONS = os.path.join(base.REPO, 'tools', 'integration', 'etc',
                           'event_definitions.yaml')
HELPER = os.path.join(base.REPO, 'tools', 'integration', 'helpers',
                      'ceilometer_event.py')
SECRET = 'change this for valid signing'


def _overrides():
    values = test_seed004.workflow_overrides()
    values['notification_aodh'] = {'enabled': 'true',
                                   'telemetry_secret': SECRET}
    return values


class TestDirectToAodh(test_seed004.Seed004TestCase):

    fenix_overrides = _overrides()

    @classmethod
    def setUpClass(cls):
        if base.ENABLED:
            base.Cloud(base.load_cloud()).stack('stop-ceilometer',
                                                check=True)
        try:
            super().setUpClass()
        except Exception:
            cls._start_ceilometer()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls._start_ceilometer()

    @classmethod
    def _start_ceilometer(cls):
        if base.ENABLED:
            base.Cloud(base.load_cloud()).stack('start-ceilometer',
                                                check=True)

    def test_seed004_without_ceilometer(self):
        status = self.cloud.stack('status').stdout
        self.assertNotIn('ceilometer-notification', status)
        vnfm = self.start_vnfm()
        sid, summary = self.run_session(vnfm)
        status = self.check_outcome(vnfm, summary)
        self.assert_seed004_events(status, sid)
        self.assertEqual([], [e for e in status['events']
                              if e.get('problems')])

    def test_events_are_those_ceilometer_makes(self):
        t = '2026-11-22 13:31:40.045252'
        sid = '11e02075-b62b-4855-be54-cb8ca5714bba'
        pid = self.cloud.project_id('vnfm1')
        url = '%s/v1/maintenance/%s/%s' % (self.fenix.url, sid, pid)
        project = {'service': 'fenix', 'project_id': pid,
                   'session_id': sid, 'state': 'PREPARE_MAINTENANCE',
                   'instance_ids': url, 'allowed_actions': [
                       'MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION'],
                   'actions_at': '2026-11-22 13:36:40',
                   'reply_at': '2026-11-22 13:32:40', 'reply_url': url,
                   'metadata': {'openstack_version': 'Train'}}
        cases = [
            ('maintenance.scheduled', project,
             aodh_events.PROJECT_EVENT_TRAITS),
            ('maintenance.planned', dict(
                project, state='INSTANCE_ACTION_DONE', instance_ids=['x'],
                allowed_actions=[], actions_at=None, reply_at=None,
                metadata={'long': 'y' * 300}),
             aodh_events.PROJECT_EVENT_TRAITS),
            ('maintenance.host', {'service': 'fenix', 'host': 'compute1',
                                  'state': 'IN_MAINTENANCE',
                                  'session_id': sid, 'project_id': None},
             aodh_events.HOST_EVENT_TRAITS),
            ('maintenance.session', {'service': 'fenix', 'session_id': sid,
                                     'state': 'START_MAINTENANCE',
                                     'percent_done': 66,
                                     'project_id': pid},
             aodh_events.SESSION_EVENT_TRAITS),
        ]
        lines, ours = [], []
        for n, (event_type, payload, traits) in enumerate(cases):
            message_id = '6f1d4a52-0000-4000-8000-%012d' % n
            lines.append(json.dumps({
                'event_type': event_type, 'payload': payload,
                'publisher_id': aodh_events.PUBLISHER_ID,
                'message_id': message_id, 'timestamp': t, 'ctxt': {},
                'priority': 'info'}))
            ours.append(json.loads(json.dumps(aodh_events.ceilometer_event(
                event_type, payload, traits, message_id=message_id,
                generated=datetime.datetime.strptime(
                    t, '%Y-%m-%d %H:%M:%S.%f'), secret=SECRET))))
        python = os.path.join(self.cloud.data['dir'], 'venv', 'bin',
                              'python')
        out = subprocess.run([python, HELPER, DEFINITIONS, SECRET],
                             input='\n'.join(lines) + '\n',
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(0, out.returncode, out.stderr[-2000:])
        theirs = [json.loads(line) for line in out.stdout.splitlines()
                  if line.startswith('{')]
        self.assertEqual(theirs, ours)
