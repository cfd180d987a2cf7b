# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The ``chaos_probe`` action plug-in's outside half: its agent, and the
entry point that lets a Fenix process find the plug-in.

``tools/chaos/chaos_probe.py`` runs inside the engine and POSTs every
start to :class:`ProbeAgent`, which records it and reports the run DONE
through Fenix's API a moment later. Used by the crash campaign
(``tools/chaos/campaign.py``) and by the multi-engine functional test,
which both count the starts (:func:`fenix_tools.chaos.tally.
duplicate_plugin_starts`). Nothing here imports Fenix.
"""
import logging
import os
import threading
import time

import requests

from fenix_tools import common
from fenix_tools import demo

LOG = logging.getLogger(__name__)

PROBE = 'chaos_probe'
PROBE_ENTRY_POINT = 'chaos_probe:ProbeAction'
PROBE_TYPES = ('pre', 'host', 'post')
# tools/chaos, where the plug-in's module lives.
PROBE_DIR = os.path.abspath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', 'chaos'))


def probe_path(root, workdir):
    """The ``PYTHONPATH`` entries a Fenix process of the checkout ``root``
    needs to load ``chaos_probe``: the plug-in's directory and a directory
    (made in ``workdir``) with its entry point and, unless Fenix is
    installed, Fenix's own (:func:`fenix_tools.demo.entry_point_shim`)."""
    shim = os.path.join(workdir, 'entry-points')
    os.makedirs(shim, exist_ok=True)
    demo.entry_point_shim(root, shim)
    info = os.path.join(shim, 'fenix_chaos_probe-0.0.0.dist-info')
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, 'METADATA'), 'w') as f:
        f.write('Metadata-Version: 2.1\nName: fenix-chaos-probe\n'
                'Version: 0.0.0\n')
    with open(os.path.join(info, 'entry_points.txt'), 'w') as f:
        f.write('[fenix.action.plugins]\n%s = %s\n'
                % (PROBE, PROBE_ENTRY_POINT))
    return [PROBE_DIR, shim]


def actions(agent_url, types=PROBE_TYPES):
    """A session's ``actions``: the probe as each of ``types``."""
    return [{'plugin': PROBE, 'type': t,
             'metadata': {'agent_url': agent_url}} for t in types]


class ProbeAgent(object):
    """The agent of the ``chaos_probe`` plug-in.

    Records every start the plug-in sends (``POST /start``), wakes whoever
    waits for one, and reports the run DONE through Fenix's API
    ``report_delay`` seconds later (bounded by ``deadline``, a monotonic
    time). A start repeating an attempt already reported is not reported
    again.

    The work on a host goes on while the engine is down, and in real
    clouds takes longer than an engine restart: a report that falls due
    while the engine is down (between :meth:`engine_down` and
    :meth:`engine_up`) is sent ``after_restart`` seconds after the engine
    is back, so that the restarted engine finds the run still going (a
    report queued in RabbitMQ would otherwise reach it before it resumes
    the session).
    """

    def __init__(self, fenix_url, report_delay, after_restart, deadline):
        self.fenix_url = fenix_url.rstrip('/')
        self.report_delay = report_delay
        self.after_restart = after_restart
        self.deadline = deadline
        self._up = threading.Event()
        self._up.set()
        self._up_at = 0.0
        self._restarts = 0
        self.server = common.JsonHTTPServer(name='chaos-agent')
        self.server.add_route('POST', '/start', self._on_start)
        self._cond = threading.Condition()
        self._starts = []
        self._reported = set()
        self._stop = threading.Event()
        self._threads = []
        self.errors = []

    @property
    def url(self):
        return self.server.url + '/start'

    def start(self):
        # An engine killed in the middle of its POST resets the
        # connection: expected here, not worth a traceback.
        self.server._httpd.handle_error = self._connection_error
        self.server.start()
        return self

    @staticmethod
    def _connection_error(request, client_address):
        LOG.debug('agent: request from %s broken off', client_address,
                  exc_info=True)

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self.server.stop()

    def starts(self):
        with self._cond:
            return [dict(s) for s in self._starts]

    def count(self):
        with self._cond:
            return len(self._starts)

    def wait_start(self, since, timeout):
        """The first start after the ``since`` first ones, or None."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._starts) > since, timeout)
            return (dict(self._starts[since])
                    if len(self._starts) > since else None)

    def _on_start(self, request):
        body = request.json() or {}
        start = {k: body.get(k) for k in ('session_id', 'plugin', 'type',
                                          'host', 'attempt', 'pid')}
        start['t'] = time.monotonic()
        key = (start['session_id'], start['plugin'], start['type'],
               start['host'], start['attempt'])
        with self._cond:
            self._starts.append(start)
            self._cond.notify_all()
            again = start['attempt'] is not None and key in self._reported
            self._reported.add(key)
            # Read with the start: a kill it triggers comes after.
            restarts = self._restarts
        if not again:
            thread = threading.Thread(target=self._report,
                                      args=(start, restarts),
                                      name='chaos-agent-report',
                                      daemon=True)
            self._threads.append(thread)
            thread.start()
        return 200, {'accepted': True}

    def engine_down(self):
        with self._cond:
            self._up.clear()
            self._restarts += 1

    def engine_up(self):
        with self._cond:
            self._up_at = time.monotonic()
            self._up.set()

    def _wait_engine(self, restarts):
        """Wait until the engine is up and, if it went down since
        ``restarts`` was read, ``after_restart`` seconds more. False
        when stopped or past the deadline."""
        while not self._stop.is_set():
            left = self.deadline - time.monotonic()
            if left <= 0:
                return False
            if not self._up.wait(min(left, 0.25)):
                continue
            with self._cond:
                restarted = self._restarts != restarts
                due = self._up_at + self.after_restart
            wait = due - time.monotonic() if restarted else 0
            if wait <= 0:
                return True
            if self._stop.wait(wait):
                return False
            return True
        return False

    def _report(self, start, restarts):
        if self._stop.wait(self.report_delay):
            return
        path = '/v1/action_plugin_run/%s/%s' % (
            start['session_id'], start['plugin'])
        if start['host']:
            path += '/' + start['host']
        body = {'state': 'DONE', 'message': 'chaos agent'}
        if start['attempt'] is not None:
            body['attempt'] = start['attempt']
        while self._wait_engine(restarts):
            with self._cond:
                restarts = self._restarts
            try:
                resp = requests.put(self.fenix_url + path, json=body,
                                    timeout=10)
                if resp.status_code < 300 or resp.status_code in (404,
                                                                  409):
                    return
                if resp.status_code == 400 and 'attempt' in body:
                    # An API that does not take the attempt yet.
                    body.pop('attempt')
                    continue
                if resp.status_code < 500:
                    self.errors.append('%s: %s %s' % (
                        path, resp.status_code, resp.text[:200]))
                    return
            except requests.RequestException:
                pass
            if self._stop.wait(0.25):
                return
