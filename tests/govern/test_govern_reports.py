"""The reports that leave the system (issue 24, item 7): outcomes of cases, the annual report
(its counts match the log), the public-records export (only the allowed fields), the signed
disclosure bundle (its signature verifies, its contents match the case) and the
accountability report; the oversight report lists suspensions and incidents."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests.support.govern import (  # noqa: F401
    World,
    engine,
    make_world,
    open_approved_case,
    pg_engine,
    probe_bytes,
)

from facesearch.govern import RefusedError
from facesearch.govern import incidents as inc
from facesearch.govern import outcomes as out
from facesearch.govern import public_records as pub
from facesearch.govern.accountability import build_accountability
from facesearch.govern.annual import annual_pdf, build_annual, year_span
from facesearch.govern.audit import AuditLog, entries
from facesearch.govern.disclosure import build_bundle, verify_bundle
from facesearch.govern.oversight import build_report

T = TypeVar("T")


def _run(w: World, actor: str, fn: Callable[[Session, AuditLog], T]) -> T:
    return w.gov.run(actor, "test", {}, fn)


def _outcome(w: World, actor: str, kind: str, case: str = "C-1") -> out.OutcomeView:
    return _run(w, actor, lambda s, a: out.record_outcome(s, a, actor, case, kind, "", w.clock()))


def _activity(w: World) -> tuple[int, int]:
    """A case with two searches, a refused search, a possible match confirmed by a second
    examiner, outcomes, a suspension and an incident; answers (search id, face id)."""
    open_approved_case(w)
    w.gov.assign("sam", "C-1", "bob")
    first = w.search("alice", "C-1", probe_bytes(3))
    w.search("alice", "C-1", probe_bytes(4))
    with pytest.raises(RefusedError):
        w.search("audrey", "C-1", probe_bytes(4))  # an auditor does not search
    face = first.candidates[0].face_id
    w.gov.review("sam", first.search_id, face, "possible_match", "same scar")
    w.gov.verify("bob", first.search_id, face, "confirm")
    _outcome(w, "alice", "suspect_identified")
    _outcome(w, "sam", "arrest")
    _run(w, "admin", lambda s, a: inc.suspend(s, a, "admin", "model fault", w.clock()))
    _run(w, "admin", lambda s, a: inc.resume(s, a, "admin", "fixed", w.clock()))
    new = inc.NewIncident("lead acted on without review", serious=True, case="C-1")
    _run(w, "alice", lambda s, a: inc.record_incident(s, a, "alice", new, w.clock()))
    return first.search_id, face


def test_outcomes_are_recorded_by_the_requester_or_a_supervisor(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine)
    w.gov.open_case("alice", "C-2", "threat-to-life", "warrant", "pending case")
    with pytest.raises(RefusedError, match="is pending"):
        _outcome(w, "alice", "arrest", "C-2")
    open_approved_case(w)
    w.gov.assign("sam", "C-1", "bob")
    made = _outcome(w, "alice", "victim-safeguarded")
    assert (made.kind, made.recorded_by, made.label) == (
        "victim_safeguarded",
        "alice",
        "victim safeguarded",
    )
    with pytest.raises(RefusedError, match="only the case's requester or a supervisor"):
        _outcome(w, "bob", "arrest")
    with pytest.raises(RefusedError, match="lacks the role"):
        _outcome(w, "audrey", "arrest")
    with pytest.raises(RefusedError, match="outcome must be one of"):
        _outcome(w, "sam", "acquittal")
    w.gov.close_case("sam", "C-1", "done")
    _outcome(w, "sam", "conviction")  # recorded at (or after) the case's close
    listed = _run(w, "audrey", lambda s, a: out.list_outcomes(s, "audrey", "C-1"))
    assert [o.kind for o in listed] == ["victim_safeguarded", "conviction"]
    entry = w.last_entry("case.outcome")
    assert entry.case_number == "C-1"
    assert entry.details["kind"] == "conviction" and entry.details["purpose"] == "threat-to-life"
    assert w.audit_actions().count("case.outcome.refused") == 4


def test_the_annual_report_counts_match_the_log(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine)
    _activity(w)
    start, end = year_span(2024)
    w.clock.advance(days=366)  # 2025: a search the 2024 report leaves out
    w.search("alice", "C-1", probe_bytes(5))
    report = _run(w, "audrey", lambda s, a: build_annual(s, start, end, w.clock()))
    with w.sessions() as s:
        log = [e for e in entries(s) if e.ts < "2025"]
    actions = Counter(e.action for e in log)
    totals = report.as_dict()["totals"]
    assert totals["searches"] == actions["search"] == 2
    assert totals["cases_opened"] == actions["case.open"] == 1
    assert totals["refused"] == sum(n for a, n in actions.items() if a.endswith(".refused"))
    assert totals["searches_refused"] == actions["search.refused"] == 1
    assert totals["reviews"] == actions["review"] == 1
    assert totals["possible_matches"] == 1
    confirmed = {
        (e.details["search_id"], e.details["face_id"])
        for e in log
        if e.action == "verify" and e.details["status"] == "confirmed"
    }
    assert totals["identifications_confirmed"] == len(confirmed) == 1
    assert totals["outcomes"] == actions["case.outcome"] == 2
    assert report.as_dict()["outcomes"]["arrest"] == 1
    assert report.as_dict()["outcomes"]["suspect_identified"] == 1
    assert (totals["suspensions"], totals["incidents"], totals["serious_incidents"]) == (1, 1, 1)
    # by offence category (the purpose): the case's
    assert report.as_dict()["by_category"]["threat-to-life"]["searches"] == 2
    # no names, ever; CSV and PDF
    text = report.to_csv()
    for name in ("alice", "sam", "bob", "audrey", "C-1"):
        assert name not in text
    rows = list(csv.reader(io.StringIO(text)))
    assert ["totals", "all", "searches", "2"] in rows
    assert annual_pdf(report, "audrey").startswith(b"%PDF")


def test_the_public_records_export_has_only_the_allowed_fields(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine)
    sid, _ = _activity(w)
    start, end = year_span(2024)
    rows = _run(
        w, "audrey", lambda s, a: pub.public_rows(s, start, end, pub.DEFAULT_FIELDS, "salt")
    )
    assert len(rows) == 2
    assert list(rows[0]) == list(pub.DEFAULT_FIELDS)
    assert rows[0]["reviewed"] == "yes" and rows[1]["reviewed"] == "no"
    assert rows[0]["confirmed"] == 1 and rows[0]["outcomes"] == "suspect_identified;arrest"
    assert rows[0]["case_ref"] == rows[1]["case_ref"] != "C-1"
    text = pub.to_csv(rows, pub.DEFAULT_FIELDS)
    assert "C-1" not in text and "alice" not in text
    few = _run(w, "audrey", lambda s, a: pub.public_rows(s, start, end, ["date", "case"], "x"))
    assert few[0] == {"date": "2024-03-01", "case": "C-1"}
    with pytest.raises(ValueError, match="unknown public-records field"):
        pub.check_fields(["date", "searcher"])
    assert sid


def test_the_disclosure_bundle_verifies_and_matches_the_case(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine)
    sid, face = _activity(w)
    key = Ed25519PrivateKey.generate()
    crops = {"k1": b"crop-bytes"}
    with w.sessions() as s:
        from facesearch.govern.schema import CandidateRow

        s.query(CandidateRow).filter(CandidateRow.face_id == face).update({"crop": "k1"})
        s.commit()
    for who in ("alice", "admin"):
        with pytest.raises(RefusedError):
            _run(
                w,
                who,
                lambda s, a, who=who: build_bundle(
                    s, a, who, "C-1", key, w.clock(), cipher=None, crop=crops.get
                ),
            )
    bundle = _run(
        w,
        "audrey",
        lambda s, a: build_bundle(
            s, a, "audrey", "C-1", key, w.clock(), cipher=None, crop=crops.get
        ),
    )
    assert verify_bundle(bundle.data, key.public_key()) == []
    z = zipfile.ZipFile(io.BytesIO(bundle.data))
    manifest = json.loads(z.read("manifest.json"))
    assert {f["name"] for f in manifest["files"]} | {"manifest.json", "manifest.sig"} == set(
        z.namelist()
    )
    searches = json.loads(z.read("searches.json"))
    assert [x["search_id"] for x in searches] == [sid, sid + 1]
    first = searches[0]
    assert z.read(first["probes"][0]["file"]) == probe_bytes(3)
    assert first["probes"][0]["sha256"] == hashlib.sha256(probe_bytes(3)).hexdigest()
    top = first["candidates"][0]
    assert top["face_id"] == face and z.read(top["crop_file"]) == b"crop-bytes"
    assert [r["decision"] for r in top["reviews"]] == ["possible_match"]
    assert [(v["verdict"], v["verifier"]) for v in top["verifications"]] == [("confirm", "bob")]
    models = json.loads(z.read("models.json"))
    assert models[0]["model"] == first["model"]
    case = json.loads(z.read("case.json"))
    assert case["number"] == "C-1" and [o["kind"] for o in case["outcomes"]] == [
        "suspect_identified",
        "arrest",
    ]
    audit_lines = [json.loads(x) for x in z.read("audit.jsonl").decode().splitlines()]
    with w.sessions() as s:
        logged = [e.seq for e in entries(s, case="C-1")]
    # the bundle holds every entry of the case up to its own export, which is logged after
    assert [x["seq"] for x in audit_lines] == logged[:-1]
    assert w.last_entry().action == "case.disclosure"
    assert w.last_entry().details["manifest_sha256"] == bundle.manifest_sha256
    # a changed file, a wrong key, an added file: each is caught
    assert verify_bundle(bundle.data, Ed25519PrivateKey.generate().public_key())
    altered = io.BytesIO()
    with zipfile.ZipFile(altered, "w") as out_zip:
        for n in z.namelist():
            data = z.read(n)
            out_zip.writestr(n, data.replace(b"possible_match", b"not_a_match"))
        out_zip.writestr("extra.txt", b"x")
    problems = verify_bundle(altered.getvalue(), key.public_key())
    assert any("searches.json was altered" in p for p in problems)
    assert any("extra.txt is not listed" in p for p in problems)


def test_oversight_lists_suspensions_and_incidents_and_accountability(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine)
    _activity(w)
    with w.sessions() as s:
        report = build_report(s, w.gov.policy, now=w.clock())
        acc = build_accountability(s, w.gov.policy, "9.9", datetime(2024, 5, 1, tzinfo=UTC))
    d = report.as_dict()
    assert [x["reason"] for x in d["suspensions"]] == ["model fault"]
    assert [(x["title"], x["serious"]) for x in d["incidents"]] == [
        ("lead acted on without review", True)
    ]
    assert "suspensions of searching (1)" in report.to_text()
    assert "lead acted on without review" in report.to_text()
    a = acc.data
    assert a["version"] == "9.9" and a["oversight"]["incidents"] == 1
    assert a["oversight"]["suspensions"] == 1 and a["policy"]["sha256"] == w.gov.policy.sha256
    recognizer = next(m for m in a["models"] if m["kind"] == "recognizer")
    assert recognizer["measured_accuracy"]["at_thresholds"]["far_1e-03"]["tar"] > 0.9
    assert recognizer["licence"] and len(recognizer["sha256"]) == 64
    assert [s["collection"] for s in a["data_sources"]] == ["web"]
    assert "<h2>Limits</h2>" in acc.to_html() and acc.to_pdf("audrey").startswith(b"%PDF")


def test_the_reports_on_postgresql(pg_engine: Engine) -> None:  # noqa: F811
    w = make_world(pg_engine)
    _activity(w)
    start, end = year_span(2024)
    key = Ed25519PrivateKey.generate()
    with w.sessions() as s:
        annual = build_annual(s, start, end, w.clock())
        acc = build_accountability(s, w.gov.policy, "9.9", w.clock())
        rows = pub.public_rows(s, start, end, pub.FIELDS, "salt")
    assert annual.as_dict()["totals"]["searches"] == 2 == len(rows)
    assert acc.data["data_sources"][0]["images"] > 0
    bundle = _run(
        w,
        "sam",
        lambda s, a: build_bundle(s, a, "sam", "C-1", key, w.clock(), cipher=None, crop=dict().get),
    )
    assert verify_bundle(bundle.data, key.public_key()) == []
