"""multi-probe searches (their probes and per-probe scores) and cross-case media alerts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

FACE_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "gov_search_probes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("probe_id", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("quality", sa.Float(), nullable=True),
        sa.Column("face", sa.Integer(), nullable=True),
        sa.Column("media_face_id", FACE_ID, nullable=True),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["probe_id"], ["gov_probes.id"]),
        sa.ForeignKeyConstraint(["search_id"], ["gov_searches.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("search_id", "position", name="uq_gov_search_probe"),
    )
    op.create_index(
        op.f("ix_gov_search_probes_search_id"), "gov_search_probes", ["search_id"], unique=False
    )
    op.create_table(
        "gov_multiprobe_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("face_id", FACE_ID, nullable=False),
        sa.Column("mean_score", sa.Float(), nullable=False),
        sa.Column("best_score", sa.Float(), nullable=False),
        sa.Column("best_probe", sa.Integer(), nullable=False),
        sa.Column("best_band", sa.String(length=20), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("matched", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["search_id"], ["gov_searches.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("search_id", "face_id", name="uq_gov_multiprobe_score"),
    )
    op.create_index(
        op.f("ix_gov_multiprobe_scores_search_id"),
        "gov_multiprobe_scores",
        ["search_id"],
        unique=False,
    )
    op.create_table(
        "media_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("other_case_id", sa.Integer(), nullable=False),
        sa.Column("face_id", FACE_ID, nullable=False),
        sa.Column("other_face_id", FACE_ID, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("model", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["gov_cases.id"]),
        sa.ForeignKeyConstraint(["other_case_id"], ["gov_cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("face_id", "other_face_id", name="uq_media_alert"),
    )
    op.create_index(op.f("ix_media_alerts_case_id"), "media_alerts", ["case_id"], unique=False)
    op.create_index(op.f("ix_media_alerts_face_id"), "media_alerts", ["face_id"], unique=False)
    op.create_index(
        op.f("ix_media_alerts_other_case_id"), "media_alerts", ["other_case_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_media_alerts_other_case_id"), table_name="media_alerts")
    op.drop_index(op.f("ix_media_alerts_face_id"), table_name="media_alerts")
    op.drop_index(op.f("ix_media_alerts_case_id"), table_name="media_alerts")
    op.drop_table("media_alerts")
    op.drop_index(op.f("ix_gov_multiprobe_scores_search_id"), table_name="gov_multiprobe_scores")
    op.drop_table("gov_multiprobe_scores")
    op.drop_index(op.f("ix_gov_search_probes_search_id"), table_name="gov_search_probes")
    op.drop_table("gov_search_probes")
