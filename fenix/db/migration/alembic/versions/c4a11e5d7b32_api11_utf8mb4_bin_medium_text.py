# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""MySQL/MariaDB: a binary utf8mb4 collation, MEDIUMTEXT where the API writes.

Revision ID: c4a11e5d7b32
Revises: 5d1c0e7a9b21
Create Date: 2026-12-05 10:50:00

Only MySQL/MariaDB changes; SQLite and PostgreSQL already compare strings
exactly and have one unbounded text type.

* Every table is converted to ``utf8mb4`` with a binary collation that
  does not pad (MariaDB ``utf8mb4_nopad_bin``, MySQL 8
  ``utf8mb4_0900_bin``, else ``utf8mb4_bin``; the foreign keys on ``session_id`` are dropped meanwhile and
  made again, as they were). The default collation (``utf8mb4_general_ci``) holds ids that
  differ in case, in trailing spaces or in two 4-byte characters (emoji) to
  be equal: two instances' constraints were one row. Exact comparison is
  what SQLite and PostgreSQL do.
* Text and JSON columns the API fills become MEDIUMTEXT (16 MiB): a TEXT
  holds 64 KiB, less than one request body (1 MiB) can carry in one field
  ("Data too long").
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision = 'c4a11e5d7b32'
down_revision = '5d1c0e7a9b21'
branch_labels = None
depends_on = None

TABLES = ['sessions', 'hosts', 'projects', 'instances', 'action_plugins',
          'action_plugin_runs', 'instance_constraints',
          'instance_group_constraints', 'session_events', 'outbox',
          'engines']

# (table, column, nullable): TEXT columns that become MEDIUMTEXT.
MEDIUM = [
    ('sessions', 'options', False),
    ('sessions', 'download', False),
    ('sessions', 'error', True),
    ('sessions', 'estimate', True),
    ('hosts', 'details', False),
    ('instances', 'action_message', True),
    ('instances', 'details', False),
    ('action_plugins', 'meta', False),
    ('action_plugin_runs', 'message', True),
    ('session_events', 'message', True),
    ('outbox', 'last_error', True),
]


def _binary_collation(bind):
    """The binary utf8mb4 collation that also tells 'a' from 'a '.

    MariaDB: utf8mb4_nopad_bin; MySQL 8: utf8mb4_0900_bin; else
    utf8mb4_bin (which pads: trailing spaces are ignored).
    """
    known = set(bind.exec_driver_sql(
        "SELECT collation_name FROM information_schema.collations "
        "WHERE collation_name IN ('utf8mb4_nopad_bin', "
        "'utf8mb4_0900_bin')").scalars())
    for name in ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin'):
        if name in known:
            return name
    return 'utf8mb4_bin'


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != 'mysql':
        return
    # MariaDB does not change the collation of a column a foreign key
    # uses (the session_id columns): the keys go, and come back after.
    inspector = sa.inspect(bind)
    foreign_keys = []
    for table in TABLES:
        for fk in inspector.get_foreign_keys(table):
            foreign_keys.append((table, fk))
            op.drop_constraint(fk['name'], table, type_='foreignkey')
    collation = _binary_collation(bind)
    for table in TABLES:
        op.execute('ALTER TABLE %s CONVERT TO CHARACTER SET utf8mb4 '
                   'COLLATE %s' % (table, collation))
    for table, column, nullable in MEDIUM:
        op.alter_column(table, column, type_=mysql.MEDIUMTEXT(),
                        existing_type=sa.Text(),
                        existing_nullable=nullable)
    for table, fk in foreign_keys:
        op.create_foreign_key(
            fk['name'], table, fk['referred_table'],
            fk['constrained_columns'], fk['referred_columns'],
            ondelete=(fk.get('options') or {}).get('ondelete'))
