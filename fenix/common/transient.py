# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Transient failures of the database and the message broker, and the one
policy Fenix applies to them.

* An error is *transient* when oslo.db says the database cannot be reached
  or the transaction lost a deadlock (:data:`DB_ERRORS`), or when
  oslo.messaging says the broker cannot be reached or did not answer in
  time (:data:`RPC_ERRORS`). A :class:`FenixException` that wraps one (its
  ``__cause__`` or ``__context__``) is transient too.
* Idempotent work retries it with bounded back-off (:func:`backoff`); the
  DB API retries deadlocks itself (``wrap_db_retry``); a session's runner
  waits for the database to come back and goes on where it stood.
* Everything else answers "unavailable" (HTTP 503 with ``Retry-After``).
* :class:`OutageLog` logs one line when a dependency becomes unreachable
  and one when it is back, rather than a traceback per failed call.
"""
import threading

from oslo_db import exception as db_exc
from oslo_log import log as logging
import oslo_messaging as messaging

from fenix.common import exception

LOG = logging.getLogger(__name__)

DB_ERRORS = (db_exc.DBConnectionError, db_exc.DBDeadlock)
RPC_ERRORS = (messaging.MessagingTimeout, messaging.MessageDeliveryFailure)

# Back-off of a waiter (seconds): the first pause, the factor, the longest.
BACKOFF_FIRST = 0.5
BACKOFF_FACTOR = 2
BACKOFF_MAX = 10

# The oslo.db exception names that mean "the database is unreachable", as
# oslo.messaging reports them in a RemoteError from the engine.
DB_ERROR_NAMES = frozenset(cls.__name__ for cls in DB_ERRORS)


def _chain(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def is_transient_db(exc):
    """True when ``exc`` (or what it wraps) says the database cannot be
    reached right now."""
    return any(isinstance(e, DB_ERRORS) for e in _chain(exc))


def backoff(attempt):
    """Seconds to wait before try ``attempt`` (1, 2, ...)."""
    return min(BACKOFF_MAX,
               BACKOFF_FIRST * BACKOFF_FACTOR ** max(0, attempt - 1))


class OutageLog(object):
    """Logs the state changes of one dependency, once each.

    ``down(reason)`` logs a warning the first time after it was reachable;
    ``up()`` logs that it is back (only after a ``down``). Thread-safe;
    returns True when it logged.
    """

    def __init__(self, what, logger=None):
        self.what = what
        self._log = logger or LOG
        self._lock = threading.Lock()
        self._down = False

    @property
    def is_down(self):
        return self._down

    def down(self, reason):
        with self._lock:
            if self._down:
                return False
            self._down = True
        self._log.warning('%s unreachable: %s', self.what, reason)
        return True

    def up(self):
        with self._lock:
            if not self._down:
                return False
            self._down = False
        self._log.info('%s reachable again', self.what)
        return True

    def call_db(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)``, a call that reads or writes the
        database: a transient error is noted (:meth:`down`) and raised as
        DatabaseUnavailable (503, "try again later"); a success notes
        :meth:`up`. Fenix's own errors pass as they are."""
        try:
            result = fn(*args, **kwargs)
        except exception.FenixException:
            raise
        except Exception as e:
            if not is_transient_db(e):
                raise
            self.down('%s: %s' % (type(e).__name__, e))
            raise exception.DatabaseUnavailable() from e
        self.up()
        return result
