"""media sets: a case's seized material, known-image hash sets, media faces and clusters

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_hash_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("default_category", sa.String(length=100), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("imported_by", sa.String(length=64), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "media_hash_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("set_id", sa.Integer(), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("sha1", sa.String(length=40), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("pdq", sa.String(length=64), nullable=True),
        sa.Column("pdq_quality", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("media_size", sa.BigInteger(), nullable=True),
        sa.Column("photodna", sa.Text(), nullable=True),
        sa.Column("media_id", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["set_id"],
            ["media_hash_sets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_media_hash_entries_md5"), "media_hash_entries", ["md5"], unique=False)
    op.create_index(
        op.f("ix_media_hash_entries_set_id"), "media_hash_entries", ["set_id"], unique=False
    )
    op.create_index(
        op.f("ix_media_hash_entries_sha1"), "media_hash_entries", ["sha1"], unique=False
    )
    op.create_index(
        op.f("ix_media_hash_entries_sha256"), "media_hash_entries", ["sha256"], unique=False
    )
    op.create_table(
        "media_cluster_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["gov_cases.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_media_cluster_decisions_case_id"),
        "media_cluster_decisions",
        ["case_id"],
        unique=False,
    )
    op.create_table(
        "media_clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("reviewed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["gov_cases.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_media_clusters_case_id"), "media_clusters", ["case_id"], unique=False)
    op.create_table(
        "media_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["gov_cases.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "name", name="uq_media_set"),
    )
    op.create_index(op.f("ix_media_sets_case_id"), "media_sets", ["case_id"], unique=False)
    op.create_table(
        "media_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("set_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["set_id"],
            ["media_sets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_media_imports_set_id"), "media_imports", ["set_id"], unique=False)
    op.create_table(
        "media_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["media_imports.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_media_failures_import_id"), "media_failures", ["import_id"], unique=False
    )
    op.create_table(
        "media_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("set_id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("sha1", sa.String(length=40), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("pdq", sa.String(length=64), nullable=True),
        sa.Column("pdq_quality", sa.Integer(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=True),
        sa.Column("exif_datetime", sa.String(length=32), nullable=True),
        sa.Column("camera_make", sa.String(length=200), nullable=True),
        sa.Column("camera_model", sa.String(length=200), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("elimination", sa.JSON(), nullable=True),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        sa.Column("thumbnail", sa.String(length=64), nullable=True),
        sa.Column("face_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["duplicate_of"],
            ["media_files.id"],
        ),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["media_imports.id"],
        ),
        sa.ForeignKeyConstraint(
            ["set_id"],
            ["media_sets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("set_id", "path", name="uq_media_file"),
    )
    op.create_index(op.f("ix_media_files_import_id"), "media_files", ["import_id"], unique=False)
    op.create_index(op.f("ix_media_files_md5"), "media_files", ["md5"], unique=False)
    op.create_index(op.f("ix_media_files_set_id"), "media_files", ["set_id"], unique=False)
    op.create_index("ix_media_files_set_sha256", "media_files", ["set_id", "sha256"], unique=False)
    op.create_index(op.f("ix_media_files_sha1"), "media_files", ["sha1"], unique=False)
    op.create_index(op.f("ix_media_files_status"), "media_files", ["status"], unique=False)
    op.create_table(
        "media_faces",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("frame_ms", sa.Integer(), nullable=True),
        sa.Column("track", sa.Integer(), nullable=True),
        sa.Column("face_index", sa.Integer(), nullable=False),
        sa.Column("x", sa.Float(), nullable=False),
        sa.Column("y", sa.Float(), nullable=False),
        sa.Column("w", sa.Float(), nullable=False),
        sa.Column("h", sa.Float(), nullable=False),
        sa.Column("landmarks", sa.JSON(), nullable=False),
        sa.Column("detector_score", sa.Float(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("flags", sa.String(length=200), nullable=False),
        sa.Column("searchable", sa.Boolean(), nullable=False),
        sa.Column("model", sa.String(length=120), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("crop", sa.String(length=64), nullable=True),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["gov_cases.id"],
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["media_clusters.id"],
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["media_files.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_id", "frame_ms", "face_index", name="uq_media_face"),
    )
    op.create_index(op.f("ix_media_faces_case_id"), "media_faces", ["case_id"], unique=False)
    op.create_index(op.f("ix_media_faces_cluster_id"), "media_faces", ["cluster_id"], unique=False)
    op.create_index(op.f("ix_media_faces_file_id"), "media_faces", ["file_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_media_faces_file_id"), table_name="media_faces")
    op.drop_index(op.f("ix_media_faces_cluster_id"), table_name="media_faces")
    op.drop_index(op.f("ix_media_faces_case_id"), table_name="media_faces")
    op.drop_table("media_faces")
    op.drop_index(op.f("ix_media_files_status"), table_name="media_files")
    op.drop_index(op.f("ix_media_files_sha1"), table_name="media_files")
    op.drop_index("ix_media_files_set_sha256", table_name="media_files")
    op.drop_index(op.f("ix_media_files_set_id"), table_name="media_files")
    op.drop_index(op.f("ix_media_files_md5"), table_name="media_files")
    op.drop_index(op.f("ix_media_files_import_id"), table_name="media_files")
    op.drop_table("media_files")
    op.drop_index(op.f("ix_media_failures_import_id"), table_name="media_failures")
    op.drop_table("media_failures")
    op.drop_index(op.f("ix_media_imports_set_id"), table_name="media_imports")
    op.drop_table("media_imports")
    op.drop_index(op.f("ix_media_sets_case_id"), table_name="media_sets")
    op.drop_table("media_sets")
    op.drop_index(op.f("ix_media_clusters_case_id"), table_name="media_clusters")
    op.drop_table("media_clusters")
    op.drop_index(op.f("ix_media_cluster_decisions_case_id"), table_name="media_cluster_decisions")
    op.drop_table("media_cluster_decisions")
    op.drop_index(op.f("ix_media_hash_entries_sha256"), table_name="media_hash_entries")
    op.drop_index(op.f("ix_media_hash_entries_sha1"), table_name="media_hash_entries")
    op.drop_index(op.f("ix_media_hash_entries_set_id"), table_name="media_hash_entries")
    op.drop_index(op.f("ix_media_hash_entries_md5"), table_name="media_hash_entries")
    op.drop_table("media_hash_entries")
    op.drop_table("media_hash_sets")
