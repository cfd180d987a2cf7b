# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``fenix-api`` with ``[api] workers = 2``: both workers answer from one
port, a killed worker is replaced, SIGTERM stops the supervisor and every
worker. And ``fenix.api.wsgi`` under gunicorn with two workers.

The reads need only the database (SQLite here, read by both workers) and
no engine: the message transport is the in-memory ``fake://``.
"""
import os
import shutil
import signal
import subprocess
import sys

import requests
import testtools

from fenix.tests.functional import base

HEADERS = {'X-User-Id': 'ft', 'X-Project-Id': 'admin', 'X-Roles': 'admin'}
WORKERS = 2
TIMEOUT = 60


def children(pid):
    """The pids of ``pid``'s child processes (Linux /proc)."""
    found = set()
    try:
        tasks = os.listdir('/proc/%d/task' % pid)
    except OSError:
        return found
    for task in tasks:
        try:
            with open('/proc/%d/task/%s/children' % (pid, task)) as f:
                found.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return found


def gone(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            # A zombie is gone too (its parent did not reap it yet).
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return True


class TestAPIWorkers(base.FunctionalTestCase):

    def setUp(self):
        super().setUp()
        self.port = base.free_port()
        self.conf = base.write_config(
            os.path.join(self.workdir, 'fenix.conf'), {
                'DEFAULT': {'transport_url': 'fake://'},
                'api': {'port': self.port, 'auth_strategy': 'noauth',
                        'workers': WORKERS},
                'database': {'connection': 'sqlite:///%s/fenix.sqlite'
                             % self.workdir},
            })
        subprocess.run([sys.executable, '-m', 'fenix.cmd.manage',
                        '--config-file', self.conf, 'db', 'upgrade'],
                       check=True, capture_output=True, timeout=120)
        self.api = self.start_process('fenix.cmd.api', self.conf, 'api')
        self.url = 'http://127.0.0.1:%d/v1/maintenance' % self.port

    def _answers(self):
        if not self.api.alive():
            raise AssertionError('fenix-api exited:\n' + self.api.log_tail())
        try:
            resp = requests.get(self.url, headers=HEADERS, timeout=5)
        except requests.RequestException:
            return False
        return resp.status_code == 200 and resp.json() == {'sessions': []}

    def _workers(self, count=WORKERS):
        found = children(self.api.proc.pid)
        return found if len(found) == count else None

    def test_workers_replaced_and_stopped(self):
        base.wait_for(self._answers, TIMEOUT, what='fenix-api to answer')
        first = base.wait_for(self._workers, TIMEOUT,
                              what='%d workers' % WORKERS)

        # Each of many fresh connections is answered, whichever worker
        # accepts it.
        for _ in range(20):
            self.assertTrue(self._answers())

        victim = sorted(first)[0]
        os.kill(victim, signal.SIGKILL)
        replaced = base.wait_for(
            lambda: (lambda w: w if w and victim not in w else None)(
                self._workers()), TIMEOUT, what='the killed worker to be '
            'replaced')
        self.assertIn(sorted(first)[1], replaced)
        base.wait_for(self._answers, TIMEOUT,
                      what='fenix-api to answer after the kill')
        self.assertIn('ended (signal SIGKILL)', self.api.log_tail(200))

        self.assertEqual(0, self.api.terminate(timeout=TIMEOUT))
        for pid in replaced:
            base.wait_for(lambda: gone(pid), TIMEOUT,
                          what='worker %d to stop' % pid)
        self.assertFalse(base.port_open(self.port))


class TestUnderGunicorn(base.FunctionalTestCase):
    """The documented serving under gunicorn (doc/source/admin.rst)."""

    def test_gunicorn_workers_answer_and_stop(self):
        gunicorn = shutil.which(
            'gunicorn', path=os.path.dirname(sys.executable)) or \
            shutil.which('gunicorn')
        if gunicorn is None:
            self.skipTest('gunicorn is not installed')
        port = base.free_port()
        conf = base.write_config(
            os.path.join(self.workdir, 'fenix.conf'), {
                'DEFAULT': {'transport_url': 'fake://'},
                'api': {'auth_strategy': 'noauth'},
                'database': {'connection': 'sqlite:///%s/fenix.sqlite'
                             % self.workdir},
            })
        subprocess.run([sys.executable, '-m', 'fenix.cmd.manage',
                        '--config-file', conf, 'db', 'upgrade'],
                       check=True, capture_output=True, timeout=120)
        log = os.path.join(self.workdir, 'gunicorn.log')
        with open(log, 'wb') as out:
            proc = subprocess.Popen(
                [gunicorn, '--workers', '2', '--threads', '4',
                 '--no-control-socket', '--bind', '127.0.0.1:%d' % port,
                 'fenix.api.wsgi:application'],
                env=dict(os.environ, FENIX_CONFIG_FILE=conf),
                stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.addOnException(lambda exc_info: self.addDetail(
            'gunicorn-log', testtools.content.text_content(
                open(log, errors='replace').read())))
        url = 'http://127.0.0.1:%d/v1/maintenance' % port

        def answers():
            if proc.poll() is not None:
                raise AssertionError('gunicorn exited')
            try:
                resp = requests.get(url, headers=HEADERS, timeout=5)
            except requests.RequestException:
                return False
            return resp.status_code == 200 and \
                resp.json() == {'sessions': []}
        base.wait_for(answers, TIMEOUT, what='gunicorn to answer')
        workers = base.wait_for(
            lambda: (lambda w: w if len(w) == 2 else None)(
                children(proc.pid)), TIMEOUT, what='2 gunicorn workers')
        for _ in range(10):
            self.assertTrue(answers())
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(0, proc.wait(TIMEOUT))
        for pid in workers:
            base.wait_for(lambda: gone(pid), TIMEOUT,
                          what='gunicorn worker %d to stop' % pid)
