"""Suspending all searching and the incident register over HTTP, for every role: a search is
refused with the suspension's sentence (403, before the probe reaches the engine), everyone
can read whether searching is suspended, only administrators suspend, resume, report and close.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from tests.support.api import ApiEnv, api_env

ROLES = ("admin", "inv", "sup", "aud")


@dataclass
class World:
    env: ApiEnv
    tokens: dict[str, str]

    def client(self, role: str | None) -> TestClient:
        client = self.env.client()
        if role:
            client.headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return client


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("incidents")
    with api_env(tmp, passwords=()) as env:
        gov = env.service.governance
        tokens = {n: gov.create_token(n, n, "incidents")[0] for n in ROLES}
        gov.open_case("inv", "C-1", "threat-to-life", "warrant 7", "suspension test")
        gov.approve_case("sup", "C-1", "ok")
        yield World(env, tokens)


def _photo() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 90, 60)).save(buf, "PNG")
    return buf.getvalue()


def test_suspension_refuses_searches_and_is_shown_to_everyone(world: World) -> None:
    assert world.client(None).get("/api/v1/suspension").status_code == 401
    for role in ("inv", "sup", "aud"):
        r = world.client(role).post("/api/v1/suspension", json={"reason": "x"})
        assert r.status_code == 403, (role, r.text)
    admin = world.client("admin")
    assert admin.post("/api/v1/suspension", json={}).status_code == 422
    r = admin.post("/api/v1/suspension", json={"reason": "recognizer misbehaves"})
    assert r.status_code == 201, r.text
    assert r.json()["in_force"] is True and r.json()["started_by"] == "admin"
    for role in ROLES:
        state = world.client(role).get("/api/v1/suspension").json()
        assert state["suspended"] is True
        assert "recognizer misbehaves" in state["message"]
    r = world.client("inv").post(
        "/api/v1/cases/C-1/searches", files={"probe": ("p.png", _photo(), "image/png")}
    )
    assert r.status_code == 403
    assert "all searching is suspended" in r.json()["detail"]
    assert "recognizer misbehaves" in r.json()["detail"]
    assert admin.post("/api/v1/suspension", json={"reason": "again"}).status_code == 403
    assert world.client("inv").post("/api/v1/suspension/end", json={"note": "x"}).status_code == 403
    r = admin.post("/api/v1/suspension/end", json={"note": "model replaced"})
    assert r.status_code == 200 and r.json()["in_force"] is False
    assert world.client("inv").get("/api/v1/suspension").json() == {
        "suspended": False,
        "message": None,
        "suspension": None,
    }
    # the list: administrators, auditors and supervisors
    assert world.client("inv").get("/api/v1/suspensions").status_code == 403
    listed = world.client("aud").get("/api/v1/suspensions").json()
    assert [s["end_note"] for s in listed] == ["model replaced"]


def test_incidents_over_http(world: World) -> None:
    inv = world.client("inv")
    r = inv.post(
        "/api/v1/incidents",
        json={"title": "lead acted on before review", "serious": True, "case": "C-1"},
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["status"] == "open" and made["recorded_by"] == "inv"
    assert inv.post("/api/v1/incidents", json={"title": ""}).status_code == 422
    assert inv.get("/api/v1/incidents").status_code == 403
    for role in ("inv", "sup", "aud"):
        r = world.client(role).post(
            f"/api/v1/incidents/{made['id']}/close", json={"resolution": "x"}
        )
        assert r.status_code == 403, role
    admin = world.client("admin")
    r = admin.post(f"/api/v1/incidents/{made['id']}/reported", json={"reported_to": "the DPA"})
    assert r.status_code == 200 and r.json()["reported_to"] == "the DPA"
    r = admin.post(f"/api/v1/incidents/{made['id']}/close", json={"resolution": "retrained"})
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert (
        admin.post(f"/api/v1/incidents/{made['id']}/close", json={"resolution": "x"}).status_code
        == 403
    )
    assert admin.post("/api/v1/incidents/424242/close", json={"resolution": "x"}).status_code in (
        403,
        404,
    )
    assert [i["id"] for i in world.client("sup").get("/api/v1/incidents").json()] == [made["id"]]
    assert world.client("aud").get("/api/v1/incidents?open=true").json() == []
