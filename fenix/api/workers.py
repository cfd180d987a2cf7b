# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``fenix-api`` with ``[api] workers`` > 1: a supervisor and its workers.

One Python process serves on one core at a time (the GIL), whatever its
threads. With N workers the supervisor opens the listening socket once
and forks N processes that accept on it; each builds, after the fork, its
own WSGI application, cheroot server, database engine and message
transport (none of them exists in the supervisor, so no connection or
thread is shared across a fork). The supervisor serves nothing: it
replaces a worker that dies (at once, or after a growing delay when
workers die right after they start, so a broken configuration does not
fork in a loop) and on SIGTERM or SIGINT passes SIGTERM to every worker,
waits for them (:data:`STOP_TIMEOUT`), kills those still there and
exits. A worker whose supervisor dies gets SIGTERM from the kernel
(Linux ``PR_SET_PDEATHSIG``).

The API keeps no state of its own between requests (reads come from the
database, writes go to the engine), so any worker may answer any
request. Each worker answers ``/healthcheck`` from its own cached check.
"""
import ctypes
import ctypes.util
import os
import signal
import threading
import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# Seconds the workers get to finish after SIGTERM before SIGKILL.
STOP_TIMEOUT = 15
# A worker that dies sooner than this after its start is replaced only
# after a delay, doubled at each such death up to MAX_RESPAWN_DELAY.
MIN_UPTIME = 5.0
FIRST_RESPAWN_DELAY = 0.5
MAX_RESPAWN_DELAY = 30.0
# Longest the supervisor sleeps between two looks at its workers (it is
# woken at once by SIGCHLD, SIGTERM and SIGINT).
POLL_INTERVAL = 1.0
# Exit status of a worker whose serve function raised.
WORKER_FAILED = 1

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """Ask the kernel for SIGTERM when the supervisor dies (Linux only;
    elsewhere a worker outlives a supervisor that was SIGKILLed)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6',
                           use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class Supervisor(object):
    """Forks ``count`` workers running ``serve(index)`` and keeps them.

    :param count: number of workers.
    :param serve: called in each worker (after the fork) with the
        worker's index; returns the worker's exit status once the worker
        is told to stop (it installs its own SIGTERM handler).
    """

    def __init__(self, count, serve):
        self.count = count
        self.serve = serve
        self.children = {}        # pid -> (index, monotonic start)
        self._delay = {}          # index -> next respawn delay
        self._due = {}            # index -> monotonic time of respawn
        self._wake = threading.Event()
        self._stopping = False
        self._pid = os.getpid()

    # -- signals ----------------------------------------------------------
    def _on_stop(self, signum, frame):
        self._stopping = True
        self._wake.set()

    def _on_child(self, signum, frame):
        self._wake.set()

    # -- workers ----------------------------------------------------------
    def _spawn(self, index):
        pid = os.fork()
        if pid == 0:
            self._run_worker(index)   # never returns
        self.children[pid] = (index, time.monotonic())
        LOG.info('Started API worker %d (pid %d)', index, pid)
        return pid

    def _run_worker(self, index):
        status = WORKER_FAILED
        try:
            # The supervisor's handlers must not run here; until serve()
            # installs its own, SIGTERM simply ends the worker.
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            _die_with_parent()
            if os.getppid() != self._pid:
                os._exit(0)   # the supervisor died during the fork
            status = self.serve(index)
            status = 0 if status is None else status
        except BaseException:
            LOG.exception('API worker %d failed', index)
        finally:
            # Never return into the supervisor's code, nor run its
            # atexit handlers.
            os._exit(status)

    def _reap(self):
        """Collect dead workers; schedule their replacements."""
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid not in self.children:
                continue
            index, started = self.children.pop(pid)
            if self._stopping:
                continue
            lived = time.monotonic() - started
            LOG.warning('API worker %d (pid %d) ended (%s) after %.1f s; '
                        'replacing it', index, pid, _describe(status),
                        lived)
            if lived < MIN_UPTIME:
                delay = self._delay.get(index, FIRST_RESPAWN_DELAY)
                self._delay[index] = min(delay * 2, MAX_RESPAWN_DELAY)
            else:
                delay = 0
                self._delay.pop(index, None)
            self._due[index] = time.monotonic() + delay

    def _respawn_due(self):
        now = time.monotonic()
        for index, due in sorted(self._due.items()):
            if due <= now:
                del self._due[index]
                self._spawn(index)

    def _next_wait(self):
        if not self._due:
            return POLL_INTERVAL
        return max(0.0, min(POLL_INTERVAL,
                            min(self._due.values()) - time.monotonic()))

    def _stop_all(self):
        for pid in list(self.children):
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.children and time.monotonic() < deadline:
            self._reap()
            if self.children:
                self._wake.wait(0.1)
                self._wake.clear()
        for pid in list(self.children):
            LOG.warning('API worker pid %d did not stop within %d s: '
                        'killed', pid, STOP_TIMEOUT)
            _signal(pid, signal.SIGKILL)
        while self.children:
            pid, _status = os.waitpid(-1, 0)
            self.children.pop(pid, None)

    def run(self):
        """Start the workers and keep them until SIGTERM/SIGINT; 0."""
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGCHLD, self._on_child)
        for index in range(self.count):
            self._spawn(index)
        while not self._stopping:
            self._wake.wait(self._next_wait())
            self._wake.clear()
            self._reap()
            if not self._stopping:
                self._respawn_due()
        LOG.info('Stopping %d API worker(s)', len(self.children))
        self._stop_all()
        LOG.info('Fenix API stopped')
        return 0


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _describe(status):
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return 'signal %s' % signal.Signals(sig).name
        except ValueError:
            return 'signal %d' % sig
    return 'exit status %d' % os.WEXITSTATUS(status)
