# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Where a session stands, in columns rather than JSON.

Revision ID: b5e1f7a3c920
Revises: e2b8d4c61f37
Create Date: 2026-12-05 17:00:00

* ``steps.target``: the host a move step's plan sends its instance to
  (was ``inputs['target']``; also the nfv plan's targets the executor
  read from ``sessions.plan['nfv']``).
* ``steps.event_id`` / ``steps.reply_at``: the event a notify step sent
  and the deadline of its replies (were ``result['event_id']`` and
  ``result['reply_at']``). A session-wide exchange (MAINTENANCE, SCALE_IN,
  MAINTENANCE_COMPLETE) is the set of notify_project steps of its event
  without a host: RUNNING while its replies are awaited (was
  ``sessions.plan['exchange']``).
* ``hosts.refusals``: how many times projects refused the host (was
  ``hosts.details['refusals']``).

Sessions in flight are carried over: their JSON is moved into the new
columns and rows, and removed from the JSON.
"""
import datetime
import json

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'b5e1f7a3c920'
down_revision = 'e2b8d4c61f37'
branch_labels = None
depends_on = None

MOVE_KINDS = ('move', 'own_action')
NOTIFY_KINDS = ('notify_project', 'notify_instance')
FINAL_STATES = ('MAINTENANCE_DONE', 'MAINTENANCE_FAILED')

_steps = sa.table(
    'steps', sa.column('id', sa.Integer), sa.column('session_id'),
    sa.column('kind'), sa.column('host'), sa.column('project_id'),
    sa.column('seq', sa.Integer), sa.column('inputs', sa.Text),
    sa.column('depends_on', sa.Text), sa.column('state'),
    sa.column('attempt', sa.Integer), sa.column('result', sa.Text),
    sa.column('started_at', sa.DateTime),
    sa.column('created_at', sa.DateTime),
    sa.column('target', sa.String), sa.column('event_id', sa.String),
    sa.column('reply_at', sa.DateTime))
_hosts = sa.table('hosts', sa.column('id', sa.Integer),
                  sa.column('details', sa.Text),
                  sa.column('refusals', sa.Integer))
_sessions = sa.table('sessions', sa.column('session_id'),
                     sa.column('state'), sa.column('plan', sa.Text))


def _load(text):
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _time(text):
    if not text:
        return None
    for fmt in ('%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M:%S'):
        try:
            return datetime.datetime.strptime(str(text)[:19], fmt)
        except ValueError:
            continue
    return None


def upgrade():
    with op.batch_alter_table('steps') as batch:
        batch.add_column(sa.Column('target', sa.String(255), nullable=True))
        batch.add_column(sa.Column('event_id', sa.String(36),
                                   nullable=True))
        batch.add_column(sa.Column('reply_at', sa.DateTime(),
                                   nullable=True))
    with op.batch_alter_table('hosts') as batch:
        batch.add_column(sa.Column('refusals', sa.Integer(), nullable=False,
                                   server_default='0'))
    _carry_over(op.get_bind())


def _carry_over(bind):
    # Move and notify steps: target, event id and deadline to columns.
    rows = bind.execute(sa.select(
        _steps.c.id, _steps.c.kind, _steps.c.inputs, _steps.c.result)
        .where(_steps.c.kind.in_(MOVE_KINDS + NOTIFY_KINDS))).all()
    for sid, kind, inputs_text, result_text in rows:
        inputs = _load(inputs_text) or {}
        result = _load(result_text) or {}
        change = {}
        if kind in MOVE_KINDS and 'target' in inputs:
            change['target'] = inputs.pop('target')
            change['inputs'] = json.dumps(inputs)
        if kind in NOTIFY_KINDS and ('event_id' in result or
                                     'reply_at' in result):
            change['event_id'] = result.pop('event_id', None)
            change['reply_at'] = _time(result.pop('reply_at', None))
            change['result'] = json.dumps(result)
        if change:
            bind.execute(_steps.update().where(_steps.c.id == sid)
                         .values(**change))

    # Refusals: a counter on the host row.
    for hid, details_text in bind.execute(sa.select(
            _hosts.c.id, _hosts.c.details)
            .where(_hosts.c.details.like('%refusals%'))).all():
        details = _load(details_text) or {}
        if 'refusals' not in details:
            continue
        count = details.pop('refusals') or 0
        bind.execute(_hosts.update().where(_hosts.c.id == hid).values(
            refusals=int(count), details=json.dumps(details)))

    # The exchange in flight: its notify steps (RUNNING: replies awaited).
    now = datetime.datetime.utcnow().replace(microsecond=0)
    for session_id, state, plan_text in bind.execute(sa.select(
            _sessions.c.session_id, _sessions.c.state, _sessions.c.plan)
            .where(_sessions.c.plan.like('%exchange%'))).all():
        plan = _load(plan_text)
        if plan is None or 'exchange' not in plan:
            continue
        pending = plan.pop('exchange') or {}
        event = pending.get('event') or pending.get('key')
        if event and state not in FINAL_STATES:
            reply_at = _time(pending.get('reply_at'))
            event_ids = pending.get('event_ids') or {}
            for pid in pending.get('projects') or ():
                bind.execute(_steps.insert().values(
                    session_id=session_id, kind='notify_project',
                    host=None, project_id=pid, seq=0,
                    inputs=json.dumps({'event': event}),
                    depends_on='[]', state='RUNNING', attempt=1,
                    result=json.dumps({'event': event}),
                    started_at=now, created_at=now,
                    event_id=event_ids.get(pid), reply_at=reply_at))
        bind.execute(_sessions.update()
                     .where(_sessions.c.session_id == session_id)
                     .values(plan=json.dumps(plan)))
