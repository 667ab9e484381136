"""The faces of a probe before any search (``POST /cases/{number}/probe-faces``): every face
with its box, confidence, quality and flags, the one to preselect; nothing searched, stored
or logged as a search; allowed only to whoever may search the case; bad uploads refused."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.support.api import ApiEnv, api_env

from facesearch.govern.schema import AuditEntry, Probe, Search

pytestmark = pytest.mark.slow

MAX_PROBE = 1_500_000


def jpeg(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=92)
    return buf.getvalue()


@dataclass
class Env:
    env: ApiEnv
    clients: dict[str, TestClient]
    group: bytes  # the astronaut beside Grace Hopper
    blank: bytes  # no face at all


@pytest.fixture(scope="module")
def e(
    tmp_path_factory: pytest.TempPathFactory, pipeline: Any, astronaut: Any, other_faces: Any
) -> Iterator[Env]:
    from PIL import Image

    tmp: Path = tmp_path_factory.mktemp("probe-faces")
    with api_env(tmp, passwords=(), pipeline=pipeline, max_probe_bytes=MAX_PROBE) as env:
        gov = env.service.governance
        gov.open_case("inv", "C-1", "threat-to-life", "warrant 1", "probe faces test case")
        gov.approve_case("sup", "C-1", "ok")
        clients = {}
        for user in ("inv", "inv2", "sup", "aud", "admin"):
            client = env.client()
            token = gov.create_token(user, user, "test")[0]
            client.headers["Authorization"] = f"Bearer {token}"
            clients[user] = client
        hopper = Image.fromarray(other_faces[0]).convert("RGB").resize((300, 352))
        group = Image.new("RGB", (900, 520), (250, 250, 250))
        group.paste(Image.fromarray(astronaut).resize((480, 480)), (10, 20))
        group.paste(hopper, (560, 60))
        blank = np.full((300, 400, 3), 200, np.uint8)
        yield Env(env, clients, jpeg(np.asarray(group)), jpeg(blank))


def post(e: Env, user: str, data: bytes, case: str = "C-1", name: str = "probe.jpg") -> Any:
    return e.clients[user].post(
        f"/api/v1/cases/{case}/probe-faces", files={"probe": (name, data, "image/jpeg")}
    )


def counts(e: Env) -> tuple[int, int, list[str]]:
    with e.env.service.governance.session() as s:
        searches = s.execute(select(func.count()).select_from(Search)).scalar_one()
        probes = s.execute(select(func.count()).select_from(Probe)).scalar_one()
        actions = list(s.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars())
        return searches, probes, actions


def test_faces_of_a_group_photo_without_a_search(e: Env) -> None:
    before = counts(e)
    r = post(e, "inv", e.group)
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out["faces"]) == 2 and out["width"] == 900 and out["height"] == 520
    for i, f in enumerate(out["faces"]):
        assert f["index"] == i and len(f["bbox"]) == 4
        assert 0 < f["detector_score"] <= 1 and 0 <= f["quality"] <= 1
        assert f["likely_face"] is ("low_confidence" not in f["flags"])
        assert f["below_minimum"] is (f["quality"] < out["min_quality"])
        assert len(f["causes"]) == len(f["flags"])
    areas = [f["bbox"][2] * f["bbox"][3] for f in out["faces"]]
    assert areas == sorted(areas, reverse=True)  # largest first
    good = [f["index"] for f in out["faces"] if f["likely_face"] and not f["below_minimum"]]
    assert out["preselected"] == good[0]
    assert out["min_quality"] == pytest.approx(0.3)
    assert "2 faces found" in out["message"]
    # nothing searched, nothing stored, no audit entry at all (a search's or another)
    searches, probes, actions = counts(e)
    assert (searches, probes) == before[:2] == (0, 0)
    assert actions == before[2]


def test_a_photo_without_a_face_is_answered_in_words(e: Env) -> None:
    r = post(e, "inv", e.blank)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["faces"] == [] and out["preselected"] is None
    assert out["message"].startswith("No face was found in this photo.")


@pytest.mark.parametrize(
    ("user", "status", "why"),
    [
        ("inv2", 403, "is not assigned to case"),
        ("sup", 403, "investigator"),
        ("aud", 403, "investigator"),
        ("admin", 403, "investigator"),
    ],
)
def test_only_who_may_search_the_case(e: Env, user: str, status: int, why: str) -> None:
    r = post(e, user, e.group)
    assert r.status_code == status, r.text
    assert why in r.json()["detail"]
    last = counts(e)[2][-1]
    assert last == "probe.faces.refused"  # logged, and not as a refused search


def test_an_unknown_case_is_not_found(e: Env) -> None:
    r = post(e, "inv", e.group, case="NOPE-1")
    assert r.status_code == 404, r.text
    assert "search" not in {a.removesuffix(".refused") for a in counts(e)[2]}


def test_bad_uploads(e: Env) -> None:
    assert post(e, "inv", b"this is not an image").status_code == 415
    assert post(e, "inv", b"").status_code == 422
    big = e.group + b"\0" * (MAX_PROBE + 10)
    assert post(e, "inv", big).status_code == 413
    r = e.clients["inv"].post("/api/v1/cases/C-1/probe-faces", data={"k": "3"})
    assert r.status_code == 422
    assert counts(e)[:2] == (0, 0)


def test_anonymous_is_refused(e: Env) -> None:
    r = e.env.client().post(
        "/api/v1/cases/C-1/probe-faces", files={"probe": ("p.jpg", e.group, "image/jpeg")}
    )
    assert r.status_code == 401
    assert json.loads(r.text)["status"] == 401


def test_a_quality_override_through_the_api(
    tmp_path: Path, pipeline: Any, astronaut: Any, e: Env
) -> None:
    from importlib import resources

    from tests.conftest import write_image

    text = (resources.files("facesearch.govern") / "default_policy.toml").read_text("utf-8")
    strict = text.replace("min_probe_quality = 0.3", "min_probe_quality = 0.99")
    photos = tmp_path / "photos"
    write_image(photos / "astronaut.jpg", astronaut)
    with api_env(tmp_path, passwords=(), pipeline=pipeline, policy_text=strict) as env:
        env.ingest([photos], collection="evidence", workers=0)
        gov = env.service.governance
        gov.open_case("inv", "C-1", "threat-to-life", "warrant 1", "override test case")
        gov.approve_case("sup", "C-1", "ok")
        inv, sup, aud = (env.client() for _ in range(3))
        for client, user in ((inv, "inv"), (sup, "sup"), (aud, "aud")):
            token = gov.create_token(user, user, "test")[0]
            client.headers["Authorization"] = f"Bearer {token}"
        files = {"probe": ("group.jpg", e.group, "image/jpeg")}
        found = inv.post("/api/v1/cases/C-1/probe-faces", files=files).json()
        assert all(f["below_minimum"] for f in found["faces"])
        assert "none reaches the policy's minimum quality of 0.99" in found["message"]

        def search() -> Any:
            return inv.post("/api/v1/cases/C-1/searches", files=files, data={"face": "0"})

        refused = search()
        assert refused.status_code == 403
        assert "below the policy minimum of 0.99" in refused.json()["detail"]
        assert "ask a supervisor of the case for a quality override" in refused.json()["detail"]
        body = {"probe_sha256": found["sha256"], "face": 0, "reason": "the only photo we hold"}
        asked = inv.post("/api/v1/cases/C-1/quality-overrides", json=body)
        assert asked.status_code == 201, asked.text
        oid = asked.json()["id"]
        assert asked.json()["status"] == "pending"
        assert inv.post(f"/api/v1/quality-overrides/{oid}/grant", json={}).status_code == 403
        queue = sup.get("/api/v1/quality-overrides", params={"status": "pending"}).json()
        assert [o["id"] for o in queue] == [oid]
        granted = sup.post(f"/api/v1/quality-overrides/{oid}/grant", json={"note": "ok"})
        assert granted.status_code == 200 and granted.json()["decided_by"] == "sup"
        ran = search()
        assert ran.status_code == 201, ran.text
        used = ran.json()["quality_override"]
        assert used["granted_by"] == "sup" and used["reason"] == "the only photo we hold"
        again = inv.get(f"/api/v1/searches/{ran.json()['search_id']}").json()
        assert again["quality_override"]["id"] == oid
        assert search().status_code == 403  # used once
        seen = aud.get("/api/v1/quality-overrides").json()
        assert [(o["status"], o["search_id"]) for o in seen] == [("used", ran.json()["search_id"])]


def test_the_policy_says_whether_overrides_are_allowed(e: Env) -> None:
    search = e.clients["inv"].get("/api/v1/policy").json()["search"]
    assert search["quality_override"] is True and search["min_probe_quality"] == 0.3
