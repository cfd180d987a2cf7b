# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Sessions that really act on hosts: the ``ansible`` plug-in on the
simulated cloud.

Each test starts a simulated cloud and a real ``fenix-all-in-one``; the
session's ``compute`` plug-in runs the shipped playbook
``etc/fenix/playbooks/simcloud-upgrade.yml`` (the local connection), which
upgrades the host through the simulator's control API. The cloud records
every upgrade (``host.upgrade``) with the servers the host held and
whether its nova-compute was disabled at that moment.
"""
import os
import stat
import sys

import fixtures
import testtools
from testtools import content

from fenix.tests.functional import base
from fenix.tests.functional import cloud_fixture as cf

from fenix_tools import host_agent

DONE = 'MAINTENANCE_DONE'
FAILED = 'MAINTENANCE_FAILED'
VERSION = '2026.2'
PLAYBOOKS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'etc',
    'fenix', 'playbooks')
INTERRUPTED = ('interrupted by an engine restart; not safe to repeat: '
               'retry it after checking the host')

# The shipped upgrade, held at its start until the test lets it go: it
# writes "<host> <attempt>" to {{ starts }} first, then waits for {{ go }}.
GATED = """\
- hosts: all
  gather_facts: false
  vars:
    fenix_idempotent: {idempotent}
  tasks:
    - lineinfile:
        path: "{{{{ starts }}}}"
        line: "{{{{ fenix_host }}}} {{{{ fenix_attempt }}}}"
        create: true
    - wait_for:
        path: "{{{{ go }}}}"
        timeout: 120
    - uri:
        url: "{{{{ sim_control_url }}}}/hosts/{{{{ fenix_host }}}}/upgrade"
        method: POST
        body_format: json
        body:
          version: "{{{{ openstack_version }}}}"
"""


class HostTestBase(testtools.TestCase):
    """A simulated cloud and Fenix allowed to run the test's programs."""

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(400, gentle=True))
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def start_cloud(self, topology):
        cloud = self.useFixture(cf.FenixCloud(topology, extra_config={
            'action_plugins': {
                'playbook_directories': '%s,%s' % (
                    os.path.realpath(PLAYBOOKS), self.tmp),
                'script_directories': self.tmp,
                # The reference agent of this checkout.
                'agent_command': '%s -m fenix_tools.host_agent'
                                 % sys.executable}}))

        def attach(exc_info):
            self.addDetail('fenix-log', content.text_content(
                cloud.log_tail(200)))
        self.addOnException(attach)
        return cloud

    def session(self, cloud, playbook, hosts=(), **extra_vars):
        extra_vars['sim_control_url'] = cloud.sim.control_url
        return cloud.create_session(
            hosts=list(hosts), metadata={'openstack_version': VERSION},
            actions=[{'plugin': 'ansible', 'type': 'compute',
                      'metadata': {'playbook': playbook,
                                   'connection': 'local', 'timeout': 180,
                                   'extra_vars': extra_vars}}])

    @staticmethod
    def upgrades(cloud, host=None):
        return [e for e in cloud.sim.get_events(kind='host.upgrade')
                if host is None or e['host'] == host]

    @staticmethod
    def runs(detail):
        return {r['hostname']: r for r in detail['action_plugin_runs']}


class AnsibleTestCase(HostTestBase):

    def test_every_compute_upgraded_once_while_empty(self):
        cloud = self.start_cloud(cf.topology(computes=3, servers=[
            {'name': 'a', 'project': 'tenant2', 'host': 'compute-0'},
            {'name': 'b', 'project': 'tenant2', 'host': 'compute-1'},
        ]))
        sid = self.session(cloud, 'simcloud-upgrade.yml')
        self.assertEqual(DONE, cloud.wait_final(sid))
        computes = ['compute-0', 'compute-1', 'compute-2']
        upgrades = self.upgrades(cloud)
        self.assertEqual(computes, sorted(u['host'] for u in upgrades))
        for u in upgrades:
            # Empty and disabled when it was upgraded.
            self.assertEqual(([], True, VERSION, '1.0'),
                             (u['servers'], u['disabled'], u['version'],
                              u['previous']), u)
        # Nova advertises the new version; no server was ever on a host
        # while it was in maintenance.
        for h in cloud.nova.hypervisors.list():
            if h.hypervisor_hostname in computes:
                self.assertEqual(2026002000, h.hypervisor_version)
        self.assertEqual([], cloud.sim.history.maintenance_violations(
            set(cloud.created())))
        runs = self.runs(cloud.detail(sid))
        self.assertEqual(computes, sorted(runs))
        for hostname, run in runs.items():
            self.assertEqual(('DONE', 1, 1, 0), (
                run['state'], run['attempt'], run['result']['changed'],
                run['result']['failed']), run)
            self.assertIn('PLAY RECAP', run['result']['tail'])

    def gated(self, idempotent):
        with open(os.path.join(self.tmp, 'gated.yml'), 'w') as f:
            f.write(GATED.format(idempotent='true' if idempotent
                                 else 'false'))
        starts = os.path.join(self.tmp, 'starts')
        go = os.path.join(self.tmp, 'go')

        def release():
            with open(go, 'w') as f:
                f.write('go')
        # The play the killed engine left running ends with the test.
        self.addCleanup(release)
        return starts, release

    def started(self, starts):
        if not os.path.exists(starts):
            return []
        with open(starts) as f:
            return f.read().split()[1::2]

    def kill_during_the_play(self, idempotent):
        cloud = self.start_cloud(cf.topology(computes=2))
        starts, release = self.gated(idempotent)
        sid = self.session(cloud, 'gated.yml', hosts=['compute-0'],
                           starts=starts, go=os.path.join(self.tmp, 'go'))
        base.wait_for(lambda: self.started(starts) == ['1'],
                      cf.SESSION_TIMEOUT, what='the play to start')
        # The engine dies while the play runs; the play goes on.
        cloud.kill_fenix()
        cloud.start_fenix()
        return cloud, sid, starts, release

    def test_engine_killed_during_a_play_does_not_play_it_twice(self):
        cloud, sid, starts, release = self.kill_during_the_play(False)
        self.assertEqual(FAILED, cloud.wait_final(sid))
        run = self.runs(cloud.detail(sid))['compute-0']
        self.assertEqual(('FAILED', 1, INTERRUPTED),
                         (run['state'], run['attempt'], run['message']))
        self.assertEqual(['1'], self.started(starts))
        # The play the dead engine started ends: one upgrade.
        release()
        self.assertIsNotNone(cloud.sim.wait_for_event(
            'host.upgrade', timeout=60, host='compute-0'))
        # The admin checked the host and continues: a new attempt, which
        # finds the host upgraded already.
        resp = cloud.client.put('/v1/maintenance/%s' % sid, {})
        self.assertEqual(200, resp.status_code, resp.text)
        self.assertEqual(DONE, cloud.wait_final(sid))
        self.assertEqual(['1', '2'], self.started(starts))
        self.assertEqual(1, len(self.upgrades(cloud, 'compute-0')))
        self.assertEqual({}, cloud.nova_disabled())

    def test_engine_killed_during_an_idempotent_play_plays_it_again(self):
        cloud, sid, starts, release = self.kill_during_the_play(True)
        base.wait_for(lambda: self.started(starts) == ['1', '2'],
                      cf.SESSION_TIMEOUT, what='the play to start again')
        release()
        self.assertEqual(DONE, cloud.wait_final(sid))
        run = self.runs(cloud.detail(sid))['compute-0']
        self.assertEqual(('DONE', 2), (run['state'], run['attempt']))
        # Played twice, upgraded once (the second upgrade changed nothing).
        self.assertEqual(1, len(self.upgrades(cloud, 'compute-0')))


# Run by the reference agent: fails on the first attempt, then upgrades
# the host through the simulator's control API.
AGENT_JOB = """\
#!/bin/sh
echo "$FENIX_HOST $FENIX_ATTEMPT" >> {runs}
if [ "$FENIX_ATTEMPT" = 1 ]; then echo "not yet"; exit 1; fi
curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{{"version": "{version}"}}' {url}/hosts/$FENIX_HOST/upgrade \
  >/dev/null || exit 2
echo "upgraded $FENIX_HOST"
"""


class HostAgentTestCase(HostTestBase):

    def test_agent_reports_its_attempt_and_an_old_attempt_is_refused(self):
        cloud = self.start_cloud(cf.topology(computes=2))
        runs = os.path.join(self.tmp, 'runs')
        job = os.path.join(self.tmp, 'job.sh')
        with open(job, 'w') as f:
            f.write(AGENT_JOB.format(runs=runs, version=VERSION,
                                     url=cloud.sim.control_url))
        os.chmod(job, stat.S_IRWXU)
        sid = cloud.create_session(
            hosts=['compute-0'], metadata={'openstack_version': VERSION},
            actions=[{'plugin': 'agent', 'type': 'host',
                      'metadata': {'command': ['job.sh'],
                                   'timeout': 120}}])
        # Attempt 1: the agent reports FAILED with the job's last line.
        self.assertEqual(FAILED, cloud.wait_final(sid))
        run = self.runs(cloud.detail(sid))['compute-0']
        self.assertEqual(('FAILED', 1, True, 'exit 1: not yet'),
                         (run['state'], run['attempt'], run['asynchronous'],
                          run['message']))
        # The admin retries: attempt 2 is handed to a new agent.
        resp = cloud.client.post('/v1/maintenance/%s' % sid,
                                 {'action': 'retry'})
        self.assertEqual(200, resp.status_code, resp.text)
        self.assertEqual(DONE, cloud.wait_final(sid))
        run = self.runs(cloud.detail(sid))['compute-0']
        self.assertEqual(('DONE', 2, 'upgraded compute-0'),
                         (run['state'], run['attempt'], run['message']))
        with open(runs) as f:
            self.assertEqual(['compute-0 1', 'compute-0 2'],
                             f.read().splitlines())
        self.assertEqual(1, len(self.upgrades(cloud, 'compute-0')))
        # An agent of attempt 1 reporting now is refused: it can never
        # end attempt 2.
        url = '%s/v1/action_plugin_run/%s/agent/compute-0' % (
            cloud.url, sid)
        code, answer = host_agent.send_report(
            url, {'state': 'FAILED', 'message': 'late', 'attempt': 1},
            retries=1)
        self.assertEqual(host_agent.EXIT_REFUSED, code)
        self.assertIn('Attempt 1 of action plug-in agent on compute-0 is '
                      'not the current one: the current attempt is 2',
                      answer)
        run = self.runs(cloud.detail(sid))['compute-0']
        self.assertEqual(('DONE', 2), (run['state'], run['attempt']))
