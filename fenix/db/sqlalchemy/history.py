# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The history of a session (its events)."""
import sqlalchemy as sa

from fenix.common import states
from fenix.common import timeutils
from fenix.db.sqlalchemy import models
from fenix.db.sqlalchemy.rows import _as_stored
from fenix.db.sqlalchemy.rows import _dicts
from fenix.db.sqlalchemy.rows import _EXACT_DIALECTS
from fenix.db.sqlalchemy.rows import _session_must_exist
from fenix.db.sqlalchemy.transactions import _reader
from fenix.db.sqlalchemy.transactions import _retry_read
from fenix.db.sqlalchemy.transactions import _writer


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
