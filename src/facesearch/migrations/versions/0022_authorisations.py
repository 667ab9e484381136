"""Search authorisations (gov_authorisations), deletion receipts (gov_receipts) and the
Art. 12(3) record's columns of gov_searches (started_at, generation, authorisation_id)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gov_authorisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("authority", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("issued_on", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scan", sa.LargeBinary(), nullable=True),
        sa.Column("scan_sha256", sa.String(length=64), nullable=True),
        sa.Column("scan_type", sa.String(length=100), nullable=True),
        sa.Column("scan_size", sa.Integer(), nullable=True),
        sa.Column("scan_encrypted", sa.Boolean(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("validated_by_id", sa.Integer(), nullable=True),
        sa.Column("validated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("receipt_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["gov_cases.id"]),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["gov_users.id"]),
        sa.ForeignKeyConstraint(["validated_by_id"], ["gov_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gov_authorisations_case_id", "gov_authorisations", ["case_id"])
    op.create_index("ix_gov_authorisations_status", "gov_authorisations", ["status"])
    op.create_table(
        "gov_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["gov_cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gov_receipts_case_id", "gov_receipts", ["case_id"])
    with op.batch_alter_table("gov_searches") as batch:
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("generation", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("authorisation_id", sa.Integer(), nullable=True))
        batch.create_index("ix_gov_searches_authorisation_id", ["authorisation_id"])


def downgrade() -> None:
    with op.batch_alter_table("gov_searches") as batch:
        batch.drop_index("ix_gov_searches_authorisation_id")
        batch.drop_column("authorisation_id")
        batch.drop_column("generation")
        batch.drop_column("started_at")
    op.drop_index("ix_gov_receipts_case_id", table_name="gov_receipts")
    op.drop_table("gov_receipts")
    op.drop_index("ix_gov_authorisations_status", table_name="gov_authorisations")
    op.drop_index("ix_gov_authorisations_case_id", table_name="gov_authorisations")
    op.drop_table("gov_authorisations")
