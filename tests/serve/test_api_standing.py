"""Standing queries and alerts over HTTP, for every role, with the real models: made from a
search by the case's investigator, an alert after an ingest of the same person, seen, renewed
by a supervisor, ended; refusals for the others."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.conftest import write_image
from tests.support.api import ApiEnv, api_env, open_case


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, pipeline) -> Iterator[ApiEnv]:  # type: ignore[no-untyped-def]
    tmp: Path = tmp_path_factory.mktemp("standing")
    with api_env(tmp, pipeline=pipeline, passwords=("inv", "sup", "aud", "admin")) as env:
        open_case(env)
        yield env


def _jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def test_standing_queries_over_http(env: ApiEnv, tmp_path: Path, astronaut, other_faces) -> None:  # type: ignore[no-untyped-def]
    env.ingest([write_image(tmp_path / "g" / "a.png", other_faces[1]).parent], workers=0)
    inv, sup, aud, admin = (env.client(n) for n in ("inv", "sup", "aud", "admin"))
    r = inv.post(
        "/api/v1/cases/C-1/searches",
        files={"probe": ("probe.jpg", _jpeg(astronaut), "image/jpeg")},
        data={"k": "5"},
    )
    assert r.status_code == 201, r.text
    search_id = r.json()["search_id"]
    body = {"search_id": search_id, "objective": "identify the victim"}
    for client in (sup, aud, admin):
        assert client.post("/api/v1/standing-queries", json=body).status_code == 403
    assert inv.post("/api/v1/standing-queries", json={**body, "objective": ""}).status_code == 422
    too_long = {**body, "expires_at": "2999-01-01T00:00:00Z"}
    r = inv.post("/api/v1/standing-queries", json=too_long)
    assert r.status_code == 403 and "180 days at most" in r.json()["detail"]
    r = inv.post("/api/v1/standing-queries", json=body)
    assert r.status_code == 201, r.text
    query = r.json()
    assert query["status"] == "active" and query["owner"] == "inv"
    listed = sup.get("/api/v1/standing-queries", params={"case": "C-1"}).json()
    assert [q["id"] for q in listed] == [query["id"]]

    crop = np.ascontiguousarray(astronaut[0:400, 40:440][:, ::-1])
    report = env.ingest([write_image(tmp_path / "new" / "b.png", crop).parent], workers=0)
    assert report.followups["standing_alerts"] == 1
    assert aud.get("/api/v1/alerts").status_code == 403
    (alert,) = inv.get("/api/v1/alerts").json()
    assert alert["query_id"] == query["id"] and alert["candidates"] >= 1
    r = inv.get(f"/api/v1/searches/{alert['search_id']}")
    assert r.status_code == 200 and r.json()["candidates"][0]["band"] == "strong"
    assert inv.post("/api/v1/alerts/999999/seen").status_code == 404
    r = inv.post(f"/api/v1/alerts/{alert['id']}/seen")
    assert r.status_code == 200 and r.json()["seen_by"] == "inv"
    assert inv.get("/api/v1/alerts").json() == []
    assert len(sup.get("/api/v1/alerts", params={"all": "true"}).json()) == 1

    assert inv.post(f"/api/v1/standing-queries/{query['id']}/renew", json={}).status_code == 403
    r = sup.post(f"/api/v1/standing-queries/{query['id']}/renew", json={})
    assert r.status_code == 200 and r.json()["expires_at"] >= query["expires_at"]
    assert inv.post("/api/v1/standing-queries/run").status_code == 403
    r = admin.post("/api/v1/standing-queries/run")
    assert r.status_code == 200 and r.json()["alerts"] == []
    assert aud.post(f"/api/v1/standing-queries/{query['id']}/end", json={}).status_code == 403
    r = inv.post(f"/api/v1/standing-queries/{query['id']}/end", json={"note": "identified"})
    assert r.status_code == 200 and r.json()["status"] == "ended"
    assert inv.post("/api/v1/standing-queries/424242/end", json={}).status_code == 404
