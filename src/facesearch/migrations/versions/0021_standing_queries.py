"""Standing queries (gov_standing_queries) and their alerts (gov_standing_alerts)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 09:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gov_standing_queries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("objective", sa.Text(), nullable=False),
        sa.Column("face", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=120), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("second_model", sa.String(length=120), nullable=True),
        sa.Column("second_embedding", sa.LargeBinary(), nullable=True),
        sa.Column("yaw", sa.Float(), nullable=True),
        sa.Column("probe_face", sa.JSON(), nullable=False),
        sa.Column("probe", sa.LargeBinary(), nullable=True),
        sa.Column("probe_sha256", sa.String(length=64), nullable=False),
        sa.Column("after_face_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("review_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by_id", sa.Integer(), nullable=True),
        sa.Column("end_note", sa.Text(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["gov_cases.id"]),
        sa.ForeignKeyConstraint(["owner_id"], ["gov_users.id"]),
        sa.ForeignKeyConstraint(["search_id"], ["gov_searches.id"]),
        sa.ForeignKeyConstraint(["ended_by_id"], ["gov_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gov_standing_queries_case_id", "gov_standing_queries", ["case_id"])
    op.create_index("ix_gov_standing_queries_status", "gov_standing_queries", ["status"])
    op.create_table(
        "gov_standing_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("query_id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("candidates", sa.Integer(), nullable=False),
        sa.Column("best_score", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["query_id"], ["gov_standing_queries.id"]),
        sa.ForeignKeyConstraint(["search_id"], ["gov_searches.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["gov_cases.id"]),
        sa.ForeignKeyConstraint(["seen_by_id"], ["gov_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gov_standing_alerts_query_id", "gov_standing_alerts", ["query_id"])
    op.create_index("ix_gov_standing_alerts_case_id", "gov_standing_alerts", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_gov_standing_alerts_case_id", table_name="gov_standing_alerts")
    op.drop_index("ix_gov_standing_alerts_query_id", table_name="gov_standing_alerts")
    op.drop_table("gov_standing_alerts")
    op.drop_index("ix_gov_standing_queries_status", table_name="gov_standing_queries")
    op.drop_index("ix_gov_standing_queries_case_id", table_name="gov_standing_queries")
    op.drop_table("gov_standing_queries")
