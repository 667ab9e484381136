from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from tests.support.govern import (  # noqa: F401
    World,
    add_user_approved,
    engine,
    make_world,
    open_approved_case,
    policy_with,
    probe_bytes,
    world,
)

from facesearch.govern import RefusedError, Role


def _open(w: World, number: str = "C-1", who: str = "alice") -> None:
    w.gov.open_case(who, number, "threat-to-life", "Warrant 2024/117", "Suspect seen on CCTV")


def test_search_outside_an_approved_case_is_refused_and_logged(world: World) -> None:  # noqa: F811
    gov = world.gov
    # no such case
    with pytest.raises(RefusedError, match="no case 'C-404'"):
        world.search("alice", "C-404", probe_bytes(1))
    refusal = world.last_entry()
    assert refusal.action == "search.refused" and refusal.actor == "alice"
    assert refusal.case_number == "C-404" and "no case" in refusal.details["reason"]
    # pending approval
    _open(world)
    with pytest.raises(RefusedError, match="awaiting a supervisor's approval"):
        world.search("alice", "C-1", probe_bytes(1))
    assert world.last_entry().action == "search.refused"
    assert world.last_entry().details["probe_sha256"]  # what was asked is recorded
    assert world.backend.calls == []  # the engine was never asked
    # rejected
    _open(world, "C-2")
    gov.reject_case("sam", "C-2", "not proportionate")
    with pytest.raises(RefusedError, match="was rejected"):
        world.search("alice", "C-2", probe_bytes(1))
    # approved, but the searcher is not assigned
    gov.approve_case("sam", "C-1")
    with pytest.raises(RefusedError, match="not assigned"):
        world.search("bob", "C-1", probe_bytes(1))
    # a supervisor cannot search
    with pytest.raises(RefusedError, match="lacks the role"):
        world.search("sam", "C-1", probe_bytes(1))
    # assigned: allowed
    gov.assign("sam", "C-1", "bob")
    assert world.search("bob", "C-1", probe_bytes(1)).candidates
    # closed
    gov.close_case("sam", "C-1", "suspect found")
    with pytest.raises(RefusedError, match="is closed"):
        world.search("alice", "C-1", probe_bytes(1))
    actions = world.audit_actions()
    assert actions.count("search.refused") == 6 and actions.count("search") == 1
    assert len(world.backend.calls) == 1


def test_requester_cannot_approve_own_case(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine)
    add_user_approved(w.gov, "admin", "carol", [Role.SUPERVISOR, Role.INVESTIGATOR], None)
    _open(w, "C-7", who="carol")
    with pytest.raises(RefusedError, match="requested case 'C-7' and cannot decide"):
        w.gov.approve_case("carol", "C-7")
    last = w.last_entry()
    assert last.action == "case.approve.refused" and last.actor == "carol"
    with pytest.raises(RefusedError, match="cannot decide"):
        w.gov.reject_case("carol", "C-7", "changed my mind")
    with pytest.raises(RefusedError, match="lacks the role"):
        w.gov.approve_case("alice", "C-7")  # investigators cannot approve
    summary = w.gov.approve_case("sam", "C-7", "ok")
    assert summary.status == "open" and summary.decided_by == "sam"
    with pytest.raises(RefusedError, match="not pending"):
        w.gov.approve_case("sue", "C-7")


def test_case_needs_allowed_purpose_authority_and_justification(world: World) -> None:  # noqa: F811
    gov = world.gov
    with pytest.raises(RefusedError, match="not allowed by the policy"):
        gov.open_case("alice", "C-1", "shoplifting", "W-1", "a long enough reason")
    with pytest.raises(RefusedError, match="legal authority"):
        gov.open_case("alice", "C-1", "threat-to-life", " ", "a long enough reason")
    with pytest.raises(RefusedError, match="justification"):
        gov.open_case("alice", "C-1", "threat-to-life", "W-1", "")
    with pytest.raises(RefusedError, match="lacks the role"):
        gov.open_case("audrey", "C-1", "threat-to-life", "W-1", "a long enough reason")
    s = gov.open_case(
        "alice",
        "C-1",
        "victim identification in a child sexual exploitation investigation",
        "W-1",
        "a long enough reason",
    )
    assert s.purpose_key == "cse-victim-id" and s.status == "pending" and s.assigned == ("alice",)
    with pytest.raises(RefusedError, match="already exists"):
        gov.open_case("bob", "C-1", "threat-to-life", "W-1", "a long enough reason")
    assert world.audit_actions().count("case.open.refused") == 5


def test_purpose_without_approval_opens_at_once(engine: Engine) -> None:  # noqa: F811
    policy = policy_with(
        **{
            'name = "imminent threat to life or grievous bodily harm"\nrequires_approval = true': (
                'name = "imminent threat to life or grievous bodily harm"\n'
                "requires_approval = false"
            )
        }
    )
    w = make_world(engine, policy)
    s = w.gov.open_case("alice", "C-1", "threat-to-life", "W-1", "a long enough reason")
    assert s.status == "open" and s.opened_at is not None and s.decided_by is None
    assert w.search("alice", "C-1", probe_bytes(1)).candidates


def test_assignment_rules_and_unassign(world: World) -> None:  # noqa: F811
    gov = world.gov
    open_approved_case(world)
    with pytest.raises(RefusedError, match="not an investigator"):
        gov.assign("sam", "C-1", "audrey")
    with pytest.raises(RefusedError, match="lacks the role"):
        gov.assign("alice", "C-1", "bob")
    gov.assign("sam", "C-1", "bob")
    with pytest.raises(RefusedError, match="already assigned"):
        gov.assign("sam", "C-1", "bob")
    world.search("bob", "C-1", probe_bytes(2))
    gov.unassign("sue", "C-1", "bob")
    with pytest.raises(RefusedError, match="not assigned"):
        world.search("bob", "C-1", probe_bytes(2))


def test_closing_and_reading_cases(world: World) -> None:  # noqa: F811
    gov = world.gov
    open_approved_case(world)
    with pytest.raises(RefusedError, match="only a supervisor or the case's requester"):
        gov.close_case("bob", "C-1")
    with pytest.raises(RefusedError, match="not assigned"):
        gov.show_case("bob", "C-1")
    assert [c.number for c in gov.list_cases("bob")] == []
    assert [c.number for c in gov.list_cases("audrey")] == ["C-1"]
    summary, outcomes = gov.show_case("audrey", "C-1")
    assert summary.number == "C-1" and outcomes == []
    assert world.last_entry().action == "case.view"
    assert gov.close_case("alice", "C-1", "done").status == "closed"
    with pytest.raises(RefusedError, match="already closed"):
        gov.close_case("sam", "C-1")
