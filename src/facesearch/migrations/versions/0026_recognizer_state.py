"""The recognizer a gallery searches with (recognizer_state), vectors of other recognizers
(face_vectors) and model migrations (model_migrations)

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
    face_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "face_vectors",
        sa.Column("face_id", face_id, nullable=False),
        sa.Column("model", sa.String(length=120), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["face_id"], ["faces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("face_id", "model"),
    )
    op.create_index("ix_face_vectors_model", "face_vectors", ["model", "face_id"])
    op.create_table(
        "model_migrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=120), nullable=False),
        sa.Column("target_model_key", sa.String(length=120), nullable=False),
        sa.Column("source_model_key", sa.String(length=120), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("from_crop", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("switched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("switched_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("model_migrations")
    op.drop_index("ix_face_vectors_model", table_name="face_vectors")
    op.drop_table("face_vectors")
    op.drop_table("recognizer_state")
