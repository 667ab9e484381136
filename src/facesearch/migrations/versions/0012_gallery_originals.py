"""Gallery originals kept, archive members apart: ``images.original`` (the original photo's
blob key) and ``images.original_state`` (why none is kept); ``images.member`` and
``provenance.member`` (the archive member, kept apart from the archive's path, so that a "!"
in a folder name is only a character), with the member in provenance's uniqueness.

Existing ``archive!member`` labels are split only where the part before a "!" is an archive
file that exists now (and the whole label is no file); where it cannot tell, the label is
left whole and the reader tries it as a plain path first (``app/faces.py``). The originals
themselves are stored by ``facesearch originals backfill`` (it needs the blob store and the
encryption key, which a migration does not have).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 06:30:00
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from facesearch.store.records import legacy_splits

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

CHUNK = 1000


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("member", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("original", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("original_state", sa.String(length=16), nullable=True))
    with op.batch_alter_table("provenance") as batch:
        batch.add_column(sa.Column("member", sa.Text(), nullable=False, server_default=""))
        batch.drop_constraint("uq_provenance", type_="unique")
        batch.create_unique_constraint(
            "uq_provenance", ["image_id", "collection_id", "path", "member", "source_url"]
        )
    conn = op.get_bind()
    for table in ("images", "provenance"):
        split_labels(conn, table)


def split_labels(conn: sa.Connection, table: str) -> int:
    """Split the ``archive!member`` labels of ``table`` whose archive exists (see the module
    docstring); returns how many were split."""
    rows = sa.table(
        table, sa.column("id", sa.Integer), sa.column("path", sa.Text), sa.column("member", sa.Text)
    )
    split = 0
    last = 0
    while True:
        found = conn.execute(
            sa.select(rows.c.id, rows.c.path)
            .where(rows.c.path.like("%!%"), rows.c.id > last)
            .order_by(rows.c.id)
            .limit(CHUNK)
        ).all()
        if not found:
            return split
        for row_id, label in found:
            parts = archive_split(str(label))
            if parts is not None:
                conn.execute(
                    sa.update(rows)
                    .where(rows.c.id == row_id)
                    .values(path=parts[0], member=parts[1])
                )
                split += 1
        last = int(found[-1][0])


def archive_split(label: str) -> tuple[str, str] | None:
    """(archive, member) when the label's first part that is an existing zip or tar archive
    can be found, and the whole label is no file; else None (left as it is)."""
    if Path(label).is_file():
        return None
    for archive, member in legacy_splits(label)[1:]:
        path = Path(archive)
        try:
            if path.is_file() and (zipfile.is_zipfile(path) or tarfile.is_tarfile(path)):
                return archive, member
        except OSError:
            continue
    return None


def downgrade() -> None:
    conn = op.get_bind()
    for table in ("images", "provenance"):
        rows = sa.table(table, sa.column("path", sa.Text), sa.column("member", sa.Text))
        conn.execute(
            sa.update(rows)
            .where(rows.c.member != "")
            .values(path=rows.c.path + "!" + rows.c.member)
        )
    with op.batch_alter_table("provenance") as batch:
        batch.drop_constraint("uq_provenance", type_="unique")
        batch.create_unique_constraint(
            "uq_provenance", ["image_id", "collection_id", "path", "source_url"]
        )
        batch.drop_column("member")
    with op.batch_alter_table("images") as batch:
        batch.drop_column("original_state")
        batch.drop_column("original")
        batch.drop_column("member")
