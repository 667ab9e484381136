"""PDQ of centred crops: on media files and on hash-set entries

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("media_files") as batch:
        batch.add_column(sa.Column("pdq_crops", sa.Text(), nullable=True))
    with op.batch_alter_table("media_hash_entries") as batch:
        batch.add_column(sa.Column("pdq_crops", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("media_hash_entries") as batch:
        batch.drop_column("pdq_crops")
    with op.batch_alter_table("media_files") as batch:
        batch.drop_column("pdq_crops")
