"""Suspending all searching (gov_suspensions) and the incident register (gov_incidents)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 09:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gov_suspensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("started_by_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_by_id", sa.Integer(), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["started_by_id"], ["gov_users.id"]),
        sa.ForeignKeyConstraint(["ended_by_id"], ["gov_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gov_suspensions_ended_at", "gov_suspensions", ["ended_at"])
    op.create_table(
        "gov_incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("serious", sa.Boolean(), nullable=False),
        sa.Column("case_number", sa.String(length=100), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_to", sa.Text(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["gov_users.id"]),
        sa.ForeignKeyConstraint(["closed_by_id"], ["gov_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gov_incidents_recorded_at", "gov_incidents", ["recorded_at"])


def downgrade() -> None:
    op.drop_index("ix_gov_incidents_recorded_at", table_name="gov_incidents")
    op.drop_table("gov_incidents")
    op.drop_index("ix_gov_suspensions_ended_at", table_name="gov_suspensions")
    op.drop_table("gov_suspensions")
