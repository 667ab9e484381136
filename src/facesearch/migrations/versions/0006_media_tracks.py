"""media tracks: the appearances of faces in the videos of a media set

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_tracks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("track", sa.Integer(), nullable=False),
        sa.Column("start_ms", sa.Integer(), nullable=False),
        sa.Column("end_ms", sa.Integer(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["gov_cases.id"]),
        sa.ForeignKeyConstraint(["file_id"], ["media_files.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_id", "track", name="uq_media_track"),
    )
    op.create_index(op.f("ix_media_tracks_case_id"), "media_tracks", ["case_id"], unique=False)
    op.create_index(op.f("ix_media_tracks_file_id"), "media_tracks", ["file_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_media_tracks_file_id"), table_name="media_tracks")
    op.drop_index(op.f("ix_media_tracks_case_id"), table_name="media_tracks")
    op.drop_table("media_tracks")
