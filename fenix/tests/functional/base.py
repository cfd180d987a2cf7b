# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Helpers for functional tests: real Fenix processes over HTTP."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import fixtures
import requests
import testtools

from fenix_tools import common as tools_common


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def port_open(port, host='127.0.0.1'):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


write_config = tools_common.write_ini


class FenixProcess(object):
    """One Fenix command run as a child process, with its log file."""

    def __init__(self, module, config_file, log_path):
        self.module = module
        self.config_file = config_file
        self.log_path = log_path
        self.proc = None

    def start(self):
        log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen(
            [sys.executable, '-m', self.module, '--config-file',
             self.config_file], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout=30):
        """SIGTERM and wait; returns the exit code."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(30)

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except OSError:
            return ''


def wait_for(predicate, timeout, interval=0.1, what='condition'):
    """Poll ``predicate`` until it returns something true; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %ss waiting for %s'
                                 % (timeout, what))
        time.sleep(interval)


class FenixClient(object):
    """A tiny REST client for the tests (noauth headers optional)."""

    def __init__(self, base_url, headers=None):
        self.base_url = base_url.rstrip('/')
        self.headers = headers or {}

    def request(self, method, path, body=None, headers=None):
        h = dict(self.headers)
        h.update(headers or {})
        return requests.request(method, self.base_url + path, json=body,
                                headers=h, timeout=60)

    def get(self, path, **kw):
        return self.request('GET', path, **kw)

    def post(self, path, body, **kw):
        return self.request('POST', path, body, **kw)

    def put(self, path, body, **kw):
        return self.request('PUT', path, body, **kw)

    def delete(self, path, **kw):
        return self.request('DELETE', path, **kw)

    def session_state(self, session_id):
        resp = self.get('/v1/maintenance/%s' % session_id)
        return resp.json().get('state') if resp.status_code == 200 else None

    def wait_state(self, session_id, states, timeout=60):
        states = (states,) if isinstance(states, str) else tuple(states)
        return wait_for(lambda: self.session_state(session_id) in states
                        and self.session_state(session_id), timeout,
                        what='session %s to reach %s' % (session_id, states))

    def wait_project_event(self, session_id, project_id, event, timeout=60):
        def seen():
            resp = self.get('/v1/maintenance/%s/%s' % (session_id,
                                                       project_id))
            return resp.status_code == 200 and \
                resp.json().get('state') == event
        return wait_for(seen, timeout, what='%s to project %s'
                        % (event, project_id))


class FunctionalTestCase(testtools.TestCase):

    # Lines of each process's log kept with a failed test.
    LOG_TAIL_LINES = 60

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(600, gentle=True))
        self.workdir = tempfile.mkdtemp(prefix='fenix-ft-')
        self.addCleanup(self._remove_workdir)
        self.processes = []

    def _remove_workdir(self):
        import shutil
        shutil.rmtree(self.workdir, ignore_errors=True)

    def start_process(self, module, config_file, name):
        proc = FenixProcess(module, config_file,
                            os.path.join(self.workdir, name + '.log'))
        proc.start()
        self.processes.append(proc)
        self.addCleanup(proc.kill)
        self.addOnException(lambda exc_info: self.addDetail(
            name + '-log', testtools.content.text_content(
                proc.log_tail(self.LOG_TAIL_LINES))))
        return proc

    def wait_api(self, port, proc=None, timeout=60):
        def up():
            if proc is not None and not proc.alive():
                raise AssertionError('process exited:\n' + proc.log_tail())
            try:
                return requests.get('http://127.0.0.1:%s/healthcheck' % port,
                                    timeout=2).status_code == 200
            except requests.RequestException:
                return False
        wait_for(up, timeout, what='API on port %s' % port)

    @staticmethod
    def unique(prefix):
        return '%s-%s' % (prefix, uuid.uuid4().hex[:8])
