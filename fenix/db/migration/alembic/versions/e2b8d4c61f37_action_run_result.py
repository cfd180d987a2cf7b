# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What an action plug-in run did.

Revision ID: e2b8d4c61f37
Revises: a7c3e9f15b42
Create Date: 2026-12-05 13:45:00

* ``action_plugin_runs.result``: a small JSON object the current
  attempt's plug-in returns with its outcome (the ansible and script
  plug-ins: per-host task counts, exit status, the end of the output and
  where the whole log is). NULL: nothing said (or a new attempt).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision = 'e2b8d4c61f37'
down_revision = 'a7c3e9f15b42'
branch_labels = None
depends_on = None

MEDIUM_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql')


def upgrade():
    with op.batch_alter_table('action_plugin_runs') as batch:
        batch.add_column(sa.Column('result', MEDIUM_TEXT, nullable=True))
