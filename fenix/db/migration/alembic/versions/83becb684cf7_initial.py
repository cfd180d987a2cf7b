# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Initial schema.

Revision ID: 83becb684cf7
Revises:
Create Date: 2024-11-24 00:00:00

Written by hand, table by table, after fenix/db/sqlalchemy/models.py. JSON
columns are TEXT (oslo.db's JsonEncodedDict/List store JSON text); on MySQL
the ones that grow with the cloud are MEDIUMTEXT, and the plan LONGTEXT.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision = '83becb684cf7'
down_revision = None
branch_labels = None
depends_on = None

MEDIUM_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql')
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), 'mysql')

_TABLE_OPTS = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8mb4'}


def _timestamps():
    return [sa.Column('created_at', sa.DateTime(), nullable=False),
            sa.Column('updated_at', sa.DateTime(), nullable=True)]


def _session_fk(table):
    return sa.ForeignKeyConstraint(
        ['session_id'], ['sessions.session_id'],
        name='fk_%s_session_id' % table, ondelete='CASCADE')


def _session_table(table, *items):
    """Create a table whose rows belong to a session.

    Columns: id, session_id (indexed, cascading foreign key), the given
    columns and constraints, and the timestamps.
    """
    op.create_table(
        table,
        *_timestamps(),
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('session_id', sa.String(36), nullable=False),
        *items,
        sa.PrimaryKeyConstraint('id', name='pk_%s' % table),
        _session_fk(table),
        **_TABLE_OPTS)
    op.create_index('ix_%s_session_id' % table, table, ['session_id'])


def upgrade():
    op.create_table(
        'sessions',
        *_timestamps(),
        sa.Column('session_id', sa.String(36), nullable=False),
        sa.Column('state', sa.String(32), nullable=False),
        sa.Column('failed_state', sa.String(32), nullable=True),
        sa.Column('workflow', sa.String(255), nullable=False),
        sa.Column('maintenance_at', sa.DateTime(), nullable=False),
        sa.Column('meta', MEDIUM_TEXT, nullable=False),
        sa.Column('options', sa.Text(), nullable=False),
        sa.Column('download', sa.Text(), nullable=False),
        sa.Column('plan', LONG_TEXT, nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('project_id', sa.String(64), nullable=True),
        sa.Column('user_id', sa.String(64), nullable=True),
        sa.Column('engine', sa.String(255), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('session_id', name='pk_sessions'),
        **_TABLE_OPTS)
    op.create_index('ix_sessions_engine', 'sessions', ['engine'])

    _session_table(
        'hosts',
        sa.Column('hostname', sa.String(255), nullable=False),
        sa.Column('type', sa.String(32), nullable=False),
        sa.Column('state', sa.String(32), nullable=False),
        sa.Column('maintained', sa.Boolean(), nullable=False),
        sa.Column('disabled_by_fenix', sa.Boolean(), nullable=False),
        sa.Column('disabled_by_operator', sa.Boolean(), nullable=False),
        sa.Column('details', sa.Text(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.UniqueConstraint('session_id', 'hostname',
                            name='uniq_hosts0session_id0hostname'))

    _session_table(
        'projects',
        sa.Column('project_id', sa.String(64), nullable=False),
        sa.Column('has_manager', sa.Boolean(), nullable=False),
        sa.Column('event', sa.String(37), nullable=True),
        sa.Column('event_at', sa.DateTime(), nullable=True),
        sa.Column('actions_at', sa.DateTime(), nullable=True),
        sa.Column('reply_at', sa.DateTime(), nullable=True),
        sa.Column('reply', sa.String(37), nullable=True),
        sa.Column('replied_at', sa.DateTime(), nullable=True),
        sa.Column('instance_actions', MEDIUM_TEXT, nullable=False),
        sa.UniqueConstraint('session_id', 'project_id',
                            name='uniq_projects0session_id0project_id'))

    _session_table(
        'instances',
        sa.Column('instance_id', sa.String(36), nullable=False),
        sa.Column('instance_name', sa.String(255), nullable=True),
        sa.Column('project_id', sa.String(64), nullable=False),
        sa.Column('host', sa.String(255), nullable=True),
        sa.Column('vm_state', sa.String(32), nullable=True),
        sa.Column('event', sa.String(37), nullable=True),
        sa.Column('event_at', sa.DateTime(), nullable=True),
        sa.Column('actions_at', sa.DateTime(), nullable=True),
        sa.Column('reply_at', sa.DateTime(), nullable=True),
        sa.Column('reply', sa.String(37), nullable=True),
        sa.Column('replied_at', sa.DateTime(), nullable=True),
        sa.Column('action', sa.String(32), nullable=True),
        sa.Column('action_state', sa.String(32), nullable=True),
        sa.Column('action_attempts', sa.Integer(), nullable=False),
        sa.Column('action_message', sa.Text(), nullable=True),
        sa.Column('details', sa.Text(), nullable=False),
        sa.UniqueConstraint('session_id', 'instance_id',
                            name='uniq_instances0session_id0instance_id'))
    op.create_index('ix_instances_project_id', 'instances', ['project_id'])
    op.create_index('ix_instances_host', 'instances', ['host'])

    _session_table(
        'action_plugins',
        sa.Column('plugin', sa.String(255), nullable=False),
        sa.Column('type', sa.String(32), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('meta', sa.Text(), nullable=False),
        sa.UniqueConstraint(
            'session_id', 'plugin', 'type',
            name='uniq_action_plugins0session_id0plugin0type'))

    _session_table(
        'action_plugin_runs',
        sa.Column('plugin', sa.String(255), nullable=False),
        sa.Column('type', sa.String(32), nullable=False),
        sa.Column('hostname', sa.String(255), nullable=False),
        sa.Column('state', sa.String(32), nullable=False),
        sa.Column('message', sa.Text(), nullable=True),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.UniqueConstraint(
            'session_id', 'plugin', 'type', 'hostname',
            name='uniq_action_plugin_runs0session_id0plugin0type0hostname'))

    op.create_table(
        'instance_constraints',
        *_timestamps(),
        sa.Column('instance_id', sa.String(36), nullable=False),
        sa.Column('project_id', sa.String(64), nullable=False),
        sa.Column('group_id', sa.String(36), nullable=True),
        sa.Column('instance_name', sa.String(255), nullable=True),
        sa.Column('max_interruption_time', sa.Integer(), nullable=True),
        sa.Column('migration_type', sa.String(32), nullable=True),
        sa.Column('resource_mitigation', sa.Boolean(), nullable=False),
        sa.Column('lead_time', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('instance_id',
                                name='pk_instance_constraints'),
        **_TABLE_OPTS)
    op.create_index('ix_instance_constraints_project_id',
                    'instance_constraints', ['project_id'])
    op.create_index('ix_instance_constraints_group_id',
                    'instance_constraints', ['group_id'])

    op.create_table(
        'instance_group_constraints',
        *_timestamps(),
        sa.Column('group_id', sa.String(36), nullable=False),
        sa.Column('project_id', sa.String(64), nullable=False),
        sa.Column('group_name', sa.String(255), nullable=True),
        sa.Column('anti_affinity_group', sa.Boolean(), nullable=False),
        sa.Column('max_instances_per_host', sa.Integer(), nullable=False),
        sa.Column('max_impacted_members', sa.Integer(), nullable=False),
        sa.Column('recovery_time', sa.Integer(), nullable=False),
        sa.Column('resource_mitigation', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('group_id',
                                name='pk_instance_group_constraints'),
        **_TABLE_OPTS)
    op.create_index('ix_instance_group_constraints_project_id',
                    'instance_group_constraints', ['project_id'])

    _session_table(
        'session_events',
        sa.Column('kind', sa.String(32), nullable=False),
        sa.Column('state', sa.String(37), nullable=True),
        sa.Column('host', sa.String(255), nullable=True),
        sa.Column('project_id', sa.String(64), nullable=True),
        sa.Column('instance_id', sa.String(36), nullable=True),
        sa.Column('message', sa.Text(), nullable=True),
        sa.Column('data', MEDIUM_TEXT, nullable=False))

    op.create_table(
        'engines',
        *_timestamps(),
        sa.Column('host', sa.String(255), nullable=False),
        sa.Column('heartbeat_at', sa.DateTime(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('host', name='pk_engines'),
        **_TABLE_OPTS)
