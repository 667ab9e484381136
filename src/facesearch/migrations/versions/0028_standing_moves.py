"""Vectors of other recognizers for standing data: standing queries (standing_query_vectors),
suppression entries (suppression_vectors) and media faces (media_face_vectors); a suppression
entry's own threshold on its model's scale (gov_suppressions.threshold)

Revision ID: 0028
Revises: 0026
Create Date: 2026-12-07 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gov_suppressions") as batch:
        batch.add_column(sa.Column("threshold", sa.Float(), nullable=True))
    op.create_table(
        "standing_query_vectors",
        sa.Column("query_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=120), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["query_id"], ["gov_standing_queries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("query_id", "model"),
    )
    op.create_table(
        "suppression_vectors",
        sa.Column("suppression_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=120), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("enrolled_by", sa.String(length=64), nullable=True),
        sa.Column("old_score", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["suppression_id"], ["gov_suppressions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("suppression_id", "model"),
    )
    face_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "media_face_vectors",
        sa.Column("face_id", face_id, nullable=False),
        sa.Column("model", sa.String(length=120), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["face_id"], ["media_faces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("face_id", "model"),
    )
    op.create_index("ix_media_face_vectors_model", "media_face_vectors", ["model", "face_id"])


def downgrade() -> None:
    op.drop_index("ix_media_face_vectors_model", table_name="media_face_vectors")
    op.drop_table("media_face_vectors")
    op.drop_table("suppression_vectors")
    op.drop_table("standing_query_vectors")
    with op.batch_alter_table("gov_suppressions") as batch:
        batch.drop_column("threshold")
