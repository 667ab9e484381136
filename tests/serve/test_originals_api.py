"""The full image of a face over the API never depends on where its photo was read from
(issue 23, finding 1; issue 22, finding 5): originals kept in the blob store at ingest, an
upload named as uploaded, "!" in a folder name only a character, and a clear 410 problem when
an original is gone (real models, a real SQLite catalog, the real FastAPI app)."""

from __future__ import annotations

import io
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.conftest import write_image
from tests.support.api import ApiEnv, api_env

from facesearch.app.faces import original_from_source
from facesearch.store.schema import FaceRow, Image, Provenance

pytestmark = pytest.mark.slow


def bearer(env: ApiEnv, user: str) -> TestClient:
    client = env.client()
    token = env.service.governance.create_token(user, user, "test")[0]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def face_of(env: ApiEnv, path: str, member: str = "") -> int:
    """The first face of the image stored from ``path`` (and ``member``)."""
    with env.service.ctx.gallery.catalog.session() as s:
        found = s.scalar(
            select(FaceRow.id)
            .join(Image, Image.id == FaceRow.image_id)
            .where(Image.path == path, Image.member == member)
            .order_by(FaceRow.id)
        )
    assert found is not None, (path, member)
    return int(found)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, pipeline: Any) -> Iterator[ApiEnv]:
    tmp = tmp_path_factory.mktemp("originals")
    roots = tmp / "roots"
    roots.mkdir()
    with api_env(tmp, passwords=(), pipeline=pipeline, ingest_roots=[roots]) as made:
        yield made


def test_a_folder_named_with_a_bang_is_ingested_and_served(
    env: ApiEnv, astronaut: Any, tmp_path: Path
) -> None:
    folder = env.settings.ingest_roots[0] / "case!7" / "day 1"
    photo = write_image(folder / "astronaut.jpg", astronaut)
    admin = bearer(env, "admin")
    r = admin.post("/api/v1/ingest/jobs", json={"path": str(folder.parent)})
    assert r.status_code == 202, r.text
    job = env.service.library.jobs.wait(r.json()["id"], 120)
    assert job is not None and job.status == "completed", job
    assert job.counts is not None and job.counts["images_new"] == 1, job.counts
    face_id = face_of(env, str(photo))  # stored whole: no member split off at the "!"
    r = admin.get(f"/api/v1/faces/{face_id}/image")
    assert r.status_code == 200, r.text
    assert r.content == photo.read_bytes()
    stored = env.service.ctx.gallery.catalog.faces([face_id])[face_id]
    assert stored.provenance[0]["path"] == str(photo)
    assert original_from_source(stored) == photo.read_bytes()  # the path read, not split


def test_the_full_image_of_an_upload_after_its_folder_is_gone(
    env: ApiEnv, other_faces: Any, tmp_path: Path
) -> None:
    photo = write_image(tmp_path / "face.jpg", other_faces[0])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.write(photo, "evidence/face.jpg")
    admin = bearer(env, "admin")
    r = admin.post(
        "/api/v1/ingest/jobs/upload",
        files={"archive": ("seized phone.zip", buf.getvalue(), "application/zip")},
        data={"collection": "uploaded"},
    )
    assert r.status_code == 202, r.text
    assert r.json()["sources"] == ["seized phone.zip"]
    job = env.service.library.jobs.wait(r.json()["id"], 120)
    assert job is not None and job.status == "completed", job
    assert not any((env.settings.data_dir / "uploads").iterdir())  # the upload is gone
    face_id = face_of(env, "seized phone.zip", "evidence/face.jpg")
    r = admin.get(f"/api/v1/faces/{face_id}/image")
    assert r.status_code == 200, r.text
    assert r.content == photo.read_bytes()
    # provenance, the job list and the run name what the administrator uploaded
    stored = env.service.ctx.gallery.catalog.faces([face_id])[face_id]
    assert [p["path"] for p in stored.provenance] == ["seized phone.zip!evidence/face.jpg"]
    listed = admin.get("/api/v1/ingest/jobs").json()["items"]
    assert {j["id"]: j["sources"] for j in listed}[job.id] == ["seized phone.zip"]
    runs = admin.get("/api/v1/ingest/runs").json()["items"]
    assert {r["id"]: r["sources"] for r in runs}[job.run_id] == ["seized phone.zip"]
    uploads = str(env.settings.data_dir / "uploads")
    with env.service.ctx.gallery.catalog.session() as s:
        assert not any(uploads in p for p in s.scalars(select(Provenance.path)))
        assert not any(uploads in p for p in s.scalars(select(Image.path)))


def test_a_folder_moved_after_ingest_is_still_served(
    env: ApiEnv, other_faces: Any, tmp_path: Path
) -> None:
    photo = write_image(tmp_path / "before" / "face.png", other_faces[1])
    data = photo.read_bytes()
    env.ingest([photo.parent], workers=0)
    face_id = face_of(env, str(photo))
    shutil.move(photo.parent, tmp_path / "after")
    r = bearer(env, "admin").get(f"/api/v1/faces/{face_id}/image")
    assert r.status_code == 200, r.text
    assert r.content == data


def test_with_originals_off_a_photo_gone_is_a_clear_410(
    tmp_path: Path, pipeline: Any, astronaut: Any
) -> None:
    photo = write_image(tmp_path / "photos" / "astronaut.jpg", astronaut)
    with api_env(tmp_path, passwords=(), pipeline=pipeline, keep_originals=False) as off:
        report = off.ingest([photo.parent], workers=0)
        assert report.originals_kept == 0 and report.counts()["original_bytes"] == 0
        face_id = face_of(off, str(photo))
        admin = bearer(off, "admin")
        assert admin.get(f"/api/v1/faces/{face_id}/image").content == photo.read_bytes()
        photo.unlink()
        r = admin.get(f"/api/v1/faces/{face_id}/image")
        assert r.status_code == 410, r.text
        assert r.headers["content-type"] == "application/problem+json"
        detail = r.json()["detail"]
        assert detail.startswith("the original of this face is no longer available")
        assert str(photo) in detail and "not kept" in detail
