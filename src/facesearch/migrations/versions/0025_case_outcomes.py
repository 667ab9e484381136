"""Outcomes of cases (gov_case_outcomes), counted by the annual report

Revision ID: 0025
Revises: 0022
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gov_case_outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["gov_cases.id"]),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["gov_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gov_case_outcomes_case_id", "gov_case_outcomes", ["case_id"])
    op.create_index("ix_gov_case_outcomes_at", "gov_case_outcomes", ["at"])


def downgrade() -> None:
    op.drop_index("ix_gov_case_outcomes_at", table_name="gov_case_outcomes")
    op.drop_index("ix_gov_case_outcomes_case_id", table_name="gov_case_outcomes")
    op.drop_table("gov_case_outcomes")
