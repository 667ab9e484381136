"""second-vector queue: faces waiting for the pass after ingest, and each vector's source

Faces stored before this revision without a second vector are queued with no chip: the pass
describes them from their stored crop (recorded as ``second_source = 'crop'``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("faces") as batch:
        batch.add_column(sa.Column("second_source", sa.String(length=8), nullable=True))
    face_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "second_vector_queue",
        sa.Column("face_id", face_id, nullable=False),
        sa.Column("chip", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["face_id"], ["faces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("face_id"),
    )
    op.execute(
        "INSERT INTO second_vector_queue (face_id, chip, error, created_at) "
        "SELECT id, NULL, NULL, CURRENT_TIMESTAMP FROM faces "
        "WHERE second_embedding IS NULL AND crop IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("second_vector_queue")
    with op.batch_alter_table("faces") as batch:
        batch.drop_column("second_source")
