"""Catalog generation: a counter raised by every commit that adds or removes faces, so a
process holding the vector index in memory notices changes made by another process, and
the highest face id ever given (SQLite would reuse the ids of deleted newest faces)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("max_face_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(
        "INSERT INTO catalog_generation (id, value, max_face_id) "
        "SELECT 1, 0, COALESCE(MAX(id), 0) FROM faces"
    )


def downgrade() -> None:
    op.drop_table("catalog_generation")
