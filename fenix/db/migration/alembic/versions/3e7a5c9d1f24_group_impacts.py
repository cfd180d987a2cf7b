# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Group budgets across sessions: the slots of ``group_impacts``.

Revision ID: 3e7a5c9d1f24
Revises: d9f4c2a81e06
Create Date: 2026-12-06 02:30:00

A session that starts impacting a member of an instance group (a move, an
own action) takes a slot of the group's budget (``max_impacted_members``)
as a row here, whichever engine runs it; ``(group_id, slot)`` is unique,
so two sessions can never both take the last free slot. Empty at first:
moves already in flight are still counted through the instance rows
(``fenix.db.api.instances_moving_elsewhere``).
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '3e7a5c9d1f24'
down_revision = 'd9f4c2a81e06'
branch_labels = None
depends_on = None


def _binary_collation(bind):
    """MySQL/MariaDB: the binary collation of the other tables (revision
    c4a11e5d7b32); the foreign key on session_id must match it, and group
    ids compare exactly, as on SQLite and PostgreSQL."""
    if bind.dialect.name != 'mysql':
        return {}
    have = set(bind.exec_driver_sql(
        "SELECT collation_name FROM information_schema.collations "
        "WHERE collation_name IN ('utf8mb4_nopad_bin', "
        "'utf8mb4_0900_bin')").scalars())
    name = next((c for c in ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin')
                 if c in have), 'utf8mb4_bin')
    return {'mysql_collate': name}


def upgrade():
    op.create_table(
        'group_impacts',
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('group_id', sa.String(36), nullable=False),
        sa.Column('slot', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.String(36), nullable=False),
        sa.Column('instance_id', sa.String(36), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('ends_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_group_impacts'),
        sa.UniqueConstraint('group_id', 'slot',
                            name='uniq_group_impacts0group_id0slot'),
        sa.ForeignKeyConstraint(['session_id'], ['sessions.session_id'],
                                name='fk_group_impacts_session_id',
                                ondelete='CASCADE'),
        mysql_engine='InnoDB', mysql_charset='utf8mb4',
        **_binary_collation(op.get_bind()))
    op.create_index('ix_group_impacts_session_id', 'group_impacts',
                    ['session_id'])
