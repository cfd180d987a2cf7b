# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Write helpers of the DB API: rows updated through the ORM (each
write checked against its declared state machine), upserts, and Core
UPDATEs of only the columns that change.
"""
import sqlalchemy as sa

from fenix.common import state_machine
from fenix.common import timeutils
from fenix.db.sqlalchemy import models
from fenix.db.sqlalchemy.rows import IN_CHUNK


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
