"""Trainings (gov_trainings) and collections' lawful basis (gov_collection_bases)

Revision ID: 0023
Revises: 0025
Create Date: 2026-12-07 09:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gov_trainings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("course", sa.String(length=200), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["gov_users.id"]),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["gov_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gov_trainings_user_id", "gov_trainings", ["user_id"])
    op.create_table(
        "gov_collection_bases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("collection", sa.String(length=200), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("source_attestation", sa.Text(), nullable=False),
        sa.Column("dpia_reference", sa.String(length=200), nullable=False),
        sa.Column("retention_rule", sa.String(length=100), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["gov_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("collection"),
    )


def downgrade() -> None:
    op.drop_table("gov_collection_bases")
    op.drop_index("ix_gov_trainings_user_id", table_name="gov_trainings")
    op.drop_table("gov_trainings")
