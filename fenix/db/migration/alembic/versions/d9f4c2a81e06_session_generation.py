# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The generation (epoch) of a session's owner, for fencing.

Revision ID: d9f4c2a81e06
Revises: f1c8d2a6b437
Create Date: 2026-12-05 19:50:00

``sessions.generation`` goes up at every claim of the session by an
engine; a runner's writes are refused once the generation it started
under is stale (``fenix.common.fencing``). Existing sessions start at 0.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'd9f4c2a81e06'
down_revision = 'f1c8d2a6b437'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sessions') as batch:
        batch.add_column(sa.Column('generation', sa.Integer(),
                                   nullable=False, server_default='0'))
