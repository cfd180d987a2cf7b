# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix.engine.coordination: the database-only mode, and tooz over a
real Redis (127.0.0.1:6379; skipped when there is none). Each test uses a
group of its own."""
import socket
import time
import uuid

from fenix.db import api as db_api
from fenix.engine import coordination
from fenix.tests import base
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
            session.execute(db_api.sa.update(db_api.models.Engine).values(
                heartbeat_at=db_api.db_utc_now(db_api.sa.literal(
                    base.CONF.engine.takeover_after + 5))))
        # Its own beat is old too, but an engine is alive to itself.
        self.assertEqual({'e1'}, c.alive())
        ring = c.ring(c.alive())
        self.assertTrue(all(c.mine(str(uuid.uuid4()), ring)
                            for _ in range(10)))


class TestRedisMode(base.TestCase):

    def setUp(self):
        super().setUp()
        if not _redis_running():
            self.skipTest('no Redis on %s:%d' % REDIS)
        self.useFixture(db_fixture.Database())
        self.group = 'fenix-test-%s' % uuid.uuid4().hex

    def member(self, host, url=REDIS_URL):
        c = coordination.Coordinator(host, backend_url=url,
                                     group=self.group)
        c.start()
        self.addCleanup(c.stop)
        return c

    def test_membership_is_the_group(self):
        c1 = self.member('e1')
        self.assertEqual('tooz', c1.mode)
        self.assertEqual({'e1'}, c1.alive())
        c2 = self.member('e2')
        self.assertEqual({'e1', 'e2'}, c1.alive())
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
        self.assertIn('membership_timeout=2', c2._url())
        self.assertEqual({'e1', 'e2'}, c1.alive())

        def e2_gone():
            c1.heartbeat()
            return c1.alive() == {'e1'}
        # e2 beats no more (killed, stopped): gone after takeover_after,
        # by Redis's clock.
        started = time.monotonic()
        wait_for(e2_gone, what='e2 to expire')
        self.assertGreaterEqual(time.monotonic() - started, 1)
        # Back (SIGCONT): it finds itself gone and joins again.
        self.assertEqual({'e1', 'e2'}, c2.alive())
        self.assertEqual({'e1', 'e2'}, c1.alive())

    def test_url_options_are_kept(self):
        c = coordination.Coordinator(
            'e1', backend_url=REDIS_URL + '?membership_timeout=9&timeout=3',
            group=self.group)
        self.assertEqual(REDIS_URL + '?membership_timeout=9&timeout=3',
                         c._url())
        c = coordination.Coordinator(
            'e1', backend_url='zookeeper://127.0.0.1:2181', group='g')
        self.assertEqual('zookeeper://127.0.0.1:2181', c._url())
