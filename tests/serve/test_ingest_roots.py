"""A manifest cannot bypass the ingest roots (issue 21): an ingest job from a server path
under ``FACESEARCH_INGEST_ROOTS`` reads a manifest whose rows must name files under those
roots too; a row outside them (absolute, or with ``..``) is refused with its line, the rest
of the manifest is ingested, and the outside file is never stored nor served."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import write_image
from tests.support.api import ApiEnv, api_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(
    tmp_path_factory: pytest.TempPathFactory, pipeline: Any, astronaut: Any, other_faces: Any
) -> Iterator[ApiEnv]:
    tmp = tmp_path_factory.mktemp("roots")
    root = tmp / "allowed"
    write_image(root / "batch" / "inside.jpg", other_faces[0])
    write_image(tmp / "secret" / "outside.jpg", astronaut)
    write_image(tmp / "secret" / "outside2.jpg", other_faces[1])
    rows = [
        {"path": "inside.jpg", "title": "inside"},
        {"path": str(tmp / "secret" / "outside.jpg")},  # absolute, outside the roots
        {"path": "../../secret/outside2.jpg"},  # relative, leaves the roots by ".."
    ]
    (root / "batch" / "list.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with api_env(tmp, passwords=(), pipeline=pipeline, ingest_roots=[root]) as e:
        yield e


def bearer(env: ApiEnv, user: str) -> TestClient:
    client = env.client()
    token = env.service.governance.create_token(user, user, "test")[0]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def test_a_manifest_row_outside_the_ingest_roots_is_refused(env: ApiEnv) -> None:
    admin = bearer(env, "admin")
    manifest = env.settings.ingest_roots[0] / "batch" / "list.jsonl"
    r = admin.post("/api/v1/ingest/jobs", json={"path": str(manifest), "collection": "m"})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    env.service.library.jobs.wait(job_id, 120)
    job = admin.get(f"/api/v1/ingest/jobs/{job_id}").json()
    assert job["status"] == "completed", job
    assert job["counts"]["images_new"] == 1  # only the row inside the roots
    failures = admin.get(f"/api/v1/ingest/runs/{job['run_id']}/failures").json()["items"]
    refused = [f["reason"] for f in failures if "refused" in f["reason"]]
    assert len(refused) == 2
    assert any(f"{manifest}:2:" in r for r in refused)
    assert any(f"{manifest}:3:" in r for r in refused)
    stats = env.service.gallery.catalog.stats()
    assert stats["images"] == 1
    # naming the outside file directly is refused as before
    outside = manifest.parent.parent.parent / "secret" / "outside.jpg"
    r = admin.post("/api/v1/ingest/jobs", json={"path": str(outside)})
    assert r.status_code == 403
