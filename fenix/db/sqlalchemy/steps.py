# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The steps of a session's stored plan."""
import sqlalchemy as sa
from sqlalchemy.orm import util as orm_util

from fenix.common import exception
from fenix.common import state_machine
from fenix.common import states
from fenix.common import timeutils
from fenix.db.sqlalchemy import models
from fenix.db.sqlalchemy.rows import _as_stored
from fenix.db.sqlalchemy.rows import _as_tuple
from fenix.db.sqlalchemy.rows import _check_values
from fenix.db.sqlalchemy.rows import _dicts
from fenix.db.sqlalchemy.rows import _EXACT_DIALECTS
from fenix.db.sqlalchemy.rows import _reloaded
from fenix.db.sqlalchemy.rows import _session_must_exist
from fenix.db.sqlalchemy.rows import IN_CHUNK
from fenix.db.sqlalchemy.transactions import _reader
from fenix.db.sqlalchemy.transactions import _retry_on_deadlock
from fenix.db.sqlalchemy.transactions import _writer
from fenix.db.sqlalchemy.writes import _core_update
from fenix.db.sqlalchemy.writes import _core_update_many
from fenix.db.sqlalchemy.writes import _update_row


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
              instance_id=None, ids=None):
    """The steps of a session in plan order (wave, seq, id): only those
    in ``state`` (a state or a list), on ``host``, of ``kind`` (one or a
    list), of ``instance_id``, with one of ``ids``, when given."""
    model = models.Step
    stmt = sa.select(model).where(model.session_id == session_id)
    if ids is not None:
        stmt = stmt.where(model.id.in_(list(ids)))
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
