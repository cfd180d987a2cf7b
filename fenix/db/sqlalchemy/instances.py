# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The instances of a session."""
import sqlalchemy as sa
from sqlalchemy.orm import util as orm_util

from fenix.common import exception
from fenix.common import state_machine
from fenix.common import states
from fenix.db.sqlalchemy.history import _event_row
from fenix.db.sqlalchemy.history import _event_values
from fenix.db.sqlalchemy import models
from fenix.db.sqlalchemy.rows import _as_stored
from fenix.db.sqlalchemy.rows import _check_values
from fenix.db.sqlalchemy.rows import _EXACT_DIALECTS
from fenix.db.sqlalchemy.rows import _locking
from fenix.db.sqlalchemy.rows import _reloaded
from fenix.db.sqlalchemy.rows import _session_must_exist
from fenix.db.sqlalchemy.rows import IN_CHUNK
from fenix.db.sqlalchemy.transactions import _reader
from fenix.db.sqlalchemy.transactions import _retry_on_deadlock
from fenix.db.sqlalchemy.transactions import _retry_on_duplicate
from fenix.db.sqlalchemy.transactions import _retry_read
from fenix.db.sqlalchemy.transactions import _writer
from fenix.db.sqlalchemy.writes import _core_update
from fenix.db.sqlalchemy.writes import _core_update_many
from fenix.db.sqlalchemy.writes import _update_row
from fenix.db.sqlalchemy.writes import _upsert_rows


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
