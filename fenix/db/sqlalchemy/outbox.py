# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The outbox: notifications recorded before they are sent."""
import sqlalchemy as sa

from fenix.common import timeutils
from fenix.db.sqlalchemy import models
from fenix.db.sqlalchemy.rows import _dicts
from fenix.db.sqlalchemy.rows import _EXACT_DIALECTS
from fenix.db.sqlalchemy.rows import _reloaded
from fenix.db.sqlalchemy.rows import IN_CHUNK
from fenix.db.sqlalchemy.transactions import _reader
from fenix.db.sqlalchemy.transactions import _retry_on_deadlock
from fenix.db.sqlalchemy.transactions import _writer


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
