"""Supervision in the library (issue 23): a rejected case amended and resubmitted by its
requester, its history read back from the audit log, the supervisor's count and picker, and
the identifications across open cases; the same rules on PostgreSQL for the history."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from tests.support.govern import (  # noqa: F401
    World,
    engine,
    make_world,
    open_approved_case,
    pg_engine,
    policy_with,
    probe_bytes,
    world,
)

from facesearch.govern import RefusedError

NOT_NEEDED = {
    'name = "imminent threat to life or grievous bodily harm"\nrequires_approval = true': (
        'name = "imminent threat to life or grievous bodily harm"\nrequires_approval = false'
    )
}


def _rejected(w: World, number: str = "C-1") -> None:
    w.gov.open_case("alice", number, "cse-victim-id", "Warrant 1", "victim seen on a phone")
    w.clock.advance(minutes=1)
    w.gov.reject_case("sam", number, "which warrant? attach it")
    w.clock.advance(minutes=1)


def _history(w: World, number: str = "C-1") -> list[tuple[str, str, str | None]]:
    summary, _ = w.gov.show_case("sam", number)
    return [(e.event, e.actor, e.note) for e in summary.history]


def test_resubmit_rules_and_history(world: World) -> None:  # noqa: F811
    w, gov = world, world.gov
    _rejected(w)
    ask = ("cse-victim-id", "Warrant 1/2026, attached", "victim seen on a phone")
    with pytest.raises(RefusedError, match="only the requester"):
        gov.resubmit_case("sam", "C-1", *ask)
    with pytest.raises(RefusedError, match="not assigned"):  # bob may not read it (HTTP: 404)
        gov.resubmit_case("bob", "C-1", *ask)
    with pytest.raises(RefusedError, match="lacks the role"):
        gov.resubmit_case("audrey", "C-1", *ask)
    with pytest.raises(RefusedError, match="legal authority"):
        gov.resubmit_case("alice", "C-1", "cse-victim-id", " ", "victim seen on a phone")
    assert gov.show_case("alice", "C-1")[0].status == "rejected"  # nothing changed
    # a search is refused while the case is rejected, and while it is pending again
    with pytest.raises(RefusedError, match="was rejected"):
        w.search("alice", "C-1", probe_bytes(1))
    out = gov.resubmit_case("alice", "C-1", *ask, note="warrant attached")
    assert out.status == "pending" and out.legal_authority == "Warrant 1/2026, attached"
    assert out.decided_by is None and out.decision_note is None
    assert out.resubmissions == 1 and out.last_rejection is not None
    assert out.last_rejection.by == "sam" and out.last_rejection.note == "which warrant? attach it"
    with pytest.raises(RefusedError, match="awaiting a supervisor's approval"):
        w.search("alice", "C-1", probe_bytes(1))
    with pytest.raises(RefusedError, match="is pending: only a rejected case"):
        gov.resubmit_case("alice", "C-1", *ask)
    # rejected again, resubmitted again, approved: every step in the history, in order
    gov.reject_case("sue", "C-1", "still no date on the warrant")
    out = gov.resubmit_case("alice", "C-1", "cse-victim-id", "Warrant 1/2026 of 3 May", ask[2])
    assert out.resubmissions == 2 and out.last_rejection is not None
    assert out.last_rejection.note == "still no date on the warrant"
    gov.approve_case("sam", "C-1", "ok now")
    assert _history(w) == [
        ("requested", "alice", None),
        ("assigned", "alice", None),
        ("rejected", "sam", "which warrant? attach it"),
        ("amended", "alice", None),
        ("resubmitted", "alice", "warrant attached"),
        ("rejected", "sue", "still no date on the warrant"),
        ("amended", "alice", None),
        ("resubmitted", "alice", None),
        ("approved", "sam", "ok now"),
    ]
    amended = gov.show_case("alice", "C-1")[0].history[3]
    assert [(c.field, c.before, c.after) for c in amended.changes] == [
        ("legal_authority", "Warrant 1", "Warrant 1/2026, attached")
    ]
    assert w.search("alice", "C-1", probe_bytes(1)).candidates
    actions = w.audit_actions()
    assert actions.count("case.resubmit") == 2 and actions.count("case.amend") == 2
    assert actions.count("case.resubmit.refused") == 5


def test_a_resubmitted_case_waits_for_a_supervisor_whatever_its_purpose(
    engine: Engine,  # noqa: F811
) -> None:
    w = make_world(engine, policy_with(**NOT_NEEDED))
    _rejected(w)
    # threat-to-life needs no approval in this policy, but a rejected request is decided
    out = w.gov.resubmit_case("alice", "C-1", "threat-to-life", "Order 9", "victim seen on a phone")
    assert out.status == "pending" and out.purpose_key == "threat-to-life"
    with pytest.raises(RefusedError, match="awaiting a supervisor's approval"):
        w.search("alice", "C-1", probe_bytes(1))


def test_supervisor_count_and_picker(world: World) -> None:  # noqa: F811
    w, gov = world, world.gov
    assert gov.pending_count("sam") == 0
    _rejected(w)
    w.gov.open_case("bob", "C-2", "cse-victim-id", "Warrant 2", "victim seen on a phone")
    assert gov.pending_count("sue") == 1
    with pytest.raises(RefusedError, match="lacks the role"):
        gov.pending_count("alice")
    assert [i.username for i in gov.assignable("sam", "C-2")] == ["alice"]
    with pytest.raises(RefusedError, match="is rejected"):
        gov.assignable("sam", "C-1")
    with pytest.raises(RefusedError, match="lacks the role"):
        gov.assignable("bob", "C-2")


def test_history_on_postgresql(pg_engine: Engine) -> None:  # noqa: F811
    w = make_world(pg_engine)
    _rejected(w)
    w.gov.resubmit_case("alice", "C-1", "threat-to-life", "Warrant 1", "victim seen on a phone")
    assert [e for e, _a, _n in _history(w)] == [
        "requested",
        "assigned",
        "rejected",
        "amended",
        "resubmitted",
    ]
    assert w.gov.list_cases("sam", "pending")[0].resubmissions == 1


def test_identifications_across_open_cases(world: World) -> None:  # noqa: F811
    w, gov = world, world.gov
    open_approved_case(w)
    gov.assign("sam", "C-1", "bob")
    out = w.search("alice", "C-1", probe_bytes(1))
    face = out.candidates[0].face_id
    gov.review("alice", out.search_id, face, "possible_match", "same mole")
    assert [(i.case, i.status) for i in gov.identifications_across("sam", "possible_match")] == [
        ("C-1", "possible_match")
    ]
    assert gov.identifications_across("sam", "disputed") == []
    gov.verify("bob", out.search_id, face, "reject", "different ear")
    (d,) = gov.identifications_across("sue", "disputed")
    assert d.case == "C-1" and d.face_id == face and d.verifications_hidden == 1
    with pytest.raises(RefusedError, match="lacks the role"):
        gov.identifications_across("alice", "disputed")
    with pytest.raises(RefusedError, match="status must be one of"):
        gov.identifications_across("sam", "bogus")
    gov.close_case("sam", "C-1", "done")
    assert gov.identifications_across("sam", "disputed") == []  # open cases only


def test_oversight_counts_a_resubmitted_case_under_its_new_purpose(world: World) -> None:  # noqa: F811
    w, gov = world, world.gov
    _rejected(w)  # requested for cse-victim-id
    gov.resubmit_case("alice", "C-1", "threat-to-life", "Order 9", "victim seen on a phone")
    gov.approve_case("sam", "C-1", "ok")
    w.search("alice", "C-1", probe_bytes(1))
    rep = gov.oversight_report("audrey")
    assert rep.by_purpose["threat-to-life"]["searches"] == 1
    assert rep.by_purpose["cse-victim-id"]["searches"] == 0


def test_many_cases_listed_with_their_resubmissions(
    world: World,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from facesearch.govern import case_history

    _rejected(world, "C-1")
    world.gov.resubmit_case("alice", "C-1", "cse-victim-id", "Warrant 2", "victim seen on a phone")
    _rejected(world, "C-2")
    monkeypatch.setattr(case_history, "MAX_NAMED_CASES", 1)  # as if there were thousands
    listed = {c.number: (c.resubmissions, c.status) for c in world.gov.list_cases("sam")}
    assert listed == {"C-1": (1, "pending"), "C-2": (0, "rejected")}
