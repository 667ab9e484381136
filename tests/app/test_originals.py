"""Gallery originals (issue 23, finding 1): kept in the blob store at ingest (sealed when a key
is set, within the size limit, with their bytes in the report), deleted with their image on
removal, and stored afterwards by the audited, resumable backfill for images ingested without
one (real models, a real SQLite catalog and blob store)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.conftest import write_image
from tests.support.api import PASSWORD
from tests.support.govern import add_user_approved
from typer.testing import CliRunner

from facesearch.app import Service
from facesearch.app.faces import original_image
from facesearch.app.keys import Keys
from facesearch.app.originals import Originals
from facesearch.app.types import RefusedError
from facesearch.cli import app
from facesearch.errors import ConfigError
from facesearch.govern.schema import AuditEntry
from facesearch.search.gallery import Gallery
from facesearch.settings import Settings
from facesearch.store.crypto import generate_key
from facesearch.store.records import ORIGINAL_LOST, ORIGINAL_TOO_LARGE
from facesearch.store.schema import FaceRow, Image

pytestmark = pytest.mark.slow


def images(gallery: Gallery) -> dict[str, tuple[str | None, str | None, list[int]]]:
    """Per stored path: its original's key, the state, and its face ids."""
    with gallery.catalog.session() as s:
        rows = s.execute(select(Image.id, Image.path, Image.original, Image.original_state)).all()
        faces = s.execute(select(FaceRow.image_id, FaceRow.id)).all()
    return {
        path: (key, state, [f for i, f in faces if i == image_id])
        for image_id, path, key, state in rows
    }


def test_originals_are_kept_sealed_and_removed_with_their_image(
    tmp_path: Path, pipeline: Any, astronaut: Any, other_faces: Any
) -> None:
    photos = tmp_path / "photos"
    a = write_image(photos / "a.jpg", astronaut)
    b = write_image(photos / "b.png", other_faces[0])
    settings = Settings(data_dir=tmp_path / "data", encryption_key=generate_key())
    g = Gallery.open(settings=settings, pipeline=pipeline)
    try:
        report = g.ingest([photos], workers=0)
        sizes = a.stat().st_size + b.stat().st_size
        assert report.originals_kept == 2 and report.original_bytes == sizes
        assert report.counts()["original_bytes"] == sizes
        assert g.stats()["originals"] == {
            "kept": 2, "bytes": sizes, "not_yet_stored": 0, "too_large": 0, "lost": 0
        }  # fmt: skip
        stored = images(g)
        key, state, face_ids = stored[str(a)]
        assert key is not None and state is None
        # sealed at rest: not a JPEG on disk, not the photo's bytes, nor named by its SHA-256
        on_disk = g.blobs.path(key).read_bytes()
        assert not on_disk.startswith(b"\xff\xd8") and a.read_bytes()[100:400] not in on_disk
        assert key != hashlib.sha256(a.read_bytes()).hexdigest()
        assert g.blobs.get(key) == a.read_bytes()
        face = g.catalog.faces(face_ids[:1])[face_ids[0]]
        a.unlink()  # read from the kept copy, not the path
        assert original_image(face, g.blobs) == g.blobs.get(key)
        # removal of every face of the image deletes its original too
        g.remove_faces(face_ids)
        assert not g.blobs.exists(key)
        assert stored[str(b)][0] is not None and g.blobs.exists(str(stored[str(b)][0]))
    finally:
        g.close()


def test_a_photo_over_the_limit_keeps_no_original(
    tmp_path: Path, pipeline: Any, astronaut: Any
) -> None:
    photo = write_image(tmp_path / "photos" / "a.jpg", astronaut)
    settings = Settings(data_dir=tmp_path / "data", max_original_bytes=photo.stat().st_size - 1)
    g = Gallery.open(settings=settings, pipeline=pipeline)
    try:
        report = g.ingest([photo.parent], workers=0)
        assert report.originals_kept == 0 and report.originals_too_large == 1
        assert images(g)[str(photo)][:2] == (None, ORIGINAL_TOO_LARGE)
        assert g.blobs.keys() and len(g.blobs.keys()) == 2  # the crop and the thumbnail only
    finally:
        g.close()


def _service(data: Path, pipeline: Any, **settings: Any) -> Service:
    return Service(
        Settings(data_dir=data, environment="development", **settings), pipeline=pipeline
    )


def test_the_backfill_stores_what_is_readable_and_marks_the_rest(
    tmp_path: Path, pipeline: Any, astronaut: Any, other_faces: Any, monkeypatch: Any
) -> None:
    for var in ("FACESEARCH_USER", "FACESEARCH_TOKEN", "FACESEARCH_KEEP_ORIGINALS"):
        monkeypatch.delenv(var, raising=False)
    photos = tmp_path / "photos"
    kept = write_image(photos / "kept.jpg", astronaut)
    gone = write_image(photos / "gone.jpg", other_faces[0])
    data = tmp_path / "data"
    service = _service(data, pipeline, keep_originals=False)
    try:
        service.library.initialise("admin", PASSWORD)
        add_user_approved(service.governance, "admin", "inv", ["investigator"], PASSWORD)
        admin = service.accounts.principal("admin", "cli")
        report = service.library.ingest(admin, [photos], workers=0)
        assert report.originals_kept == 0
        assert all(key is None for key, _, _ in images(service.ctx.gallery).values())
        with pytest.raises(ConfigError, match="originals are off"):
            Originals(service.ctx).backfill(admin)
        token = service.governance.create_token("admin", "admin", "backfill")[0]
    finally:
        service.close()
    gone.unlink()
    # the command line, as an administrator would run it after an upgrade
    cli = CliRunner().invoke(
        app, ["-d", str(data), "originals", "backfill", "--json"], env={"FACESEARCH_TOKEN": token}
    )
    assert cli.exit_code == 0, (cli.output, cli.exception)
    out = json.loads(cli.output[cli.output.index("{") :])
    assert (out["total"], out["stored"], out["lost"]) == (2, 1, 1)
    assert out["stored_bytes"] == kept.stat().st_size and out["lost_examples"] == [str(gone)]
    service = _service(data, pipeline)
    try:
        admin = service.accounts.principal("admin", "cli")
        stored = images(service.ctx.gallery)
        key = stored[str(kept)][0]
        assert key is not None and service.ctx.gallery.blobs.get(key) == kept.read_bytes()
        assert stored[str(gone)][:2] == (None, ORIGINAL_LOST)
        # an investigator may not run it (refused and logged)
        with pytest.raises(RefusedError):
            Originals(service.ctx).backfill(service.accounts.principal("inv", "cli"))
        # a second run has nothing left to do; --retry-lost finds the photo put back
        seen: list[tuple[int, int]] = []
        again = Originals(service.ctx).backfill(admin, on_progress=lambda *p: seen.append(p))
        assert (again.total, again.stored, again.lost) == (0, 0, 0) and seen == [(0, 0)]
        write_image(gone, other_faces[0])
        retried = Originals(service.ctx).backfill(admin, retry_lost=True)
        assert (retried.total, retried.stored, retried.lost) == (1, 1, 0)
        with service.governance.session() as s:
            entries = s.scalars(
                select(AuditEntry).where(AuditEntry.action.startswith("originals.backfill"))
            ).all()
            logged = [(e.actor, e.action, json.loads(e.details)) for e in entries]
        assert [(a, x) for a, x, _ in logged] == [
            ("admin", "originals.backfill"),
            ("inv", "originals.backfill.refused"),
            ("admin", "originals.backfill"),
            ("admin", "originals.backfill"),
        ]
        assert [d.get("stored") for _, _, d in logged] == [1, None, 0, 1]
        assert Originals(service.ctx).summary(admin) == {
            "kept": 2, "bytes": kept.stat().st_size + gone.stat().st_size,
            "not_yet_stored": 0, "too_large": 0, "lost": 0,
        }  # fmt: skip
    finally:
        service.close()


def test_a_key_rotation_renames_the_originals(
    tmp_path: Path, pipeline: Any, astronaut: Any
) -> None:
    photo = write_image(tmp_path / "photos" / "a.jpg", astronaut)
    old, new = generate_key(), generate_key()
    data = tmp_path / "data"
    service = _service(data, pipeline, encryption_key=old)
    try:
        service.library.initialise("admin", PASSWORD)
        admin = service.accounts.principal("admin", "cli")
        service.library.ingest(admin, [photo.parent], workers=0)
        before = images(service.ctx.gallery)[str(photo)]
    finally:
        service.close()
    service = _service(data, pipeline, encryption_key=new, old_encryption_key=old)
    try:
        Keys(service.ctx).rotate(service.accounts.principal("admin", "cli"))
        gallery = service.ctx.gallery
        key = images(gallery)[str(photo)][0]
        assert key is not None and key != before[0]  # renamed: blob names are keyed
        assert not gallery.blobs.exists(str(before[0]))
        photo.unlink()  # served from the rotated copy
        face = gallery.catalog.faces(before[2][:1])[before[2][0]]
        assert original_image(face, gallery.blobs) == gallery.blobs.get(key)
        assert hashlib.sha256(gallery.blobs.get(key)).hexdigest() == face.image_sha256
    finally:
        service.close()
