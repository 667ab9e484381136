"""Two-person confirmation of an identification: independent verifications of candidates
reviewed as possible matches (gov_verifications)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gov_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("face_id", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("verifier_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["candidate_id"], ["gov_candidates.id"]),
        sa.ForeignKeyConstraint(["search_id"], ["gov_searches.id"]),
        sa.ForeignKeyConstraint(["verifier_id"], ["gov_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_gov_verifications_candidate", "gov_verifications", ["candidate_id", "verifier_id"]
    )
    op.create_index("ix_gov_verifications_search_id", "gov_verifications", ["search_id"])


def downgrade() -> None:
    op.drop_index("ix_gov_verifications_search_id", table_name="gov_verifications")
    op.drop_index("ix_gov_verifications_candidate", table_name="gov_verifications")
    op.drop_table("gov_verifications")
