# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The engine of the DB API: oslo.db's enginefacade, set up for
Fenix (the pool, the listeners of each database, SQLite's tuning).
"""
import re
import threading
import time

from oslo_db.sqlalchemy import enginefacade
from oslo_db.sqlalchemy import exc_filters
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import pool as sa_pool

from fenix import conf  # registers [database] defaults; [engine] options

# Milliseconds an SQLite connection waits for another writer to finish.
SQLITE_BUSY_TIMEOUT_MS = 30000
# Connections kept open (and opened beyond that) to an SQLite file.
SQLITE_POOL_SIZE = 5
SQLITE_POOL_OVERFLOW = 20

# Depth of writer blocks in this thread (see _sqlite_begin).
_WRITING = threading.local()


class WriterQueue(object):
    """The lock the writers of one process queue on while the engine is
    SQLite's (one writer at a time in any case; see :mod:`fenix.db.api`),
    with two classes of waiters: an *urgent* writer (one a reply or a
    move waits for: :func:`fenix.db.api.urgent`) goes before every other
    writer waiting when the lock is released; writers of one class get
    it in no particular order. A burst of other writes (moves ending,
    history, the outbox's marks) no longer sits between a manager's
    reply and the move it allows.
    """

    def __init__(self):
        self._mutex = threading.Lock()
        self._urgent_turn = threading.Condition(self._mutex)
        self._other_turn = threading.Condition(self._mutex)
        self._held = False
        self._urgent = 0        # urgent writers waiting
        self._other = 0         # other writers waiting

    def acquire(self, urgent=False):
        with self._mutex:
            if urgent:
                self._urgent += 1
                try:
                    while self._held:
                        self._urgent_turn.wait()
                finally:
                    self._urgent -= 1
            else:
                self._other += 1
                try:
                    while self._held or self._urgent:
                        self._other_turn.wait()
                finally:
                    self._other -= 1
            self._held = True

    def release(self):
        with self._mutex:
            self._held = False
            # One waiter is woken, urgent first: each takes the lock or
            # waits again (and is woken by a later release).
            if self._urgent:
                self._urgent_turn.notify()
            elif self._other:
                self._other_turn.notify()

    def locked(self):
        return self._held


# Held by the outermost writer block of a thread while the engine is
# SQLite's.
_SQLITE_WRITER = WriterQueue()


def _pooled(engine):
    """Give a file SQLite engine a pool of connections.

    oslo.db opens (and sets up) a new connection for every transaction of
    a file database (NullPool); that cost more than the statements
    themselves. The new pool keeps the listeners of the old one.
    """
    old = engine.pool
    if not isinstance(old, sa_pool.NullPool):
        return
    engine.pool = sa_pool.QueuePool(
        old._creator, pool_size=SQLITE_POOL_SIZE,
        max_overflow=SQLITE_POOL_OVERFLOW, timeout=SQLITE_BUSY_TIMEOUT_MS /
        1000.0, echo=old.echo, logging_name=old._orig_logging_name,
        reset_on_return=old._reset_on_return, _dispatch=old.dispatch,
        dialect=old._dialect)
    old.dispose()


# libpq 14 and later say "connection to server at ... failed" where older
# ones said "could not connect to server", the only message oslo.db (18.1)
# knows: without this a PostgreSQL server that is down would be a plain
# DBError (500, a failed session) rather than DBConnectionError (503, a
# runner that waits for the database).
_PG_CONNECT_FAILED = re.compile(
    r'connection to server (at|on) .* failed|could not connect to server')


def _postgresql_refused(context):
    """handle_error listener: a refused or failed PostgreSQL connection
    is a disconnect, which oslo.db turns into DBConnectionError."""
    error = context.original_exception
    if (isinstance(context.sqlalchemy_exception, sa.exc.OperationalError)
            and _PG_CONNECT_FAILED.search(str(error))):
        context.is_disconnect = True


_IDLE_BOUND = 'fenix_idle_transaction_timeout'


def _idle_transaction_timeout(engine):
    """Every connection of a server database ends a transaction left
    idle longer than ``[engine] idle_transaction_timeout``: a process
    stopped inside one (SIGSTOP, a stall) would hold its row locks, and a
    takeover's claim of the session row would wait for them."""
    seconds = conf.CONF.engine.idle_transaction_timeout
    if not seconds:
        return
    if engine.dialect.name == 'postgresql':
        statement = ("SET idle_in_transaction_session_timeout = %d"
                     % (seconds * 1000))
    elif engine.dialect.name == 'mysql':
        statement = None
    else:
        return

    # At checkout, once per connection: the connection oslo.db opened to
    # test the server when it made the engine is pooled before this
    # listener exists, so a 'connect' listener missed it (the first
    # connection of every process went without the bound: a SIGSTOPped
    # engine's transaction on it held its rows 30 s in the three-engine
    # test).
    @event.listens_for(engine, 'checkout')
    def _set_timeout(dbapi_con, con_record, con_proxy):
        if con_record.info.get(_IDLE_BOUND):
            return
        con_record.info[_IDLE_BOUND] = True
        sql = statement
        if sql is None:
            # MariaDB only (MySQL has no such variable); the driver knows
            # the server's version from its handshake.
            info = getattr(dbapi_con, 'get_server_info', lambda: '')()
            if 'mariadb' not in str(info).lower():
                return
            sql = "SET SESSION idle_transaction_timeout = %d" % seconds
        cursor = dbapi_con.cursor()
        try:
            cursor.execute(sql)
        finally:
            cursor.close()
        # Kept whatever becomes of the next transaction (PostgreSQL
        # undoes a SET in a transaction rolled back).
        dbapi_con.commit()


# A pooled connection of a server database is pinged before it is used
# only when it sat idle in the pool at least this many seconds.
PING_IDLE_AFTER = 1.0
# Key in a pooled connection's info: its last transaction ended.
_ENDED = 'fenix_transaction_ended'


def _server_pool_costs(engine):
    """Two round trips less for each transaction of a server database.

    oslo.db has the pool ping every connection at every check-out
    (``pool_pre_ping``): here one that sat idle in the pool less than
    :data:`PING_IDLE_AFTER` seconds is not pinged (a connection lost
    meanwhile fails its first statement as a disconnect, which
    invalidates the pool; reads are tried again, :func:`_retry_read`).
    And SQLAlchemy rolls a connection back when it returns to the pool
    even when its transaction was just rolled back (an ORM session's
    end: every read): the rollback is skipped when the connection's last
    transaction through SQLAlchemy during this check-out ended in a
    commit or a rollback and none began since (a connection used
    otherwise is rolled back as before).
    """
    pool = engine.pool
    dialect = engine.dialect
    if getattr(pool, '_pre_ping', False):
        pool._pre_ping = False

        @event.listens_for(pool, 'checkin')
        def _idle_since(dbapi_con, record):
            if record is not None:
                record.info['fenix_idle_since'] = time.monotonic()

        @event.listens_for(pool, 'checkout')
        def _ping_if_idle(dbapi_con, record, proxy):
            since = record.info.get('fenix_idle_since')
            if since is None or time.monotonic() - since < PING_IDLE_AFTER:
                return   # new, or in use a moment ago
            try:
                dialect.do_ping(dbapi_con)
            except dialect.loaded_dbapi.Error as e:
                if dialect.is_disconnect(e, dbapi_con, None):
                    # The pool opens another connection.
                    raise sa.exc.DisconnectionError(str(e))
                raise

    if getattr(pool, '_reset_on_return', None) is sa_pool.base.reset_rollback:
        pool._reset_on_return = sa_pool.base.reset_none

        @event.listens_for(pool, 'checkout')
        def _not_ended(dbapi_con, record, proxy):
            record.info[_ENDED] = False

        @event.listens_for(engine, 'begin')
        def _began(conn):
            conn.info[_ENDED] = False

        @event.listens_for(engine, 'commit')
        @event.listens_for(engine, 'rollback')
        def _ended(conn):
            conn.info[_ENDED] = True

        @event.listens_for(pool, 'reset')
        def _rollback_unless_ended(dbapi_con, record, state):
            if not state.asyncio_safe:
                return
            ended = record is not None and record.info.pop(_ENDED, False)
            if not (state.transaction_was_reset or ended):
                dialect.do_rollback(dbapi_con)


def _on_engine_create(engine):
    _idle_transaction_timeout(engine)
    if engine.dialect.name in ('mysql', 'postgresql'):
        _server_pool_costs(engine)
    if engine.dialect.name == 'postgresql':
        # Before oslo.db's own listener, which reads is_disconnect and
        # ends the chain (listen(insert=True) is not kept for this event).
        event.remove(engine, 'handle_error', exc_filters.handler)
        event.listen(engine, 'handle_error', _postgresql_refused)
        event.listen(engine, 'handle_error', exc_filters.handler,
                     retval=True)
    if engine.dialect.name != 'sqlite':
        return

    in_memory = engine.url.database in (None, '', ':memory:')
    if not in_memory:
        _pooled(engine)

    @event.listens_for(engine, 'connect')
    def _sqlite_connect(dbapi_con, con_record):
        dbapi_con.execute('PRAGMA busy_timeout = %d' % SQLITE_BUSY_TIMEOUT_MS)
        if not in_memory:
            dbapi_con.execute('PRAGMA journal_mode = WAL')

    def _sqlite_begin(conn):
        if (getattr(_WRITING, 'depth', 0) and
                'in_transaction' not in conn.info):
            conn.exec_driver_sql('BEGIN IMMEDIATE')
            conn.info['in_transaction'] = True

    # Must run before oslo.db's own listener, which emits a plain
    # (deferred) BEGIN unless a transaction was already begun; listen's
    # insert=True does not order engine 'begin' listeners, so re-add
    # those already there after ours.
    existing = list(engine.dispatch.begin)
    for fn in existing:
        event.remove(engine, 'begin', fn)
    event.listen(engine, 'begin', _sqlite_begin)
    for fn in existing:
        event.listen(engine, 'begin', fn)


def _mysql_utf8mb4(dbapi_con, connection_record):
    """Every MySQL/MariaDB connection speaks utf8mb4.

    oslo.db connects MySQL in ``utf8`` (3-byte) unless the URL names a
    charset: a 4-byte character (an emoji) in an id or a name then fails
    ("Incorrect string value", "Illegal mix of collations"). Set for every
    connection of every engine of the process (the DB API's, the
    migrations', the tests'), whatever the URL says.
    """
    set_charset = getattr(dbapi_con, 'set_character_set', None)
    module = type(dbapi_con).__module__ or ''
    if set_charset is not None and module.split('.')[0] in ('pymysql',
                                                            'MySQLdb'):
        if getattr(dbapi_con, 'charset', None) != 'utf8mb4':
            set_charset('utf8mb4')


event.listen(sa_pool.Pool, 'connect', _mysql_utf8mb4)


transaction_context = enginefacade.transaction_context()
# thread_checkin: oslo.db's time.sleep(0) at every connection check-in is
# for eventlet (a green thread yields). Fenix runs on OS threads: there it
# only hands the GIL to another thread and waits to get it back (up to
# the 5 ms switch interval) at the end of every transaction, a cost of
# each API request when the server is busy.
transaction_context.configure(sqlite_fk=True, thread_checkin=False)
transaction_context.append_on_engine_create(_on_engine_create)
