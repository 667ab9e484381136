"""Durable server state: ingest jobs as rows (ids from the database, owner and heartbeat),
web sessions and failed-login counters shared by every server process, and the reason an
ingest run was interrupted

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("collection", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("files_total", sa.Integer(), nullable=False),
        sa.Column("files_done", sa.Integer(), nullable=False),
        sa.Column("faces", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cleanup", sa.JSON(), nullable=False),
        sa.Column("names", sa.JSON(), nullable=True),
        sa.Column("resumes", sa.Integer(), nullable=True),
        sa.Column("resumed_by", sa.Integer(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("owner_host", sa.String(length=255), nullable=True),
        sa.Column("owner_pid", sa.Integer(), nullable=True),
        sa.Column("owner_started", sa.String(length=40), nullable=True),
        sa.Column("heartbeat", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("ingest_jobs") as batch:
        batch.create_index(batch.f("ix_ingest_jobs_status"), ["status"], unique=False)
    op.create_table(
        "gov_web_sessions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_seen_at", sa.Float(), nullable=False),
        sa.Column("address", sa.String(length=100), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("gov_web_sessions") as batch:
        batch.create_index(batch.f("ix_gov_web_sessions_username"), ["username"], unique=False)
        batch.create_index(
            batch.f("ix_gov_web_sessions_last_seen_at"), ["last_seen_at"], unique=False
        )
    op.create_table(
        "gov_login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("gov_login_failures") as batch:
        batch.create_index(batch.f("ix_gov_login_failures_key"), ["key"], unique=False)
        batch.create_index(batch.f("ix_gov_login_failures_at"), ["at"], unique=False)
    op.create_table(
        "gov_login_lockouts",
        sa.Column("account", sa.String(length=300), nullable=False),
        sa.Column("locked_until", sa.Float(), nullable=False),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account"),
    )
    with op.batch_alter_table("ingest_runs") as batch:
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ingest_runs") as batch:
        batch.drop_column("reason")
    op.drop_table("gov_login_lockouts")
    with op.batch_alter_table("gov_login_failures") as batch:
        batch.drop_index(batch.f("ix_gov_login_failures_at"))
        batch.drop_index(batch.f("ix_gov_login_failures_key"))
    op.drop_table("gov_login_failures")
    with op.batch_alter_table("gov_web_sessions") as batch:
        batch.drop_index(batch.f("ix_gov_web_sessions_last_seen_at"))
        batch.drop_index(batch.f("ix_gov_web_sessions_username"))
    op.drop_table("gov_web_sessions")
    with op.batch_alter_table("ingest_jobs") as batch:
        batch.drop_index(batch.f("ix_ingest_jobs_status"))
    op.drop_table("ingest_jobs")
