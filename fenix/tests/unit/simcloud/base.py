# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Shared fixtures: an in-process simulated cloud, real clients, and a
webhook receiver that records what AODH would POST to a VNFM."""
import http.server
import json
import os
import threading
import time

import fixtures
from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session
import testtools

from fenix.tests.unit import simcloud  # noqa: F401  (puts tools/ on path)
from fenix_tools.simcloud import server as sim_server
from fenix_tools.simcloud import topology

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..', '..'))
ETC = os.path.join(REPO, 'etc', 'simcloud')

# How long a test waits for something that should happen in milliseconds.
WAIT = 10.0


def small_topology(**overrides):
    """Three computes for two m1.small each, a controller, two tenants.

    compute-0 holds ha-0 (floating IP) and other-0 (tenant2), compute-1
    ha-1, compute-2 vm-0; ha-0 and ha-1 are in the anti-affinity group
    ``ha`` of tenant1.
    """
    topo = topology.two_tenants(
        name='unit',
        flavors=[{'id': '2', 'name': 'm1.large', 'vcpus': 2, 'ram': 4096,
                  'disk': 40}],
        server_groups=[{'name': 'ha', 'project': 'tenant1',
                        'policy': 'anti-affinity'}],
        servers=[
            {'name': 'ha-0', 'project': 'tenant1', 'flavor': 'm1.small',
             'server_group': 'ha', 'host': 'compute-0',
             'floating_ip': True},
            {'name': 'ha-1', 'project': 'tenant1', 'flavor': 'm1.small',
             'server_group': 'ha', 'host': 'compute-1'},
            {'name': 'vm-0', 'project': 'tenant1', 'flavor': 'm1.small',
             'host': 'compute-2'},
            {'name': 'other-0', 'project': 'tenant2',
             'flavor': 'm1.small', 'host': 'compute-0'},
        ],
        timing={'cold_migration': 0.05, 'live_migration': 0.05,
                'evacuate': 0.05, 'boot': 0.02})
    topo.update(overrides)
    return topo


class Receiver:
    """A tiny VNFM stand-in: records each POST (path, headers, JSON body).

    ``block(path)`` makes POSTs to that path wait until ``release(path)``.
    """

    def __init__(self):
        self.records = []
        self.cond = threading.Condition()
        self.gates = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def do_POST(self):
                length = int(self.headers.get('Content-Length') or 0)
                raw = self.rfile.read(length)
                gate = receiver.gates.get(self.path)
                if gate is not None:
                    gate.wait(WAIT * 3)
                with receiver.cond:
                    receiver.records.append({
                        'path': self.path, 'headers': dict(self.headers),
                        'body': json.loads(raw.decode('utf-8')),
                        't': time.monotonic()})
                    receiver.cond.notify_all()
                self.send_response(200)
                self.send_header('Content-Length', '0')
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     Handler)
        self.httpd.daemon_threads = True
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={'poll_interval': 0.1},
                                       daemon=True)
        self.thread.start()

    def block(self, path):
        self.gates[path] = threading.Event()

    def release(self, path):
        gate = self.gates.pop(path, None)
        if gate is not None:
            gate.set()

    def wait(self, count, path=None, timeout=WAIT):
        """Wait for ``count`` POSTs (to ``path``); return them."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [r for r in self.records
                         if path is None or r['path'] == path]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return found
                self.cond.wait(remaining)

    def stop(self):
        for path in list(self.gates):
            self.release(path)
        self.httpd.shutdown()
        self.httpd.server_close()


class SimCloudTestCase(testtools.TestCase):
    """Starts a SimCloud (``self.sim``) on a free loopback port."""

    def topology(self):
        return small_topology()

    def sim_kwargs(self):
        """Extra SimCloud arguments (e.g. a notification transport)."""
        return {}

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(120, gentle=True))
        # Loopback only: never let an environment proxy in the way.
        self.useFixture(fixtures.EnvironmentVariable('no_proxy', '*'))
        self.useFixture(fixtures.EnvironmentVariable('NO_PROXY', '*'))
        self.sim = sim_server.SimCloud(self.topology(), **self.sim_kwargs())
        self.url = self.sim.start()
        self.addCleanup(self.sim.stop)
        self.addCleanup(self._no_errors)

    def _no_errors(self):
        errors = self.sim.errors()
        self.assertEqual([], [e['error'] for e in errors],
                         'API handlers raised unexpected exceptions')

    def session(self, user='admin', project=None):
        return ks_session.Session(auth=v3.Password(
            **self.sim.auth_args(user, project)))

    def nova(self, user='admin', version='2.53'):
        from novaclient import client
        return client.Client(version, session=self.session(user))

    def aodh(self, user='admin'):
        from aodhclient import client
        return client.Client('2', session=self.session(user))

    def receiver(self):
        receiver = Receiver()
        self.addCleanup(receiver.stop)
        return receiver

    def server_id(self, name):
        for server in self.sim.cloud.servers.values():
            if server.name == name:
                return server.id
        raise KeyError(name)

    def wait_status(self, nova, server_id, status, timeout=WAIT):
        """Wait (on the event log, not by sleeping) for a server status."""
        def reached():
            with self.sim.lock:
                server = self.sim.cloud.servers.get(server_id)
                return server is not None and server.status == status
        self.assertTrue(self.sim.wait_until(reached, timeout),
                        'server %s never reached %s' % (server_id, status))
        return nova.servers.get(server_id)
