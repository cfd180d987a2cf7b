# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Idempotent session creates.

Revision ID: 9f3b7c2e4a10
Revises: c4a11e5d7b32
Create Date: 2026-12-05 10:30:00

* ``sessions.idempotency_key``: sha256 (hex) of the creating project and
  the ``Idempotency-Key`` header of the create; unique, so a create sent
  again with the same key finds the first session (NULL: no key given).
* ``sessions.request_hash``: sha256 (hex) of the create's body: the same
  key with another body is refused (409).
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '9f3b7c2e4a10'
down_revision = 'c4a11e5d7b32'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sessions') as batch:
        batch.add_column(sa.Column('idempotency_key', sa.String(64),
                                   nullable=True))
        batch.add_column(sa.Column('request_hash', sa.String(64),
                                   nullable=True))
        batch.create_unique_constraint('uniq_sessions0idempotency_key',
                                       ['idempotency_key'])
