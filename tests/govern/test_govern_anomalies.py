"""The anomaly rules (govern/anomalies.py) on seeded entries, each flagged when it should be and
not when it should not; and the oversight report's figures by case (a refused request for a
case that does not exist is not a case)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from tests.support.govern import (  # noqa: F401
    World,
    engine,
    make_world,
    open_approved_case,
    probe_bytes,
)

from facesearch.govern.anomalies import Anomaly, AnomalyRules, detect
from facesearch.govern.audit import Entry, format_ts
from facesearch.govern.oversight import UNKNOWN_CASE

MONDAY = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)  # a Monday, in working hours
RULES = AnomalyRules()


class Log:
    """Entries made by hand, in order, at times given relative to MONDAY."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def add(
        self, actor: str, action: str, case: str | None = None, *, at: timedelta, **details: Any
    ) -> Entry:
        e = Entry(
            len(self.entries) + 1,
            format_ts(MONDAY + at),
            actor,
            action,
            case,
            {"case": case, **details} if case else details,
            "0" * 64,
            "0" * 64,
        )
        self.entries.append(e)
        return e

    def search(self, actor: str, case: str, at: timedelta, shown: int = 5) -> Entry:
        sid = len(self.entries) + 100
        cands = [{"face_id": i} for i in range(shown)]
        return self.add(actor, "search", case, at=at, search_id=sid, candidates=cands)

    def detect(self, now: timedelta = timedelta(hours=8)) -> list[Anomaly]:
        return detect(self.entries, RULES, MONDAY + now)


def rules_of(found: list[Anomaly], actor: str | None = None) -> list[str]:
    return [a.rule for a in found if actor is None or a.actor == actor]


H = timedelta(hours=1)
M = timedelta(minutes=1)
D = timedelta(days=1)


def test_a_mistyped_password_and_single_refusals_are_not_anomalies() -> None:
    log = Log()
    log.add("alice", "authenticate.refused", at=0 * H, reason="wrong password")
    log.add("(anonymous)", "http.refused", at=1 * M, reason="not signed in", path="/")
    log.add("alice", "case.view.refused", "C-404", at=2 * M, reason="no case 'C-404'")
    log.add("alice", "login", at=3 * M)
    assert log.detect() == []


def test_login_burst_is_flagged_but_not_a_few_failures_spread_out() -> None:
    log = Log()
    for i in range(4):  # four failures an hour apart: typos
        log.add("bob", "authenticate.refused", at=i * H, reason="wrong password")
    for i in range(5):  # five within four minutes: guessing
        log.add("mallory", "authenticate.refused", at=i * M, reason="wrong password")
    found = log.detect()
    assert rules_of(found) == ["login_burst"] and found[0].actor == "mallory"
    assert len(found[0].seqs) == 5 and "guessing" in found[0].why
    # a rate-limited flood written as one summary counts its refusals
    log2 = Log()
    log2.add("eve", "authenticate.refused", at=0 * M, reason="too many failed logins")
    log2.add("eve", "authenticate.refused.summary", at=1 * M, count=9)
    assert rules_of(log2.detect()) == ["login_burst"]


def test_repeated_refused_searches_by_one_user() -> None:
    log = Log()
    for i in range(3):
        log.add("carol", "search.refused", "C-2", at=i * 5 * M, reason="not assigned")
    log.add("dave", "search.refused", "C-2", at=0 * M, reason="not assigned")
    log.add("dave", "search.refused", "C-2", at=3 * H, reason="not assigned")
    for i in range(5):  # refusals of anonymous requests are not a user's
        log.add("(anonymous)", "search.refused", at=i * M, reason="not signed in")
    found = log.detect()
    assert rules_of(found) == ["repeated_refusals"]
    assert found[0].actor == "carol" and found[0].case == "C-2" and len(found[0].seqs) == 3


def test_searches_never_reviewed() -> None:
    log = Log()
    old = log.search("ivy", "C-1", at=-10 * D)
    reviewed = log.search("ivy", "C-1", at=-9 * D)
    log.add("ivy", "review", "C-1", at=-9 * D + H, search_id=reviewed.details["search_id"])
    log.search("ivy", "C-1", at=-1 * D)  # recent: not yet due
    log.search("ivy", "C-1", at=-12 * D, shown=0)  # nothing shown, nothing to review
    found = [a for a in log.detect(now=0 * H) if a.rule == "unreviewed"]
    assert len(found) == 1
    assert found[0].seqs == (old.seq,) and found[0].actor == "ivy" and found[0].case == "C-1"
    assert found[0].searches == (old.details["search_id"],)


def test_reveal_rate_far_above_the_others() -> None:
    log = Log()
    for user in ("ann", "ben", "cat"):
        s = log.search(user, "C-1", at=0 * H, shown=10)
        log.add(user, "face.reveal", "C-1", at=H, search_id=s.details["search_id"], face_id=1)
    s = log.search("rex", "C-1", at=0 * H, shown=10)
    for f in range(6):
        log.add("rex", "face.reveal", "C-1", at=H, search_id=s.details["search_id"], face_id=f)
    found = [a for a in log.detect() if a.rule == "reveal_rate"]
    assert [a.actor for a in found] == ["rex"]
    assert "6 of 10" in found[0].message and "median is 10%" in found[0].why
    assert found[0].searches == (s.details["search_id"],)


def test_out_of_hours_searches() -> None:
    log = Log()
    log.search("ivy", "C-1", at=0 * H)  # Monday 10:00
    log.search("ivy", "C-1", at=8 * H + 59 * M)  # Monday 18:59
    night = log.search("nat", "C-1", at=12 * H)  # Monday 22:00
    weekend = log.search("nat", "C-1", at=-2 * D)  # Saturday 10:00
    found = [a for a in log.detect(now=2 * D) if a.rule == "out_of_hours"]
    assert [a.actor for a in found] == ["nat"]
    assert set(found[0].seqs) == {night.seq, weekend.seq} and "07:00-19:00" in found[0].why


def test_one_investigator_across_many_cases_in_a_short_time() -> None:
    log = Log()
    for i, case in enumerate(["C-1", "C-2", "C-3", "C-4"]):
        log.search("hop", case, at=i * H)
    for i, case in enumerate(["C-1", "C-2", "C-3", "C-4"]):  # a case every other day
        log.search("slow", case, at=i * 2 * D)
    log.search("busy", "C-1", at=0 * H)
    log.search("busy", "C-1", at=H)
    log.search("busy", "C-2", at=2 * H)
    found = [a for a in log.detect(now=8 * D) if a.rule == "many_cases"]
    assert [a.actor for a in found] == ["hop"] and "4 cases" in found[0].message


@pytest.fixture
def world(engine: Engine) -> World:  # noqa: F811
    w = make_world(engine)
    open_approved_case(w, "C-1")
    return w


def test_report_counts_only_existing_cases_and_flags_no_typo(world: World) -> None:
    w = world
    w.search("alice", "C-1", probe_bytes(1))
    w.gov.log_refusal("alice", "authenticate", "wrong password")
    w.gov.log_refusal("alice", "case.view", "no case 'C-1x'", {"case": "C-1x"})
    rep = w.gov.oversight_report("audrey")
    assert set(rep.by_case) == {"C-1", UNKNOWN_CASE}
    assert rep.by_case[UNKNOWN_CASE]["refused"] == 1 and rep.by_case["C-1"]["searches"] == 1
    as_dict = rep.as_dict()
    assert as_dict["anomalies"] == [] and rep.totals["refused"] == 2
