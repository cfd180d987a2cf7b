# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The database API of Fenix.

Every function opens its own transaction through oslo.db's enginefacade
(configured from ``[database]`` of ``cfg.CONF``) and returns plain
dictionaries (``to_dict()`` of the rows) or lists of them, never ORM
objects, so callers in any thread can keep and change what they get. A row
that is not there raises a :class:`fenix.common.exception.NotFound`
subclass.

Concurrency:

- Compare-and-set updates (:func:`session_update` with ``expected_state``,
  :func:`session_set_engine`) lock the row (``SELECT ... FOR UPDATE``) or
  carry the condition in the ``UPDATE`` itself, so two engines or two
  threads never both win.
- Upserts (``*_create_or_update``, ``*_put``, :func:`engine_heartbeat`) that
  race with an insert of the same key are retried, as are deadlocks.
- On SQLite, writing transactions start with ``BEGIN IMMEDIATE``: writers
  queue up (busy timeout) instead of failing with "database is locked" when
  two of them read before they write. Writers of one process also queue on
  a lock of their own (:data:`_SQLITE_WRITER`), so a waiting thread starts
  the moment the previous writer commits instead of polling SQLite's busy
  handler; a database file is put in WAL mode, so readers never wait for a
  writer.
"""
import contextlib
import datetime
import functools
import re
import threading
import time

from oslo_db import api as oslo_db_api
from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import enginefacade
from oslo_db.sqlalchemy import exc_filters
from oslo_utils import uuidutils
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext import compiler as sa_compiler
from sqlalchemy.orm import util as orm_util
from sqlalchemy import pool as sa_pool

from fenix.common import exception
from fenix.common import fencing
from fenix.common import state_machine
from fenix.common import states
from fenix.common import timeutils
from fenix import conf  # registers [database] defaults; [engine] options
from fenix.db.sqlalchemy import models

# Milliseconds an SQLite connection waits for another writer to finish.
SQLITE_BUSY_TIMEOUT_MS = 30000
# Connections kept open (and opened beyond that) to an SQLite file.
SQLITE_POOL_SIZE = 5
SQLITE_POOL_OVERFLOW = 20

# Keys per ``IN (...)`` list: inside every database's parameter limit.
IN_CHUNK = 500

# Tables holding the rows of one session, children first.
SESSION_CHILD_MODELS = (models.GroupImpact, models.Step,
                        models.OutboxMessage,
                        models.ActionPluginRun,
                        models.ActionPlugin, models.SessionEvent,
                        models.Instance, models.Project, models.Host)

# The per-thread state enginefacade keeps while a transaction is open; a DB
# API call made inside another one (same thread) joins its transaction.
_CONTEXT = threading.local()
# Depth of writer blocks in this thread (see _sqlite_begin).
_WRITING = threading.local()
# Held by the outermost writer block of a thread while the engine is
# SQLite's (one writer at a time in any case; see the module doc).
_SQLITE_WRITER = threading.Lock()


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


@contextlib.contextmanager
def _writer():
    depth = getattr(_WRITING, 'depth', 0)
    serial = depth == 0 and get_engine().dialect.name == 'sqlite'
    if serial:
        _SQLITE_WRITER.acquire()
    _WRITING.depth = depth + 1
    fence = fencing.current() if depth == 0 else None
    try:
        if fence is not None:
            # A stale runner's threads are refused before they even open
            # a transaction.
            fence.check_lost('a write')
        with transaction_context.writer.using(_CONTEXT) as session:
            yield session
            if fence is not None:
                _check_fence(session, fence)
    finally:
        _WRITING.depth = depth
        if serial:
            _SQLITE_WRITER.release()


def _reader():
    return transaction_context.reader.using(_CONTEXT)


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
    scope = getattr(_CONTEXT, '_enginefacade_context', None)
    if getattr(scope, 'current', None) is not None:
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


class db_utc_now(sa.sql.expression.FunctionElement):
    """The database server's time now, in UTC, as the DateTime columns
    store it, minus ``seconds`` (an SQL expression or number) if given.

    Liveness is judged by this one clock (not each engine's): engines
    whose clocks differ still agree on who is alive.
    """
    type = sa.DateTime()
    inherit_cache = True
    name = 'db_utc_now'


@sa_compiler.compiles(db_utc_now)
def _db_utc_now_default(element, compiler, **kw):
    # PostgreSQL: timestamp without time zone, in UTC.
    now = "timezone('utc', statement_timestamp())"
    if element.clauses.clauses:
        return "(%s - make_interval(secs => %s))" % (
            now, compiler.process(element.clauses, **kw))
    return now


@sa_compiler.compiles(db_utc_now, 'mysql')
def _db_utc_now_mysql(element, compiler, **kw):
    # UTC_TIMESTAMP, not NOW(): the server's time zone may not be UTC.
    if element.clauses.clauses:
        return 'DATE_SUB(UTC_TIMESTAMP(6), INTERVAL %s SECOND)' % (
            compiler.process(element.clauses, **kw))
    return 'UTC_TIMESTAMP(6)'


@sa_compiler.compiles(db_utc_now, 'sqlite')
def _db_utc_now_sqlite(element, compiler, **kw):
    # The text SQLAlchemy stores a DateTime as (microseconds: 6 digits),
    # so that stored times and this compare as text. CURRENT_TIMESTAMP is
    # UTC, to the second; strftime's %f gives milliseconds.
    modifier = ''
    if element.clauses.clauses:
        modifier = ", '-' || (%s) || ' seconds'" % compiler.process(
            element.clauses, **kw)
    return "(strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now'%s) || '000')" % (
        modifier)


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


# --- helpers ---------------------------------------------------------------

def _columns(model):
    return {c.key for c in model.__table__.columns}


def _check_values(model, values, forbidden=()):
    """A copy of ``values``, checked against the columns of ``model``.

    Unknown or forbidden keys are a bug of the caller (ValueError), not a
    request error.
    """
    values = dict(values or {})
    bad = (set(values) - _columns(model)) | (set(values) & set(forbidden))
    if bad:
        raise ValueError('cannot set %s of %s' % (
            ', '.join(sorted(bad)), model.__tablename__))
    return values


def _reloaded(session, rows):
    """Flush and read the rows back (DB-normalized values, new objects)."""
    session.flush()
    if not rows:
        return []
    model = type(rows[0])
    pk = sa.inspect(model).primary_key[0]
    keys = [getattr(r, pk.key) for r in rows]
    by_key = {}
    for start in range(0, len(keys), IN_CHUNK):
        stmt = (sa.select(model).where(pk.in_(keys[start:start + IN_CHUNK]))
                .execution_options(populate_existing=True))
        by_key.update((getattr(r, pk.key), r)
                      for r in session.execute(stmt).scalars())
    return [by_key[k].to_dict() for k in keys]


def _reloaded_one(session, row):
    return _reloaded(session, [row])[0]


# Dialects whose columns give back exactly what was written (a DATETIME of
# MySQL drops or rounds the microseconds: read it back there).
_EXACT_DIALECTS = ('sqlite', 'postgresql')


def _as_stored(session, row):
    """The dict of ``row`` as a read would give it, without reading it.

    Flushes the change, then builds the dict from what was written: each
    value of a column type that converts (JSON) goes through the type's
    bind and result conversions, as a write and a read would (new objects,
    never the caller's). Falls back to a read-back (:func:`_reloaded_one`)
    where a value is not on the object (a server default) or on a
    database that does not keep every value as written.
    """
    session.flush()
    dialect = session.get_bind().dialect
    state = sa.inspect(row)
    if dialect.name not in _EXACT_DIALECTS or state.expired_attributes:
        return _reloaded_one(session, row)
    loaded = state.dict
    out = {}
    for column in row.__table__.columns:
        key = column.key
        if key not in loaded:
            return _reloaded_one(session, row)
        value = loaded[key]
        kind = column.type
        if value is not None and isinstance(kind, sa.types.TypeDecorator):
            value = kind.process_result_value(
                kind.process_bind_param(value, dialect), dialect)
        out[column.name] = value
    return out


def _dicts(rows):
    return [r.to_dict() for r in rows]


def _session_row(session, session_id, for_update=False):
    stmt = sa.select(models.Session).where(
        models.Session.session_id == session_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).scalar_one_or_none()
    if row is None:
        raise exception.SessionNotFound(session_id=session_id)
    return row


def _session_exists(session, session_id):
    return session.execute(
        sa.select(models.Session.session_id).where(
            models.Session.session_id == session_id)
    ).first() is not None


@contextlib.contextmanager
def _session_must_exist(session_id):
    """Turn a foreign key violation on ``session_id`` into NotFound."""
    try:
        yield
    except db_exc.DBReferenceError:
        raise exception.SessionNotFound(session_id=session_id)


# Which declared machine (fenix.common.state_machine) a column follows:
# a write that takes an edge the machine does not have is refused.
_MACHINE_COLUMNS = {
    models.Host: ('state', state_machine.HOST),
    models.Instance: ('action_state', state_machine.MOVE),
    models.ActionPluginRun: ('state', state_machine.PLUGIN_RUN),
    models.Step: ('state', state_machine.STEP),
}


def _check_machine(row, values):
    column, machine = _MACHINE_COLUMNS.get(type(row), (None, None))
    if column in values:
        machine.check_move(getattr(row, column), values[column])


def _update_row(row, values):
    _check_machine(row, values)
    for key, value in values.items():
        setattr(row, key, value)


def _as_tuple(value):
    if isinstance(value, str):
        return (value,)
    return tuple(value)


# --- sessions --------------------------------------------------------------

def _host_rows(session_id, hosts):
    rows = []
    seen = set()
    for host in hosts:
        host = _check_values(models.Host, host, forbidden=('id',))
        hostname = host.get('hostname')
        if not hostname:
            raise exception.Invalid(reason='a host without a hostname')
        if hostname in seen:
            raise exception.Invalid(reason="host '%s' is listed twice"
                                    % hostname)
        seen.add(hostname)
        host['session_id'] = session_id
        host.setdefault('type', states.COMPUTE)
        host.setdefault('state', states.HOST_PENDING)
        rows.append(models.Host(**host))
    return rows


def _plugin_rows(session_id, plugins):
    rows = []
    seen = set()
    positions = {}
    for plugin in plugins:
        plugin = _check_values(models.ActionPlugin, plugin,
                               forbidden=('id',))
        if not plugin.get('plugin') or not plugin.get('type'):
            raise exception.Invalid(
                reason='an action plug-in needs a plugin name and a type')
        key = (plugin['plugin'], plugin['type'])
        if key in seen:
            raise exception.Invalid(
                reason="action plug-in '%s' of type '%s' is listed twice"
                % key)
        seen.add(key)
        position = positions.get(plugin['type'], 0)
        plugin.setdefault('position', position)
        positions[plugin['type']] = position + 1
        plugin['session_id'] = session_id
        rows.append(models.ActionPlugin(**plugin))
    return rows


@_retry_on_deadlock
def session_create(values):
    """Create a session with its hosts and action plug-ins.

    All rows are inserted in one transaction.

    ``values``: Session columns, plus ``hosts`` (list of Host value dicts;
    ``type`` defaults to compute, ``state`` to PENDING) and
    ``action_plugins`` (list of dicts with plugin, type, position, meta;
    ``position`` defaults to the order within its type). ``session_id``
    defaults to a new UUID, ``state`` to MAINTENANCE, ``workflow`` to
    ``default`` and ``maintenance_at`` to now.
    Returns the session dict.
    """
    values = dict(values or {})
    hosts = values.pop('hosts', None) or []
    plugins = values.pop('action_plugins', None) or []
    values = _check_values(models.Session, values, forbidden=('version',))
    values.setdefault('session_id', uuidutils.generate_uuid())
    values.setdefault('state', states.MAINTENANCE)
    values.setdefault('workflow', 'default')
    if values.get('maintenance_at') is None:
        values['maintenance_at'] = timeutils.utcnow().replace(microsecond=0)
    session_id = values['session_id']
    host_rows = _host_rows(session_id, hosts)
    plugin_rows = _plugin_rows(session_id, plugins)
    try:
        with _writer() as session:
            row = models.Session(**values)
            session.add(row)
            session.flush()
            session.add_all(host_rows)
            session.add_all(plugin_rows)
            return _reloaded_one(session, row)
    except db_exc.DBDuplicateEntry as e:
        if 'idempotency_key' in (e.columns or []):
            raise exception.IdempotencyKeyInUse()
        raise exception.Conflict(
            reason='maintenance session %s already exists' % session_id)


@_retry_read
def session_find_by_idempotency_key(key):
    """The session (without its plan) created with ``key`` (see
    ``Session.idempotency_key``), or None."""
    columns = [c for c in models.Session.__table__.columns
               if c.name != 'plan']
    with _reader() as session:
        row = session.execute(sa.select(*columns).where(
            models.Session.idempotency_key == key)).first()
    return None if row is None else dict(row._mapping)


@_retry_read
def session_get(session_id, with_plan=True):
    """The session's row. ``with_plan=False`` leaves out ``plan`` (the
    largest column: the whole nfv plan), for the many callers that only
    need the state, options and metadata."""
    if with_plan:
        with _reader() as session:
            return _session_row(session, session_id).to_dict()
    with _reader() as session:
        row = session.execute(_session_without_plan(), {
            'session_id': session_id}).first()
    if row is None:
        raise exception.SessionNotFound(session_id=session_id)
    return dict(row._mapping)


_SESSION_WITHOUT_PLAN = []


def _session_without_plan():
    """A session's row without ``plan`` by its id (built once: read
    before every reply is stored)."""
    if not _SESSION_WITHOUT_PLAN:
        _SESSION_WITHOUT_PLAN.append(_without_plan().where(
            models.Session.__table__.c.session_id ==
            sa.bindparam('session_id')))
    return _SESSION_WITHOUT_PLAN[0]


def _without_plan():
    """A select of every session column but ``plan`` (0.5-5 MB of JSON
    a list, a heartbeat or a take-over never needs to decode)."""
    return sa.select(*[c for c in models.Session.__table__.columns
                       if c.name != 'plan'])


@_retry_read
def session_list():
    """Every session, oldest first, without its ``plan``."""
    stmt = _without_plan().order_by(models.Session.created_at,
                                    models.Session.session_id)
    with _reader() as session:
        return [dict(r._mapping) for r in session.execute(stmt)]


@_retry_read
def session_list_by_states(states, engine=None):
    """Sessions in one of ``states`` (run by ``engine`` if given),
    without their ``plan``."""
    states = list(_as_tuple(states))
    if not states:
        return []
    stmt = _without_plan().where(models.Session.state.in_(states))
    if engine is not None:
        stmt = stmt.where(models.Session.engine == engine)
    stmt = stmt.order_by(models.Session.created_at, models.Session.session_id)
    with _reader() as session:
        return [dict(r._mapping) for r in session.execute(stmt)]


@_retry_on_deadlock
def session_update(session_id, values, expected_state=None):
    """Update a session; ``version`` goes up by one when ``state`` changes.

    With ``expected_state`` (a state or a list of states) the update is a
    compare-and-set: if the session is in another state,
    SessionStateConflict is raised and nothing changes.
    Returns the updated session dict.
    """
    values = _check_values(models.Session, values,
                           forbidden=('session_id', 'version'))
    with _writer() as session:
        row = _session_row(session, session_id, for_update=True)
        if expected_state is not None:
            allowed = _as_tuple(expected_state)
            if row.state not in allowed:
                raise exception.SessionStateConflict(
                    state=row.state, action='updated',
                    allowed=', '.join(allowed))
        if 'state' in values and values['state'] != row.state:
            row.version = (row.version or 0) + 1
        _update_row(row, values)
        return _reloaded_one(session, row)


@_retry_on_deadlock
def session_delete(session_id):
    """Delete a session and every row of it in every child table."""
    with _writer() as session:
        _session_row(session, session_id, for_update=True)
        for model in SESSION_CHILD_MODELS:
            session.execute(
                sa.delete(model).where(model.session_id == session_id)
                .execution_options(synchronize_session=False))
        session.execute(
            sa.delete(models.Session)
            .where(models.Session.session_id == session_id)
            .execution_options(synchronize_session=False))


class _Unset:
    def __repr__(self):
        return '<not checked>'


ANY_ENGINE = _Unset()


@_retry_on_deadlock
def session_set_engine(session_id, engine, expected_engine=ANY_ENGINE,
                       skip_locked=False):
    """Make ``engine`` the owner of the session.

    With ``expected_engine`` (may be None: nobody owns it) the owner is
    only changed if it still is ``expected_engine``: returns True if the
    owner was set, False if another engine owns the session. Raises
    SessionNotFound if there is no such session.

    ``skip_locked`` (a takeover): on a server database, when another
    transaction holds the session's row (its stalled owner's, say), wait
    for nothing and return None; the caller tries again later.
    """
    stmt = sa.update(models.Session).where(
        models.Session.session_id == session_id)
    if expected_engine is not ANY_ENGINE:
        if expected_engine is None:
            stmt = stmt.where(models.Session.engine.is_(None))
        else:
            stmt = stmt.where(models.Session.engine == expected_engine)
    stmt = stmt.values(
        engine=engine, generation=models.Session.generation + 1
    ).execution_options(synchronize_session=False)
    with _writer() as session:
        if skip_locked and session.get_bind().dialect.name in (
                'mysql', 'postgresql'):
            free = session.execute(
                sa.select(models.Session.session_id)
                .where(models.Session.session_id == session_id)
                .with_for_update(skip_locked=True)).first()
            if free is None:
                if not _session_exists(session, session_id):
                    raise exception.SessionNotFound(session_id=session_id)
                return None
        if session.execute(stmt).rowcount:
            return True
        if not _session_exists(session, session_id):
            raise exception.SessionNotFound(session_id=session_id)
        return False


@_retry_on_deadlock
def session_claim(session_id, engine):
    """``engine`` (the session's owner, or any engine when it has none)
    starts a runner for the session: it becomes the owner and the
    generation goes up by one (fencing the runners of earlier claims,
    whichever engine they run in). Returns the new generation, or None if
    another engine owns the session now. Raises SessionNotFound."""
    with _writer() as session:
        claimed = session.execute(
            sa.update(models.Session).where(
                models.Session.session_id == session_id,
                sa.or_(models.Session.engine == engine,
                       models.Session.engine.is_(None))).values(
                engine=engine, generation=models.Session.generation + 1)
            .execution_options(synchronize_session=False)).rowcount
        if not claimed:
            if not _session_exists(session, session_id):
                raise exception.SessionNotFound(session_id=session_id)
            return None
        return session.execute(
            sa.select(models.Session.generation).where(
                models.Session.session_id == session_id)).scalar_one()


_GENERATION = sa.select(models.Session.engine, models.Session.generation) \
    .where(models.Session.session_id == sa.bindparam('session_id'))


@_retry_read
def session_generation(session_id):
    """(owner, generation) of the session now; SessionNotFound.

    Asked right before every Nova action of a runner (two per move): out
    of a transaction, one statement on a pooled connection, without an
    ORM session (a quarter of the CPU of a reader block)."""
    if in_transaction():
        with _reader() as session:
            row = session.execute(_GENERATION,
                                  {'session_id': session_id}).first()
    else:
        with get_engine().connect() as conn:
            row = conn.execute(_GENERATION,
                               {'session_id': session_id}).first()
    if row is None:
        raise exception.SessionNotFound(session_id=session_id)
    return row[0], row[1]


@_retry_read
def sessions_owners(session_ids):
    """``{session_id: (engine, generation)}`` of those sessions that
    exist (one narrow read; the heartbeat's check of its runners)."""
    session_ids = list(session_ids)
    owners = {}
    with _reader() as session:
        for start in range(0, len(session_ids), IN_CHUNK):
            for sid, engine, generation in session.execute(
                    sa.select(models.Session.session_id,
                              models.Session.engine,
                              models.Session.generation).where(
                        models.Session.session_id.in_(
                            session_ids[start:start + IN_CHUNK]))):
                owners[sid] = (engine, generation)
    return owners


@_retry_read
def sessions_count(states):
    """How many sessions are in one of ``states``, whichever engine runs
    them (the deployment-wide ``[engine] max_sessions_total``)."""
    with _reader() as session:
        return session.execute(
            sa.select(sa.func.count()).select_from(models.Session).where(
                models.Session.state.in_(list(_as_tuple(states))))
        ).scalar_one()


# --- hosts -----------------------------------------------------------------

def _host_not_found(session_id, hostname):
    return exception.NotFound(
        'Host %s is not in maintenance session %s.' % (hostname, session_id))


def _host_row(session, session_id, hostname):
    row = session.execute(sa.select(models.Host).where(
        models.Host.session_id == session_id,
        models.Host.hostname == hostname)).scalar_one_or_none()
    if row is None:
        raise _host_not_found(session_id, hostname)
    return row


@_retry_read
def hosts_get(session_id, type=None):
    """The hosts of a session (of one type if given), in insert order."""
    stmt = sa.select(models.Host).where(models.Host.session_id == session_id)
    if type is not None:
        stmt = stmt.where(models.Host.type == type)
    with _reader() as session:
        return _dicts(session.execute(stmt.order_by(models.Host.id))
                      .scalars())


def host_get(session_id, hostname):
    with _reader() as session:
        return _host_row(session, session_id, hostname).to_dict()


@_retry_on_deadlock
def hosts_create(session_id, list_of_values):
    """Add hosts to a session; returns their dicts in the given order."""
    rows = _host_rows(session_id, list_of_values)
    try:
        with _session_must_exist(session_id), _writer() as session:
            session.add_all(rows)
            return _reloaded(session, rows)
    except db_exc.DBDuplicateEntry:
        raise exception.Conflict(
            reason='a host is already in maintenance session %s'
            % session_id)


@_retry_on_deadlock
def host_update(session_id, hostname, values):
    values = _check_values(models.Host, values,
                           forbidden=('id', 'session_id'))
    with _writer() as session:
        row = _host_row(session, session_id, hostname)
        _update_row(row, values)
        return _as_stored(session, row)


# --- projects --------------------------------------------------------------

def _project_row(session, session_id, project_id, for_update=False):
    stmt = sa.select(models.Project).where(
        models.Project.session_id == session_id,
        models.Project.project_id == project_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).scalar_one_or_none()
    if row is None:
        raise exception.ProjectNotFound(project_id=project_id,
                                        session_id=session_id)
    return row


def _locking(for_update):
    """The transaction of a read: a locking read (``for_update``) is a
    writer's, so that on SQLite too it waits for the writer before it (and
    the writer after it waits for its transaction to end)."""
    return _writer() if for_update else _reader()


@_retry_read
def projects_get(session_id, for_update=False):
    """The projects of a session, in insert order.

    ``for_update``: lock the rows (``SELECT ... FOR UPDATE``) until the
    end of the enclosing :func:`transaction`; a reply being stored at the
    same time is then either seen or stored after it.
    """
    stmt = (sa.select(models.Project)
            .where(models.Project.session_id == session_id)
            .order_by(models.Project.id))
    if for_update:
        stmt = stmt.with_for_update()
    with _locking(for_update) as session:
        return _dicts(session.execute(stmt).scalars())


def project_managers(session_id):
    """``[{project_id, has_manager}]`` of a session's projects, in insert
    order: the two columns the ``nfv`` executor reads every second,
    without the rest of the rows (their ``instance_actions``, the JSON of
    every reply, grow with the instances of the session)."""
    table = models.Project.__table__
    stmt = (sa.select(table.c.project_id, table.c.has_manager)
            .where(table.c.session_id == session_id).order_by(table.c.id))
    with _reader() as session:
        return [{'project_id': pid, 'has_manager': bool(has)}
                for pid, has in session.execute(stmt)]


def project_get(session_id, project_id, for_update=False):
    """One project of a session; ``for_update`` as for
    :func:`projects_get`."""
    with _locking(for_update) as session:
        return _project_row(session, session_id, project_id,
                            for_update=for_update).to_dict()


def _upsert_rows(session, session_id, model, key, items, required=()):
    """Insert or update rows of one session in the open transaction.

    ``items`` maps each key (the ``key`` column) to the values to set;
    only values that differ are written. ``required`` columns must be in
    the values of a row to insert (ValueError otherwise). Returns the
    rows, in the order of ``items``.
    """
    column = getattr(model, key)
    keys = list(items)
    existing = {}
    for start in range(0, len(keys), IN_CHUNK):
        chunk = keys[start:start + IN_CHUNK]
        existing.update(
            (getattr(r, key), r) for r in session.execute(
                sa.select(model).where(model.session_id == session_id,
                                       column.in_(chunk))).scalars())
    rows = []
    for k in keys:
        values = items[k]
        row = existing.get(k)
        if row is None:
            missing = [c for c in required if not values.get(c)]
            if missing:
                raise ValueError('%s is needed to add %s %s' % (
                    ', '.join(missing), model.__tablename__, k))
            row = model(session_id=session_id, **dict(values, **{key: k}))
            session.add(row)
        else:
            _update_row(row, {c: v for c, v in values.items()
                              if getattr(row, c) != v})
        rows.append(row)
    return rows


@_retry_on_duplicate
def project_create_or_update(session_id, project_id, values):
    """Insert the project of a session, or update it if it is there."""
    values = _check_values(models.Project, values,
                           forbidden=('id', 'session_id', 'project_id'))
    with _session_must_exist(session_id), _writer() as session:
        rows = _upsert_rows(session, session_id, models.Project,
                            'project_id', {project_id: values})
        return _reloaded_one(session, rows[0])


@_retry_on_deadlock
def project_update(session_id, project_id, values):
    values = _check_values(models.Project, values,
                           forbidden=('id', 'session_id', 'project_id'))
    with _writer() as session:
        row = _project_row(session, session_id, project_id)
        _update_row(row, values)
        return _reloaded_one(session, row)


@_retry_on_deadlock
def projects_update(session_id, values, project_ids=None):
    """Set ``values`` on many projects of a session at once.

    Those in ``project_ids``, or all when it is None. Returns how many
    matched.
    """
    values = _check_values(models.Project, values,
                           forbidden=('id', 'session_id', 'project_id'))
    if not values:
        raise ValueError('nothing to update')
    stmt = sa.update(models.Project).where(
        models.Project.session_id == session_id)
    if project_ids is not None:
        project_ids = list(project_ids)
        if not project_ids:
            return 0
        stmt = stmt.where(models.Project.project_id.in_(project_ids))
    stmt = stmt.values(**values).execution_options(
        synchronize_session=False)
    with _writer() as session:
        return session.execute(stmt).rowcount


# --- instances -------------------------------------------------------------

def _instance_row(session, session_id, instance_id, for_update=False):
    stmt = sa.select(models.Instance).where(
        models.Instance.session_id == session_id,
        models.Instance.instance_id == instance_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).scalar_one_or_none()
    if row is None:
        raise exception.InstanceNotFound(
            instance_id=instance_id, project_id='?', session_id=session_id)
    return row


@_retry_read
def instances_get(session_id, project_id=None, host=None,
                  instance_ids=None):
    """Instances of a session (of a project, on a host, with these ids),
    in insert order; plain rows, as :func:`instance_get` reads them."""
    table = models.Instance.__table__
    stmt = sa.select(*table.columns).where(table.c.session_id == session_id)
    if project_id is not None:
        stmt = stmt.where(table.c.project_id == project_id)
    if host is not None:
        stmt = stmt.where(table.c.host == host)
    if instance_ids is None:
        chunks = [stmt]
    else:
        ids = list(instance_ids)
        chunks = [stmt.where(table.c.instance_id.in_(
            ids[k:k + IN_CHUNK])) for k in range(0, len(ids), IN_CHUNK)]
    rows = []
    with _reader() as session:
        for chunk in chunks:
            rows.extend(dict(r._mapping) for r in session.execute(chunk))
    rows.sort(key=lambda r: r['id'])
    return rows


def instances_moving_elsewhere(session_id, done_since):
    """The moves of other live sessions that impact their instances now.

    Rows (``session_id``, ``instance_id``, ``action_state``,
    ``updated_at``) of the instances of every session in an active state
    other than ``session_id`` whose move is in progress, or done at or
    after ``done_since`` (naive UTC: the caller filters these by the
    ``recovery_time`` of each instance's group). A workflow counts them
    against its groups' ``max_impacted_members``, so that sessions at
    once never take more members of a group out of service together than
    the group allows. Only the few moves in flight are read.
    """
    inst = models.Instance
    live = sa.select(models.Session.session_id).where(
        models.Session.session_id != session_id,
        models.Session.state.in_(states.ACTIVE_SESSION_STATES))
    with _reader() as session:
        # The other live sessions first (a few rows): their instances are
        # then found by the session index, and with none of them no
        # instance is read at all (a scan of every instance of every
        # session, each second, grew with the sessions' sizes).
        others = sorted(session.execute(live).scalars())
        if not others:
            return []
        stmt = sa.select(inst.session_id, inst.instance_id,
                         inst.action_state, inst.updated_at).where(
            inst.session_id.in_(others),
            sa.or_(inst.action_state == states.ACTION_IN_PROGRESS,
                   sa.and_(inst.action_state == states.ACTION_DONE,
                           inst.updated_at >= done_since)))
        return [dict(r._mapping) for r in session.execute(stmt)]


def instance_get(session_id, instance_id, for_update=False):
    """One instance of a session; ``for_update`` as for
    :func:`projects_get`. Read as a plain row (no ORM object: the row is
    read before every reply is stored); the values are those
    ``Instance.to_dict()`` gives, JSON columns decoded by their types."""
    with _locking(for_update) as session:
        row = session.execute(_instance_select(for_update), {
            'session_id': session_id, 'instance_id': instance_id}).first()
    if row is None:
        raise exception.InstanceNotFound(
            instance_id=instance_id, project_id='?', session_id=session_id)
    return dict(row._mapping)


_INSTANCE_SELECTS = {}


def _instance_select(for_update):
    """The select of one instance row by session and instance id, built
    once (with or without FOR UPDATE)."""
    stmt = _INSTANCE_SELECTS.get(for_update)
    if stmt is None:
        table = models.Instance.__table__
        stmt = sa.select(*table.columns).where(
            table.c.session_id == sa.bindparam('session_id'),
            table.c.instance_id == sa.bindparam('instance_id'))
        if for_update:
            stmt = stmt.with_for_update()
        _INSTANCE_SELECTS[for_update] = stmt
    return stmt


@_retry_on_duplicate
def instance_create_or_update(session_id, instance_id, values):
    """Insert the instance of a session, or update it if it is there.

    ``project_id`` is needed to insert.
    """
    return instances_put(session_id, {instance_id: values})[0]


@_retry_on_duplicate
def instances_put(session_id, items, delete=()):
    """Insert or update many instances of a session in one transaction.

    ``items``: {instance_id: values} (``project_id`` is needed to insert);
    only changed values are written. The instances in ``delete`` are
    removed in the same transaction (those not there are ignored).
    Returns the rows of ``items`` in its order.
    """
    items = {iid: _check_values(models.Instance, values,
                                forbidden=('id', 'session_id',
                                           'instance_id'))
             for iid, values in items.items()}
    with _session_must_exist(session_id), _writer() as session:
        delete = [iid for iid in delete if iid not in items]
        for start in range(0, len(delete), IN_CHUNK):
            session.execute(sa.delete(models.Instance).where(
                models.Instance.session_id == session_id,
                models.Instance.instance_id.in_(
                    delete[start:start + IN_CHUNK]))
                .execution_options(synchronize_session=False))
        rows = _upsert_rows(session, session_id, models.Instance,
                            'instance_id', items, required=('project_id',))
        return _reloaded(session, rows)


@_retry_on_deadlock
def instance_update(session_id, instance_id, values, history=None):
    """Update an instance of a session.

    ``history``: the keyword arguments of :func:`event_add` for an entry
    of the session's history written in the same transaction (the change
    and its record are kept together, in one commit), or a list of them
    (entries written in that order).
    """
    values = _check_values(models.Instance, values,
                           forbidden=('id', 'session_id', 'instance_id'))
    if isinstance(history, dict):
        history = [history]
    with _writer() as session:
        if session.get_bind().dialect.name in _EXACT_DIALECTS:
            return _instance_update_core(session, session_id, instance_id,
                                         values, history)
        row = _instance_row(session, session_id, instance_id)
        _update_row(row, values)
        session.add_all([_event_row(session_id, **entry)
                         for entry in history or ()])
        return _as_stored(session, row)


def _instance_update_core(session, session_id, instance_id, values,
                          history):
    """:func:`instance_update` without ORM objects (the engine's hot path:
    every event, reply and move writes an instance row and its history):
    one select, one UPDATE when a value changed (as the ORM, which writes
    nothing, ``updated_at`` included, when nothing changed), the history
    in one INSERT. Returns the row as a read would give it. A row this
    transaction holds as an ORM object is updated through it (so that
    the object never goes stale)."""
    table = models.Instance.__table__
    # What the ORM holds but has not written yet is seen by the select.
    session.flush()
    current = session.execute(_instance_select(False), {
        'session_id': session_id,
        'instance_id': instance_id}).mappings().one_or_none()
    if current is None:
        raise exception.InstanceNotFound(
            instance_id=instance_id, project_id='?', session_id=session_id)
    held = session.identity_map.get(
        orm_util.identity_key(models.Instance, current['id']))
    if held is not None:
        _update_row(held, values)
        session.add_all([_event_row(session_id, **entry)
                         for entry in history or ()])
        return _as_stored(session, held)
    if 'action_state' in values:
        state_machine.MOVE.check_move(current['action_state'],
                                      values['action_state'])
    out = _core_update(session, table, current, values)
    if history:
        session.execute(sa.insert(models.SessionEvent.__table__),
                        [_event_values(session_id, **entry)
                         for entry in history])
    return out


def _core_update(session, table, current, values):
    """Write ``values`` on the row ``current`` (a mapping as selected)
    with one Core UPDATE of the columns that change (none when nothing
    does, ``updated_at`` included, as the ORM); returns the row as a read
    would give it (JSON columns through their type's conversions)."""
    return _core_update_many(session, table, [(current, values)])[0]


def _core_update_many(session, table, pairs):
    """:func:`_core_update` of many rows of ``table`` in the open
    transaction: ``pairs`` of (the row as selected, the values to write).
    The rows whose changed columns are the same go in one executemany
    UPDATE. Returns the rows as written, in the order of ``pairs`` (on a
    database that rounds times, MySQL, the times as given, not as
    stored)."""
    dialect = session.get_bind().dialect
    now = timeutils.utcnow()
    groups = {}
    out = []
    for current, values in pairs:
        row = dict(current)
        changed = {}
        for key, value in values.items():
            kind = table.c[key].type
            if value is not None and \
                    isinstance(kind, sa.types.TypeDecorator):
                # As a write and a read would give it (a new object).
                value = kind.process_result_value(
                    kind.process_bind_param(value, dialect), dialect)
            if row[key] != value:
                changed[key] = value
            row[key] = value
        if changed:
            changed['updated_at'] = row['updated_at'] = now
            params = {'_v_' + key: value for key, value in changed.items()}
            params['_row_id'] = current['id']
            groups.setdefault(tuple(sorted(changed)), []).append(params)
        out.append(row)
    for keys, params in groups.items():
        # One row: a plain execute (an executemany costs more).
        session.execute(_update_by_id(table, keys),
                        params if len(params) > 1 else params[0])
    return out


_UPDATES_BY_ID = {}


def _update_by_id(table, keys):
    """The UPDATE of the columns ``keys`` of one row of ``table`` by its
    ``id`` (parameters ``_row_id`` and ``_v_<column>``), built once per
    table and set of columns (building a statement cost more than running
    it)."""
    stmt = _UPDATES_BY_ID.get((table.name, keys))
    if stmt is None:
        stmt = sa.update(table).where(
            table.c.id == sa.bindparam('_row_id')).values(
            {table.c[key]: sa.bindparam('_v_' + key) for key in keys})
        if len(_UPDATES_BY_ID) < 1024:
            _UPDATES_BY_ID[(table.name, keys)] = stmt
    return stmt


@_retry_on_deadlock
def instances_notified(session_id, changes, history=(), create=None):
    """The per-instance events of one pass written at once (the engine's
    hot path: an event per instance): ``changes`` {instance_id: values}
    set on each instance's row, the ``history`` entries (keyword arguments
    of :func:`event_add`) appended in their order, in one transaction (the
    caller's if one is open): one select of the rows, one executemany
    UPDATE, one executemany INSERT of the history. An instance without a
    row is added with ``create[instance_id]`` (``project_id`` needed) and
    its values when given, else InstanceNotFound (nothing written).
    Nothing is read back; returns the number of instances written."""
    changes = {iid: _check_values(models.Instance, values,
                                  forbidden=('id', 'session_id',
                                             'instance_id'))
               for iid, values in changes.items()}
    if not changes:
        return 0
    table = models.Instance.__table__
    ids = list(changes)
    with _session_must_exist(session_id), _writer() as session:
        # What the ORM holds but has not written yet is seen by the select.
        session.flush()
        current = {}
        for start in range(0, len(ids), IN_CHUNK):
            current.update((r['instance_id'], r) for r in session.execute(
                sa.select(*table.columns).where(
                    table.c.session_id == session_id,
                    table.c.instance_id.in_(ids[start:start + IN_CHUNK])))
                .mappings())
        missing = [iid for iid in ids if iid not in current]
        if missing and (not create or
                        any(iid not in create for iid in missing)):
            raise exception.InstanceNotFound(
                instance_id=missing[0], project_id='?',
                session_id=session_id)
        if missing:
            # Added with the event's values (ORM rows, flushed at the
            # commit).
            added = {}
            for iid in missing:
                added[iid] = _check_values(
                    models.Instance, create[iid],
                    forbidden=('id', 'session_id', 'instance_id'))
                added[iid].update(changes[iid])
            _upsert_rows(session, session_id, models.Instance,
                         'instance_id', added, required=('project_id',))
        pairs = []
        for iid in ids:
            if iid not in current:
                continue
            held = session.identity_map.get(orm_util.identity_key(
                models.Instance, current[iid]['id']))
            if held is not None:
                # Held by the caller's transaction as an ORM object:
                # updated through it, so that it never goes stale.
                _update_row(held, changes[iid])
            else:
                pairs.append((current[iid], changes[iid]))
        _core_update_many(session, table, pairs)
        history = list(history)
        if history:
            session.execute(sa.insert(models.SessionEvent.__table__),
                            [_event_values(session_id, **entry)
                             for entry in history])
        return len(ids)


@_retry_on_deadlock
def instances_update(session_id, values, project_id=None, instance_ids=None):
    """Set ``values`` on many instances of a session in one statement.

    Those of ``project_id`` and/or in ``instance_ids`` (all of the session
    when both are None). Returns how many matched.
    """
    values = _check_values(models.Instance, values,
                           forbidden=('id', 'session_id', 'instance_id'))
    if not values:
        raise ValueError('nothing to update')
    where = [models.Instance.session_id == session_id]
    if project_id is not None:
        where.append(models.Instance.project_id == project_id)
    chunks = [None]
    if instance_ids is not None:
        ids = list(instance_ids)
        chunks = [ids[k:k + IN_CHUNK] for k in range(0, len(ids), IN_CHUNK)]
    count = 0
    with _writer() as session:
        for chunk in chunks:
            stmt = sa.update(models.Instance).where(*where)
            if chunk is not None:
                stmt = stmt.where(models.Instance.instance_id.in_(chunk))
            count += session.execute(stmt.values(**values).execution_options(
                synchronize_session=False)).rowcount
    return count


@_retry_on_deadlock
def instance_delete(session_id, instance_id):
    with _writer() as session:
        session.delete(_instance_row(session, session_id, instance_id))


# --- action plug-ins and their runs ------------------------------------------

def plugin_order(plugin):
    """Sort key of an action plug-in row: its type's place in the
    session (pre, host..., post), then its position."""
    try:
        type_order = states.PLUGIN_TYPES.index(plugin['type'])
    except ValueError:
        type_order = len(states.PLUGIN_TYPES)
    return (type_order, plugin['type'], plugin['position'],
            plugin['plugin'], plugin['id'])


def action_plugins_get(session_id, type=None):
    """The action plug-ins of a session, in the order they run.

    By type (``states.PLUGIN_TYPES``), then position, then name.
    """
    stmt = sa.select(models.ActionPlugin).where(
        models.ActionPlugin.session_id == session_id)
    if type is not None:
        stmt = stmt.where(models.ActionPlugin.type == type)
    with _reader() as session:
        plugins = _dicts(session.execute(stmt).scalars())
    return sorted(plugins, key=plugin_order)


def action_runs_get(session_id, plugin=None, type=None, hostname=None):
    stmt = sa.select(models.ActionPluginRun).where(
        models.ActionPluginRun.session_id == session_id)
    if plugin is not None:
        stmt = stmt.where(models.ActionPluginRun.plugin == plugin)
    if type is not None:
        stmt = stmt.where(models.ActionPluginRun.type == type)
    if hostname is not None:
        stmt = stmt.where(models.ActionPluginRun.hostname == hostname)
    with _reader() as session:
        return _dicts(session.execute(
            stmt.order_by(models.ActionPluginRun.id)).scalars())


@_retry_on_duplicate
def action_run_create_or_update(session_id, plugin, type, hostname, values):
    """Insert or update the run of a plug-in on a host.

    ``hostname`` is None or '' for the session-wide pre and post runs. A
    new run starts in state PENDING unless ``values`` says otherwise.
    """
    values = _check_values(
        models.ActionPluginRun, values,
        forbidden=('id', 'session_id', 'plugin', 'type', 'hostname'))
    hostname = hostname or ''
    key = dict(session_id=session_id, plugin=plugin, type=type,
               hostname=hostname)
    with _session_must_exist(session_id), _writer() as session:
        row = session.execute(
            sa.select(models.ActionPluginRun).filter_by(**key)
        ).scalar_one_or_none()
        if row is None:
            values.setdefault('state', states.RUN_PENDING)
            row = models.ActionPluginRun(**key, **values)
            session.add(row)
        else:
            _update_row(row, values)
        return _reloaded_one(session, row)


def _run_conflict(row, attempt=None):
    """Why ``attempt`` (None: the current one) of a run cannot change."""
    host = row.hostname or 'session'
    if attempt is not None and attempt != row.attempt:
        return exception.ActionRunAttemptConflict(
            attempt=attempt, plugin=row.plugin, host=host,
            current=row.attempt, state=row.state)
    return exception.ActionRunStateConflict(
        plugin=row.plugin, host=host, current=row.attempt, state=row.state)


@_retry_on_duplicate
def action_run_start(session_id, plugin, type, hostname, expected_attempt=0,
                     asynchronous=False):
    """Record a new attempt of the run of a plug-in on a host.

    Written before the plug-in is started (or handed to an agent): state
    RUNNING, a new ``attempt``, ``started_at`` now, no outcome yet, and
    ``asynchronous`` (handed to an agent: True when the plug-in declares
    its hand-over, which is then recorded before it happens). The attempt
    is one more than the highest of the plug-in on that host over all its
    types (1 for a first run): a report names a plug-in, a host and an
    attempt, so the report of a run of another type never matches this
    one. A compare-and-set: the run must
    still be at ``expected_attempt`` (0 when the caller saw no run);
    otherwise ActionRunAttemptConflict is raised and nothing changes, so
    two starters never both win. Returns the run's dict.
    """
    hostname = hostname or ''
    model = models.ActionPluginRun
    with _session_must_exist(session_id), _writer() as session:
        rows = session.execute(
            sa.select(model).where(model.session_id == session_id,
                                   model.plugin == plugin,
                                   model.hostname == hostname)
            .with_for_update()).scalars().all()
        row = next((r for r in rows if r.type == type), None)
        if row is None and expected_attempt:
            raise exception.ActionPluginRunNotFound(
                session_id=session_id, plugin=plugin,
                host=hostname or '(session)')
        if row is not None and row.attempt != expected_attempt:
            raise _run_conflict(row, expected_attempt)
        values = {'state': states.RUN_RUNNING,
                  'started_at': timeutils.utcnow(), 'finished_at': None,
                  'message': None, 'result': None,
                  'asynchronous': bool(asynchronous),
                  'attempt': max([r.attempt for r in rows] +
                                 [expected_attempt]) + 1}
        if row is None:
            row = model(session_id=session_id, plugin=plugin, type=type,
                        hostname=hostname, **values)
            session.add(row)
        else:
            _update_row(row, values)
        return _reloaded_one(session, row)


@_retry_on_deadlock
def action_run_update_attempt(run_id, attempt, values,
                              expected_state=states.RUN_RUNNING):
    """Update one attempt of a run, if it still is the current one.

    A compare-and-set in one statement: the row changes only while its
    ``attempt`` is ``attempt`` and (unless ``expected_state`` is None) its
    state is ``expected_state``. Otherwise nothing changes and
    ActionRunAttemptConflict (another attempt is current) or
    ActionRunStateConflict (the attempt already ended) says why; of two
    concurrent reports, exactly one wins. Returns the updated run's dict.
    """
    values = _check_values(
        models.ActionPluginRun, values,
        forbidden=('id', 'session_id', 'plugin', 'type', 'hostname',
                   'attempt'))
    if 'state' in values:
        # The UPDATE is conditional on expected_state: that is the edge
        # taken, and it must be one of the declared machine's.
        if expected_state is None:
            raise ValueError('a new state of a plug-in run needs the state '
                             'it is expected in')
        state_machine.PLUGIN_RUN.check_move(expected_state, values['state'])
    model = models.ActionPluginRun
    stmt = sa.update(model).where(model.id == run_id,
                                  model.attempt == attempt)
    if expected_state is not None:
        stmt = stmt.where(model.state == expected_state)
    stmt = stmt.values(**values).execution_options(
        synchronize_session=False)
    with _writer() as session:
        changed = session.execute(stmt).rowcount
        row = session.execute(
            sa.select(model).where(model.id == run_id)
            .execution_options(populate_existing=True)).scalar_one_or_none()
        if row is None:
            raise exception.ActionPluginRunNotFound(
                'Action plug-in run %s not found.' % run_id)
        if not changed:
            raise _run_conflict(row, attempt)
        return row.to_dict()


@_retry_on_deadlock
def action_run_update(run_id, values):
    values = _check_values(models.ActionPluginRun, values,
                           forbidden=('id', 'session_id'))
    with _writer() as session:
        row = session.get(models.ActionPluginRun, run_id)
        if row is None:
            raise exception.ActionPluginRunNotFound(
                'Action plug-in run %s not found.' % run_id)
        _update_row(row, values)
        return _reloaded_one(session, row)


# --- constraints -------------------------------------------------------------

def _put(model, key_name, key, values):
    values = _check_values(model, values)
    if values.pop(key_name, key) != key:
        raise exception.Invalid(
            reason='%s in the body does not match the one in the URL'
            % key_name)
    with _writer() as session:
        row = session.get(model, key)
        if row is None:
            if not values.get('project_id'):
                raise exception.Invalid(reason='project_id is required')
            row = model(**{key_name: key}, **values)
            session.add(row)
        else:
            _update_row(row, values)
        return _reloaded_one(session, row)


def _get(model, key, not_found, for_update=False):
    with _locking(for_update) as session:
        row = session.get(model, key, with_for_update=for_update or None)
        if row is None:
            raise not_found
        return row.to_dict()


def _delete(model, key, not_found):
    with _writer() as session:
        row = session.get(model, key)
        if row is None:
            raise not_found
        session.delete(row)


def instance_constraint_get(instance_id):
    return _get(models.InstanceConstraint, instance_id,
                exception.InstanceConstraintNotFound(
                    instance_id=instance_id))


@_retry_read
def constraints_version():
    """What changes whenever an instance or group constraint is added,
    changed or removed: per table, its row count and its latest creation
    and update times. A reader that keeps the lists reads them again only
    when this changed (two aggregate queries instead of every row)."""
    version = []
    with _reader() as session:
        for model in (models.InstanceConstraint,
                      models.InstanceGroupConstraint):
            version.append(tuple(session.execute(sa.select(
                sa.func.count(), sa.func.max(model.created_at),
                sa.func.max(model.updated_at))).one()))
    return tuple(version)


def instance_constraints_list(project_id=None, group_id=None):
    stmt = sa.select(models.InstanceConstraint)
    if project_id is not None:
        stmt = stmt.where(models.InstanceConstraint.project_id == project_id)
    if group_id is not None:
        stmt = stmt.where(models.InstanceConstraint.group_id == group_id)
    with _reader() as session:
        return _dicts(session.execute(
            stmt.order_by(models.InstanceConstraint.instance_id)).scalars())


@_retry_on_duplicate
def instance_constraint_put(instance_id, values):
    """Insert or update the constraints of an instance.

    Only the given fields change on update; ``project_id`` is needed to
    insert.
    """
    return _put(models.InstanceConstraint, 'instance_id', instance_id,
                values)


@_retry_on_deadlock
def instance_constraint_delete(instance_id):
    _delete(models.InstanceConstraint, instance_id,
            exception.InstanceConstraintNotFound(instance_id=instance_id))


def instance_group_constraint_get(group_id, for_update=False):
    """The constraints of a group; ``for_update``: a locking read (in a
    transaction: the row stays locked until it ends)."""
    return _get(models.InstanceGroupConstraint, group_id,
                exception.InstanceGroupNotFound(group_id=group_id),
                for_update=for_update)


def instance_group_constraints_list(project_id=None):
    stmt = sa.select(models.InstanceGroupConstraint)
    if project_id is not None:
        stmt = stmt.where(
            models.InstanceGroupConstraint.project_id == project_id)
    with _reader() as session:
        return _dicts(session.execute(
            stmt.order_by(models.InstanceGroupConstraint.group_id))
            .scalars())


# Both spellings are in use.
instance_group_constraint_list = instance_group_constraints_list


@_retry_on_duplicate
def instance_group_constraint_put(group_id, values):
    """Insert or update the constraints of an instance group.

    Only the given fields change on update; ``project_id`` is needed to
    insert.
    """
    return _put(models.InstanceGroupConstraint, 'group_id', group_id,
                values)


@_retry_on_deadlock
def instance_group_constraint_delete(group_id):
    _delete(models.InstanceGroupConstraint, group_id,
            exception.InstanceGroupNotFound(group_id=group_id))


# --- outbox ------------------------------------------------------------------

def outbox_add(messages, check_known=True, fetch=True):
    """Queue notifications; each a dict with ``message_id``,
    ``session_id``, ``event_type``, ``priority`` and ``payload``. A
    ``message_id`` already queued is left as it is (the message was
    recorded before; it is not queued twice). Returns the new rows.

    The notifier queues on the hot path, in the transaction of the change
    that causes the messages, and needs no more than the insert:
    ``check_known=False`` when the ids are new (random; nothing to look
    up), ``fetch=False`` to get ``{message_id: row id}`` of the rows added
    (from the insert itself) instead of reading them back. A message may
    give its ``created_at``.
    """
    messages = list(messages)
    if not messages:
        return [] if fetch else {}
    with _writer() as session:
        known = set()
        if check_known:
            ids = [m['message_id'] for m in messages]
            for start in range(0, len(ids), IN_CHUNK):
                known.update(session.execute(
                    sa.select(models.OutboxMessage.message_id).where(
                        models.OutboxMessage.message_id.in_(
                            ids[start:start + IN_CHUNK]))).scalars())
        if not fetch and \
                session.get_bind().dialect.name in _EXACT_DIALECTS:
            return _outbox_insert_core(session, messages, known)
        rows = []
        for m in messages:
            if m['message_id'] in known:
                continue
            known.add(m['message_id'])
            rows.append(models.OutboxMessage(
                message_id=m['message_id'], session_id=m['session_id'],
                event_type=m['event_type'],
                priority=m.get('priority') or 'info',
                payload=dict(m.get('payload') or {}), attempts=0,
                created_at=m.get('created_at') or timeutils.utcnow()))
        session.add_all(rows)
        if fetch:
            return _reloaded(session, rows)
        session.flush()
        return {row.message_id: row.id for row in rows}


def _outbox_insert_core(session, messages, known):
    """The insert of :func:`outbox_add` (``fetch=False``) as one Core
    statement for all the messages, the row ids taken from its RETURNING
    (no ORM objects, no flush)."""
    table = models.OutboxMessage.__table__
    now = timeutils.utcnow()
    params = []
    for m in messages:
        if m['message_id'] in known:
            continue
        known.add(m['message_id'])
        params.append(dict(
            message_id=m['message_id'], session_id=m['session_id'],
            event_type=m['event_type'], priority=m.get('priority') or 'info',
            payload=dict(m.get('payload') or {}), attempts=0,
            sent_at=None, last_error=None,
            created_at=m.get('created_at') or now, updated_at=None))
    if not params:
        return {}
    stmt = sa.insert(table).returning(table.c.message_id, table.c.id,
                                      sort_by_parameter_order=True)
    rows = session.connection().execute(stmt, params)
    return {message_id: row_id for message_id, row_id in rows}


def outbox_unsent(engine=None, session_id=None, limit=200, after_id=None):
    """Messages not sent yet, oldest first: those of the sessions
    ``engine`` owns (all when None), or of one session; only those after
    the row id ``after_id`` if given (to page through them)."""
    stmt = sa.select(models.OutboxMessage).where(
        models.OutboxMessage.sent_at.is_(None))
    if session_id is not None:
        stmt = stmt.where(models.OutboxMessage.session_id == session_id)
    if after_id is not None:
        stmt = stmt.where(models.OutboxMessage.id > after_id)
    if engine is not None:
        stmt = stmt.join(
            models.Session,
            models.Session.session_id == models.OutboxMessage.session_id
        ).where(models.Session.engine == engine)
    stmt = stmt.order_by(models.OutboxMessage.id).limit(limit)
    with _reader() as session:
        return _dicts(session.execute(stmt).scalars())


def outbox_pending_sessions():
    """``[{session_id, engine}]`` of the sessions that have messages not
    sent yet, with their owners (an engine that died after recording
    them leaves them to another)."""
    stmt = sa.select(models.Session.session_id, models.Session.engine).where(
        models.Session.session_id.in_(
            sa.select(models.OutboxMessage.session_id).where(
                models.OutboxMessage.sent_at.is_(None)))).order_by(
        models.Session.session_id)
    with _reader() as session:
        return [{'session_id': sid, 'engine': engine}
                for sid, engine in session.execute(stmt)]


@_retry_on_deadlock
def outbox_mark_sent(ids, engine=None):
    """Mark the messages with these row ids sent (one statement per
    :data:`IN_CHUNK` ids). With ``engine``: only those of sessions that
    engine owns (a stale owner marks nothing of a session taken over: its
    new owner sends those rows again). Returns how many were marked."""
    ids = list(ids)
    now = timeutils.utcnow()
    marked = 0
    with _writer() as session:
        for start in range(0, len(ids), IN_CHUNK):
            stmt = sa.update(models.OutboxMessage).where(
                models.OutboxMessage.id.in_(ids[start:start + IN_CHUNK]))
            if engine is not None:
                stmt = stmt.where(models.OutboxMessage.session_id.in_(
                    sa.select(models.Session.session_id).where(
                        models.Session.engine == engine)))
            marked += session.execute(
                stmt.values(sent_at=now, updated_at=now,
                            attempts=models.OutboxMessage.attempts + 1)
                .execution_options(synchronize_session=False)).rowcount
    return marked


@_retry_on_deadlock
def outbox_mark_failed(row_id, error):
    """Count a failed try to send a message and keep why."""
    with _writer() as session:
        session.execute(
            sa.update(models.OutboxMessage).where(
                models.OutboxMessage.id == row_id).values(
                attempts=models.OutboxMessage.attempts + 1,
                last_error=str(error)[:2000],
                updated_at=timeutils.utcnow())
            .execution_options(synchronize_session=False))


# --- steps of the stored plan -----------------------------------------------

def _step_rows(session, session_id, steps):
    """Step rows of ``steps`` (dicts), added to ``session``; ``ref`` (not
    stored) names a step of the batch so that ``depends_on`` may name it
    before it has an id."""
    rows, refs, deps = [], {}, []
    for n, step in enumerate(steps):
        step = dict(step)
        ref = step.pop('ref', None)
        depends = list(step.pop('depends_on', None) or ())
        step = _check_values(models.Step, step,
                             forbidden=('id', 'session_id'))
        if step.get('kind') not in states.STEP_KINDS:
            raise exception.Invalid(reason='unknown kind of step: %s'
                                    % step.get('kind'))
        step.setdefault('state', state_machine.STEP.initial)
        if step['state'] not in state_machine.STEP.states:
            raise exception.InvalidState(state=step['state'])
        step.setdefault('seq', n)
        step.setdefault('attempt', 0)
        step.setdefault('inputs', {})
        step.setdefault('result', {})
        row = models.Step(session_id=session_id, depends_on=[], **step)
        if ref is not None:
            if ref in refs:
                raise exception.Invalid(reason='step ref %s is given twice'
                                        % ref)
            refs[ref] = row
        rows.append(row)
        deps.append(depends)
    session.add_all(rows)
    session.flush()
    known = None
    for row, depends in zip(rows, deps):
        if not depends:
            continue
        ids = []
        for dep in depends:
            if dep in refs:
                ids.append(refs[dep].id)
                continue
            if not isinstance(dep, int):
                raise exception.Invalid(reason='step %s depends on %r: '
                                        'no such step in the batch'
                                        % (row.kind, dep))
            if known is None:
                known = set(session.execute(
                    sa.select(models.Step.id).where(
                        models.Step.session_id == session_id)).scalars())
            if dep not in known:
                raise exception.Invalid(reason='step %s depends on step '
                                        '%s, not one of session %s'
                                        % (row.kind, dep, session_id))
            ids.append(dep)
        row.depends_on = ids
    return rows


@_retry_on_deadlock
def steps_create(session_id, steps):
    """Add many steps to a session in one transaction (the caller's if
    one is open: the plan and its steps are written together).

    Each step: kind (``states.STEP_KINDS``), host, instance_id,
    project_id, wave, seq (default: its position in ``steps``), inputs,
    state (default PENDING), and ``depends_on``: ids of steps of the
    session, or ``ref`` values of steps of this batch. Returns the rows
    in the given order.
    """
    steps = list(steps)
    if not steps:
        return []
    with _session_must_exist(session_id), _writer() as session:
        return _reloaded(session, _step_rows(session, session_id, steps))


@_retry_on_deadlock
def steps_depend(session_id, links):
    """Extend the dependencies of steps already stored: ``links`` is
    {step id: [ids of steps of the same session it must now also wait
    for]} (in the caller's transaction if one is open). The one way
    ``depends_on`` changes after the plan was written: a step added at
    run time (an instance that came to a host being emptied) makes the
    steps after it wait for it. A step never depends on itself; an id
    of another session is refused (Invalid). Returns the changed steps'
    dicts."""
    links = {int(k): [int(d) for d in v] for k, v in links.items() if v}
    if not links:
        return []
    for step_id, deps in links.items():
        if step_id in deps:
            raise exception.Invalid(reason='step %s may not depend on '
                                    'itself' % step_id)
    wanted = set(links) | {d for deps in links.values() for d in deps}
    with _session_must_exist(session_id), _writer() as session:
        known = set()
        ordered = sorted(wanted)
        for start in range(0, len(ordered), IN_CHUNK):
            known.update(session.execute(
                sa.select(models.Step.id).where(
                    models.Step.session_id == session_id,
                    models.Step.id.in_(ordered[start:start + IN_CHUNK])))
                .scalars())
        missing = wanted - known
        if missing:
            raise exception.Invalid(reason='step %s is not one of session '
                                    '%s' % (min(missing), session_id))
        rows = []
        ids = sorted(links)
        for start in range(0, len(ids), IN_CHUNK):
            rows.extend(session.execute(
                sa.select(models.Step).where(
                    models.Step.id.in_(ids[start:start + IN_CHUNK]))
                .order_by(models.Step.id).with_for_update()).scalars())
        for row in rows:
            deps = list(row.depends_on or ())
            for dep in links[row.id]:
                if dep not in deps:
                    deps.append(dep)
            if deps != list(row.depends_on or ()):
                row.depends_on = deps
        return _reloaded(session, rows)


def _step_values(row, event, values, bump_attempt):
    """The change ``event`` makes to ``row`` (raises on an undeclared
    edge), merged with ``values``."""
    dst = state_machine.STEP.next(row.state, event)
    now = timeutils.utcnow()
    change = {'state': dst}
    if dst == states.STEP_RUNNING:
        if row.state != dst or bump_attempt:
            change['started_at'] = now
            change['finished_at'] = None
    elif dst == states.STEP_PENDING:
        change['finished_at'] = None
    elif dst != states.STEP_RUNNING:
        change['finished_at'] = now
    if bump_attempt:
        change['attempt'] = (row.attempt or 0) + 1
    change.update(values)
    return change


@_retry_on_deadlock
def step_transition(step_id, event, values=None, bump_attempt=False,
                    expected_state=None):
    """Take ``event`` (a named edge of ``state_machine.STEP``) on a step.

    An event the step's state has no edge for raises
    InvalidStepTransition and changes nothing. ``values``: other columns
    to set with it (result, message, inputs). ``bump_attempt``: a new
    attempt (attempt + 1). ``expected_state``: a compare-and-set, the step
    must still be in that state (StepStateConflict otherwise). The row is
    locked for the change; ``started_at``/``finished_at`` follow the
    state. Returns the step's dict.
    """
    values = _check_values(models.Step, values,
                           forbidden=('id', 'session_id', 'state', 'kind',
                                      'attempt'))
    with _writer() as session:
        if session.get_bind().dialect.name in _EXACT_DIALECTS:
            out = _step_transition_core(session, step_id, event, values,
                                        bump_attempt, expected_state)
            if out is not None:
                return out
        row = session.execute(
            sa.select(models.Step).where(models.Step.id == step_id)
            .with_for_update()).scalar_one_or_none()
        if row is None:
            raise exception.StepNotFound(step_id=step_id)
        if expected_state is not None and row.state != expected_state:
            raise exception.StepStateConflict(
                step_id=step_id, state=row.state, expected=expected_state)
        _update_row(row, _step_values(row, event, values, bump_attempt))
        return _as_stored(session, row)


class _StepState(object):
    """What :func:`_step_values` reads of a step selected as a mapping."""

    def __init__(self, current):
        self.state = current['state']
        self.attempt = current['attempt']


def _step_transition_core(session, step_id, event, values, bump_attempt,
                          expected_state):
    """:func:`step_transition` without ORM objects (every event and move
    marks a step): the row selected for update, one UPDATE of what
    changes, the row returned as written. None when this transaction
    holds the step as an ORM object (the caller updates it through the
    object, so that it never goes stale)."""
    table = models.Step.__table__
    if session.identity_map.get(
            orm_util.identity_key(models.Step, step_id)) is not None:
        return None
    current = session.execute(_step_select(), {
        'step_id': step_id}).mappings().one_or_none()
    if current is None:
        raise exception.StepNotFound(step_id=step_id)
    if expected_state is not None and current['state'] != expected_state:
        raise exception.StepStateConflict(
            step_id=step_id, state=current['state'],
            expected=expected_state)
    change = _step_values(_StepState(current), event, values, bump_attempt)
    state_machine.STEP.check_move(current['state'], change['state'])
    return _core_update(session, table, current, change)


_STEP_SELECT = []


def _step_select():
    """A step's row by id, FOR UPDATE (built once)."""
    if not _STEP_SELECT:
        table = models.Step.__table__
        _STEP_SELECT.append(sa.select(table).where(
            table.c.id == sa.bindparam('step_id')).with_for_update())
    return _STEP_SELECT[0]


@_retry_on_deadlock
def steps_transition(session_id, step_ids, event, values=None,
                     bump_attempt=False):
    """Take ``event`` on many steps of a session in one transaction; all
    of them or none (InvalidStepTransition names the first that may not
    take it). Returns their dicts."""
    values = _check_values(models.Step, values,
                           forbidden=('id', 'session_id', 'state', 'kind',
                                      'attempt'))
    ids = list(step_ids)
    if not ids:
        return []
    with _writer() as session:
        rows = []
        for start in range(0, len(ids), IN_CHUNK):
            rows.extend(session.execute(
                sa.select(models.Step).where(
                    models.Step.session_id == session_id,
                    models.Step.id.in_(ids[start:start + IN_CHUNK]))
                .order_by(models.Step.id).with_for_update()).scalars())
        missing = set(ids) - {r.id for r in rows}
        if missing:
            raise exception.StepNotFound(step_id=min(missing))
        for row in rows:
            _update_row(row, _step_values(row, event, values, bump_attempt))
        return _reloaded(session, rows)


@_retry_on_deadlock
def steps_transition_each(session_id, changes):
    """Take events on many steps of a session, each with its own values,
    in one transaction (the caller's if one is open): ``changes`` is a
    list of (step id, events, values): the ``events`` (named edges of
    ``state_machine.STEP``, taken in their order: a route such as
    ``('again', 'done')``) and the columns set with the last one. One
    select of the rows (for update), one executemany UPDATE per set of
    columns changed. An event a step's state has no edge for raises
    InvalidStepTransition and changes nothing. Returns the steps' dicts as
    written, in the order of ``changes`` (nothing read back)."""
    changes = [(int(step_id), tuple(events), _check_values(
        models.Step, values, forbidden=('id', 'session_id', 'state',
                                        'kind', 'attempt')))
               for step_id, events, values in changes]
    if not changes:
        return []
    table = models.Step.__table__
    ids = sorted({c[0] for c in changes})
    with _writer() as session:
        session.flush()
        current = {}
        for start in range(0, len(ids), IN_CHUNK):
            current.update((r['id'], r) for r in session.execute(
                sa.select(table).where(
                    table.c.session_id == session_id,
                    table.c.id.in_(ids[start:start + IN_CHUNK]))
                .order_by(table.c.id).with_for_update()).mappings())
        missing = set(ids) - set(current)
        if missing:
            raise exception.StepNotFound(step_id=min(missing))
        pairs = []
        for step_id, events, values in changes:
            row = current[step_id]
            state = _StepState(row)
            change = {}
            for n, edge in enumerate(events):
                last = n == len(events) - 1
                step = _step_values(state, edge, values if last else {},
                                    False)
                state_machine.STEP.check_move(state.state, step['state'])
                state.state = step['state']
                change.update(step)
            pairs.append((row, change))
        return _core_update_many(session, table, pairs)


@_retry_on_deadlock
def steps_retry_failed(session_id, note):
    """An admin's retry: every FAILED step of the session takes the
    ``retry`` edge of ``state_machine.STEP`` (back to PENDING; it starts
    again as a new attempt), its message saying ``note`` and why it had
    failed, in one transaction. Returns their dicts."""
    with _writer() as session:
        rows = list(session.execute(
            sa.select(models.Step).where(
                models.Step.session_id == session_id,
                models.Step.state == states.STEP_FAILED)
            .order_by(models.Step.id).with_for_update()).scalars())
        for row in rows:
            why = '%s after: %s' % (note, row.message or 'a failure')
            _update_row(row, _step_values(row, 'retry', {'message': why},
                                          False))
        return _reloaded(session, rows)


def steps_get(session_id, state=None, host=None, kind=None,
              instance_id=None):
    """The steps of a session in plan order (wave, seq, id): only those
    in ``state`` (a state or a list), on ``host``, of ``kind`` (one or a
    list), of ``instance_id``, when given."""
    model = models.Step
    stmt = sa.select(model).where(model.session_id == session_id)
    if state is not None:
        stmt = stmt.where(model.state.in_(_as_tuple(state)))
    if host is not None:
        stmt = stmt.where(model.host == host)
    if kind is not None:
        stmt = stmt.where(model.kind.in_(_as_tuple(kind)))
    if instance_id is not None:
        stmt = stmt.where(model.instance_id == instance_id)
    stmt = stmt.order_by(sa.func.coalesce(model.wave, -1), model.seq,
                         model.id)
    with _reader() as session:
        return _dicts(session.execute(stmt).scalars())


def step_get(step_id):
    with _reader() as session:
        row = session.get(models.Step, step_id)
        if row is None:
            raise exception.StepNotFound(step_id=step_id)
        return row.to_dict()


# --- history -----------------------------------------------------------------

def _event_row(session_id, kind, message=None, state=None, host=None,
               project_id=None, instance_id=None, data=None,
               created_at=None):
    row = models.SessionEvent(
        session_id=session_id, kind=kind, message=message, state=state,
        host=host, project_id=project_id, instance_id=instance_id,
        data=dict(data or {}))
    if created_at is not None:
        # What the entry tells of happened then (an event's own time).
        row.created_at = created_at
    return row


def _event_values(session_id, kind, message=None, state=None, host=None,
                  project_id=None, instance_id=None, data=None,
                  created_at=None):
    """The columns of a history entry (as :func:`_event_row`), for a Core
    INSERT."""
    return dict(session_id=session_id, kind=kind, message=message,
                state=state, host=host, project_id=project_id,
                instance_id=instance_id, data=dict(data or {}),
                created_at=created_at or timeutils.utcnow(),
                updated_at=None)


_EVENT_INSERT = []


def event_add(session_id, kind, **values):
    """Append an entry to the history of a session; returns it.

    ``values``: message, state, host, project_id, instance_id, data, and
    created_at (default now: when the entry is written).

    """
    with _session_must_exist(session_id), _writer() as session:
        dialect = session.get_bind().dialect
        if dialect.name not in _EXACT_DIALECTS:
            row = _event_row(session_id, kind, **values)
            session.add(row)
            return _as_stored(session, row)
        # No ORM object (every reply and decision is one): one INSERT,
        # the entry given back as _as_stored would.
        table = models.SessionEvent.__table__
        entry = _event_values(session_id, kind, **values)
        if not _EVENT_INSERT:
            _EVENT_INSERT.append(sa.insert(table).returning(table.c.id))
        entry['id'] = session.execute(_EVENT_INSERT[0],
                                      entry).scalar_one()
        out = {}
        for column in table.columns:
            value = entry[column.key]
            kind_ = column.type
            if value is not None and \
                    isinstance(kind_, sa.types.TypeDecorator):
                value = kind_.process_result_value(
                    kind_.process_bind_param(value, dialect), dialect)
            out[column.name] = value
        return out


@_retry_read
def events_get(session_id, since_id=None, limit=None):
    """The history of a session, in order.

    Only entries after ``since_id`` if given, at most ``limit`` of them.
    """
    stmt = sa.select(models.SessionEvent).where(
        models.SessionEvent.session_id == session_id)
    if since_id is not None:
        stmt = stmt.where(models.SessionEvent.id > since_id)
    stmt = stmt.order_by(models.SessionEvent.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    with _reader() as session:
        return _dicts(session.execute(stmt).scalars())


@_retry_read
def replies_recorded(session_id, project_id, instance_id=None):
    """The history's reply entries of one project (its project-wide
    replies when ``instance_id`` is None, else that instance's), oldest
    first."""
    stmt = sa.select(models.SessionEvent).where(
        models.SessionEvent.session_id == session_id,
        models.SessionEvent.kind == states.EVENT_REPLY,
        models.SessionEvent.project_id == project_id,
        models.SessionEvent.instance_id == instance_id
        if instance_id is not None
        else models.SessionEvent.instance_id.is_(None)
    ).order_by(models.SessionEvent.id)
    with _reader() as session:
        return _dicts(session.execute(stmt).scalars())


# --- group budgets across sessions -------------------------------------------

def _ceil_second(when, session=None):
    """``when`` rounded up to a whole second on MySQL/MariaDB, whose
    DATETIME keeps whole seconds: a slot's hold must not be shortened.
    SQLite and PostgreSQL keep microseconds: unchanged (a member would
    otherwise wait up to a second more than its recovery_time)."""
    if session is not None and \
            session.get_bind().dialect.name != 'mysql':
        return when
    if when.microsecond:
        when = when.replace(microsecond=0) + datetime.timedelta(seconds=1)
    return when


def _impact_counts(row, now, live):
    """Whether a ``group_impacts`` row still holds its slot at ``now``:
    recovering until ``ends_at``; impacted (not released) while its
    session is ``live`` and ``expires_at`` has not passed."""
    if row.ends_at is not None:
        return row.ends_at > now
    return live and row.expires_at > now


def _impact_rows(session, group_ids):
    """The rows of ``group_ids`` with whether their session is live."""
    gi = models.GroupImpact
    stmt = sa.select(gi, models.Session.state).join(
        models.Session, models.Session.session_id == gi.session_id).where(
        gi.group_id.in_(list(group_ids)))
    return [(row, state in states.ACTIVE_SESSION_STATES)
            for row, state in session.execute(stmt).all()]


@_retry_on_duplicate_alone
def group_impact_take(group_id, budget, session_id, instance_id, lease,
                      generation=None, force=False):
    """Take a slot of ``group_id``'s budget for ``instance_id`` of
    ``session_id``, which starts impacting it (a move, an own action).

    Atomic across sessions and engines: the slot is the lowest number
    below ``budget`` that no row holds, and ``(group_id, slot)`` is a
    unique key, so of two sessions that take the same free slot at once
    one insert fails (the whole call runs again and sees the other's
    row): never more than ``budget`` members impacted at once, on
    MariaDB, PostgreSQL and SQLite alike. Rows that no longer count
    (recovered, expired, of a session no longer live) are deleted first.

    The session's own row for the instance (taken before a restart or a
    takeover, or a move placed again) is renewed, not taken twice.
    ``lease``: seconds the slot holds at most without a release (its
    holder may die); ``force``: record the impact even over the budget
    (a manager's own action already under way: it must count for the
    others). Judged by the database's clock.

    Returns ``(True, None)``, or ``(False, seconds)`` when no slot is
    free: the seconds until the soonest one frees by itself (a
    recovery's or a lease's end; None while only a release frees it).

    Inside a caller's :func:`transaction` (a move worker records the
    move's start with it) the slot is committed with the rest, or not
    at all; a lost race for a slot (``DBDuplicateEntry``) is then the
    caller's to handle.
    """
    gi = models.GroupImpact
    if generation is None:
        fence = fencing.current()
        generation = fence.generation if fence is not None else 0
    with _writer() as session:
        now = session.execute(sa.select(db_utc_now())).scalar_one()
        expires = _ceil_second(now + datetime.timedelta(seconds=lease),
                               session)
        rows = _impact_rows(session, [group_id])
        own = [r.id for r, _live in rows if r.session_id == session_id and
               r.instance_id == instance_id]
        if own:
            session.execute(sa.update(gi).where(gi.id == own[0]).values(
                generation=generation, expires_at=expires, ends_at=None)
                .execution_options(synchronize_session=False))
            return True, None
        stale = [r.id for r, live in rows if not _impact_counts(r, now, live)]
        if stale:
            session.execute(sa.delete(gi).where(gi.id.in_(stale))
                            .execution_options(synchronize_session=False))
        held = [r for r, live in rows if r.id not in stale]
        used = {r.slot for r in held}
        budget = max(1, int(budget or 1))
        if len(used) >= budget and not force:
            ends = [(r.ends_at or r.expires_at) for r, live in rows
                    if r.id not in stale and
                    (r.ends_at is not None or live)]
            soonest = min(ends) if ends else None
            return False, (max(0.0, (soonest - now).total_seconds())
                           if soonest is not None else None)
        slot = next(n for n in range(len(used) + 1) if n not in used)
        session.execute(sa.insert(gi).values(
            group_id=group_id, slot=slot, session_id=session_id,
            instance_id=instance_id, generation=generation,
            expires_at=expires, ends_at=None, created_at=now))
        return True, None


@_retry_on_deadlock
def group_impact_release(session_id, instance_id, recovery=0,
                         generation=None):
    """``instance_id`` of ``session_id`` is no longer impacted: its slots
    hold ``recovery`` seconds more (its group's ``recovery_time``, by the
    database's clock), or are freed at once (0). Only the rows of
    ``generation`` (or of any when None) are changed: a stale runner's
    release does not free the slot its session's new owner renewed.
    Returns how many slots were released."""
    gi = models.GroupImpact
    where = [gi.session_id == session_id, gi.instance_id == instance_id,
             gi.ends_at.is_(None)]
    if generation is not None:
        where.append(gi.generation <= generation)
    with _writer() as session:
        if recovery and recovery > 0:
            now = session.execute(sa.select(db_utc_now())).scalar_one()
            return session.execute(sa.update(gi).where(*where).values(
                ends_at=_ceil_second(
                    now + datetime.timedelta(seconds=recovery), session))
                .execution_options(synchronize_session=False)).rowcount
        return session.execute(sa.delete(gi).where(*where).execution_options(
            synchronize_session=False)).rowcount


@_retry_on_deadlock
def group_impact_release_ended(session_id, instance_id):
    """The impact of ``instance_id`` by ``session_id`` ended while no
    runner watched it (a move seen through after a restart or a
    takeover): whichever runner took its slots, they hold the
    ``recovery_time`` registered for their group, then free."""
    gi = models.GroupImpact
    with _writer() as session:
        rows = session.execute(sa.select(gi.id, gi.group_id).where(
            gi.session_id == session_id, gi.instance_id == instance_id,
            gi.ends_at.is_(None))).all()
        if not rows:
            return 0
        now = session.execute(sa.select(db_utc_now())).scalar_one()
        rules = dict(session.execute(sa.select(
            models.InstanceGroupConstraint.group_id,
            models.InstanceGroupConstraint.recovery_time).where(
            models.InstanceGroupConstraint.group_id.in_(
                [g for _i, g in rows]))).all())
        for row_id, group_id in rows:
            recovery = rules.get(group_id) or 0
            stmt = sa.delete(gi) if recovery <= 0 else \
                sa.update(gi).values(ends_at=_ceil_second(
                    now + datetime.timedelta(seconds=recovery), session))
            session.execute(stmt.where(gi.id == row_id).execution_options(
                synchronize_session=False))
        return len(rows)


@_retry_read
def group_impacts_held(group_ids=None, exclude_session=None):
    """``{group_id: slots held now}`` across every session (but
    ``exclude_session``): what the groups' budgets have left
    deployment-wide. ``group_ids``: those groups only."""
    gi = models.GroupImpact
    with _reader() as session:
        now = session.execute(sa.select(db_utc_now())).scalar_one()
        stmt = sa.select(gi, models.Session.state).join(
            models.Session, models.Session.session_id == gi.session_id)
        if group_ids is not None:
            stmt = stmt.where(gi.group_id.in_(list(group_ids)))
        if exclude_session is not None:
            stmt = stmt.where(gi.session_id != exclude_session)
        counts = {}
        for row, state in session.execute(stmt).all():
            if _impact_counts(row, now,
                              state in states.ACTIVE_SESSION_STATES):
                counts[row.group_id] = counts.get(row.group_id, 0) + 1
        return counts


@_retry_read
def group_impacts_get(group_id=None, session_id=None):
    """The ``group_impacts`` rows (tests, operators)."""
    gi = models.GroupImpact
    stmt = sa.select(gi).order_by(gi.group_id, gi.slot)
    if group_id is not None:
        stmt = stmt.where(gi.group_id == group_id)
    if session_id is not None:
        stmt = stmt.where(gi.session_id == session_id)
    with _reader() as session:
        return _dicts(session.execute(stmt).scalars())


# --- engines -----------------------------------------------------------------

@_retry_on_duplicate
def engine_heartbeat(host):
    """Record that the engine ``host`` is alive, at the database server's
    time (:class:`db_utc_now`, not the engine's clock); returns its row."""
    with _writer() as session:
        updated = session.execute(
            sa.update(models.Engine).where(models.Engine.host == host)
            .values(heartbeat_at=db_utc_now())
            .execution_options(synchronize_session=False)).rowcount
        if not updated:
            session.execute(sa.insert(models.Engine).values(
                host=host, heartbeat_at=db_utc_now(),
                started_at=db_utc_now()))
        row = session.get(models.Engine, host, populate_existing=True)
        return row.to_dict()


@_retry_read
def engines_alive(max_age):
    """Hosts of the engines whose last heartbeat is at most ``max_age``
    seconds old, judged in SQL by the database server's clock."""
    with _reader() as session:
        return set(session.execute(
            sa.select(models.Engine.host).where(
                models.Engine.heartbeat_at >= db_utc_now(
                    sa.literal(float(max_age))))).scalars())


@_retry_read
def engines_get():
    with _reader() as session:
        return _dicts(session.execute(
            sa.select(models.Engine).order_by(models.Engine.host)).scalars())


@_retry_on_deadlock
def engine_delete(host):
    """Forget an engine; NotFound if it is not registered."""
    _delete(models.Engine, host,
            exception.NotFound('Engine %s is not registered.' % host))


# --- figures for /metrics ----------------------------------------------------

@_retry_read
def metrics_rows():
    """What ``/metrics`` is computed from, read in one transaction with
    aggregate queries and narrow columns (no stored plan, payload or JSON
    column is read):

    - ``sessions``, ``hosts``: ``{state: count}`` of the rows held;
    - ``moves``: the ``move`` steps: ``started`` (their attempts: each a
      request to Nova), ``done`` and ``failed`` (steps in that state that
      had started), and ``durations``: ``[(started_at, finished_at)]`` of
      the finished ones;
    - ``exchanges``: ``[(session_id, project_id, instance_id, kind,
      created_at)]`` of the history's ``notify`` and ``reply`` entries of
      projects, in the order they were written;
    - ``outbox``: ``{event_type: (sent, tries, queued)}``;
    - ``engines``: ``[(host, heartbeat_at)]``;
    - ``db_now``: the database's time (heartbeats are written at it).
    """
    step = models.Step
    event = models.SessionEvent
    box = models.OutboxMessage
    moves = sa.and_(step.kind == states.STEP_MOVE,
                    step.started_at.is_not(None))
    with _reader() as session:
        figures = {
            'sessions': dict(session.execute(
                sa.select(models.Session.state, sa.func.count())
                .group_by(models.Session.state)).all()),
            'hosts': dict(session.execute(
                sa.select(models.Host.state, sa.func.count())
                .group_by(models.Host.state)).all()),
        }
        started = session.execute(sa.select(
            sa.func.coalesce(sa.func.sum(step.attempt), 0)).where(
            moves)).scalar()
        ended = dict(session.execute(
            sa.select(step.state, sa.func.count()).where(
                moves, step.state.in_((states.STEP_DONE,
                                       states.STEP_FAILED)))
            .group_by(step.state)).all())
        durations = session.execute(
            sa.select(step.started_at, step.finished_at).where(
                moves, step.state == states.STEP_DONE,
                step.finished_at.is_not(None))).all()
        figures['moves'] = {
            'started': int(started or 0),
            'done': ended.get(states.STEP_DONE, 0),
            'failed': ended.get(states.STEP_FAILED, 0),
            'durations': [tuple(r) for r in durations]}
        figures['exchanges'] = [tuple(r) for r in session.execute(
            sa.select(event.session_id, event.project_id, event.instance_id,
                      event.kind, event.created_at).where(
                event.kind.in_((states.EVENT_NOTIFY, states.EVENT_REPLY)),
                event.project_id.is_not(None))
            .order_by(event.id)).all()]
        figures['outbox'] = {
            event_type: (int(sent or 0), int(tries or 0), int(queued or 0))
            for event_type, sent, tries, queued in session.execute(
                sa.select(box.event_type, sa.func.count(box.sent_at),
                          sa.func.sum(box.attempts),
                          sa.func.count() - sa.func.count(box.sent_at))
                .group_by(box.event_type)).all()}
        figures['engines'] = [tuple(r) for r in session.execute(
            sa.select(models.Engine.host, models.Engine.heartbeat_at)
            .order_by(models.Engine.host)).all()]
        figures['db_now'] = session.execute(
            sa.select(db_utc_now())).scalar_one()
    return figures
