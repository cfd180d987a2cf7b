# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The minimal manager of the VNFM guide (doc/source/vnfm-guide.rst) works.

``tools/examples/minimal_vnfm.py``, the very program the guide shows, runs
as the manager of a project of the simulated cloud (its own process, the
project member's Keystone credentials in ``OS_*``, Fenix's noauth headers)
through a whole ``default`` session of ``fenix-all-in-one``: it subscribes
with an AODH event alarm, answers every event at its ``reply_url``, and
the session ends MAINTENANCE_DONE with every reply taken -- none refused,
none left to the reply window -- and the alarm deleted when it stops.
"""
import os
import signal
import subprocess
import sys

import fixtures
import testtools
from testtools import content

from fenix.tests.functional import base
from fenix.tests.functional import cloud_fixture as cf

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                       '..', '..', 'tools', 'examples', 'minimal_vnfm.py')
TENANT = 'tenant1'
# Answered events; the cloud below has no empty host (PREPARE_MAINTENANCE
# happens) but room to empty one (no SCALE_IN).
ANSWERED = ('MAINTENANCE', 'PREPARE_MAINTENANCE', 'PLANNED_MAINTENANCE',
            'MAINTENANCE_COMPLETE')


class MinimalVNFMTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(120, gentle=True))
        # Three computes of two slots, none empty: a, b on compute-0, c on
        # compute-1, d on compute-2.
        topology = cf.topology(computes=3, tenants=(TENANT,), servers=[
            {'name': name, 'project': TENANT, 'host': host}
            for name, host in (('a', 'compute-0'), ('b', 'compute-0'),
                               ('c', 'compute-1'), ('d', 'compute-2'))])
        self.cloud = self.useFixture(cf.FenixCloud(topology, reply_window=5))
        self.project_id = self.cloud.sim.project_id(TENANT)
        self.log_path = os.path.join(self.cloud.workdir, 'vnfm.log')

        def attach(exc_info):
            self.addDetail('fenix-log', content.text_content(
                self.cloud.log_tail(150)))
            self.addDetail('vnfm-log', content.text_content(self.log()))
        self.addOnException(attach)

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def start_manager(self):
        env = dict(os.environ,
                   OS_AUTH_TYPE='password',
                   OS_AUTH_URL=self.cloud.sim.auth_url,
                   OS_USERNAME='vnfm-%s' % TENANT,
                   OS_PASSWORD='%spass' % TENANT,
                   OS_PROJECT_ID=self.project_id,
                   OS_USER_DOMAIN_NAME='Default')
        with open(self.log_path, 'ab') as log:
            proc = subprocess.Popen(
                [sys.executable, PROGRAM, '--listen', '127.0.0.1:0',
                 '--fenix-noauth'],
                stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=env)
        self.addCleanup(self._stop, proc)

        def ready():
            if proc.poll() is not None:
                raise AssertionError('minimal_vnfm.py exited with %s:\n%s'
                                     % (proc.returncode, self.log()))
            return 'ready: webhook' in self.log()
        base.wait_for(ready, 30, interval=0.05, what='minimal_vnfm.py')
        return proc

    @staticmethod
    def _stop(proc):
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def alarms(self):
        return [a for a in self.cloud.sim.alarms.alarms.values()
                if a.project_id == self.project_id]

    def run_session(self, workflow):
        proc = self.start_manager()
        self.assertEqual(1, len(self.alarms()))
        sid = self.cloud.create_session(workflow=workflow)
        state = self.cloud.wait_final(sid)
        self.assertEqual('MAINTENANCE_DONE', state,
                         self.cloud.summary(sid).get('error'))
        # Every event the project had to answer had the manager's answer,
        # taken at once: nothing refused, nothing left to a deadline.
        events = [p for p in self.cloud.notifications('maintenance.planned')
                  if p.get('session_id') == sid]
        answered = [p for p in events if p['state'] in ANSWERED]
        log = self.log()
        self.assertEqual(len(answered), log.count(' taken'), log)
        self.assertNotIn('refused', log)
        self.assertNotIn('failed', log)
        # Fenix recorded the manager's reply to each of those very events
        # (no default taken for a silent project).
        replied = {h['message'].rsplit(' ', 1)[-1]
                   for h in self.cloud.detail(sid)['history']
                   if h.get('kind') == 'reply' and
                   h.get('project_id') == self.project_id}
        self.assertEqual({p['event_id'] for p in answered}, replied)
        # The action the manager chose (LIVE_MIGRATE) is what was done.
        moves = self.cloud.migrations()
        self.assertTrue(moves)
        self.assertEqual({('live', True)},
                         {(m['type'], m['ok']) for m in moves}, moves)
        # Every server is still there, none lost on the way.
        self.assertEqual(4, len(self.cloud.servers()))
        # Stopped, it deletes its alarm.
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(0, proc.wait(30), self.log())
        self.assertIn('deleted', self.log())
        self.assertEqual([], self.alarms())
        return answered

    def test_default_workflow(self):
        """Project-wide events: the instances are read from the URL in
        instance_ids, the reply names an action for each."""
        answered = self.run_session('default')
        self.assertEqual(set(ANSWERED), {p['state'] for p in answered})

    def test_nfv_workflow(self):
        """Events about one instance each: the reply to the instance's
        URL names its action."""
        answered = self.run_session('nfv')
        moves = [p for p in answered if p['state'] in (
            'PREPARE_MAINTENANCE', 'PLANNED_MAINTENANCE')]
        self.assertTrue(moves)
        self.assertTrue(all(isinstance(p['instance_ids'], list)
                            for p in moves), moves)
