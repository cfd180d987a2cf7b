# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The dispatcher: sends the notifications recorded in the outbox.

Every notification is recorded (``outbox`` table) in the transaction of
the change that causes it (:mod:`fenix.common.notifier`). One
:class:`Dispatcher` per engine process sends them afterwards:

* it is woken (:meth:`Dispatcher.kick`) after every commit that recorded
  something, and reads the table when it starts, so that what a killed
  engine recorded but did not send goes out after the restart;
* it sends the rows of the sessions its engine owns, in the order they
  were recorded (row id), through :class:`fenix.common.publisher.
  Publisher`, and marks the ones sent in one statement per batch;
* a row that could not be sent is counted (``attempts``, ``last_error``)
  and tried again after a growing delay (``[outbox] retry_interval`` up to
  ``max_retry_interval``); the later rows of its session wait for it, so
  a consumer sees each session's notifications in order. Nothing is
  dropped.

A row follows the declared notification machine
(``fenix.common.state_machine.OUTBOX_MESSAGE``): ``QUEUED`` while
``sent_at`` is empty (a failed try leaves it there), ``SENT`` once marked.
A message is marked sent after it went out: a crash in between sends it
again after the restart (same ``message_id``). Consumers may see a
duplicate, never a loss. When a session is taken over by another engine,
its rows not yet sent become that engine's (ownership is read with the
rows); the taking engine wakes its dispatcher.
"""
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging

from fenix.common import publisher as fenix_publisher
from fenix.db import api as db_api

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


class _Retry(object):
    """What the dispatcher knows of a row that failed to go out."""

    __slots__ = ('failures', 'due', 'done')

    def __init__(self):
        self.failures = 0
        self.due = 0.0
        self.done = frozenset()


class Dispatcher(object):
    """Sends the outbox of one engine (see the module doc).

    :param publisher: sends one row; raises
        :class:`fenix.common.publisher.PublishError` when it failed.
    :param engine: the engine whose sessions' rows are sent (None: every
        session's, for tools and tests).
    """

    def __init__(self, publisher, engine=None):
        self.publisher = publisher
        self.engine = engine
        # One pass at a time: a row is never read as unsent by two passes
        # while the first is sending it.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = None
        self._retries = {}     # row id -> _Retry
        self._unmarked = set()  # row ids sent, not yet marked sent
        self._db_failures = 0
        # Seconds, for retry times (tests replace it).
        self.clock = time.monotonic

    # --- the thread ----------------------------------------------------------
    def start(self):
        """Start sending; what the table already holds goes first."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run,
                                        name='outbox-dispatcher',
                                        daemon=True)
        self._thread.start()
        self.kick()

    def kick(self):
        """Something was recorded (and committed): look at once."""
        self._wake.set()

    def stop(self, timeout=10):
        """Stop after a last pass (bounded by ``timeout``); what is left
        stays recorded for the next start."""
        self._stopping.set()
        self._wake.set()
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
            try:
                self.flush()
                self._db_failures = 0
            except Exception:  # noqa - keep the thread through DB hiccups
                self._db_failures += 1
                LOG.exception('Outbox dispatcher pass failed')
            if stopping:
                return

    def _backoff(self, failures):
        return min(CONF.outbox.max_retry_interval,
                   CONF.outbox.retry_interval * 2 ** max(0, failures - 1))

    def _next_wait(self):
        """Seconds until a retry is due (None: nothing to retry)."""
        if self._db_failures:
            return self._backoff(self._db_failures)
        with self._lock:
            dues = [r.due for r in self._retries.values()]
        if not dues and not self._unmarked:
            return None
        if not dues:
            return CONF.outbox.retry_interval
        return max(0.0, min(dues) - self.clock())

    # --- sending -------------------------------------------------------------
    def flush(self, session_id=None):
        """One pass, in the caller's thread: send every unsent row that is
        due (of this engine's sessions, or of one session whoever owns
        it). Returns how many rows are still unsent."""
        with self._lock:
            return self._pass(session_id)

    def _pass(self, session_id):
        engine = self.engine if session_id is None else None
        batch = CONF.outbox.batch_size
        blocked = set()  # sessions whose earlier row is not out
        seen = set()
        pending = 0
        after = None
        while True:
            rows = db_api.outbox_unsent(engine=engine, session_id=session_id,
                                        limit=batch, after_id=after)
            if not rows:
                break
            sent = []
            for row in rows:
                after = row['id']
                seen.add(row['id'])
                if row['id'] in self._unmarked:
                    continue
                if row['session_id'] in blocked or not self._due(row):
                    blocked.add(row['session_id'])
                    pending += 1
                    continue
                if self._send(row):
                    sent.append(row['id'])
                else:
                    blocked.add(row['session_id'])
                    pending += 1
            self._mark_sent(sent)
            if len(rows) < batch:
                break
        if session_id is None and engine == self.engine:
            # Rows gone (their session deleted) need no retry.
            for row_id in set(self._retries) - seen:
                del self._retries[row_id]
        return pending + len(self._unmarked & seen)

    def _due(self, row):
        retry = self._retries.get(row['id'])
        return retry is None or retry.due <= self.clock()

    def _send(self, row):
        retry = self._retries.get(row['id'])
        try:
            self.publisher.send(row, skip=retry.done if retry else ())
        except fenix_publisher.PublishError as e:
            self._failed(row, e, e.done)
            return False
        except Exception as e:  # noqa - a publisher bug: try again later
            LOG.exception('Sending notification %s failed',
                          row['message_id'])
            self._failed(row, e, retry.done if retry else ())
            return False
        self._retries.pop(row['id'], None)
        return True

    def _failed(self, row, error, done):
        retry = self._retries.setdefault(row['id'], _Retry())
        retry.failures += 1
        retry.done = frozenset(done)
        delay = self._backoff(retry.failures)
        retry.due = self.clock() + delay
        LOG.warning('Notification %s (%s of session %s) not sent, try %d; '
                    'again in %.1fs: %s', row['message_id'],
                    row['event_type'], row['session_id'],
                    row['attempts'] + retry.failures, delay, error)
        try:
            db_api.outbox_mark_failed(row['id'], error)
        except Exception:  # noqa - the count is only for the operator
            LOG.exception('Could not record the failure of notification %s',
                          row['message_id'])

    def _mark_sent(self, ids):
        self._unmarked.update(ids)
        if not self._unmarked:
            return
        try:
            db_api.outbox_mark_sent(sorted(self._unmarked))
        except Exception:  # noqa - sent; marked on the next pass
            LOG.exception('Could not mark %d notification(s) sent',
                          len(self._unmarked))
            return
        self._unmarked.clear()

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
            wait = self._next_wait()
            self._stopping.wait(left if wait is None else min(left, wait))
            if self._stopping.is_set():
                return False
