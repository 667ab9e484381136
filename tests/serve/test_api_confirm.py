"""Two-person confirmation over HTTP, for every role: who may verify a possible match
(``POST /api/v1/searches/{id}/verifications``), the case's identifications with their status
(``GET /api/v1/cases/{case}/identifications``), and the first verdict withheld from the second
examiner until they record their own, in the search results too.

A real application over a real SQLite catalog; the searches are recorded through the
application's governed search with the governance tests' deterministic engine (no face
models: the rules under test are governance's), so the module runs in a few seconds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.support.api import ApiEnv, api_env
from tests.support.govern import FakeBackend, add_face, governed_photo_search, probe_bytes

ROLES = ("anonymous", "admin", "inv", "inv2", "sup", "aud")
NOTE = "same scar on the left cheek"


@dataclass
class World:
    env: ApiEnv
    tokens: dict[str, str]
    search_id: int
    faces: list[int]  # the search's candidates, best first

    def client(self, role: str) -> TestClient:
        client = self.env.client()
        if role != "anonymous":
            client.headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return client


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("confirm")
    with api_env(tmp, passwords=()) as env:
        gov = env.service.governance
        tokens = {n: gov.create_token(n, n, "confirm")[0] for n in ROLES if n != "anonymous"}
        gov.open_case("inv", "C-1", "threat-to-life", "warrant 7", "two-person test")
        gov.approve_case("sup", "C-1", "ok")
        gov.assign("sup", "C-1", "inv2")
        with gov.session() as s:
            for variant in range(2):
                add_face(s, 3, variant)
        backend = FakeBackend(gov.session)
        out = governed_photo_search(gov, backend, "inv", "C-1", probe_bytes(3))
        yield World(env, tokens, out.search_id, [c.face_id for c in out.candidates])


def _verify(w: World, role: str, face: int, verdict: str = "confirm", **kw: Any) -> Any:
    return w.client(role).post(
        f"/api/v1/searches/{w.search_id}/verifications",
        json={"face_id": face, "verdict": verdict, **kw},
    )


def _candidate(w: World, role: str, face: int) -> dict[str, Any]:
    r = w.client(role).get(f"/api/v1/searches/{w.search_id}")
    assert r.status_code == 200, r.text
    return next(c for c in r.json()["candidates"] if c["face_id"] == face)


def test_confirmation_rules_for_every_role(world: World) -> None:
    w, face = world, world.faces[0]
    assert len(w.faces) == 2
    # before any possible-match review nobody can verify
    assert _verify(w, "inv2", face).status_code == 403
    r = w.client("sup").post(
        f"/api/v1/searches/{w.search_id}/reviews",
        json={"face_id": face, "decision": "possible_match", "note": NOTE},
    )
    assert r.status_code == 201, r.text
    # the searcher (inv), the reviewer (sup), the auditor and the administrator are refused
    expected = {"anonymous": 401, "admin": 403, "inv": 403, "sup": 403, "aud": 403}
    got = {role: _verify(w, role, face).status_code for role in expected}
    assert got == expected
    assert "searcher cannot verify" in _verify(w, "inv", face).json()["detail"]
    assert "possible match" in _verify(w, "sup", face).json()["detail"]
    assert _verify(w, "inv2", face, "maybe").status_code == 422  # not a verdict
    # the second investigator sees a possible match awaiting them, without the first verdict
    c = _candidate(w, "inv2", face)
    assert c["status"] == "possible_match" and c["can_verify"] and c["awaiting_verification"]
    assert c["reviews"] == [
        {
            "decision": "possible_match",
            "note": "",
            "reviewer": "",
            "at": c["reviews"][0]["at"],
            "hidden": True,
        }
    ]
    idents = w.client("inv2").get("/api/v1/cases/C-1/identifications").json()
    assert [(i["face_id"], i["status"], i["reviews"][0]["note"]) for i in idents] == [
        (face, "possible_match", "")
    ]
    # the searcher and the auditor, who cannot verify, see the first verdict
    for role in ("inv", "aud"):
        c = _candidate(w, role, face)
        assert not c["awaiting_verification"] and c["reviews"][0]["note"] == NOTE
        assert c["reviews"][0]["reviewer"] == "sup"
    # reading the identifications: every reader of the case; not the administrator
    status = {
        role: w.client(role).get("/api/v1/cases/C-1/identifications").status_code for role in ROLES
    }
    assert status == {
        "anonymous": 401,
        "admin": 404,
        "inv": 200,
        "inv2": 200,
        "sup": 200,
        "aud": 200,
    }
    # the second investigator confirms: a confirmed identification, and now they see it all
    r = _verify(w, "inv2", face, note="ear agrees", basis="FISWG morphological comparison")
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "confirmed" and r.json()["verifier"] == "inv2"
    c = _candidate(w, "inv2", face)
    assert c["status"] == "confirmed" and not c["awaiting_verification"]
    assert c["reviews"][0]["note"] == NOTE and c["reviews"][0]["hidden"] is False
    assert [(v["verifier"], v["verdict"], v["basis"]) for v in c["verifications"]] == [
        ("inv2", "confirm", "FISWG morphological comparison")
    ]
    report = w.client("aud").get("/api/v1/cases/C-1/report").text
    assert "1 confirmed identifications" in report and "FISWG morphological" in report


def test_disputes_reach_the_supervisor(world: World) -> None:
    w, face = world, world.faces[1]
    r = w.client("inv").post(
        f"/api/v1/searches/{w.search_id}/reviews",
        json={"face_id": face, "decision": "possible_match", "note": "nose"},
    )
    assert r.status_code == 201
    assert _verify(w, "inv2", face, "reject", note="different ear").status_code == 201
    sup = w.client("sup")
    disputed = sup.get("/api/v1/cases/C-1/identifications", params={"status": "disputed"})
    assert [(i["face_id"], i["status"]) for i in disputed.json()] == [(face, "disputed")]
    # the supervisor may examine it in turn, and until then sees neither name nor note
    (d,) = disputed.json()
    assert d["can_verify"] and d["awaiting_verification"] and d["verifications"] == []
    assert d["verifications_hidden"] == 1 and d["reviews"][0]["reviewer"] == ""
    r = sup.get("/api/v1/cases/C-1/identifications", params={"status": "bogus"})
    assert r.status_code == 422
    assert _verify(w, "sup", face, "reject", note="agree: different").status_code == 201
    (d,) = sup.get("/api/v1/cases/C-1/identifications", params={"status": "disputed"}).json()
    assert {v["verifier"] for v in d["verifications"]} == {"inv2", "sup"}
    assert d["reviews"][0]["note"] == "nose"


def test_policy_tells_how_many_examiners(world: World) -> None:
    r = world.client("inv2").get("/api/v1/policy")
    assert r.status_code == 200 and r.json()["review"] == {"verifications_required": 2}
