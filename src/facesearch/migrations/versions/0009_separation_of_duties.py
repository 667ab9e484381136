"""Separation of duties: pending changes (two-person rule), forced password change, session
epochs

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gov_pending_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("gov_pending_changes") as batch:
        batch.create_index(batch.f("ix_gov_pending_changes_status"), ["status"], unique=False)
        batch.create_index(batch.f("ix_gov_pending_changes_target"), ["target"], unique=False)
    with op.batch_alter_table("gov_users") as batch:
        batch.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(
            sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("gov_users") as batch:
        batch.drop_column("session_epoch")
        batch.drop_column("must_change_password")
    with op.batch_alter_table("gov_pending_changes") as batch:
        batch.drop_index(batch.f("ix_gov_pending_changes_target"))
        batch.drop_index(batch.f("ix_gov_pending_changes_status"))
    op.drop_table("gov_pending_changes")
