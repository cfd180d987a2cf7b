# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The figures of ``/metrics``."""
import sqlalchemy as sa

from fenix.common import states
from fenix.db.sqlalchemy.clock import db_utc_now
from fenix.db.sqlalchemy import models
from fenix.db.sqlalchemy.transactions import _reader
from fenix.db.sqlalchemy.transactions import _retry_read


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
