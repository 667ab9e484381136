"""The administrators' gallery browser (issue 23): a collection's images page by page with
their faces and flags, the flagged filter with the reasons in words, administrators only, and
the removal of a face or an image (gone from the browser and from search, audited); the
allowed ingest folders and a job's phase, rate and estimated end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import func, select
from tests.conftest import write_image
from tests.support.api import api_env

from facesearch.app.ingest_jobs import job_state
from facesearch.app.results import IngestJob
from facesearch.govern.audit import entries
from facesearch.store.schema import Collection, Provenance


def _client(env: Any, username: str) -> Any:
    """A client with an API token of ``username`` (no password hashing: faster)."""
    client = env.client()
    token = env.service.governance.create_token(username, username, "browse test")[0]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _photos(folder: Path, astronaut: np.ndarray, others: list[np.ndarray]) -> None:
    write_image(folder / "astronaut.jpg", astronaut)
    write_image(folder / "hopper.jpg", others[0])
    for i in range(1, 4):
        face = np.asarray(Image.fromarray(others[i]).resize((200, 200)))
        write_image(folder / f"person-{i}.jpg", face)
    tiny = np.asarray(Image.fromarray(astronaut).resize((96, 96), Image.Resampling.BOX))
    write_image(folder / "tiny.png", tiny)  # a ~20 px face: flagged too small
    write_image(folder / "blank.jpg", np.full((120, 160, 3), 200, np.uint8))  # no face


def test_browse_flagged_filter_access_and_removal(
    tmp_path: Path, pipeline: Any, astronaut: np.ndarray, other_faces: list[np.ndarray]
) -> None:
    _browse_and_remove(tmp_path, None, pipeline, astronaut, other_faces)


def test_browse_and_removal_on_postgresql(
    tmp_path: Path,
    postgres_url: str,
    pipeline: Any,
    astronaut: np.ndarray,
    other_faces: list[np.ndarray],
) -> None:
    _browse_and_remove(tmp_path, postgres_url, pipeline, astronaut, other_faces)


def _browse_and_remove(
    tmp_path: Path,
    database_url: str | None,
    pipeline: Any,
    astronaut: np.ndarray,
    other_faces: list[np.ndarray],
) -> None:
    folder = tmp_path / "photos"
    _photos(folder, astronaut, other_faces)
    write_image(tmp_path / "elsewhere" / "hopper.jpg", other_faces[0])
    (tmp_path / "env").mkdir()
    with api_env(tmp_path / "env", database_url, passwords=(), pipeline=pipeline) as env:
        env.ingest([folder], collection="browse", workers=0)
        env.ingest([tmp_path / "elsewhere"], collection="other", workers=0)
        admin, inv, aud = (_client(env, name) for name in ("admin", "inv", "aud"))

        rows = {c["name"]: c for c in admin.get("/api/v1/collections").json()["items"]}
        assert rows["browse"]["flagged"] == 1 and rows["other"]["flagged"] == 0
        assert {c["flagged"] for c in inv.get("/api/v1/collections").json()["items"]} == {None}

        # every image of the collection once, page by page, as many as a direct count
        with env.service.gallery.catalog.session() as s:
            direct = s.scalar(
                select(func.count(func.distinct(Provenance.image_id)))
                .join(Collection, Collection.id == Provenance.collection_id)
                .where(Collection.name == "browse")
            )
        assert direct == 7
        seen: list[int] = []
        for offset in range(0, 8, 3):
            r = admin.get(f"/api/v1/collections/browse/images?limit=3&offset={offset}")
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["total"] == direct and len(body["items"]) <= 3
            seen += [i["id"] for i in body["items"]]
        assert len(seen) == len(set(seen)) == direct
        images = admin.get("/api/v1/collections/browse/images?limit=50").json()["items"]
        by_file = {Path(i["file"]).name: i for i in images}
        assert by_file["blank.jpg"]["faces"] == [] and by_file["blank.jpg"]["face_count"] == 0
        hopper = by_file["hopper.jpg"]
        assert hopper["provenance"][0]["collection"] == "browse"  # not "other"'s record
        assert len(hopper["provenance"]) == 1 and hopper["faces"][0]["flags"] == []

        # the flagged filter: the one flagged face, its reason in words
        flagged = admin.get("/api/v1/collections/browse/images?flagged=true").json()
        assert flagged["total"] == 1
        (face,) = flagged["items"][0]["faces"]
        assert face["flags"] == ["too_small"] and not face["searchable"]
        assert face["reasons"][0]["reason"].startswith("too small: the face box")

        # administrators only; an unknown collection is not found
        for user in (inv, aud):
            r = user.get("/api/v1/collections/browse/images")
            assert r.status_code == 403, r.text
        assert admin.get("/api/v1/collections/nothing/images").status_code == 404
        astro_face = by_file["astronaut.jpg"]["faces"][0]["id"]
        assert (
            inv.post(f"/api/v1/faces/{astro_face}/delete", json={"reason": "x"}).status_code == 403
        )
        assert admin.get(f"/api/v1/faces/{astro_face}/crop").status_code == 200

        # delete a face: gone from the browser and from search
        assert env.service.gallery.search(astronaut, k=3).candidates[0].face_id == astro_face
        r = admin.post(f"/api/v1/faces/{astro_face}/delete", json={"reason": "wrong person"})
        assert r.status_code == 200, r.text
        assert r.json() == {"removed": 1}
        after = admin.get("/api/v1/collections/browse/images?limit=50").json()
        assert after["total"] == direct - 1  # its only face: the image went too
        faces = {f["id"] for i in after["items"] for f in i["faces"]}
        assert astro_face not in faces
        found = [c.face_id for c in env.service.gallery.search(astronaut, k=10).candidates]
        assert astro_face not in found

        # delete an image with its faces, and one without a face
        for name, removed in (("person-1.jpg", 1), ("blank.jpg", 0)):
            image_id = by_file[name]["id"]
            r = admin.post(f"/api/v1/images/{image_id}/delete", json={"reason": "not needed"})
            assert r.status_code == 200, r.text
            assert r.json() == {"removed": removed}
        left = admin.get("/api/v1/collections/browse/images?limit=50").json()
        assert left["total"] == direct - 3
        assert {"person-1.jpg", "blank.jpg"}.isdisjoint(Path(i["file"]).name for i in left["items"])
        assert admin.post("/api/v1/images/999999/delete", json={"reason": "x"}).status_code == 404
        assert (
            admin.post(f"/api/v1/faces/{astro_face}/delete", json={"reason": "again"}).status_code
            == 404
        )

        with env.service.governance.session() as s:
            logged = [(e.action, e.details) for e in entries(s)]
    deletes = [d for a, d in logged if a == "faces.delete"]
    assert deletes and deletes[-1]["faces"] == [astro_face]
    assert deletes[-1]["reason"] == "wrong person"
    images = [d for a, d in logged if a == "images.delete"]
    assert [d["removed"] for d in images] == [1, 0] and images[0]["reason"] == "not needed"


def test_ingest_roots_and_job_state(tmp_path: Path) -> None:
    root = tmp_path / "allowed"
    root.mkdir()
    with api_env(tmp_path, passwords=(), ingest_roots=[root]) as env:
        r = _client(env, "admin").get("/api/v1/ingest/roots")
        assert r.status_code == 200, r.text
        assert r.json() == {"roots": [str(root.resolve())]}
        assert _client(env, "inv").get("/api/v1/ingest/roots").status_code == 403

    start = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    job = IngestJob(1, ["/x"], None, "admin", start, status="running", started_at=start)
    assert job_state(job, now=start)["phase"] == "counting files"
    job.run_id, job.files_total = 7, 180
    state = job_state(job, now=start + timedelta(seconds=11))
    assert state["phase"] == "starting" and state["phase_text"].startswith("starting")
    assert state["files_per_second"] is None and state["estimated_end"] is None
    job.files_done = 60  # 60 files in 30 s since the count: 120 more take 60 s
    state = job_state(job, start + timedelta(seconds=10), start + timedelta(seconds=40))
    assert state["phase"] == "ingesting" and state["files_per_second"] == 2.0
    assert state["estimated_end"] == start + timedelta(seconds=100)
    job.status = "completed"
    assert job_state(job)["phase"] is None
