"""Supervised quality overrides: a probe face below the policy's minimum quality searched
with a supervisor's grant (gov_quality_overrides)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gov_quality_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("probe_sha256", sa.String(length=64), nullable=False),
        sa.Column("face", sa.Integer(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("audit_seq", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["gov_cases.id"]),
        sa.ForeignKeyConstraint(["requested_by_id"], ["gov_users.id"]),
        sa.ForeignKeyConstraint(["decided_by_id"], ["gov_users.id"]),
        sa.ForeignKeyConstraint(["search_id"], ["gov_searches.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("search_id"),
    )
    op.create_index(
        "ix_gov_quality_overrides_probe",
        "gov_quality_overrides",
        ["case_id", "probe_sha256", "face"],
    )
    op.create_index("ix_gov_quality_overrides_status", "gov_quality_overrides", ["status"])


def downgrade() -> None:
    op.drop_index("ix_gov_quality_overrides_status", table_name="gov_quality_overrides")
    op.drop_index("ix_gov_quality_overrides_probe", table_name="gov_quality_overrides")
    op.drop_table("gov_quality_overrides")
