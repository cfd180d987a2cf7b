# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Two fenix-engine processes over RabbitMQ and MariaDB: the owner of a
session is killed (SIGKILL) or stalled (SIGSTOP past ``takeover_after``,
then SIGCONT); the other engine takes the session over within seconds and
the stalled one, back, is fenced: its late writes are refused and logged,
and the session ends MAINTENANCE_DONE with every step done once.

Same prerequisites as test_rabbit_mariadb (skipped without them).
"""
import configparser
import os
import signal
import time

import sqlalchemy as sa

from fenix.tests import coordination_backends as backends
from fenix.tests.functional import base
from fenix.tests.functional import test_rabbit_mariadb as rm

# The defaults of [engine] heartbeat_interval and takeover_after: a killed
# engine's sessions must go on elsewhere within TAKEOVER_LIMIT seconds.
HEARTBEAT = 2
TAKEOVER_AFTER = 6
TAKEOVER_LIMIT = 10
FENCED_LOG = 'no longer owns it'


class TestTwoEngines(rm.TestSeparateProcesses):

    # The base class's single-engine test is not run here.
    test_engine_killed_and_restarted_mid_session = None
    # [coordination] backend_url (empty: the database only).
    BACKEND_URL = ''
    # A takeover slower than its bound is judged from both engines' beats,
    # ring and claims (a locked row): their logs are kept with a failure.
    LOG_TAIL_LINES = 3000

    def setUp(self):
        super().setUp()
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(self.conf)
        # The defaults (the base class beats every second).
        parser.remove_option('engine', 'heartbeat_interval')
        parser.remove_option('engine', 'takeover_after')
        if self.BACKEND_URL:
            parser['coordination'] = {
                'backend_url': self.BACKEND_URL,
                'group': self.unique('fenix-ft-engines')}
        with open(self.conf, 'w') as f:
            parser.write(f)
        parser['engine']['host'] = 'engine-b'
        self.conf_b = os.path.join(self.workdir, 'fenix-b.conf')
        with open(self.conf_b, 'w') as f:
            parser.write(f)
        # engine-a (started by the base class) read the old file: again.
        self.engine.terminate()
        self.engines = {
            'engine-a': self.start_process('fenix.cmd.engine', self.conf,
                                           'engine-a'),
            'engine-b': self.start_process('fenix.cmd.engine', self.conf_b,
                                           'engine-b')}
        self.db = sa.create_engine(rm.MYSQL_URL % self.db_name)
        self.addCleanup(self.db.dispose)
        base.wait_for(lambda: len(self._query(
            'SELECT host FROM engines')) == 2, 60, interval=0.2,
            what='both engines beating')

    def _query(self, sql, **params):
        with self.db.connect() as conn:
            return conn.execute(sa.text(sql), params).fetchall()

    def _owner(self, sid):
        return self._query('SELECT engine FROM sessions WHERE session_id '
                           '= :sid', sid=sid)[0][0]

    def _create(self):
        resp = base.wait_for(
            lambda: (lambda r: r if r.status_code == 200 else None)(
                self.client.post('/v1/maintenance', {
                    'workflow': 'wait_reply', 'hosts': ['h1', 'h2'],
                    'actions': [{'plugin': 'dummy', 'type': 'host'}],
                    'metadata': {'projects': [rm.PROJECT]}})),
            60, interval=0.5, what='an engine to answer a create')
        sid = resp.json()['session_id']
        self.client.wait_project_event(sid, rm.PROJECT, 'MAINTENANCE')
        return sid

    def _took_over(self, sid, owner):
        rows = self._query(
            "SELECT message FROM session_events WHERE session_id = :sid "
            "AND message LIKE :m", sid=sid, m='%% took over from %s' % owner)
        return bool(rows)

    def _reply(self, sid, state):
        # An engine that is stopped may get the RPC: its time-out is a
        # 503; the client sends again.
        base.wait_for(lambda: rm.TestSeparateProcesses._reply(
            self, sid, state).status_code == 200, 90, interval=0.5,
            what='reply %s taken' % state)

    def _finish(self, sid):
        self._reply(sid, 'ACK_MAINTENANCE')
        self.client.wait_project_event(sid, rm.PROJECT,
                                       'MAINTENANCE_COMPLETE', timeout=90)
        self._reply(sid, 'ACK_MAINTENANCE_COMPLETE')
        self.client.wait_state(sid, 'MAINTENANCE_DONE', timeout=90)

    def _assert_each_step_once(self, sid):
        steps = self._query(
            'SELECT kind, host, state FROM steps WHERE session_id = :sid',
            sid=sid)
        self.assertTrue(steps)
        self.assertEqual({'DONE'}, {s.state for s in steps}, steps)
        keys = [(s.kind, s.host) for s in steps]
        self.assertEqual(len(keys), len(set(keys)), keys)
        runs = self._query(
            'SELECT hostname, attempt, state FROM action_plugin_runs '
            'WHERE session_id = :sid', sid=sid)
        self.assertEqual([('h1', 1, 'DONE'), ('h2', 1, 'DONE')],
                         sorted(tuple(r) for r in runs))
        # The project was told each event once (no event sent again by
        # the engine that took over).
        sent = [m for (m,) in self._query(
            "SELECT message FROM session_events WHERE session_id = :sid "
            "AND kind = 'notify'", sid=sid)]
        self.assertEqual(2, len(sent), sent)
        states = [m for (m,) in self._query(
            "SELECT message FROM session_events WHERE session_id = :sid "
            "AND kind = 'state' AND message LIKE '%% -> %%' ORDER BY id",
            sid=sid)]
        self.assertEqual(len(states), len(set(states)), states)

    def test_killed_engine_taken_over_within_seconds(self):
        sid = self._create()
        owner = self._owner(sid)
        other = ({'engine-a', 'engine-b'} - {owner}).pop()
        killed = time.monotonic()
        self.engines[owner].proc.send_signal(signal.SIGKILL)
        self.engines[owner].proc.wait(30)
        base.wait_for(lambda: self._took_over(sid, owner), 60,
                      interval=0.05, what='the takeover')
        took = time.monotonic() - killed
        print('TAKEOVER after SIGKILL: %.2f s (heartbeat_interval %s, '
              'takeover_after %s)' % (took, HEARTBEAT, TAKEOVER_AFTER))
        self.addDetail('takeover-seconds', base.testtools.content
                       .text_content('%.2f' % took))
        self.assertLess(took, TAKEOVER_LIMIT)
        self.assertEqual(other, self._owner(sid))
        self._finish(sid)
        self._assert_each_step_once(sid)

    def test_stalled_engine_is_fenced_when_it_comes_back(self):
        sid = self._create()
        owner = self._owner(sid)
        other = ({'engine-a', 'engine-b'} - {owner}).pop()
        stalled = self.engines[owner]
        stalled.proc.send_signal(signal.SIGSTOP)
        self.addCleanup(lambda: stalled.alive() and
                        stalled.proc.send_signal(signal.SIGCONT))
        base.wait_for(lambda: self._took_over(sid, owner), 60,
                      interval=0.05, what='the takeover')
        self.assertEqual(other, self._owner(sid))
        # The new owner goes on while the old one is stopped.
        self._reply(sid, 'ACK_MAINTENANCE')
        self.client.wait_project_event(sid, rm.PROJECT,
                                       'MAINTENANCE_COMPLETE', timeout=90)
        # Back: its runner (woken by its beat's ownership check or by its
        # own next write) is refused, logs it once and stops.
        stalled.proc.send_signal(signal.SIGCONT)

        def fenced():
            with open(stalled.log_path, errors='replace') as f:
                return FENCED_LOG in f.read()
        base.wait_for(fenced, 60, interval=0.2,
                      what='the stalled engine to be fenced')
        self._reply(sid, 'ACK_MAINTENANCE_COMPLETE')
        self.client.wait_state(sid, 'MAINTENANCE_DONE', timeout=90)
        self._assert_each_step_once(sid)
        self.assertTrue(stalled.alive())
        with open(stalled.log_path, errors='replace') as f:
            log = f.read()
        self.assertEqual(1, log.count(FENCED_LOG), log[-3000:])
        print('FENCED: %s' % [line for line in log.splitlines()
                              if FENCED_LOG in line][0])
        self.assertNotIn('runner crashed', log)
        self.assertNotIn('MAINTENANCE_FAILED', log)
        self.assertEqual(other, self._owner(sid))


class _ToozEngines(object):

    def test_engines_say_they_coordinate_through_tooz(self):
        for proc in self.engines.values():
            base.wait_for(lambda: 'coordination: tooz' in proc.log_tail(400),
                          30, what='the engine log')


class TestTwoEnginesRedis(_ToozEngines, TestTwoEngines):
    """The same with tooz over the local Redis: liveness is the group's
    membership, the database's generation still fences."""

    def setUp(self):
        if not base.port_open(6379):
            self.skipTest('Redis not running on localhost')
        # tooz keeps a member's heartbeat by its name, whatever its group:
        # a namespace of the test's own keeps its engine-a and engine-b
        # apart from those of a test running at the same time.
        self.BACKEND_URL = 'redis://127.0.0.1:6379?namespace=%s' % (
            self.unique('fenix-ft-two'))
        super().setUp()


class TestTwoEnginesEtcd(_ToozEngines, TestTwoEngines):
    """The same over etcd v3 (etcd3gw; FENIX_TEST_ETCD_URL, e.g. from
    tools/ci/ensure-etcd.sh): an engine's member key is bound to its
    lease, whose TTL is takeover_after."""

    def setUp(self):
        self.BACKEND_URL = backends.url_or_skip(self, backends.ETCD)
        super().setUp()


class TestTwoEnginesZooKeeper(_ToozEngines, TestTwoEngines):
    """The same over ZooKeeper (kazoo; FENIX_TEST_ZOOKEEPER_URL, e.g. from
    tools/ci/ensure-zookeeper.sh): an engine's member node is ephemeral,
    gone when its session (time-out takeover_after) expires."""

    def setUp(self):
        self.BACKEND_URL = backends.url_or_skip(self, backends.ZOOKEEPER)
        super().setUp()
