"""second recognizer's vector per face (score fusion)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 11:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("faces") as batch:
        batch.add_column(sa.Column("second_model", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("second_embedding", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("faces") as batch:
        batch.drop_column("second_embedding")
        batch.drop_column("second_model")
