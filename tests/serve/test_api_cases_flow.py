"""Cases over HTTP, for supervision (issue 23): a rejected case amended and resubmitted by its
requester (and nobody else), its history, the supervisor's pending count and assignment
picker, the disputed identifications across cases, and refusals worded without internal
action names (the action stays machine-readable in ``action`` and in the audit log).

A real application over a real SQLite catalog; the searches are the governance tests'
deterministic engine (no face models), so the module runs in a few seconds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.support.api import ApiEnv, api_env
from tests.support.govern import FakeBackend, add_face, governed_photo_search, probe_bytes

from facesearch.govern.audit import entries

ROLES = ("admin", "inv", "inv2", "sup", "aud")
JUSTIFICATION = "identify a suspect seen on a shop's camera"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("cases-flow"), passwords=()) as env:
        yield env


def client(env: ApiEnv, role: str | None) -> TestClient:
    c = env.client()
    if role is not None:
        token = env.service.governance.create_token(role, role, "cases-flow")[0]
        c.headers["Authorization"] = f"Bearer {token}"
    return c


def audit(env: ApiEnv, case: str) -> list[tuple[str, str, dict[str, Any]]]:
    with env.service.governance.session() as s:
        return [(e.actor, e.action, e.details) for e in entries(s, case=case)]


def request_case(env: ApiEnv, number: str, by: str = "inv") -> dict[str, Any]:
    r = client(env, by).post(
        "/api/v1/cases",
        json={
            "number": number,
            "purpose": "cse-victim-id",
            "legal_authority": "Order 1/2026",
            "justification": JUSTIFICATION,
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "pending"
    body: dict[str, Any] = r.json()
    return body


def test_a_rejected_case_amended_and_resubmitted(env: ApiEnv) -> None:
    request_case(env, "RS-1")
    sup, inv = client(env, "sup"), client(env, "inv")
    r = sup.post("/api/v1/cases/RS-1/reject", json={"note": "no order number on file"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    amended = {
        "purpose": "threat-to-life",
        "legal_authority": "Court order 77/2026",
        "justification": JUSTIFICATION,
        "note": "the court order is now attached",
    }
    # nobody but the requester: another investigator (not a reader: 404, as for any case),
    # a supervisor, an auditor, the administrator
    assert client(env, "inv2").post("/api/v1/cases/RS-1/resubmit", json=amended).status_code == 404
    for role in ("sup", "aud", "admin"):
        r = client(env, role).post("/api/v1/cases/RS-1/resubmit", json=amended)
        assert r.status_code == 403, (role, r.text)
    r = inv.post("/api/v1/cases/RS-1/resubmit", json=amended)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "pending" and out["decided_by"] is None
    assert out["purpose_key"] == "threat-to-life"
    assert out["legal_authority"] == "Court order 77/2026"
    assert out["resubmissions"] == 1
    assert out["last_rejection"]["by"] == "sup"
    assert out["last_rejection"]["note"] == "no order number on file"
    assert [e["event"] for e in out["history"]] == [
        "requested",
        "assigned",
        "rejected",
        "amended",
        "resubmitted",
    ]
    rejected, amend, resubmit = out["history"][2:]
    assert rejected["actor"] == "sup" and rejected["note"] == "no order number on file"
    assert {(c["field"], c["before"], c["after"]) for c in amend["changes"]} == {
        ("purpose", "cse-victim-id", "threat-to-life"),
        ("legal_authority", "Order 1/2026", "Court order 77/2026"),
    }
    assert resubmit["actor"] == "inv" and resubmit["note"] == "the court order is now attached"
    # only when rejected: a pending case cannot be resubmitted again
    r = inv.post("/api/v1/cases/RS-1/resubmit", json=amended)
    assert r.status_code == 403 and "only a rejected case" in r.json()["detail"]
    # the supervisor sees it pending again, with the rejection it answers, and approves it
    queue = sup.get("/api/v1/cases", params={"status": "pending"}).json()["items"]
    (again,) = [c for c in queue if c["number"] == "RS-1"]
    assert again["resubmissions"] == 1 and again["last_rejection"]["note"].startswith("no order")
    assert again["history"] == []  # the list is short; the case's page has the history
    r = sup.post("/api/v1/cases/RS-1/approve", json={"note": "order checked"})
    assert r.status_code == 200 and r.json()["status"] == "open"
    shown = sup.get("/api/v1/cases/RS-1").json()
    assert [e["event"] for e in shown["history"]][-1] == "approved"
    # audited: the amendment with the fields before and after, the resubmission, the refusals
    acts = audit(env, "RS-1")
    (amend_entry,) = [d for a, act, d in acts if act == "case.amend" and a == "inv"]
    assert amend_entry["changes"]["legal_authority"] == {
        "from": "Order 1/2026",
        "to": "Court order 77/2026",
    }
    (resubmit_entry,) = [d for _a, act, d in acts if act == "case.resubmit"]
    assert resubmit_entry["rejection"]["note"] == "no order number on file"
    assert resubmit_entry["amended"] == ["legal_authority", "purpose"]
    refused = [(a, d["reason"]) for a, act, d in acts if act == "case.resubmit.refused"]
    assert {a for a, _ in refused} == {"inv2", "sup", "aud", "admin", "inv"}
    assert any("only the requester" in why for a, why in refused if a == "sup")


def test_resubmit_checks_the_amended_request(env: ApiEnv) -> None:
    request_case(env, "RS-2")
    assert client(env, "sup").post("/api/v1/cases/RS-2/reject", json={"note": "no"}).is_success
    inv = client(env, "inv")
    base = {"purpose": "cse-victim-id", "legal_authority": "Order 2", "justification": "too short"}
    r = inv.post("/api/v1/cases/RS-2/resubmit", json=base)
    assert r.status_code == 403 and r.json()["detail"].startswith("a justification is required")
    r = inv.post("/api/v1/cases/RS-2/resubmit", json={**base, "purpose": "curiosity"})
    assert r.status_code == 403 and "not allowed by the policy" in r.json()["detail"]
    r = inv.post("/api/v1/cases/RS-2/resubmit", json={**base, "surprise": 1})
    assert r.status_code == 422
    assert client(env, "inv").get("/api/v1/cases/RS-2").json()["status"] == "rejected"


def test_refusals_are_worded_without_action_names(env: ApiEnv) -> None:
    request_case(env, "RS-3", by="inv2")
    inv = client(env, "inv")
    r = inv.post("/api/v1/cases/RS-3/approve", json={"note": ""})
    assert r.status_code == 403
    body = r.json()
    assert body["action"] == "case.approve"
    assert "refused" not in body["detail"] and "case.approve" not in body["detail"]
    assert body["detail"] == "user 'inv' lacks the role needed (supervisor); has: investigator"
    r = inv.get("/api/v1/cases/NOPE-1/searches")
    assert r.status_code == 404 and r.json()["detail"] == "no case 'NOPE-1'"
    assert r.json()["action"] == "case.view"


def test_pending_count_and_assignment_picker(env: ApiEnv) -> None:
    sup = client(env, "sup")
    before = sup.get("/api/v1/cases/pending/count")
    assert before.status_code == 200
    request_case(env, "RS-4")
    count = sup.get("/api/v1/cases/pending/count").json()["pending"]
    assert count == before.json()["pending"] + 1
    listed = sup.get("/api/v1/cases", params={"status": "pending", "limit": 1}).json()["total"]
    assert count == listed
    for role in ("inv", "aud", "admin"):
        assert client(env, role).get("/api/v1/cases/pending/count").status_code == 403, role
    # the picker: active investigators not yet assigned; supervisors only
    r = sup.get("/api/v1/cases/RS-4/assignable")
    assert r.status_code == 200
    assert [u["username"] for u in r.json()] == ["inv2"]  # inv requested it and is assigned
    for role in ("inv", "aud", "admin"):
        assert client(env, role).get("/api/v1/cases/RS-4/assignable").status_code == 403, role
    assert sup.get("/api/v1/cases/NOPE-2/assignable").status_code == 404
    env.service.governance.add_user("admin", "inv-gone", ["investigator"], None, "Gone")
    assert [u["username"] for u in sup.get("/api/v1/cases/RS-4/assignable").json()] == [
        "inv-gone",
        "inv2",
    ]
    env.service.governance.disable_user("admin", "inv-gone")
    assert [u["username"] for u in sup.get("/api/v1/cases/RS-4/assignable").json()] == ["inv2"]
    assert sup.post("/api/v1/cases/RS-4/assign", json={"username": "inv2"}).is_success
    assert sup.get("/api/v1/cases/RS-4/assignable").json() == []
    assert sup.post("/api/v1/cases/RS-4/close", json={"note": "done"}).is_success
    assert sup.get("/api/v1/cases/RS-4/assignable").status_code == 403  # closed


def test_disputed_identifications_across_cases(env: ApiEnv) -> None:
    gov = env.service.governance
    gov.open_case("inv", "RS-5", "threat-to-life", "warrant 5", "a disputed match across cases")
    gov.approve_case("sup", "RS-5", "ok")
    gov.assign("sup", "RS-5", "inv2")
    with gov.session() as s:
        for variant in range(2):
            add_face(s, 5, variant)
    out = governed_photo_search(gov, FakeBackend(gov.session), "inv", "RS-5", probe_bytes(5))
    disputed_face, waiting_face = (c.face_id for c in out.candidates[:2])
    inv, inv2, sup = client(env, "inv"), client(env, "inv2"), client(env, "sup")
    for face in (disputed_face, waiting_face):
        r = inv.post(
            f"/api/v1/searches/{out.search_id}/reviews",
            json={"face_id": face, "decision": "possible_match", "note": "same scar"},
        )
        assert r.status_code == 201, r.text
    r = inv2.post(
        f"/api/v1/searches/{out.search_id}/verifications",
        json={"face_id": disputed_face, "verdict": "reject", "note": "different ear"},
    )
    assert r.status_code == 201, r.text
    disputed = sup.get("/api/v1/identifications", params={"status": "disputed"})
    assert disputed.status_code == 200, disputed.text
    assert [(i["case"], i["face_id"]) for i in disputed.json()] == [("RS-5", disputed_face)]
    (d,) = disputed.json()
    assert d["awaiting_verification"] and d["verifications_hidden"] == 1  # independence kept
    waiting = sup.get("/api/v1/identifications", params={"status": "possible_match"}).json()
    assert [(i["case"], i["face_id"]) for i in waiting] == [("RS-5", waiting_face)]
    assert sup.get("/api/v1/identifications", params={"status": "bogus"}).status_code == 422
    for role in ("inv", "inv2", "aud", "admin"):
        assert client(env, role).get("/api/v1/identifications").status_code == 403, role
    (entry,) = [
        d
        for a, act, d in audit_all(env)
        if act == "identifications.view"
        and a == "sup"
        and d.get("status") == "disputed"
        and "across_cases" in d
    ]
    assert entry["count"] == 1


def audit_all(env: ApiEnv) -> list[tuple[str, str, dict[str, Any]]]:
    with env.service.governance.session() as s:
        return [(e.actor, e.action, e.details) for e in entries(s)]


def test_openapi_documents_the_new_routes(env: ApiEnv) -> None:
    spec = env.client().get("/openapi.json").json()
    paths = spec["paths"]
    assert "/api/v1/cases/{number}/resubmit" in paths
    assert "/api/v1/cases/{number}/assignable" in paths
    assert "/api/v1/cases/pending/count" in paths
    assert "/api/v1/identifications" in paths
    assert "action" in spec["components"]["schemas"]["Problem"]["properties"]
