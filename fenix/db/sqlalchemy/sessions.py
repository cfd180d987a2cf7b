# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Maintenance sessions: their rows, owners and generations."""
from oslo_db import exception as db_exc
from oslo_utils import uuidutils
import sqlalchemy as sa

from fenix.common import exception
from fenix.common import states
from fenix.common import timeutils
from fenix.db.sqlalchemy.hosts import _host_rows
from fenix.db.sqlalchemy import models
from fenix.db.sqlalchemy.plugins import _plugin_rows
from fenix.db.sqlalchemy.rows import _as_tuple
from fenix.db.sqlalchemy.rows import _check_values
from fenix.db.sqlalchemy.rows import _reloaded_one
from fenix.db.sqlalchemy.rows import _session_exists
from fenix.db.sqlalchemy.rows import _session_row
from fenix.db.sqlalchemy.rows import IN_CHUNK
from fenix.db.sqlalchemy.transactions import _reader
from fenix.db.sqlalchemy.transactions import _retry_on_deadlock
from fenix.db.sqlalchemy.transactions import _retry_read
from fenix.db.sqlalchemy.transactions import _writer
from fenix.db.sqlalchemy.transactions import get_engine
from fenix.db.sqlalchemy.transactions import in_transaction
from fenix.db.sqlalchemy.writes import _update_row


# Tables holding the rows of one session, children first.
SESSION_CHILD_MODELS = (models.GroupImpact, models.Step,
                        models.OutboxMessage,
                        models.ActionPluginRun,
                        models.ActionPlugin, models.SessionEvent,
                        models.Instance, models.Project, models.Host)


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


@_retry_read
def sessions_count_by_engine(states):
    """``{engine: how many of its sessions are in one of states}`` (one
    grouped read; an engine without such a session is not in it)."""
    with _reader() as session:
        return dict(session.execute(
            sa.select(models.Session.engine, sa.func.count())
            .where(models.Session.state.in_(list(_as_tuple(states))),
                   models.Session.engine.is_not(None))
            .group_by(models.Session.engine)).all())
