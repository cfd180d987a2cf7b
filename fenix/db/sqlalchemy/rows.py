# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Helpers shared by the DB API's modules: values checked against a
table, rows read back (or given back as written), chunks of keys.
"""
import contextlib

from oslo_db import exception as db_exc
import sqlalchemy as sa

from fenix.common import exception
from fenix.db.sqlalchemy import models
from fenix.db.sqlalchemy.transactions import _reader
from fenix.db.sqlalchemy.transactions import _writer


# Keys per ``IN (...)`` list: inside every database's parameter limit.
IN_CHUNK = 500


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


def _as_tuple(value):
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _locking(for_update):
    """The transaction of a read: a locking read (``for_update``) is a
    writer's, so that on SQLite too it waits for the writer before it (and
    the writer after it waits for its transaction to end)."""
    return _writer() if for_update else _reader()
