"""Media uploaded from the browser: media_upload_jobs (a new media set of a case, its label
and source note, imported in the background with progress)

Revision ID: 0019
Revises: 0015
Create Date: 2026-12-07 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_upload_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("set_name", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("files_total", sa.Integer(), nullable=False),
        sa.Column("files_done", sa.Integer(), nullable=False),
        sa.Column("faces", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("folder", sa.Text(), nullable=True),
        sa.Column("owner_host", sa.String(length=255), nullable=True),
        sa.Column("owner_pid", sa.Integer(), nullable=True),
        sa.Column("owner_started", sa.String(length=40), nullable=True),
        sa.Column("heartbeat", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["gov_cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("media_upload_jobs") as batch:
        batch.create_index(batch.f("ix_media_upload_jobs_case_id"), ["case_id"], unique=False)
        batch.create_index(batch.f("ix_media_upload_jobs_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("media_upload_jobs") as batch:
        batch.drop_index(batch.f("ix_media_upload_jobs_status"))
        batch.drop_index(batch.f("ix_media_upload_jobs_case_id"))
    op.drop_table("media_upload_jobs")
