# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Fencing of a session's stale owner.

Every claim of a session by an engine (creation, recovery at start, a
takeover, a restart of its runner) raises ``sessions.generation`` by one.
The runner started by that claim holds a :class:`Fence` (session, engine,
generation) and binds it to its thread and to the threads it starts
(:func:`bound`, :func:`inherit`). Then:

* every database write transaction of such a thread checks, in the same
  transaction and right before it commits, that the session still has the
  generation the runner holds (``fenix.db.api``: one locking read of the
  session row per transaction, not one per row): a stale owner's write is
  refused with :class:`fenix.common.exception.SessionFenced` and rolled
  back;
* every Nova action (``fenix.common.cloud``) calls :func:`before_action`,
  which asks the database once more right before acting.

A refused owner marks its fence lost: whatever its threads try next is
refused at once, without a round trip, and its runner ends quietly (the
new owner owns the session and its hosts). This module knows nothing of
the database: the check is the fence's ``verify`` callable.

What leaves the engine without a write (a notification, which the outbox
sends after the commit that recorded it) is bounded by the engine's
:class:`Lease` instead: the others take an engine's sessions over only
once ``[engine] takeover_after`` seconds passed since its last heartbeat,
so while the last successful beat began less than that ago (by this
process's monotonic clock, which runs on while the process is stopped) no
other engine can have claimed them. An engine that finds its lease
expired (it stalled: SIGSTOP, a long pause, the coordinator away) sends
nothing until a heartbeat succeeded again and ownership was read anew.
"""
import contextlib
import threading
import time

from oslo_log import log as logging

from fenix.common import exception

LOG = logging.getLogger(__name__)

_LOCAL = threading.local()


class Fence(object):
    """What one runner holds: the session, its engine and the generation
    of the claim that started it.

    :param verify: ``verify(fence)`` -> True while the database still has
        this generation (used right before a Nova action).
    """

    def __init__(self, session_id, engine, generation, verify=None):
        self.session_id = session_id
        self.engine = engine
        self.generation = generation
        self._verify = verify
        self._lost = threading.Event()
        self._logged = threading.Lock()
        self._warned = False

    @property
    def lost(self):
        """True once a write or an action was refused."""
        return self._lost.is_set()

    def refuse(self, what):
        """Mark the fence lost (warning logged once per fence) and return
        the exception to raise."""
        self._lost.set()
        with self._logged:
            first, self._warned = not self._warned, True
        if first:
            LOG.warning('Session %s: engine %s no longer owns it '
                        '(generation %s is stale): %s refused; its runner '
                        'stops and leaves the session to its new owner',
                        self.session_id, self.engine, self.generation, what)
        return exception.SessionFenced(session_id=self.session_id,
                                       engine=self.engine,
                                       generation=self.generation)

    def check_lost(self, what):
        """Raise at once (no round trip) when the fence is already lost."""
        if self._lost.is_set():
            raise self.refuse(what)

    def check(self, what):
        """Raise unless the database still has this generation."""
        self.check_lost(what)
        if self._verify is not None and not self._verify(self):
            raise self.refuse(what)

    def __repr__(self):
        return '<Fence session=%s engine=%s generation=%s%s>' % (
            self.session_id, self.engine, self.generation,
            ' lost' if self.lost else '')


def current():
    """The fence bound to this thread, or None (not a runner's thread)."""
    return getattr(_LOCAL, 'fence', None)


@contextlib.contextmanager
def bound(fence):
    """Bind ``fence`` to this thread for the block."""
    previous = current()
    _LOCAL.fence = fence
    try:
        yield fence
    finally:
        _LOCAL.fence = previous


def bind(fence):
    """Bind ``fence`` to this thread (a pool's worker thread: see
    :func:`inherit`)."""
    _LOCAL.fence = fence


def inherit():
    """An ``initializer`` for a thread pool started by a runner's thread:
    its workers hold the same fence (their writes are fenced too)."""
    fence = current()
    return lambda: bind(fence)


def before_action(what):
    """Right before acting on the cloud (Nova): refuse it when this
    thread's runner no longer owns its session. No-op elsewhere."""
    fence = current()
    if fence is not None:
        fence.check(what)


class Lease(object):
    """How long this engine can be sure no other engine took its sessions
    over: ``duration`` seconds from the start of its last successful
    heartbeat (see the module doc). Never renewed: always valid (tools,
    tests without an engine service)."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._until = None
        # Goes up each time the lease is renewed after it had expired:
        # what was read under an older one is not acted on.
        self.epoch = 0

    def renew(self, began, duration):
        """A heartbeat that began at ``began`` (``clock()`` before it)
        succeeded. Returns True when the lease had expired (what waited
        for it may go on now)."""
        expired = not self.valid()
        if expired:
            self.epoch += 1
        self._until = began + duration
        return expired

    def valid(self):
        until = self._until
        return until is None or self._clock() < until
