# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The fenix-simcloud command: URL on stdout, ready file, clean SIGTERM."""
import json
import os
import selectors
import signal
import subprocess
import sys

import fixtures
from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session
from novaclient import client as nova_client
import requests
import testtools

from fenix.tests.unit.simcloud import base
import fenix_tools

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(
    fenix_tools.__file__)))


class TestCommand(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(120, gentle=True))
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def start(self, *args):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [TOOLS, base.REPO, os.environ.get('PYTHONPATH', '')]),
            no_proxy='*')
        proc = subprocess.Popen(
            [sys.executable, '-m', 'fenix_tools.simcloud.cmd'] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.addCleanup(self._reap, proc)
        return proc

    def _reap(self, proc):
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()

    def first_line(self, proc, timeout=30):
        """Read the first stdout line without blocking forever."""
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        try:
            ready = sel.select(timeout)
        finally:
            sel.close()
        self.assertTrue(ready, 'fenix-simcloud printed nothing; stderr: %s'
                        % (proc.stderr.read() if proc.poll() is not None
                           else ''))
        return proc.stdout.readline().decode().strip()

    def test_serves_then_stops_on_sigterm(self):
        ready_file = os.path.join(self.tmp, 'ready.json')
        state_file = os.path.join(self.tmp, 'state.json')
        proc = self.start('--topology',
                          os.path.join(base.ETC, 'seed004.yaml'),
                          '--port', '0', '--ready-file', ready_file,
                          '--state-file', state_file,
                          '--maintenance-url', 'http://127.0.0.1:12333')
        url = self.first_line(proc)
        self.assertTrue(url.startswith('http://127.0.0.1:'), url)
        with open(ready_file) as f:
            info = json.load(f)
        self.assertEqual(url, info['url'])
        self.assertEqual(proc.pid, info['pid'])
        self.assertEqual(url + '/identity/v3', info['auth_url'])
        self.assertEqual('ok', requests.get(url + '/sim/health').json()[
            'status'])
        sess = ks_session.Session(auth=v3.Password(
            auth_url=info['auth_url'], username='fenix',
            password='fenixpass', project_name='service',
            user_domain_name='Default', project_domain_name='Default'))
        self.assertEqual('http://127.0.0.1:12333',
                         sess.get_endpoint(service_type='maintenance'))
        nova = nova_client.Client('2.53', session=sess)
        self.assertEqual(6, len(nova.servers.list(
            search_opts={'all_tenants': True})))
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(0, proc.wait(timeout=30))
        self.assertFalse(os.path.exists(ready_file))
        with open(state_file) as f:
            self.assertEqual(6, len(json.load(f)['servers']))

    def test_generate_and_bad_topology(self):
        proc = self.start('--generate', 'computes=20,servers=40,projects=2')
        url = self.first_line(proc)
        topo = requests.get(url + '/sim/topology').json()
        self.assertEqual(40, len(topo['servers']))
        proc.send_signal(signal.SIGINT)
        self.assertEqual(0, proc.wait(timeout=30))
        bad = os.path.join(self.tmp, 'bad.yaml')
        with open(bad, 'w') as f:
            f.write('hosts: [{name: a, type: router}]\n')
        proc = self.start('--topology', bad)
        self.assertEqual(2, proc.wait(timeout=30))
        self.assertIn(b'hosts[0].type', proc.stderr.read())
