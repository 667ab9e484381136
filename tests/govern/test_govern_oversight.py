from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from tests.support.govern import (  # noqa: F401
    T0,
    World,
    allow_tampering,
    engine,
    make_world,
    open_approved_case,
    policy_with,
    probe_bytes,
)

from facesearch.govern import RefusedError
from facesearch.govern.audit import AuditLog


@pytest.fixture
def busy(engine: Engine) -> World:  # noqa: F811
    policy = policy_with(
        **{
            "max_searches_per_case = 50": "max_searches_per_case = 4",
            "max_searches_per_case_per_day = 15": "max_searches_per_case_per_day = 2",
        }
    )
    w = make_world(engine, policy)
    open_approved_case(w, "C-1")
    w.gov.open_case("bob", "C-2", "cse-victim-id", "Order 55", "Identify a child victim")
    w.gov.approve_case("sue", "C-2")
    # C-1: 3 searches on day one, 2 the next day (5 in all: over both limits)
    for _ in range(3):
        w.search("alice", "C-1", probe_bytes(3))
        w.clock.advance(minutes=10)
    w.clock.advance(days=1)
    for _ in range(2):
        o = w.search("alice", "C-1", probe_bytes(4))
        w.clock.advance(minutes=10)
    w.gov.review("alice", o.search_id, o.candidates[0].face_id, "possible_match")
    w.search("bob", "C-2", probe_bytes(1))
    with pytest.raises(RefusedError):
        w.search("bob", "C-1", probe_bytes(1))  # not assigned
    w.gov.case_report("audrey", "C-2", "html")
    w.gov.close_case("sam", "C-1")
    return w


def test_figures_by_user_case_purpose_and_period(busy: World) -> None:
    rep = busy.gov.oversight_report("audrey", period="day")
    assert rep.chain.ok
    assert rep.totals["searches"] == 6 and rep.totals["refused"] == 1
    assert rep.totals["reviews"] == 1 and rep.totals["possible_matches"] == 1
    assert rep.totals["exports"] == 1
    assert rep.by_user["alice"]["searches"] == 5 and rep.by_user["bob"]["searches"] == 1
    assert rep.by_user["bob"]["refused"] == 1
    assert rep.by_case["C-1"]["searches"] == 5 and rep.by_case["C-2"]["searches"] == 1
    assert rep.by_purpose["threat-to-life"]["searches"] == 5
    assert rep.by_purpose["cse-victim-id"]["searches"] == 1
    assert rep.by_period["2024-03-01"]["searches"] == 3
    assert rep.by_period["2024-03-02"]["searches"] == 3
    assert rep.by_user["alice"]["candidates_shown"] == 10
    assert busy.last_entry().action == "audit.report"
    as_dict = rep.as_dict()
    assert as_dict["totals"]["searches"] == 6 and as_dict["chain"]["ok"]
    assert "anomalies" in rep.to_text()


def test_period_filter(busy: World) -> None:
    rep = busy.gov.oversight_report("audrey", start=T0 + timedelta(days=1), period="month")
    assert rep.totals["searches"] == 3
    assert rep.by_purpose["threat-to-life"]["searches"] == 2  # purpose known from earlier entries


def test_anomalies(busy: World) -> None:
    rep = busy.gov.oversight_report("audrey")
    rules = [a.rule for a in rep.anomalies]
    assert "refused" not in rules  # one refused search is not an anomaly
    # the second day is a Saturday: those searches are out of hours
    weekend = {a.actor: a for a in rep.anomalies if a.rule == "out_of_hours"}
    assert set(weekend) == {"alice", "bob"} and len(weekend["alice"].seqs) == 2
    assert all(a.why for a in rep.anomalies)  # each says why it is flagged
    assert all(len(a.searches) == len(a.seqs) for a in weekend.values())  # and links them
    assert "why: working hours are 07:00-19:00 UTC" in rep.to_text()
    many = [a for a in rep.anomalies if a.rule == "many_searches"]
    assert {a.case for a in many} == {"C-1"}
    assert any("5 searches in the period (limit 4)" in a.message for a in many)
    assert any("3 searches on 2024-03-01 (limit 2 a day)" in a.message for a in many)
    assert "outside_case_dates" not in rules and "unassigned" not in rules


def test_searches_outside_case_dates_unassigned_or_without_case(busy: World) -> None:
    # Searches recorded by some other path (a script, a tampered database) are flagged.
    busy.clock.advance(hours=1)
    with busy.sessions() as s:
        log = AuditLog(s, busy.clock)
        after_close = log.record("alice", "search", {"case": "C-1", "candidates": []})
        by_stranger = log.record("bob", "search", {"case": "C-1", "candidates": []})
        no_case = log.record("alice", "search", {"candidates": []})
        unknown = log.record("alice", "search", {"case": "C-99", "candidates": []})
        s.commit()
    rep = busy.gov.oversight_report("audrey")
    flagged = {(a.rule, a.seqs[0]) for a in rep.anomalies}
    assert ("outside_case_dates", after_close.seq) in flagged
    assert ("outside_case_dates", by_stranger.seq) in flagged
    assert ("unassigned", by_stranger.seq) in flagged
    assert ("no_case", no_case.seq) in flagged
    assert ("no_case", unknown.seq) in flagged


def test_search_before_approval_is_flagged(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine)
    w.gov.open_case("alice", "C-5", "threat-to-life", "W-5", "a long enough reason")
    with w.sessions() as s:
        early = AuditLog(s, w.clock).record("alice", "search", {"case": "C-5", "candidates": []})
        s.commit()
    w.clock.advance(hours=1)
    w.gov.approve_case("sam", "C-5")
    rep = w.gov.oversight_report("audrey")
    assert any(a.rule == "outside_case_dates" and a.seqs == (early.seq,) for a in rep.anomalies)


def test_broken_chain_is_an_anomaly(busy: World, engine: Engine) -> None:  # noqa: F811
    allow_tampering(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE gov_audit SET actor = 'nobody' WHERE seq = 12"))
    rep = busy.gov.oversight_report("audrey")
    assert not rep.chain.ok and rep.anomalies[0].rule == "audit_chain"
    with pytest.raises(RefusedError, match="lacks the role"):
        busy.gov.oversight_report("alice")
