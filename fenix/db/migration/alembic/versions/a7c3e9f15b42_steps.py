# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The plan stored as steps.

Revision ID: a7c3e9f15b42
Revises: 9f3b7c2e4a10
Create Date: 2026-12-05 10:30:00

* ``steps``: one row per step of a session's plan (notify a project or an
  instance, move an instance, wait for its manager's own action,
  disable/enable nova-compute, run a plug-in on a host, maintain a host,
  announce), with its inputs, the ids of the steps it depends on (a JSON
  list), its state (machine ``step`` of fenix.common.state_machine), the
  attempt, times and result. A restarted engine goes on from these rows.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision = 'a7c3e9f15b42'
down_revision = '9f3b7c2e4a10'
branch_labels = None
depends_on = None

MEDIUM_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql')


def _collation(bind):
    """On MySQL/MariaDB, the binary collation the other tables have (see
    revision c4a11e5d7b32): the foreign key on session_id needs it."""
    if bind.dialect.name != 'mysql':
        return {}
    known = set(bind.exec_driver_sql(
        "SELECT collation_name FROM information_schema.collations "
        "WHERE collation_name IN ('utf8mb4_nopad_bin', "
        "'utf8mb4_0900_bin')").scalars())
    for name in ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin'):
        if name in known:
            return {'mysql_collate': name}
    return {'mysql_collate': 'utf8mb4_bin'}


def upgrade():
    op.create_table(
        'steps',
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('session_id', sa.String(36), nullable=False),
        sa.Column('kind', sa.String(32), nullable=False),
        sa.Column('host', sa.String(255), nullable=True),
        sa.Column('instance_id', sa.String(36), nullable=True),
        sa.Column('project_id', sa.String(64), nullable=True),
        sa.Column('wave', sa.Integer(), nullable=True),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('inputs', MEDIUM_TEXT, nullable=False),
        sa.Column('depends_on', MEDIUM_TEXT, nullable=False),
        sa.Column('state', sa.String(32), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('result', MEDIUM_TEXT, nullable=False),
        sa.Column('message', MEDIUM_TEXT, nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_steps'),
        sa.ForeignKeyConstraint(['session_id'], ['sessions.session_id'],
                                name='fk_steps_session_id',
                                ondelete='CASCADE'),
        mysql_engine='InnoDB', mysql_charset='utf8mb4',
        **_collation(op.get_bind()))
    op.create_index('ix_steps_session_id', 'steps', ['session_id'])
    op.create_index('ix_steps_session_id_state', 'steps',
                    ['session_id', 'state'])
    op.create_index('ix_steps_session_id_host', 'steps',
                    ['session_id', 'host'])
