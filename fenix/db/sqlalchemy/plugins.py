# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Action plug-ins of a session and their runs."""
import sqlalchemy as sa

from fenix.common import exception
from fenix.common import state_machine
from fenix.common import states
from fenix.common import timeutils
from fenix.db.sqlalchemy import models
from fenix.db.sqlalchemy.rows import _check_values
from fenix.db.sqlalchemy.rows import _dicts
from fenix.db.sqlalchemy.rows import _reloaded_one
from fenix.db.sqlalchemy.rows import _session_must_exist
from fenix.db.sqlalchemy.transactions import _reader
from fenix.db.sqlalchemy.transactions import _retry_on_deadlock
from fenix.db.sqlalchemy.transactions import _retry_on_duplicate
from fenix.db.sqlalchemy.transactions import _writer
from fenix.db.sqlalchemy.writes import _update_row


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
