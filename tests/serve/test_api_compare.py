"""The probe on screen and the side-by-side comparison through the API: a search's probes
(the searched face of a two-face photo found again, its box and five landmarks, its pictures),
the same access rules as reading the search (per role), 410 Gone once retention deleted the
probe, the candidates' landmarks in their crops' pixels, and undo ("withdrawn") of a review."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from tests.conftest import write_image
from tests.support.api import ApiEnv, api_env

pytestmark = pytest.mark.slow


def jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def two_faces(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    h = a.shape[0]
    img_b = Image.fromarray(b).convert("RGB")
    img_b = img_b.resize((int(img_b.width * h / img_b.height), h))
    return np.concatenate([a, np.asarray(img_b)], axis=1)


@dataclass
class World:
    env: ApiEnv
    clients: dict[str, TestClient]
    search_id: int  # the two-face photo, its second face (the smaller one) searched
    pair_width: int
    searched_box: list[float]  # the box the search reported for that face


def bearer(env: ApiEnv, user: str) -> TestClient:
    client = env.client()
    token = env.service.governance.create_token(user, user, "test")[0]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


@pytest.fixture(scope="module")
def w(
    tmp_path_factory: pytest.TempPathFactory, pipeline: Any, astronaut: Any, other_faces: Any
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("compare")
    photos = tmp / "photos"
    write_image(photos / "astronaut.jpg", astronaut)
    write_image(photos / "hopper.jpg", other_faces[0])
    with api_env(tmp, passwords=(), pipeline=pipeline) as env:
        env.ingest([photos], collection="evidence", workers=0)
        gov = env.service.governance
        gov.open_case("inv", "C-1", "threat-to-life", "warrant 1", "compare test case")
        gov.approve_case("sup", "C-1", "ok")
        clients = {u: bearer(env, u) for u in ("inv", "inv2", "sup", "aud", "admin")}
        pair = two_faces(astronaut, other_faces[0])
        r = clients["inv"].post(
            "/api/v1/cases/C-1/searches",
            files={"probe": ("pair.jpg", jpeg(pair), "image/jpeg")},
            data={"face": "1", "k": "5"},
        )
        assert r.status_code == 201, r.text
        out = r.json()
        (box,) = [f["bbox"] for f in out["probe_faces"] if f["index"] == 1]
        yield World(env, clients, out["search_id"], pair.shape[1], box)


def test_the_searched_face_of_a_group_photo_is_named_boxed_and_landmarked(w: World) -> None:
    r = w.clients["inv"].get(f"/api/v1/searches/{w.search_id}/probes")
    assert r.status_code == 200, r.text
    (probe,) = r.json()["probes"]
    assert probe["position"] == 1 and probe["count"] == 1 and not probe["purged"]
    assert probe["faces_found"] == 2 and probe["face"] == 1
    assert probe["image_width"] == w.pair_width
    assert probe["bbox"] == pytest.approx(w.searched_box, abs=1)  # the face searched
    x, _, bw, _ = probe["bbox"]
    marks = probe["landmarks"]
    assert len(marks) == 5 and all(x <= px <= x + bw for px, _ in marks)
    right_eye, left_eye = marks[0], marks[1]
    assert right_eye[0] < left_eye[0]  # the subject's right eye is on the picture's left
    pic = probe["face_picture"]
    assert 0 < pic["width"] <= 320 and len(pic["landmarks"]) == 5
    for kind, url in (("face", probe["face_url"]), ("image", probe["image_url"])):
        got = w.clients["inv"].get(url)
        assert got.status_code == 200, (kind, got.text)
        assert got.headers["content-type"] == "image/jpeg"
        assert got.headers["cache-control"] == "private, no-store"
        size = Image.open(io.BytesIO(got.content)).size
        if kind == "face":
            assert size == (pic["width"], pic["height"])
        else:
            assert max(size) <= 640
    with w.env.service.governance.session() as s:
        from sqlalchemy import select

        from facesearch.govern.schema import AuditEntry

        views = [
            json.loads(e.details)
            for e in s.execute(select(AuditEntry).where(AuditEntry.action == "probe.view"))
            .scalars()
            .all()
        ]
    assert any(v.get("position") == 1 and v["search_id"] == w.search_id for v in views)


def test_candidates_landmarks_lie_in_their_crops(w: World) -> None:
    r = w.clients["sup"].get(f"/api/v1/searches/{w.search_id}/landmarks")
    assert r.status_code == 200, r.text
    cands = r.json()["candidates"]
    assert cands and {c["rank"] for c in cands} == set(range(1, len(cands) + 1))
    for c in cands:
        crop = c["crop"]
        assert len(c["landmarks"]) == 5 and len(crop["landmarks"]) == 5
        assert max(crop["width"], crop["height"]) <= 160
        for x, y in crop["landmarks"]:
            assert 0 <= x <= crop["width"] and 0 <= y <= crop["height"]
        # the crop's pixels are the stored crop's
        got = w.clients["sup"].get(f"/api/v1/faces/{c['face_id']}/crop?search_id={w.search_id}")
        assert Image.open(io.BytesIO(got.content)).size == (crop["width"], crop["height"])


@pytest.mark.parametrize(
    ("role", "status"),
    [("inv", 200), ("sup", 200), ("aud", 200), ("inv2", 404), ("admin", 404), (None, 401)],
)
def test_probe_pictures_follow_the_search_reading_rules(
    w: World, role: str | None, status: int
) -> None:
    client = w.clients[role] if role else w.env.client()
    for path in ("probes", "probes/1/face", "probes/1/image", "landmarks"):
        r = client.get(f"/api/v1/searches/{w.search_id}/{path}")
        assert r.status_code == status, (role, path, r.text)
    if role == "inv":
        r = client.get(f"/api/v1/searches/{w.search_id}/probes/2/face")
        assert r.status_code == 404 and "has 1 probe" in r.json()["detail"]


def test_undo_withdraws_a_first_decision(w: World) -> None:
    inv = w.clients["inv"]
    face = inv.get(f"/api/v1/searches/{w.search_id}").json()["candidates"][0]["face_id"]
    url = f"/api/v1/searches/{w.search_id}/reviews"
    r = inv.post(url, json={"face_id": face, "decision": "withdrawn"})
    assert r.status_code == 403 and "no review decision to withdraw" in r.json()["detail"]
    assert inv.post(url, json={"face_id": face, "decision": "not_a_match"}).status_code == 201
    r = inv.post(url, json={"face_id": face, "decision": "withdrawn", "note": "undo"})
    assert r.status_code == 201, r.text
    cand = inv.get(f"/api/v1/searches/{w.search_id}").json()["candidates"][0]
    assert cand["decision"] is None
    assert [x["decision"] for x in cand["reviews"]] == ["not_a_match", "withdrawn"]
    # a withdrawn possible match is no longer awaiting verification: a lead again
    assert inv.post(url, json={"face_id": face, "decision": "possible_match"}).status_code == 201
    cand = inv.get(f"/api/v1/searches/{w.search_id}").json()["candidates"][0]
    assert cand["status"] == "possible_match"
    assert inv.post(url, json={"face_id": face, "decision": "withdrawn"}).status_code == 201
    cand = inv.get(f"/api/v1/searches/{w.search_id}").json()["candidates"][0]
    assert cand["decision"] is None and cand["status"] == "lead"


def test_a_multi_probe_search_lists_every_probe_by_position(w: World, astronaut: Any) -> None:
    from PIL import ImageEnhance

    brighter = np.asarray(ImageEnhance.Brightness(Image.fromarray(astronaut)).enhance(1.2))
    r = w.clients["inv"].post(
        "/api/v1/cases/C-1/searches",
        files=[
            ("probe", ("one.jpg", jpeg(astronaut), "image/jpeg")),
            ("probe", ("two.jpg", jpeg(brighter), "image/jpeg")),
        ],
        data={"k": "3"},
    )
    assert r.status_code == 201, r.text
    search_id = r.json()["search_id"]
    probes = w.clients["aud"].get(f"/api/v1/searches/{search_id}/probes").json()["probes"]
    assert [(p["position"], p["count"], p["label"]) for p in probes] == [
        (1, 2, "one.jpg"),
        (2, 2, "two.jpg"),
    ]
    assert all(p["faces_found"] == 1 and p["face"] == 0 for p in probes)
    assert probes[0]["sha256"] != probes[1]["sha256"]
    got = w.clients["aud"].get(probes[1]["face_url"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"


def test_a_purged_probe_answers_410_in_words(w: World) -> None:
    """Last in the module: it closes the case."""
    gov = w.env.service.governance
    gov.close_case("sup", "C-1", "done")
    later = datetime.now(UTC) + timedelta(days=gov.policy.retention.probe_days_after_close + 1)
    assert gov.purge("admin", now=later).probes_purged >= 1
    inv = w.clients["inv"]
    listed = inv.get(f"/api/v1/searches/{w.search_id}/probes").json()["probes"]
    assert listed[0]["purged"] is True and listed[0]["face_url"] is None
    for kind in ("face", "image"):
        r = inv.get(f"/api/v1/searches/{w.search_id}/probes/1/{kind}")
        assert r.status_code == 410, r.text
        assert "retention period deleted it" in r.json()["detail"]
    # still refused (404) to someone who may not read the case
    assert w.clients["inv2"].get(f"/api/v1/searches/{w.search_id}/probes/1/face").status_code == 404
