"""Searches through the API end to end with the real models over a real catalog: upload a
probe, every face of a multi-face probe with its box, candidates with score, band, provenance
and authorised crop/image URLs, reviews, reveals in the audit chain, quotas (429), a full
queue (503), background ingest jobs with cancel, encryption at rest, and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.conftest import write_image
from tests.support.api import ApiEnv, api_env
from tests.support.cli import make_token

from facesearch.govern.schema import AuditEntry

pytestmark = pytest.mark.slow


def jpeg(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def two_faces(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a`` and ``b`` side by side (``b`` scaled to ``a``'s height)."""
    from PIL import Image

    h = a.shape[0]
    img_b = Image.fromarray(b).convert("RGB")
    img_b = img_b.resize((int(img_b.width * h / img_b.height), h))
    return np.concatenate([a, np.asarray(img_b)], axis=1)


def audit(env: ApiEnv, action: str) -> list[dict[str, Any]]:
    with env.service.governance.session() as s:
        rows = s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars()
        return [{"actor": r.actor, **json.loads(r.details)} for r in rows]


def bearer(env: ApiEnv, user: str) -> TestClient:
    client = env.client()
    token = env.service.governance.create_token(user, user, "test")[0]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


@dataclass
class Gallery:
    env: ApiEnv
    photos: Path
    astronaut: bytes
    hopper: bytes
    pair: bytes
    inv: TestClient


def make_gallery(
    tmp: Path, pipeline: Any, astronaut: np.ndarray, other_faces: Any, **kwargs: Any
) -> Iterator[Gallery]:
    photos = tmp / "photos"
    write_image(photos / "astronaut.jpg", astronaut)
    write_image(photos / "hopper.jpg", other_faces[0])
    with api_env(tmp, passwords=(), pipeline=pipeline, **kwargs) as env:
        env.ingest([photos], collection="evidence", workers=0)
        gov = env.service.governance
        gov.open_case("inv", "C-1", "threat-to-life", "warrant 1", "search test case")
        gov.approve_case("sup", "C-1", "ok")
        yield Gallery(
            env,
            photos,
            (photos / "astronaut.jpg").read_bytes(),
            (photos / "hopper.jpg").read_bytes(),
            jpeg(two_faces(astronaut, other_faces[0])),
            bearer(env, "inv"),
        )


@pytest.fixture(scope="module")
def g(
    tmp_path_factory: pytest.TempPathFactory, pipeline: Any, astronaut: Any, other_faces: Any
) -> Iterator[Gallery]:
    yield from make_gallery(tmp_path_factory.mktemp("search"), pipeline, astronaut, other_faces)


def search(g: Gallery, probe: bytes, **form: Any) -> Any:
    return g.inv.post(
        "/api/v1/cases/C-1/searches",
        files={"probe": ("probe.jpg", probe, "image/jpeg")},
        data={k: str(v) for k, v in form.items()},
    )


def test_search_end_to_end(g: Gallery) -> None:
    r = search(g, g.astronaut)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["case"] == "C-1" and out["user"] == "inv"
    assert out["probe_sha256"] == hashlib.sha256(g.astronaut).hexdigest()
    assert out["gallery_size"] == 2 and out["face"] == 0 and len(out["probe_faces"]) == 1
    best = out["candidates"][0]
    assert best["image_sha256"] == hashlib.sha256(g.astronaut).hexdigest()
    assert best["score"] > 0.6 and best["band"] == "strong"
    assert best["provenance"][0]["collection"] == "evidence"
    assert best["provenance"][0]["path"].endswith("astronaut.jpg")
    assert best["bbox"] and best["bbox"][2] > 20
    assert best["crop_url"] == f"/api/v1/faces/{best['face_id']}/crop?search_id={out['search_id']}"
    crop = g.inv.get(best["crop_url"])
    assert crop.status_code == 200 and crop.headers["content-type"].startswith("image/")
    assert crop.headers["cache-control"] == "private, no-store"
    image = g.inv.get(best["image_url"])
    assert image.status_code == 200 and image.content == g.astronaut
    assert g.inv.get(best["thumbnail_url"]).status_code == 200
    # read back later: the same candidates, recorded in the audit chain
    again = g.inv.get(f"/api/v1/searches/{out['search_id']}").json()
    assert [c["face_id"] for c in again["candidates"]] == [c["face_id"] for c in out["candidates"]]
    assert again["probe_faces"] == [] and again["seconds"] is None
    logged = [e for e in audit(g.env, "search") if e["search_id"] == out["search_id"]]
    assert logged and logged[0]["candidates"][0]["face_id"] == best["face_id"]
    assert any(e["face_id"] == best["face_id"] for e in audit(g.env, "face.crop"))
    probe = g.inv.get(f"/api/v1/searches/{out['search_id']}/probe")
    assert probe.status_code == 200 and probe.content == g.astronaut


def test_multi_face_probe_returns_every_face_to_choose_from(g: Gallery) -> None:
    first = search(g, g.pair).json()
    assert len(first["probe_faces"]) == 2
    boxes = [f["bbox"] for f in first["probe_faces"]]
    assert boxes[0] != boxes[1]
    chosen = {f["index"] for f in first["probe_faces"]} - {first["face"]}
    second = search(g, g.pair, face=chosen.pop()).json()
    assert second["face"] != first["face"]
    assert first["candidates"][0]["image_sha256"] != second["candidates"][0]["image_sha256"]
    r = search(g, g.pair, face=7)
    assert r.status_code == 422 and "face 7" in r.json()["detail"]


def test_filters_restrict_the_search(g: Gallery) -> None:
    r = search(g, g.astronaut, collection="no-such-collection")
    assert r.status_code == 201 and r.json()["candidates"] == []
    r = search(g, g.astronaut, captured_from="not a date")
    assert r.status_code == 422


def test_review_and_reveal_are_recorded(g: Gallery) -> None:
    out = search(g, g.astronaut).json()
    sid, fid = out["search_id"], out["candidates"][0]["face_id"]
    r = g.inv.post(
        f"/api/v1/searches/{sid}/reviews",
        json={"face_id": fid, "decision": "possible_match", "note": "same scar"},
    )
    assert r.status_code == 201 and r.json()["reviewer"] == "inv"
    shown = g.inv.get(f"/api/v1/searches/{sid}").json()["candidates"][0]
    assert shown["decision"] == "possible_match" and shown["reviews"][0]["note"] == "same scar"
    r = g.inv.post(f"/api/v1/searches/{sid}/candidates/{fid}/reveal", json={"reason": "compare"})
    assert r.status_code == 201
    seq = r.json()["audit_seq"]
    reveal = [e for e in audit(g.env, "face.reveal") if e["search_id"] == sid]
    assert reveal and reveal[-1]["actor"] == "inv" and reveal[-1]["reason"] == "compare"
    assert seq > out["audit_seq"]
    # a face this search did not return cannot be revealed through it
    other = next(i for i in (1, 2, 3) if i != fid)
    r = g.inv.post(f"/api/v1/searches/{sid}/candidates/{other}/reveal", json={})
    assert r.status_code == 403


def test_full_queue_answers_503_with_retry_after(g: Gallery) -> None:
    pool = g.env.service.ctx.pool
    release = threading.Event()
    started = threading.Event()
    holders = []

    def hold() -> None:
        started.set()
        release.wait(30)

    try:
        for _ in range(pool.capacity):
            t = threading.Thread(target=lambda: pool.run(hold))
            t.start()
            holders.append(t)
        started.wait(10)
        r = search(g, g.astronaut)
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
        assert "queue is full" in r.json()["detail"]
    finally:
        release.set()
        for t in holders:
            t.join(30)
    assert search(g, g.astronaut).status_code == 201


def test_ingest_job_from_an_uploaded_archive(g: Gallery, other_faces: Any) -> None:
    admin = bearer(g.env, "admin")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("face.jpg", jpeg(np.asarray(other_faces[0])[::2, ::2].copy()))
    r = admin.post(
        "/api/v1/ingest/jobs/upload",
        files={"archive": ("batch.zip", buf.getvalue(), "application/zip")},
        data={"collection": "uploaded"},
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    g.env.service.library.jobs.wait(job_id, 120)
    job = admin.get(f"/api/v1/ingest/jobs/{job_id}").json()
    assert job["status"] == "completed", job
    assert job["files_total"] == 1 and job["files_done"] == 1 and job["counts"]["images_new"] == 1
    faces = job["counts"]["faces_indexed"] + job["counts"]["faces_flagged"]
    assert job["counts"]["second_vectors_at_ingest"] == faces  # both vectors at ingest
    assert job["counts"]["second_vectors_queued"] == 0
    assert not any((g.env.settings.data_dir / "uploads").iterdir())  # upload removed
    names = {c["name"] for c in admin.get("/api/v1/collections").json()["items"]}
    assert {"evidence", "uploaded"} <= names
    # not an archive: 415; a server path outside the allowed roots: 403
    r = admin.post(
        "/api/v1/ingest/jobs/upload",
        files={"archive": ("x.zip", b"plain text", "application/zip")},
    )
    assert r.status_code == 415
    r = admin.post("/api/v1/ingest/jobs", json={"path": "/etc"})
    assert r.status_code == 403 and "FACESEARCH_INGEST_ROOTS" in r.json()["detail"]


def test_ingest_jobs_cancel(g: Gallery) -> None:
    service = g.env.service
    admin = service.accounts.principal("admin", "token")
    client = bearer(g.env, "admin")
    with service.ctx.engine_lock.read():  # the first job waits for the engine
        first = service.library.start_job(admin, [str(g.photos)], "again")
        second = service.library.start_job(admin, [str(g.photos)], "again")
        r = client.post(f"/api/v1/ingest/jobs/{second.id}/cancel")
        assert r.json()["status"] == "cancelled"
        client.post(f"/api/v1/ingest/jobs/{first.id}/cancel")
    done = service.library.jobs.wait(first.id, 60)
    assert done is not None and done.status == "cancelled"
    listed = client.get("/api/v1/ingest/jobs").json()["items"]
    assert {j["id"]: j["status"] for j in listed}[second.id] == "cancelled"


QUOTA_POLICY_EXTRA = """
[access]
session_idle_minutes = 30
session_absolute_hours = 12
searches_per_user_per_hour = 2
searches_per_user_per_day = 10
"""


def test_search_quota_from_the_policy(
    tmp_path: Path, pipeline: Any, astronaut: Any, other_faces: Any
) -> None:
    from importlib import resources

    text = (resources.files("facesearch.govern") / "default_policy.toml").read_text("utf-8")
    text = text[: text.index("[access]")] + QUOTA_POLICY_EXTRA
    for gal in make_gallery(tmp_path, pipeline, astronaut, other_faces, policy_text=text):
        assert search(gal, gal.astronaut).status_code == 201
        assert search(gal, gal.astronaut).status_code == 201
        r = search(gal, gal.astronaut)
        assert r.status_code == 429
        assert 3000 < int(r.headers["retry-after"]) <= 3601
        assert "2 searches in the last hour" in r.json()["detail"]
        assert audit(gal.env, "search.refused")[-1]["reason"].startswith("user 'inv' has run")


def test_encrypted_crops_are_decrypted_on_the_way_out(
    tmp_path: Path,
    pipeline: Any,
    astronaut: Any,
    other_faces: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from facesearch.store.crypto import generate_key

    monkeypatch.setenv("FACESEARCH_ENCRYPTION_KEY", generate_key())
    for gal in make_gallery(tmp_path, pipeline, astronaut, other_faces):
        best = search(gal, gal.astronaut).json()["candidates"][0]
        stored = gal.env.service.gallery.catalog.faces([best["face_id"]])[best["face_id"]]
        on_disk = gal.env.service.gallery.blobs.path(stored.crop).read_bytes()
        assert not on_disk.startswith(b"\xff\xd8")  # encrypted at rest
        crop = gal.inv.get(best["crop_url"])
        assert crop.status_code == 200 and crop.content.startswith(b"\xff\xd8")
        # a plain JPEG put in place of the encrypted crop is refused, not served
        gal.env.service.gallery.blobs.path(stored.crop).write_bytes(b"\xff\xd8\xff planted")
        planted = gal.inv.get(best["crop_url"])
        assert planted.status_code >= 400 and b"planted" not in planted.content
        assert "not encrypted" in audit(gal.env, "face.crop.refused")[-1]["reason"]


@pytest.mark.postgres
def test_search_over_postgresql(
    tmp_path: Path, postgres_url: str, pipeline: Any, astronaut: Any, other_faces: Any
) -> None:
    for gal in make_gallery(tmp_path, pipeline, astronaut, other_faces, database_url=postgres_url):
        assert gal.env.service.gallery.catalog.engine.dialect.name == "postgresql"
        out = search(gal, gal.astronaut).json()
        best = out["candidates"][0]
        assert best["image_sha256"] == hashlib.sha256(gal.astronaut).hexdigest()
        assert gal.inv.get(best["crop_url"]).status_code == 200
        outsider = bearer(gal.env, "inv2")
        assert outsider.get(best["crop_url"]).status_code == 404
        assert outsider.get(f"/api/v1/searches/{out['search_id']}").status_code == 404


def _encoded(rgb: np.ndarray, fmt: str) -> bytes:
    """``rgb`` in Pillow's ``fmt`` (GIF is palette, PGM grey: what the CLI decodes too)."""
    from PIL import Image

    buf = io.BytesIO()
    image = Image.fromarray(rgb)
    (image.convert("L") if fmt == "PPM" else image).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize(("fmt", "name"), [("GIF", "probe.gif"), ("PPM", "probe.pgm")])
def test_gif_and_pgm_probes_are_searched_as_the_cli_searches_them(
    g: Gallery, astronaut: np.ndarray, tmp_path: Path, fmt: str, name: str
) -> None:
    """The API's upload check is the one image-type table (``engine/formats.py``): a GIF or
    PGM probe, which the CLI accepts, is searched (201) with the candidates the CLI gives."""
    from typer.testing import CliRunner

    from facesearch.cli import app

    probe = _encoded(astronaut, fmt)
    path = tmp_path / name
    path.write_bytes(probe)
    r = g.inv.post(
        "/api/v1/cases/C-1/searches", files={"probe": (name, probe, "application/octet-stream")}
    )
    assert r.status_code == 201, r.text
    over_http = r.json()["candidates"]
    assert over_http and over_http[0]["band"] == "strong"
    res = CliRunner().invoke(
        app,
        ["search", str(path), "--case", "C-1", "--json", "-d", str(g.env.settings.data_dir)],
        env={"FACESEARCH_TOKEN": make_token(g.env.settings.data_dir, "inv")},
    )
    assert res.exit_code == 0, res.output
    over_cli = json.loads(res.output)["candidates"]
    assert [(c["face_id"], round(c["score"], 4), c["band"]) for c in over_http] == [
        (c["face_id"], round(c["score"], 4), c["band"]) for c in over_cli
    ]


def test_a_non_image_probe_is_refused_naming_the_accepted_types(g: Gallery) -> None:
    from facesearch.engine.formats import ACCEPTED_LABEL, IMAGE_FORMATS

    r = g.inv.post(
        "/api/v1/cases/C-1/searches", files={"probe": ("notes.txt", b"hello there", "text/plain")}
    )
    assert r.status_code == 415
    detail = r.json()["detail"]
    assert ACCEPTED_LABEL in detail
    assert all(f.label in detail for f in IMAGE_FORMATS)  # GIF and PGM among them
