# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A burst of DELETEs of sessions whose downloads trickle.

:data:`SESSIONS` sessions of the all-in-one each download from a server
that sends one byte and then nothing (the trickling server of the
download unit tests); once every download hangs, every session is
DELETEd at the same moment, over HTTP, while a client keeps reading the
session list. Then:

* every DELETE answers 200 within :data:`DELETE_BOUND` seconds, and no
  answer during the burst is a 5xx;
* every download connection is closed by Fenix;
* every session is gone (404, not in the list);
* no thread is left: the all-in-one has as many threads as before the
  sessions were made (its API's worker pool is fixed in size here, so
  that its growth is not taken for a leak; Fenix runs no eventlet: its
  runners and downloads are OS threads, counted in /proc).

The figures (slowest DELETE, threads before, at the peak and after) are
attached as ``burst-figures``.
"""
import collections
import concurrent.futures
import json
import os
import threading
import time

from testtools import content

from fenix.tests.functional import base
from fenix.tests.functional import cloud_fixture
from fenix.tests.functional import databases
from fenix.tests.unit.workflow import local_servers

SESSIONS = 70
# Seconds one DELETE may take, from the burst's start (all 70 at once on
# a two-core machine).
DELETE_BOUND = 20
# Bounds of the waits for events (seconds).
TRICKLING_BOUND = 180
CLOSED_BOUND = 60
THREADS_BOUND = 60
# The API's worker threads (fixed: min = max), more than the burst's
# connections.
API_THREADS = SESSIONS + 10


def _threads(pid):
    return len(os.listdir('/proc/%d/task' % pid))


class DownloadBurstMixin(object):

    def setUp(self):
        super().setUp()
        extra = {
            'download': {'allowed_schemes': 'http',
                         'allowed_networks': '127.0.0.0/8'},
            'api': {'min_threads': API_THREADS,
                    'max_threads': API_THREADS},
            'engine': {'max_sessions': SESSIONS + 10},
        }
        extra = databases.extra_config(self, **extra)
        self.server = local_servers.Server(self)
        # Each connection trickles until Fenix closes it (or the test
        # has long failed).
        self.server.routes['/slow.rpm'] = local_servers.trickle(
            self.server, bound=TRICKLING_BOUND + CLOSED_BOUND + 60)
        self.cloud = self.useFixture(cloud_fixture.FenixCloud(
            cloud_fixture.topology(computes=2), extra_config=extra))
        self.addOnException(lambda exc_info: self.addDetail(
            'fenix-log', content.text_content(self.cloud.log_tail(200))))

    def _create(self, n):
        resp = self.cloud.client.post('/v1/maintenance', {
            'download': [self.server.url('/slow.rpm?n=%d' % n)],
            'metadata': {'n': n}})
        self.assertEqual(200, resp.status_code, resp.text)
        return resp.json()['session_id']

    def test_burst_of_deletes(self):
        client = self.cloud.client
        pid = self.cloud.fenix.pid
        self.assertEqual(200, client.get('/v1/maintenance').status_code)
        before = _threads(pid)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            sids = list(pool.map(self._create, range(SESSIONS)))
        self.assertEqual(SESSIONS, len(set(sids)))
        self.assertTrue(self.server.wait_count(
            'trickles', SESSIONS, TRICKLING_BOUND), self.server.counts)
        peak = _threads(pid)
        self.assertEqual(0, self.server.counts['gone'])

        # A reader all along the burst.
        reads = collections.Counter()
        stop = threading.Event()

        def read():
            while not stop.is_set():
                try:
                    reads[client.get('/v1/maintenance').status_code] += 1
                except Exception as e:
                    reads[type(e).__name__] += 1
                stop.wait(0.2)
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        self.addCleanup(stop.set)

        start = threading.Barrier(SESSIONS)

        def delete(sid):
            start.wait(TRICKLING_BOUND)
            began = time.monotonic()
            try:
                status = client.delete('/v1/maintenance/%s' % sid) \
                    .status_code
            except Exception as e:
                status = type(e).__name__
            return sid, status, time.monotonic() - began

        with concurrent.futures.ThreadPoolExecutor(SESSIONS) as pool:
            answers = list(pool.map(delete, sids))
        stop.set()
        reader.join(30)

        slowest = max(a[2] for a in answers)
        statuses = collections.Counter(a[1] for a in answers)
        closed = self.server.wait_count('gone', SESSIONS, CLOSED_BOUND)
        listed = {s['session_id'] for s in
                  client.get('/v1/maintenance').json()['sessions']}

        # The threads end after their answers: wait for them (bounded).
        def back():
            return _threads(pid) <= before
        try:
            base.wait_for(back, THREADS_BOUND, interval=0.2,
                          what='the threads of before the sessions')
        except AssertionError:
            pass
        after = _threads(pid)
        figures = {'sessions': SESSIONS, 'delete_statuses': dict(statuses),
                   'slowest_delete': round(slowest, 2),
                   'reads_during_burst': dict(reads),
                   'threads_before': before, 'threads_peak': peak,
                   'threads_after': after, 'downloads': self.server.counts}
        self.addDetail('burst-figures', content.text_content(
            json.dumps(figures, default=str, sort_keys=True)))

        self.assertEqual({200: SESSIONS}, dict(statuses), answers)
        self.assertLessEqual(slowest, DELETE_BOUND, figures)
        self.assertEqual([], [s for s in reads
                              if not (isinstance(s, int) and s < 500)],
                         figures)
        self.assertTrue(closed, figures)
        self.assertEqual(set(), listed & set(sids))
        for sid in sids[:5] + sids[-5:]:
            self.assertEqual(404, client.get('/v1/maintenance/%s' % sid)
                             .status_code)
        # The runners and their downloads were threads: at the peak
        # there were (at least) one per session more.
        self.assertGreaterEqual(peak, before + SESSIONS, figures)
        self.assertLessEqual(after, before, figures)


class TestDownloadBurstSQLite(databases.SQLiteMixin, DownloadBurstMixin,
                              base.FunctionalTestCase):
    pass


class TestDownloadBurstPostgreSQL(databases.PostgreSQLMixin,
                                  DownloadBurstMixin,
                                  base.FunctionalTestCase):
    pass
