# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Sending the notifications recorded in the outbox.

Every notification is recorded (``outbox`` table) in the transaction of
the change that causes it (:mod:`fenix.common.notifier`). One
:class:`Dispatcher` per engine process sees that each is sent:

* Right after the commit, the thread that recorded messages sends them
  itself (:meth:`Dispatcher.claim` inside the transaction,
  :meth:`Dispatcher.send` after it): no read of the table and no hand-over
  to another thread on the hot path, and the threads of a session (its
  runner, the nfv workflow's workers) send in parallel. The dispatcher's
  thread marks what they sent, many rows per statement.
* The dispatcher's thread sends everything else, reading the unsent rows
  of the sessions its engine owns in the order they were recorded: what a
  killed engine recorded but did not send (it reads the table when it
  starts), what could not be sent, the rows of a session taken over from a
  dead engine, those of a session held after a stall of the engine. With
  a publisher that batches (``[notification_http] batch``) it sends the
  rows of a page never tried before in one request; a row that failed
  before goes by itself.

A session whose messages the dispatcher owes (a failed send, a restart, a
takeover) is *held*: its new messages go through the dispatcher too,
behind the older ones, until it has sent them all. So a session's
notifications go out in the order they were recorded, except that two
threads that record at the same moment (each about its own instance,
project or host) may send in either order.

A row that could not be sent is counted (``attempts``, ``last_error``)
and tried again after a growing delay (``[outbox] retry_interval`` up to
``max_retry_interval``). Nothing is dropped. A row follows the declared
notification machine (``fenix.common.state_machine.OUTBOX_MESSAGE``):
``QUEUED`` while ``sent_at`` is empty (a failed try leaves it there),
``SENT`` once marked. It is marked after it went out: a crash in between
sends it again after the restart (same ``message_id``). Consumers may see
a duplicate, never a loss. When a session is taken over by another engine,
its unsent rows become that engine's (ownership is read with the rows).

Fencing: the rows a pass reads are those of the sessions the engine owns
at that moment, and marking the rows a pass sent is conditional on the
engine still owning their session (in the same statement). Nothing is
sent, by a pass or by a committing thread, while the engine's lease
(:class:`fenix.common.fencing.Lease`) has expired: an engine stopped
between a commit (or a pass's read) and the send does not send, when it
runs again, rows that a new owner may have sent meanwhile. An engine
that stalled and lost a session to a takeover therefore reads none of its
rows and marks none of them: the new owner sends them (a consumer may see
one twice, never miss one). A runner's own rows are recorded in
transactions checked against the session's generation
(:mod:`fenix.common.fencing`): a stale runner records, and so sends,
nothing.
"""
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging

from fenix.common import fencing
from fenix.common import transient
from fenix.db import api as db_api

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# Seconds the dispatcher lets rows sent by other threads gather before it
# marks them sent (one statement for many). A crash in that window sends
# them again after the restart.
MARK_DELAY = 0.2


class _Retry(object):
    """What the dispatcher knows of a row that failed to go out."""

    __slots__ = ('failures', 'due', 'done')

    def __init__(self):
        self.failures = 0
        self.due = 0.0
        self.done = frozenset()


class Dispatcher(object):
    """Sees that the outbox of one engine is sent (see the module doc).

    :param publisher: sends one row; raises (e.g.
        :class:`fenix.common.publisher.PublishError`) when it failed.
    :param engine: the engine whose sessions' rows the thread sends (None:
        every session's, for tools and tests).
    :param lease: the engine's :class:`fenix.common.fencing.Lease`:
        nothing is sent while it has expired (the engine may have lost
        its sessions; :meth:`kick` once it is renewed). None: no bound.
    """

    def __init__(self, publisher, engine=None, lease=None):
        self.publisher = publisher
        self.engine = engine
        self.lease = lease
        # One pass over the table at a time.
        self._pass_lock = threading.Lock()
        # Guards the state below, shared with the committing threads.
        self._state = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = None
        self._scan = False       # a pass over the table is wanted
        # Set once a pass read what the table held at start.
        self.ready = threading.Event()
        self._held = set()       # sessions whose messages only it sends
        self._deferred = set()   # sessions held since its pass began
        self._claimed = set()    # row ids a committing thread sends
        self._unmarked = set()   # row ids sent, not marked sent yet
        self._passed = set()     # those of them a pass read (fenced)
        self._retries = {}       # row id -> _Retry
        self._db_failures = 0
        self._db_outage = transient.OutageLog(
            'Outbox dispatcher: the database', LOG)
        # Seconds, for retry times (tests replace it).
        self.clock = time.monotonic

    # --- the committing threads ----------------------------------------------
    def claim(self, rows):
        """Inside the transaction that records ``rows`` (dicts with their
        ``id``): which of them the recording thread sends itself once it
        committed (:meth:`send`). The others are left to the dispatcher
        (their session is held)."""
        mine = []
        with self._state:
            for row in rows:
                sid = row['session_id']
                if not self.ready.is_set() or sid in self._held:
                    self._hold(sid)
                else:
                    self._claimed.add(row['id'])
                    mine.append(row)
        return mine

    def unclaim(self, rows):
        """The transaction that claimed ``rows`` was rolled back."""
        with self._state:
            self._claimed.difference_update(r['id'] for r in rows)

    def send(self, rows, left=False):
        """After the commit: send the claimed ``rows``, in order (in one
        request when the publisher can: ``[notification_http] batch``).
        ``left``: the transaction recorded rows it did not claim (the
        dispatcher is woken for them)."""
        sent = False
        fence = fencing.current()
        if not self._leased() or (fence is not None and fence.lost):
            # The engine stalled past its lease: these rows may belong to
            # a session another engine took over (it sends them). The
            # dispatcher sends them once the lease is renewed, if their
            # session is still this engine's.
            with self._state:
                for row in rows:
                    self._claimed.discard(row['id'])
                    self._hold(row['session_id'])
            rows = []
            left = True
        together = getattr(self.publisher, 'batching', False)
        for batch in ([rows] if together else [[row] for row in rows]):
            ready = []
            for row in batch:
                sid = row['session_id']
                with self._state:
                    held = sid in self._held
                    if held:
                        # An earlier row of the session is not out (it
                        # failed, here or in another thread): this one
                        # waits.
                        self._claimed.discard(row['id'])
                        self._hold(sid)
                if held:
                    left = True
                else:
                    ready.append(row)
            if not ready:
                continue
            try:
                if len(ready) == 1:
                    self.publisher.send(ready[0])
                else:
                    self.publisher.send_many(ready)
            except Exception as e:  # noqa - any error: the dispatcher's
                with self._state:
                    for row in ready:
                        self._claimed.discard(row['id'])
                        self._hold(row['session_id'])
                for row in ready:
                    self._failed(row, e)
                left = True
                continue
            with self._state:
                for row in ready:
                    self._claimed.discard(row['id'])
                    self._unmarked.add(row['id'])
            sent = True
        if left:
            self.kick()
        elif sent:
            self._marks_waiting()

    def _leased(self, epoch=None):
        """The lease holds (and, with ``epoch``, has not expired since
        ``epoch`` was read)."""
        if self.lease is None:
            return True
        return self.lease.valid() and (epoch is None or
                                       epoch == self.lease.epoch)

    def _marks_waiting(self):
        """Rows were sent by a committing thread: the thread marks them
        (after a short while, with whatever else was sent meanwhile)."""
        self._wake.set()

    def _hold(self, session_id):
        # Under self._state.
        self._held.add(session_id)
        self._deferred.add(session_id)

    def hold(self, session_id):
        """The dispatcher sends the session's messages from now on, until
        it has sent what the table holds for it (a session taken over)."""
        with self._state:
            self._hold(session_id)
        self.kick()

    # --- the thread ----------------------------------------------------------
    def start(self):
        """Start the thread; what the table already holds goes first."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run,
                                        name='outbox-dispatcher',
                                        daemon=True)
        self._thread.start()
        self.kick()

    def kick(self):
        """Look at the table at once."""
        with self._state:
            self._scan = True
        self._wake.set()

    def stop(self, timeout=10):
        """Stop after a last pass (bounded by ``timeout``); what is left
        stays recorded for the next start."""
        self._stopping.set()
        self.kick()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                LOG.warning('Outbox dispatcher still sending after %ss; '
                            'left behind', timeout)
            self._thread = None

    def _run(self):
        while True:
            self._wake.wait(self._next_wait())
            self._wake.clear()
            stopping = self._stopping.is_set()
            with self._state:
                scan, self._scan = self._scan, False
            try:
                if scan or stopping or self._retry_due():
                    self.flush()
                else:
                    # Rows sent by the committing threads: let more come,
                    # then mark them all at once.
                    self._stopping.wait(MARK_DELAY)
                    with self._pass_lock:
                        self._mark_sent()
                self._db_failures = 0
                self._db_outage.up()
            except Exception as e:  # noqa - keep the thread through DB hiccups
                self._db_failures += 1
                with self._state:
                    self._scan = True
                if transient.is_transient_db(e):
                    # One line per outage, not a traceback per pass.
                    self._db_outage.down('%s: %s' % (type(e).__name__, e))
                else:
                    LOG.exception('Outbox dispatcher pass failed')
            if stopping:
                return

    def _backoff(self, failures):
        return min(CONF.outbox.max_retry_interval,
                   CONF.outbox.retry_interval * 2 ** max(0, failures - 1))

    def _retry_due(self):
        now = self.clock()
        with self._state:
            return any(r.due <= now for r in self._retries.values())

    def _next_wait(self):
        """Seconds until the thread must look again (None: when woken)."""
        if self._db_failures:
            return self._backoff(self._db_failures)
        with self._state:
            if self._unmarked:
                return 0
            dues = [r.due for r in self._retries.values()]
        if not dues:
            return None
        return max(0.0, min(dues) - self.clock())

    # --- passes over the table -----------------------------------------------
    def flush(self, session_id=None):
        """One pass, in the caller's thread: send every unsent row that is
        due (of this engine's sessions, or of one session whoever owns
        it). Returns how many rows are still unsent."""
        with self._pass_lock:
            return self._pass(session_id)

    def _pass(self, session_id):
        engine = self.engine if session_id is None else None
        full = session_id is None
        if full:
            with self._state:
                self._deferred = set()
        batch = CONF.outbox.batch_size
        together = getattr(self.publisher, 'batching', False)
        pending = set()   # sessions with a row not sent by this pass
        seen = set()
        left = 0
        after = None
        while True:
            epoch = self.lease.epoch if self.lease is not None else None
            rows = db_api.outbox_unsent(engine=engine, session_id=session_id,
                                        limit=batch, after_id=after)
            if not rows:
                break
            # Rows never tried yet, sent together (one request) when the
            # publisher can; each session's in the order recorded.
            ready = []
            for row in rows:
                after = row['id']
                seen.add(row['id'])
                sid = row['session_id']
                with self._state:
                    busy = row['id'] in self._claimed
                    done = row['id'] in self._unmarked
                    tried = row['id'] in self._retries
                if done:
                    continue
                if busy or sid in pending or not self._due(row):
                    pending.add(sid)
                    left += 1
                elif together and not tried:
                    ready.append(row)
                else:
                    # A row that failed before goes by itself, after what
                    # was read before it.
                    left += self._send_ready(ready, epoch, pending)
                    ready = []
                    if not self._send(row, epoch):
                        pending.add(sid)
                        left += 1
            left += self._send_ready(ready, epoch, pending)
            self._mark_sent(fenced=full)
            if len(rows) < batch:
                break
        with self._state:
            if full:
                # Rows gone (their session deleted) need no retry.
                for row_id in set(self._retries) - seen:
                    del self._retries[row_id]
                release = self._held - pending - self._deferred
                self.ready.set()
            else:
                release = {session_id} & self._held - pending - \
                    self._deferred
            self._held -= release
            unmarked = len(self._unmarked & seen)
        return left + unmarked

    def _send_ready(self, rows, epoch, pending):
        """Send ``rows`` (never tried yet) in one request (a pass, with a
        publisher that batches). On a failure each is counted and tried
        again later, and their sessions wait (``pending``). Returns how
        many are left unsent."""
        if not rows:
            return 0
        if len(rows) == 1:
            sent = self._send(rows[0], epoch)
        elif not self._leased(epoch):
            sent = False
        else:
            try:
                self.publisher.send_many(rows)
                sent = True
            except Exception as e:  # noqa - any error: try again later
                for row in rows:
                    self._failed(row, e)
                sent = False
            if sent:
                with self._state:
                    for row in rows:
                        self._unmarked.add(row['id'])
                        self._passed.add(row['id'])
        if sent:
            return 0
        pending.update(row['session_id'] for row in rows)
        return len(rows)

    def _due(self, row):
        with self._state:
            retry = self._retries.get(row['id'])
        return retry is None or retry.due <= self.clock()

    def _send(self, row, epoch=None):
        if not self._leased(epoch):
            # Read before the engine stalled: left for the next pass,
            # after the lease is renewed (the service kicks this thread)
            # and ownership is read again.
            return False
        with self._state:
            retry = self._retries.get(row['id'])
        try:
            self.publisher.send(row, skip=retry.done if retry else ())
        except Exception as e:  # noqa - any error: try again later
            self._failed(row, e)
            return False
        with self._state:
            self._retries.pop(row['id'], None)
            self._unmarked.add(row['id'])
            self._passed.add(row['id'])
        return True

    def _failed(self, row, error):
        with self._state:
            retry = self._retries.setdefault(row['id'], _Retry())
            retry.failures += 1
            retry.done = retry.done | frozenset(getattr(error, 'done', ()))
            delay = self._backoff(retry.failures)
            retry.due = self.clock() + delay
            failures = retry.failures
        LOG.warning('Notification %s (%s of session %s) not sent, try %d; '
                    'again in %.1fs: %s', row['message_id'],
                    row['event_type'], row['session_id'],
                    row.get('attempts', 0) + failures, delay, error,
                    exc_info=not hasattr(error, 'failed'))
        try:
            db_api.outbox_mark_failed(row['id'], error)
        except Exception:  # noqa - the count is only for the operator
            LOG.exception('Could not record the failure of notification %s',
                          row['message_id'])

    def _mark_sent(self, fenced=True):
        """Mark the rows sent so far (the caller holds the pass lock: no
        pass reads a row between its send and its mark). A database error
        is raised; the rows stay known as sent and are marked later.

        ``fenced``: only rows of sessions this engine owns now (False for
        the flush of one session before its deletion, whoever owns it).
        Returns how many rows were marked."""
        with self._state:
            ids = sorted(self._unmarked)
            passed = self._passed & set(ids)
        if not ids:
            return 0
        engine = self.engine if fenced else None
        # What committing threads sent was committed under their fence
        # (or is not a runner's): marked as it is.
        own = [i for i in ids if i not in passed]
        passed = sorted(passed)
        marked = refused = 0
        if own:
            marked += db_api.outbox_mark_sent(own)
        if passed:
            count = db_api.outbox_mark_sent(passed, engine=engine)
            marked += count
            refused = len(passed) - count
        with self._state:
            # The refused ones are no longer this engine's to mark.
            self._unmarked.difference_update(ids)
            self._passed.difference_update(ids)
        if refused and engine is not None:
            LOG.warning('Outbox of engine %s: %d sent notification(s) not '
                        'marked sent: their sessions were taken over by '
                        'another engine (or deleted), which sends them '
                        'again', engine, refused)
        return marked

    # --- before a session is deleted ----------------------------------------
    def flush_session(self, session_id, timeout):
        """Send the unsent rows of one session, whichever engine owns it,
        trying again until ``timeout`` seconds passed. True when none is
        left (the session may then be deleted with its outbox)."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.flush(session_id=session_id):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            wait = self._next_wait() or CONF.outbox.retry_interval
            self._stopping.wait(min(left, max(wait, 0.01)))
            if self._stopping.is_set():
                return False
