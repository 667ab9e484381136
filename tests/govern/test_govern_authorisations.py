"""Authorisation of searches, urgent use with its deadline, signed deletion receipts and the
Art. 12(3) record (facesearch.govern.authorisations, .receipts, .search_record)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from tests.support.govern import (  # noqa: F401
    World,
    engine,
    make_world,
    open_approved_case,
    pg_engine,
    probe_bytes,
)

from facesearch.govern import RefusedError
from facesearch.govern import authorisations as authz
from facesearch.govern.authorisations import NewAuthorisation
from facesearch.govern.policy import PolicyError, default_policy, parse_policy
from facesearch.govern.receipts import receipt_document, require_receipt, verify_receipt
from facesearch.govern.schema import CandidateRow, Probe, Review, Search, StandingQuery
from facesearch.govern.search_record import search_record

EU = '\n[authorisation]\nrequired = "before_or_urgent"\nurgent_hours = 48\n'
PDF = b"%PDF-1.4 a warrant"


def eu_world(db: Engine, key: Ed25519PrivateKey | None) -> World:
    policy = parse_policy(default_policy().text + EU, "<eu>")
    env = {}
    if key is not None:
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        env["FACESEARCH_AUDIT_KEY_PEM"] = pem.decode()
    w = make_world(db, policy, signing_env=env)
    open_approved_case(w)
    return w


def standing_query_of(w: World, search_id: int) -> int:
    """A standing query kept from a search (its probe and vector copies), as the library
    stores one."""
    with w.sessions() as s:
        search = s.get(Search, search_id)
        assert search is not None
        now = w.clock.now
        row = StandingQuery(
            case_id=search.case_id, owner_id=search.user_id, search_id=search_id, objective="x",
            face=0, model=search.model, embedding=b"v", probe=b"p", probe_sha256="0" * 64,
            after_face_id=0, created_at=now, review_at=now, expires_at=now + timedelta(days=9),
            status="active", end_note="",
        )  # fmt: skip
        s.add(row)
        s.commit()
        return row.id


def record(w: World, actor: str, new: NewAuthorisation, key: Ed25519PrivateKey | None = None):  # type: ignore[no-untyped-def]
    gov = w.gov
    return gov.run(
        actor,
        "authorisation.record",
        {},
        lambda s, a: authz.record_authorisation(
            s, a, gov.policy, gov.cipher, key, actor, "C-1", new, w.clock.now
        ),
    )


def count(w: World, model: type, search_id: int) -> int:
    with w.sessions() as s:
        q = select(func.count()).select_from(model).where(model.search_id == search_id)  # type: ignore[attr-defined]
        return int(s.scalar(q) or 0)


def test_policy_section_parses_and_rejects_bad_values() -> None:
    p = parse_policy(default_policy().text + EU, "<eu>")
    assert (p.authorisation.required, p.authorisation.urgent_hours) == ("before_or_urgent", 48)
    assert default_policy().authorisation.required == "no"
    with pytest.raises(PolicyError, match=r"authorisation\.required"):
        parse_policy(default_policy().text + '\n[authorisation]\nrequired = "maybe"\n')


def test_eu_urgent_search_past_deadline_is_deleted_with_a_signed_receipt(engine: Engine) -> None:  # noqa: F811
    eu_deadline_flow(engine)


def test_eu_deadline_on_postgres(pg_engine: Engine) -> None:  # noqa: F811
    eu_deadline_flow(pg_engine)


def eu_deadline_flow(db: Engine) -> None:
    key = Ed25519PrivateKey.generate()
    w = eu_world(db, key)
    # no authorisation: the search is refused
    with pytest.raises(RefusedError, match="no granted authorisation"):
        w.search("alice", "C-1", probe_bytes(1))
    urgent = record(w, "alice", NewAuthorisation("urgent"))
    assert urgent.awaiting and urgent.deadline_at is not None
    o = w.search("alice", "C-1", probe_bytes(1))
    w.gov.review("alice", o.search_id, o.candidates[0].face_id, "possible_match", "n")
    standing = standing_query_of(w, o.search_id)
    # the export is refused while the authorisation is awaited
    with pytest.raises(RefusedError, match="cannot be exported"):
        w.gov.case_report("sam", "C-1", "html")
    # before the deadline nothing is enforced
    w.clock.advance(hours=47)
    with w.sessions() as s:
        assert authz.enforce(s, None, "admin", key, w.clock.now) == []  # type: ignore[arg-type]
    w.clock.advance(hours=1, seconds=1)
    receipts = w.gov.run(
        "admin",
        "x",
        {},
        lambda s, a: [r.id for r in authz.enforce(s, a, "admin", key, w.clock.now)],
    )
    assert len(receipts) == 1
    assert count(w, CandidateRow, o.search_id) == 0 and count(w, Review, o.search_id) == 0
    with w.sessions() as s:
        search = s.get(Search, o.search_id)
        assert search is not None and search.results_purged_at is not None
        assert s.get(Probe, search.probe_id).data is None  # type: ignore[union-attr]
        doc = receipt_document(require_receipt(s, receipts[0], "t"))
    with w.sessions() as s:  # a standing query kept from that search is stopped, its copies gone
        q = s.get(StandingQuery, standing)
        assert q is not None and q.status == "stopped" and q.probe is None and q.embedding is None
    body = doc["receipt"]
    assert body["reason"] == "expired" and body["case"] == "C-1"
    assert body["searches"][0]["probe_sha256"] == o.probe_sha256
    assert len(body["searches"][0]["candidates"]) == len(o.candidates)
    assert len(body["searches"][0]["reviews"]) == 1
    assert verify_receipt(json.loads(json.dumps(doc)), key.public_key()) == []
    # altered, or checked under another key: it does not verify
    forged = json.loads(json.dumps(doc))
    forged["receipt"]["searches"] = []
    assert verify_receipt(forged, key.public_key())
    assert verify_receipt(doc, Ed25519PrivateKey.generate().public_key())
    # the receipt is in the log; the urgent use is over: searching is refused again
    assert w.last_entry("authorisation.deletion_receipt").details["receipt_id"] == receipts[0]
    with pytest.raises(RefusedError, match="no granted authorisation"):
        w.search("alice", "C-1", probe_bytes(2))
    # enforcing again finds nothing
    with w.sessions() as s:
        assert authz.enforce(s, None, "admin", key, w.clock.now) == []  # type: ignore[arg-type]


def test_recorded_warrant_ends_urgent_use_and_a_refusal_deletes(engine: Engine) -> None:  # noqa: F811
    w = eu_world(engine, None)
    record(w, "alice", NewAuthorisation("urgent"))
    o = w.search("alice", "C-1", probe_bytes(1))
    with pytest.raises(RefusedError, match="authority is required"):
        record(w, "alice", NewAuthorisation("judicial_warrant"))
    with pytest.raises(RefusedError, match="PDF, JPEG or PNG"):
        record(w, "alice", NewAuthorisation("judicial_warrant", "Court", "W-1", scan=b"zz"))
    refused = record(
        w, "alice", NewAuthorisation("judicial_warrant", "Court", "W-1", granted=False)
    )
    assert refused.status == "refused"
    assert count(w, CandidateRow, o.search_id) == 0
    with w.sessions() as s:
        doc = receipt_document(require_receipt(s, 1, "t"))
    assert (
        doc["signature"] == ""
        and "not signed" in verify_receipt(doc, Ed25519PrivateKey.generate().public_key())[0]
    )
    # a new urgent use, then a granted warrant with its scan: searching goes on, no deadline
    record(w, "alice", NewAuthorisation("urgent"))
    o2 = w.search("alice", "C-1", probe_bytes(2))
    granted = record(
        w, "bob" if False else "sam", NewAuthorisation("judicial_warrant", "Court", "W-2", scan=PDF)
    )
    assert granted.status == "granted" and granted.scan_type == "application/pdf"
    w.clock.advance(days=5)
    with w.sessions() as s:
        assert authz.enforce(s, None, "admin", None, w.clock.now) == []  # type: ignore[arg-type]
    assert count(w, CandidateRow, o2.search_id) > 0
    o3 = w.search("alice", "C-1", probe_bytes(3))
    rec = w.gov.run("sam", "r", {}, lambda s, a: search_record(s, a, "sam", o3.search_id))
    assert (
        rec["authorisation"]["id"] == granted.id
        and rec["authorisation"]["kind"] == "judicial_warrant"
    )
    assert rec["started_at"] <= rec["ended_at"] and rec["collections"] == "all"
    assert rec["probe"]["sha256"] == o3.probe_sha256 and rec["candidates"]
    assert isinstance(rec["gallery_generation"], int)
    # a supervisor other than the recorder validates
    with pytest.raises(RefusedError, match="cannot validate"):
        w.gov.run("sam", "v", {}, lambda s, a: authz.validate(s, a, "sam", granted.id, w.clock.now))
    v = w.gov.run("sue", "v", {}, lambda s, a: authz.validate(s, a, "sue", granted.id, w.clock.now))
    assert v.validated_by == "sue"


def test_no_policy_requirement_searches_freely(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine)
    open_approved_case(w)
    o = w.search("alice", "C-1", probe_bytes(1))
    with pytest.raises(RefusedError, match="does not allow urgent use"):
        record(w, "alice", NewAuthorisation("urgent"))
    rec = w.gov.run("alice", "r", {}, lambda s, a: search_record(s, a, "alice", o.search_id))
    assert rec["authorisation"] is None and rec["verifiers"] == []
