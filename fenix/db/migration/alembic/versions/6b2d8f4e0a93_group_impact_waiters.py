# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Waiters for a group's slot, served in turn.

Revision ID: 6b2d8f4e0a93
Revises: 3e7a5c9d1f24
Create Date: 2026-12-06 08:40:00

``group_impacts.slot`` may be NULL: such a row is a member waiting for a
slot of its group's budget; the waiters of a group are served first
come, first served by ``id`` (``fenix.db.api.group_impact_take``). The
unique key ``(group_id, slot)`` stays: NULLs never clash in it on
MariaDB, PostgreSQL or SQLite. Existing rows all hold a slot.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '6b2d8f4e0a93'
down_revision = '3e7a5c9d1f24'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('group_impacts') as batch:
        batch.alter_column('slot', existing_type=sa.Integer(),
                           nullable=True)
