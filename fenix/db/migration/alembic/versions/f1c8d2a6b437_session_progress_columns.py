# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What a restarted engine needs of a session, in columns rather than JSON.

Revision ID: f1c8d2a6b437
Revises: b5e1f7a3c920
Create Date: 2026-12-05 20:00:00

* ``sessions.told``: the MAINTENANCE exchange was weighed (was
  ``sessions.plan['told']``): a restart does not tell the projects again.
* ``sessions.scale_in_used_vcpus`` / ``_ram_mb`` / ``_disk_gb``: the
  usage of the session's computes before the scale-in round in flight
  (was ``sessions.plan['scale_in']['used_before']``): what the round
  freed is measured against it after a restart. NULL when no round runs.

Sessions in flight are carried over: their JSON is moved into the new
columns and removed from the JSON (``scale_in['missing']``, a message
nothing reads, goes with it).
"""
import json

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'f1c8d2a6b437'
down_revision = 'b5e1f7a3c920'
branch_labels = None
depends_on = None

USED_COLUMNS = ('scale_in_used_vcpus', 'scale_in_used_ram_mb',
                'scale_in_used_disk_gb')

_sessions = sa.table(
    'sessions', sa.column('session_id'), sa.column('plan', sa.Text),
    sa.column('told', sa.Boolean),
    *(sa.column(c, sa.Float) for c in USED_COLUMNS))


def _load(text):
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def upgrade():
    with op.batch_alter_table('sessions') as batch:
        batch.add_column(sa.Column('told', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        for name in USED_COLUMNS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))
    _carry_over(op.get_bind())


def _used(info):
    used = (info or {}).get('used_before')
    if not isinstance(used, (list, tuple)) or len(used) != 3:
        return {}
    try:
        return dict(zip(USED_COLUMNS, (float(v or 0) for v in used)))
    except (TypeError, ValueError):
        return {}


def _carry_over(bind):
    rows = bind.execute(sa.select(_sessions.c.session_id, _sessions.c.plan)
                        .where(sa.or_(_sessions.c.plan.like('%told%'),
                                      _sessions.c.plan.like('%scale_in%')))
                        ).all()
    for session_id, plan_text in rows:
        plan = _load(plan_text)
        if plan is None or not ('told' in plan or 'scale_in' in plan):
            continue
        change = {'told': bool(plan.pop('told', False))}
        change.update(_used(plan.pop('scale_in', None)))
        change['plan'] = json.dumps(plan)
        bind.execute(_sessions.update()
                     .where(_sessions.c.session_id == session_id)
                     .values(**change))
