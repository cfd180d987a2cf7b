# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The transactions of the DB API: reader and writer blocks of a
thread, the fence checked before a runner's commit, and the retries.
"""
import contextlib
import functools
import threading
import time

from oslo_db import api as oslo_db_api
from oslo_db import exception as db_exc
from oslo_log import log as logging
import sqlalchemy as sa

from fenix.common import exception
from fenix.common import fencing
from fenix.db.sqlalchemy.facade import _SQLITE_WRITER
from fenix.db.sqlalchemy.facade import _WRITING
from fenix.db.sqlalchemy.facade import transaction_context
from fenix.db.sqlalchemy import models

LOG = logging.getLogger(__name__)

# The per-thread state enginefacade keeps while a transaction is open; a DB
# API call made inside another one (same thread) joins its transaction.
_CONTEXT = threading.local()
# Depth of reader blocks in this thread: with the writer blocks'
# (_WRITING), whether a transaction of this thread is open, which
# _core_reader joins (Fenix's own count, not enginefacade's private state).
_READING = threading.local()


@contextlib.contextmanager
def _writer():
    depth = getattr(_WRITING, 'depth', 0)
    serial = depth == 0 and get_engine().dialect.name == 'sqlite'
    if serial:
        _SQLITE_WRITER.acquire(urgent=getattr(_WRITING, 'urgent', False))
    _WRITING.depth = depth + 1
    if depth == 0:
        _WRITING.on_end = []
    fence = fencing.current() if depth == 0 else None
    committed = False
    try:
        if fence is not None:
            # A stale runner's threads are refused before they even open
            # a transaction.
            fence.check_lost('a write')
        with transaction_context.writer.using(_CONTEXT) as session:
            yield session
            if fence is not None:
                _check_fence(session, fence)
        committed = True
    finally:
        _WRITING.depth = depth
        if serial:
            _SQLITE_WRITER.release()
        if depth == 0:
            hooks, _WRITING.on_end = _WRITING.on_end, []
            for hook in hooks:
                _run_end_hook(hook, committed)


def _run_end_hook(hook, committed):
    try:
        hook(committed)
    except Exception:  # noqa - the transaction's own outcome stands
        LOG.exception('After a %s transaction: %r failed',
                      'committed' if committed else 'rolled back', hook)


def on_end(hook):
    """Call ``hook(committed)`` once the outermost writer block of this
    thread ends: True when it committed, False when it was rolled back
    (an exception left it, or the commit failed). Outside a writer block
    it is called at once with True (what was written is committed).
    What keeps a copy of rows in memory (:class:`fenix.workflow.steps.
    Book`) puts back, after a rollback, what it had taken from the
    transaction."""
    if getattr(_WRITING, 'depth', 0) > 0:
        _WRITING.on_end.append(hook)
    else:
        _run_end_hook(hook, True)


@contextlib.contextmanager
def _reader():
    depth = getattr(_READING, 'depth', 0)
    _READING.depth = depth + 1
    try:
        with transaction_context.reader.using(_CONTEXT) as session:
            yield session
    finally:
        _READING.depth = depth


@contextlib.contextmanager
def _core_reader():
    """A read transaction on a Core connection, for Core statements.

    The same database, engine, pool, error translation (oslo.db's
    ``DBConnectionError``...) and isolation as :func:`_reader`, without
    an ORM session: the API's small reads (a session, the session list,
    a project) run two Core statements, and making, using and closing an
    ORM session around them cost about a third of their database time
    (yappi of an API worker under load). Called inside a transaction of
    this thread it joins that one, as :func:`_reader` does. The
    connection's ``execute`` takes the same arguments as the session's.
    """
    if getattr(_READING, 'depth', 0) or getattr(_WRITING, 'depth', 0):
        with _reader() as session:
            yield session
        return
    with transaction_context.reader.get_engine().connect() as conn:
        yield conn


def _check_fence(session, fence):
    """Right before the commit of a runner's write transaction: the
    session must still have the generation the runner started under.

    A shared lock on the session row (FOR SHARE / LOCK IN SHARE MODE;
    SQLite has one writer at a time anyway): a takeover, which updates the
    row, either committed before (this read sees its generation and the
    write is refused) or waits for this commit. One statement per
    transaction, whatever it wrote.
    """
    generation = session.execute(_fence_select(), {
        'session_id': fence.session_id}).scalar_one_or_none()
    if generation is None:
        raise exception.SessionNotFound(session_id=fence.session_id)
    if generation != fence.generation:
        raise fence.refuse('a write')


_FENCE_SELECT = []


def _fence_select():
    """The fence's read of a session's generation (a Core select on the
    table, built once: it runs before every commit of a runner)."""
    if not _FENCE_SELECT:
        table = models.Session.__table__
        _FENCE_SELECT.append(sa.select(table.c.generation).where(
            table.c.session_id == sa.bindparam('session_id'))
            .with_for_update(read=True))
    return _FENCE_SELECT[0]


def transaction():
    """One transaction for several DB API calls of this thread::

        with db_api.transaction():
            db_api.host_update(...)
            db_api.event_add(...)
            db_api.outbox_add([...])

    Every call inside joins it; all of it is committed at the end of the
    block, or nothing is (record, then act: a change, its history entry and
    the notifications it causes are kept together).
    """
    return _writer()


@contextlib.contextmanager
def urgent():
    """The transaction this thread opens in the block is one a manager's
    reply or a move waits for: on SQLite it goes before the other writers
    waiting for the process's one writer
    (:class:`fenix.db.sqlalchemy.facade.WriterQueue`); elsewhere nothing
    changes (each database queues its own writers)."""
    previous = getattr(_WRITING, 'urgent', False)
    _WRITING.urgent = True
    try:
        yield
    finally:
        _WRITING.urgent = previous


def in_transaction():
    """True inside a writing block (:func:`transaction` or a DB API call
    that writes) of this thread: what is written now is not committed
    yet."""
    return getattr(_WRITING, 'depth', 0) > 0


# Retry a whole call (a new transaction) on deadlock, and when an upsert
# lost the race for an insert of the same key.
def _deadlock_retriable(error):
    """A deadlock's victim is the whole transaction (InnoDB rolled it
    back): a call that is its own transaction runs again; inside a
    caller's :func:`transaction` (still open once the call failed) it must
    not (it would run again in the transaction the failure ended: a
    PendingRollbackError that failed a session in the three-engine test);
    the caller's own retry runs the whole transaction again."""
    return isinstance(error, db_exc.DBDeadlock) and not in_transaction()


def _retry_on_deadlock(fn):
    return oslo_db_api.wrap_db_retry(
        max_retries=5, retry_interval=0.05, max_retry_interval=1,
        exception_checker=_deadlock_retriable)(fn)


def retry_on_deadlock(fn):
    """For a caller's function that opens a :func:`transaction` of its
    own: run it again (a new transaction) when the database chose it as
    a deadlock's victim."""
    return _retry_on_deadlock(fn)


def _retry_on_duplicate(fn):
    return oslo_db_api.wrap_db_retry(
        max_retries=5, retry_interval=0.05, max_retry_interval=1,
        exception_checker=lambda e: (isinstance(e, db_exc.DBDuplicateEntry)
                                     or _deadlock_retriable(e)))(fn)


def _retry_on_duplicate_alone(fn):
    """As :func:`_retry_on_duplicate`, for a call that may join a
    caller's :func:`transaction`: a duplicate there is the caller's to
    handle (on MariaDB and PostgreSQL the failed statement may have
    spoilt the transaction; running the call again inside it would
    not see the row it lost to anyway)."""
    return oslo_db_api.wrap_db_retry(
        max_retries=5, retry_interval=0.05, max_retry_interval=1,
        exception_checker=lambda e: (
            isinstance(e, db_exc.DBDuplicateEntry) and
            not in_transaction() or _deadlock_retriable(e)))(fn)


# Reads (idempotent) are tried again on a lost connection too, briefly:
# a fail-over of a second or so goes unnoticed; a longer outage surfaces
# as DBConnectionError (the engine answers "unavailable", a runner waits).
# Inside a writing block a lost connection lost the whole transaction:
# the caller decides.
READ_RETRIES = 2
READ_RETRY_INTERVAL = 0.2


def _retry_read(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if in_transaction():
            return fn(*args, **kwargs)
        for attempt in range(READ_RETRIES + 1):
            try:
                return fn(*args, **kwargs)
            except (db_exc.DBConnectionError, db_exc.DBDeadlock):
                # Not logged here: the caller reports an outage once.
                if attempt == READ_RETRIES:
                    raise
            time.sleep(READ_RETRY_INTERVAL * (attempt + 1))
    return wrapper


def get_engine():
    """The SQLAlchemy engine the DB API uses (starts the facade)."""
    return transaction_context.writer.get_engine()


def ping():
    """``SELECT 1`` on the database: raises when it cannot be reached."""
    with _reader() as session:
        session.execute(sa.text('SELECT 1')).scalar()


def reset_for_tests():
    """Forget the current engine (tests).

    The next call connects anew, reading ``CONF.database`` again. Returns a
    callable that disposes of the new engine and puts the previous one back
    (use it as a cleanup).
    """
    manager = transaction_context.make_new_manager()
    restore = transaction_context.patch_factory(manager)

    def _restore():
        manager.dispose_pool()
        restore()
    return _restore
