# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix.engine.coordination: the database-only mode, and tooz over a
real Redis (127.0.0.1:6379; skipped when there is none), a real etcd and a
real ZooKeeper (opportunistic: fenix.tests.coordination_backends). Each
test uses a group of its own."""
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import sqlalchemy as sa

from fenix.db import api as db_api
from fenix.db.sqlalchemy import models
from fenix.engine import coordination
from fenix.tests import base
from fenix.tests import coordination_backends as backends
from fenix.tests import db_fixture

REDIS = ('127.0.0.1', 6379)
REDIS_URL = 'redis://%s:%d' % REDIS
WAIT = 30


def _redis_running():
    try:
        socket.create_connection(REDIS, timeout=1).close()
        return True
    except OSError:
        return False


def wait_for(predicate, timeout=WAIT, what='condition'):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for %s' % what)
        time.sleep(0.05)


class TestHashRing(base.TestCase):

    def test_same_members_same_owner_and_few_moves(self):
        keys = [str(uuid.uuid5(uuid.NAMESPACE_OID, str(i)))
                for i in range(300)]
        three = coordination.HashRing(['e1', 'e2', 'e3'], 32)
        again = coordination.HashRing(['e3', 'e1', 'e2'], 32)
        self.assertEqual([three.owner(k) for k in keys],
                         [again.owner(k) for k in keys])
        counts = {e: [three.owner(k) for k in keys].count(e)
                  for e in ('e1', 'e2', 'e3')}
        # Every engine has a share.
        self.assertTrue(all(counts.values()), counts)
        # e3 leaves: only its keys move.
        two = coordination.HashRing(['e1', 'e2'], 32)
        for k in keys:
            if three.owner(k) != 'e3':
                self.assertEqual(three.owner(k), two.owner(k))
        self.assertIsNone(coordination.HashRing([], 32).owner('x'))


class TestDatabaseMode(base.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())

    def test_alive_by_database_heartbeats(self):
        c = coordination.Coordinator('e1', backend_url='')
        self.assertEqual('database', c.mode)
        c.start()
        self.addCleanup(c.stop)
        self.assertEqual({'e1'}, c.alive())
        db_api.engine_heartbeat('e2')
        self.assertEqual({'e1', 'e2'}, c.alive())
        with db_api.transaction() as session:
            session.execute(sa.update(models.Engine).values(
                heartbeat_at=db_api.db_utc_now(sa.literal(
                    base.CONF.engine.takeover_after + 5))))
        # Its own beat is old too, but an engine is alive to itself.
        self.assertEqual({'e1'}, c.alive())
        ring = c.ring(c.alive())
        self.assertTrue(all(c.mine(str(uuid.uuid4()), ring)
                            for _ in range(10)))
        # Another caller (a full engine forwarding a create) reads the
        # heartbeats itself.
        db_api.engine_heartbeat('e3')
        self.assertEqual({'e1', 'e3'}, c.known_alive())


class _ToozModeTests(object):
    """The same tests over each tooz backend: a subclass sets URL (in
    setUp, or skips) and EXPIRY_OPTION, the URL option that Fenix sets to
    takeover_after."""

    EXPIRY_OPTION = None

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.group = 'fenix-test-%s' % uuid.uuid4().hex

    def member(self, host, url=None):
        c = coordination.Coordinator(host, backend_url=url or self.URL,
                                     group=self.group)
        c.start()
        self.addCleanup(c.stop)
        return c

    def test_membership_is_the_group(self):
        c1 = self.member('e1')
        self.assertEqual('tooz', c1.mode)
        self.assertEqual({'e1'}, c1.alive())
        c2 = self.member('e2')
        # Another caller than the heartbeat (a full engine forwarding a
        # create) sees the members as of the heartbeat's last look.
        self.assertEqual({'e1'}, c1.known_alive())
        self.assertEqual({'e1', 'e2'}, c1.alive())
        self.assertEqual({'e1', 'e2'}, c1.known_alive())
        self.assertEqual({'e1', 'e2'}, c2.alive())
        # Both agree on the share of each session.
        ring1, ring2 = c1.ring(c1.alive()), c2.ring(c2.alive())
        for _ in range(20):
            sid = str(uuid.uuid4())
            self.assertNotEqual(c1.mine(sid, ring1), c2.mine(sid, ring2))
        # Beats go to the database too (for /metrics and the operator).
        self.assertEqual({'e1', 'e2'},
                         {e['host'] for e in db_api.engines_get()})
        # A clean stop leaves the group at once.
        c2.stop()
        self.assertEqual({'e1'}, c1.alive())

    def test_an_engine_that_stops_beating_expires(self):
        self.config(group='engine', takeover_after=2)
        c1 = self.member('e1')
        c2 = self.member('e2')
        self.assertIn('%s=2' % self.EXPIRY_OPTION, c2._url())
        self.assertEqual({'e1', 'e2'}, c1.alive())

        def e2_gone():
            c1.heartbeat()
            return c1.alive() == {'e1'}
        # e2 beats no more (killed, stopped): gone after takeover_after,
        # by the backend's clock.
        started = time.monotonic()
        wait_for(e2_gone, what='e2 to expire')
        self.assertGreaterEqual(time.monotonic() - started, 1)
        # Back (SIGCONT): it finds itself gone and joins again.
        self.assertEqual({'e1', 'e2'}, c2.alive())
        self.assertEqual({'e1', 'e2'}, c1.alive())


class TestRedisMode(_ToozModeTests, base.TestCase):

    URL = REDIS_URL
    EXPIRY_OPTION = 'membership_timeout'

    def setUp(self):
        if not _redis_running():
            self.skipTest('no Redis on %s:%d' % REDIS)
        # tooz keeps a member's heartbeat by its name, whatever its group:
        # tests running at once (each with its own e1 and e2) keep theirs
        # apart by a namespace of their own.
        self.URL = '%s?namespace=fenix-test-%s' % (REDIS_URL,
                                                   uuid.uuid4().hex)
        super().setUp()

    def test_url_options_are_kept(self):
        c = coordination.Coordinator(
            'e1', backend_url=REDIS_URL + '?membership_timeout=9&timeout=3',
            group=self.group)
        self.assertEqual(REDIS_URL + '?membership_timeout=9&timeout=3',
                         c._url())
        # Every backend's own expiry option, set unless the URL has it.
        self.config(group='engine', takeover_after=7)
        for url, expected in (
                ('etcd3+http://127.0.0.1:2379',
                 'etcd3+http://127.0.0.1:2379?membership_timeout=7'),
                ('etcd3+https://h:2379?ca_cert=/c',
                 'etcd3+https://h:2379?ca_cert=/c&membership_timeout=7'),
                ('etcd3+http://h:2379?membership_timeout=9',
                 'etcd3+http://h:2379?membership_timeout=9'),
                ('zookeeper://127.0.0.1:2181',
                 'zookeeper://127.0.0.1:2181?timeout=7'),
                ('kazoo://h:2181?timeout=4', 'kazoo://h:2181?timeout=4'),
                ('memcached://h:11211', 'memcached://h:11211')):
            c = coordination.Coordinator('e1', backend_url=url, group='g')
            self.assertEqual(expected, c._url())


class TestEtcdMode(_ToozModeTests, base.TestCase):
    """etcd v3 through its gRPC gateway (etcd3gw): a member's key is
    bound to the engine's lease, whose TTL is takeover_after."""

    EXPIRY_OPTION = 'membership_timeout'

    def setUp(self):
        self.URL = backends.url_or_skip(self, backends.ETCD)
        super().setUp()

    def test_lease_ttl_is_takeover_after(self):
        self.config(group='engine', takeover_after=5)
        c = self.member('e1')
        # A keep-alive answers the TTL etcd granted the lease.
        self.assertEqual(5, c._tooz._membership_lease.refresh())


# A member in a process of its own, SIGKILLed: kazoo keeps its session
# from a thread of its own, so only a process that is gone (or stopped)
# lets a ZooKeeper session expire.
_ZK_CHILD = """
import sys, time
from tooz import coordination as c
m = c.get_coordinator(sys.argv[1], b'e2')
m.start(start_heart=False)
try:
    m.create_group(sys.argv[2].encode()).get()
except c.GroupAlreadyExist:
    pass
m.join_group(sys.argv[2].encode()).get()
print('joined', flush=True)
time.sleep(120)
"""


class TestZooKeeperMode(_ToozModeTests, base.TestCase):
    """ZooKeeper through kazoo: a member is an ephemeral node of the
    engine's session, whose time-out is takeover_after (within the
    server's bounds: 2 to 20 tickTimes)."""

    EXPIRY_OPTION = 'timeout'

    def setUp(self):
        self.URL = backends.url_or_skip(self, backends.ZOOKEEPER)
        super().setUp()

    def test_session_timeout_is_takeover_after(self):
        self.config(group='engine', takeover_after=5)
        c = self.member('e1')
        # The time-out the server granted, in milliseconds.
        self.assertEqual(5000, c._tooz._coord._session_timeout)

    def test_an_engine_that_stops_beating_expires(self):
        self.config(group='engine', takeover_after=2)
        c1 = self.member('e1')
        url = coordination.Coordinator('e2', backend_url=self.URL)._url()
        self.assertIn('timeout=2', url)
        child = subprocess.Popen(
            [sys.executable, '-c', _ZK_CHILD, url, self.group],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=dict(os.environ, PYTHONWARNINGS='ignore'))
        self.addCleanup(child.stdout.close)
        self.addCleanup(child.wait)
        self.addCleanup(lambda: child.poll() is None and child.kill())
        self.assertEqual(b'joined\n', child.stdout.readline())
        self.assertEqual({'e1', 'e2'}, c1.alive())
        child.send_signal(signal.SIGKILL)
        child.wait()
        # Gone after takeover_after, by the server's clock.
        started = time.monotonic()
        wait_for(lambda: c1.alive() == {'e1'}, what='e2 to expire')
        self.assertGreaterEqual(time.monotonic() - started, 1)
