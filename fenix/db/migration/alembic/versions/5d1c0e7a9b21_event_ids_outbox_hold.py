# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Event ids, the notification outbox, attempts and session control.

Revision ID: 5d1c0e7a9b21
Revises: 83becb684cf7
Create Date: 2026-12-05 07:00:00

* ``projects.event_id`` / ``instances.event_id``: the id of the event a
  project or an instance was last sent; a reply is applied only to it.
* ``outbox``: every notification, written in the transaction of the change
  that causes it and sent afterwards by the engine's dispatcher.
* ``action_plugin_runs.attempt``: which attempt of a run is current; a
  report for another attempt is refused. ``action_plugin_runs.
  asynchronous``: the current attempt was handed to an agent (a restarted
  engine waits for its report rather than start it again).
* ``sessions.hold_requested`` / ``hold_state``: an admin's pause (steps in
  flight finish, none starts) and the state a paused session resumes in.
* ``hosts.skip_requested``: an admin asked to skip the host.
* ``hosts.announced_state``: the last ``maintenance.host`` state announced
  for the host (IN_MAINTENANCE is not announced twice).
* ``sessions.estimate``: a small summary of the plan's durations, for the
  ETA.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision = '5d1c0e7a9b21'
down_revision = '83becb684cf7'
branch_labels = None
depends_on = None

MEDIUM_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql')


def upgrade():
    op.add_column('projects', sa.Column('event_id', sa.String(36),
                                        nullable=True))
    op.add_column('instances', sa.Column('event_id', sa.String(36),
                                         nullable=True))
    op.add_column('action_plugin_runs',
                  sa.Column('attempt', sa.Integer(), nullable=False,
                            server_default='0'))
    op.add_column('action_plugin_runs',
                  sa.Column('asynchronous', sa.Boolean(), nullable=False,
                            server_default=sa.false()))
    op.add_column('sessions',
                  sa.Column('hold_requested', sa.Boolean(), nullable=False,
                            server_default=sa.false()))
    op.add_column('sessions', sa.Column('hold_state', sa.String(32),
                                        nullable=True))
    op.add_column('sessions', sa.Column('estimate', sa.Text(),
                                        nullable=True))
    op.add_column('hosts',
                  sa.Column('skip_requested', sa.Boolean(), nullable=False,
                            server_default=sa.false()))
    op.add_column('hosts', sa.Column('announced_state', sa.String(32),
                                     nullable=True))
    op.create_table(
        'outbox',
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('message_id', sa.String(36), nullable=False),
        sa.Column('session_id', sa.String(36), nullable=False),
        sa.Column('event_type', sa.String(64), nullable=False),
        sa.Column('priority', sa.String(16), nullable=False),
        sa.Column('payload', MEDIUM_TEXT, nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_outbox'),
        sa.UniqueConstraint('message_id', name='uniq_outbox0message_id'),
        sa.ForeignKeyConstraint(['session_id'], ['sessions.session_id'],
                                name='fk_outbox_session_id',
                                ondelete='CASCADE'),
        mysql_engine='InnoDB', mysql_charset='utf8mb4')
    op.create_index('ix_outbox_session_id', 'outbox', ['session_id'])
    op.create_index('ix_outbox_sent_at', 'outbox', ['sent_at'])
