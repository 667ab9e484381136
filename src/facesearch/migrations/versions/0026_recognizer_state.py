"""The recognizer a gallery searches with (recognizer_state)

Revision ID: 0026
Revises: 0023
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recognizer_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("active", sa.String(length=120), nullable=False),
        sa.Column("model_key", sa.String(length=120), nullable=False),
        sa.Column("previous", sa.String(length=120), nullable=True),
        sa.Column("previous_model_key", sa.String(length=120), nullable=True),
        sa.Column("switched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("switched_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("recognizer_state")
