"""Revision 0012 on a catalog made before it: an ``archive!member`` label is split only where
its archive exists; a label whose "!" is part of a folder name, or that cannot be told, is
left whole (and the reader tries it as a plain path first)."""

from __future__ import annotations

import hashlib
import zipfile
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from facesearch.app.faces import original_image
from facesearch.store.catalog import SqlCatalog

ROWS = "insert into images (id, sha256, bytes, width, height, format, path, face_count, created_at)"
FACE = (
    "insert into faces (id, image_id, face_index, x, y, w, h, landmarks, detector_score, "
    "quality, sharpness, yaw, flags, searchable, model, embedding, created_at) values "
    "(:id, :id, 0, 0, 0, 1, 1, '[]', 0.9, 0.9, 1, 0, '', :yes, 'm', :vector, :at)"
)
AT = datetime(2026, 11, 22, tzinfo=UTC)


def test_a_0010_catalog_gets_its_members_apart(tmp_path: Path) -> None:
    migrated(tmp_path, f"sqlite:///{tmp_path / 'catalog.sqlite'}")


@pytest.mark.postgres
def test_a_0010_postgres_catalog_gets_its_members_apart(tmp_path: Path, postgres_url: str) -> None:
    migrated(tmp_path, postgres_url)


def migrated(tmp_path: Path, url: str) -> None:
    archive = tmp_path / "seized.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("dcim/1.jpg", b"member bytes")
    folder = tmp_path / "case!7"
    folder.mkdir()
    (folder / "x.jpg").write_bytes(b"folder bytes")
    labels = {
        1: (f"{archive}!dcim/1.jpg", b"member bytes"),  # an archive that exists: split
        2: (f"{folder}/x.jpg", b"folder bytes"),  # a "!" in a folder name: left whole
        3: (f"{tmp_path}/gone.zip!y.jpg", b"gone"),  # cannot tell: left whole
    }
    engine = sa.create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("facesearch") / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0010")
        conn.execute(
            sa.text("insert into collections (id, name, created_at) values (1, 'c', :at)"),
            {"at": AT},
        )
        for image_id, (label, data) in labels.items():
            sha = hashlib.sha256(data).hexdigest()
            conn.execute(
                sa.text(f"{ROWS} values (:id, :sha, 1, 2, 2, 'jpeg', :path, 1, :at)"),
                {"id": image_id, "sha": sha, "path": label, "at": AT},
            )
            conn.execute(sa.text(FACE), {"id": image_id, "yes": True, "vector": b"\0", "at": AT})
            conn.execute(
                sa.text(
                    "insert into provenance (image_id, collection_id, path, source_url, "
                    "ingested_at) values (:id, 1, :path, '', :at)"
                ),
                {"id": image_id, "path": label, "at": AT},
            )
    engine.dispose()
    catalog = SqlCatalog(url)  # migrates to head
    try:
        with catalog.engine.connect() as conn:
            for table in ("images", "provenance"):
                rows = conn.execute(
                    sa.text(f"select image_id, path, member from {table}")
                    if table == "provenance"
                    else sa.text("select id, path, member from images")
                ).all()
                assert {i: (p, m) for i, p, m in rows} == {
                    1: (str(archive), "dcim/1.jpg"),
                    2: (f"{folder}/x.jpg", ""),
                    3: (f"{tmp_path}/gone.zip!y.jpg", ""),
                }, table
            states = conn.execute(sa.text("select original, original_state from images")).all()
            assert set(states) == {(None, None)}  # for the backfill to store
        faces = catalog.faces([1, 2, 3])
        # shown as before, read from where they are: the member, and the folder with a "!"
        assert faces[1].image_path == labels[1][0]
        assert faces[1].provenance[0]["path"] == labels[1][0]
        assert original_image(faces[1]) == b"member bytes"
        assert original_image(faces[2]) == b"folder bytes"
        assert original_image(faces[3]) is None
    finally:
        catalog.close()
