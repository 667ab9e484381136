"""Two-person confirmation of an identification (issue 23): a possible match becomes a
confirmed identification only when a second examiner, who neither ran the search nor made the
review, confirms it without having seen the first verdict; a rejection makes it disputed."""

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
from facesearch.govern.errors import PolicyError
from facesearch.govern.policy import default_policy, parse_policy

NOTE = "same scar on the left cheek"


def _possible_match(w: World) -> tuple[int, int]:
    """alice (assigned, the searcher) searches; sam (a supervisor) reviews the top candidate
    as a possible match; bob is assigned as the second investigator."""
    open_approved_case(w)
    w.gov.assign("sam", "C-1", "bob")
    o = w.search("alice", "C-1", probe_bytes(3))
    face = o.candidates[0].face_id
    w.gov.review("sam", o.search_id, face, "possible_match", NOTE)
    return o.search_id, face


def _cand(w: World, actor: str, search_id: int, face: int) -> object:
    return next(c for c in w.gov.view_search(actor, search_id).candidates if c.face_id == face)


def test_the_searcher_and_the_reviewer_cannot_verify(world: World) -> None:  # noqa: F811
    sid, face = _possible_match(world)
    with pytest.raises(RefusedError, match=r"ran search .* the searcher cannot verify"):
        world.gov.verify("alice", sid, face, "confirm")
    with pytest.raises(RefusedError, match="reviewed this candidate as a possible match"):
        world.gov.verify("sam", sid, face, "confirm")
    assert world.audit_actions().count("verify.refused") == 2
    assert world.last_entry("verify.refused").details["reason"].startswith("user 'sam'")


def test_auditor_admin_and_unassigned_cannot_verify(world: World) -> None:  # noqa: F811
    sid, face = _possible_match(world)
    world.gov.unassign("sam", "C-1", "bob")
    for who in ("audrey", "admin", "bob"):
        with pytest.raises(RefusedError):
            world.gov.verify(who, sid, face, "confirm")
    assert "not assigned" in world.last_entry("verify.refused").details["reason"]


def test_only_a_current_possible_match_is_verified(world: World) -> None:  # noqa: F811
    open_approved_case(world)
    world.gov.assign("sam", "C-1", "bob")
    o = world.search("alice", "C-1", probe_bytes(3))
    face = o.candidates[0].face_id
    with pytest.raises(RefusedError, match="no current 'possible match' review"):
        world.gov.verify("bob", o.search_id, face, "confirm")
    world.gov.review("alice", o.search_id, face, "possible_match")
    world.gov.review("alice", o.search_id, face, "not_a_match")  # superseded
    with pytest.raises(RefusedError, match="no current 'possible match' review"):
        world.gov.verify("bob", o.search_id, face, "confirm")
    with pytest.raises(RefusedError, match="verdict must be one of"):
        world.gov.verify("bob", o.search_id, face, "probably")


def test_second_investigator_confirms(world: World) -> None:  # noqa: F811
    sid, face = _possible_match(world)
    assert _cand(world, "alice", sid, face).status == "possible_match"
    v = world.gov.verify("bob", sid, face, "confirm", "ear and scar agree", "FISWG morphological")
    assert v.status == "confirmed" and v.verifier == "bob"
    entry = world.last_entry("verify")
    assert entry.actor == "bob" and entry.case_number == "C-1"
    assert entry.details["verdict"] == "confirm" and entry.details["status"] == "confirmed"
    assert entry.details["basis"] == "FISWG morphological" and "note" not in entry.details
    c = _cand(world, "alice", sid, face)
    assert c.status == "confirmed"
    assert [(x.verifier, x.verdict, x.basis) for x in c.verifications] == [
        ("bob", "confirm", "FISWG morphological")
    ]
    found = world.gov.identifications("sam", "C-1")
    assert [(i.search_id, i.face_id, i.status) for i in found] == [(sid, face, "confirmed")]


def test_rejection_disputes_and_a_later_verdict_supersedes(world: World) -> None:  # noqa: F811
    sid, face = _possible_match(world)
    world.gov.verify("bob", sid, face, "reject", "different ear shape")
    assert _cand(world, "alice", sid, face).status == "disputed"
    disputed = world.gov.identifications("sue", "C-1", "disputed")
    assert [(i.face_id, i.status) for i in disputed] == [(face, "disputed")]
    assert world.gov.identifications("sue", "C-1", "confirmed") == []
    v = world.gov.verify("bob", sid, face, "confirm", "second look: same ear")
    assert v.status == "confirmed"
    first_id = world.last_entry("verify").details["supersedes"]
    assert isinstance(first_id, int)
    c = _cand(world, "alice", sid, face)
    assert [x.verdict for x in c.verifications] == ["reject", "confirm"]  # both kept
    # inconclusive neither confirms nor disputes
    world.gov.verify("bob", sid, face, "inconclusive")
    assert _cand(world, "alice", sid, face).status == "possible_match"


def test_the_second_examiner_does_not_see_the_first_verdict(world: World) -> None:  # noqa: F811
    sid, face = _possible_match(world)
    world.gov.verify("sue", sid, face, "reject", "sue's reasons")
    # bob may verify and has not: sam's name and note, and sue's verdict, are withheld
    c = _cand(world, "bob", sid, face)
    assert c.awaiting_verification and c.can_verify
    assert [(r.decision, r.reviewer, r.note, r.hidden) for r in c.reviews] == [
        ("possible_match", "", "", True)
    ]
    assert c.verifications == () and c.verifications_hidden == 1
    (ident,) = world.gov.identifications("bob", "C-1")
    assert ident.awaiting_verification and ident.reviews[0].note == ""
    assert ident.verifications == ()
    listed = world.gov.show_case("bob", "C-1")[1][0].candidates[0]
    assert listed.reviews[0].hidden and listed.reviews[0].reviewer == ""
    report = world.gov.case_report("bob", "C-1").decode()
    assert NOTE not in report and "sue&#x27;s reasons" not in report
    assert "withheld until your own verification" in report
    # the searcher, who cannot verify, and the auditor see everything
    for who in ("alice", "audrey"):
        seen = _cand(world, who, sid, face)
        assert not seen.awaiting_verification and seen.reviews[0].note == NOTE
        assert [x.verifier for x in seen.verifications] == ["sue"]
    # once bob has recorded his own verdict, he sees the others'
    world.gov.verify("bob", sid, face, "confirm")
    c = _cand(world, "bob", sid, face)
    assert not c.awaiting_verification and c.reviews[0].reviewer == "sam"
    assert c.reviews[0].note == NOTE
    assert [x.verifier for x in c.verifications] == ["sue", "bob"]
    assert c.status == "disputed"  # sue's rejection stands until she changes it


def test_report_lists_review_and_both_verifications(world: World) -> None:  # noqa: F811
    sid, face = _possible_match(world)
    world.gov.verify("bob", sid, face, "confirm", "ear agrees", "FISWG morphological comparison")
    html = world.gov.case_report("audrey", "C-1").decode()
    assert "Possible matches and identifications (1; 1 confirmed identifications)" in html
    section = html.split("Possible matches and identifications")[1].split("</table>")[0]
    assert "confirmed identification" in section
    assert "sam" in section and NOTE in section  # the review
    assert "bob" in section and "basis: FISWG morphological comparison" in section
    pdf = world.gov.case_report("audrey", "C-1", "pdf")
    assert pdf.startswith(b"%PDF")


def test_policy_verifications_required(engine: Engine) -> None:  # noqa: F811
    assert default_policy().review.verifications_required == 2
    one = policy_with(**{"verifications_required = 2": "verifications_required = 1"})
    w = make_world(engine, one)
    sid, face = _possible_match(w)
    assert _cand(w, "alice", sid, face).status == "confirmed"  # the review alone suffices
    text = default_policy().text.replace("verifications_required = 2", "verifications_required = 0")
    with pytest.raises(PolicyError, match=r"review\.verifications_required"):
        parse_policy(text)
    without = (
        default_policy().text.replace("[review]", "").replace("verifications_required = 2", "")
    )
    assert parse_policy(without).review.verifications_required == 2


def test_three_examiners_need_two_verifiers(engine: Engine) -> None:  # noqa: F811
    three = policy_with(**{"verifications_required = 2": "verifications_required = 3"})
    w = make_world(engine, three)
    sid, face = _possible_match(w)
    w.gov.verify("bob", sid, face, "confirm")
    assert _cand(w, "alice", sid, face).status == "possible_match"
    w.gov.verify("sue", sid, face, "confirm")
    assert _cand(w, "alice", sid, face).status == "confirmed"


def test_confirmation_on_postgresql(pg_engine: Engine) -> None:  # noqa: F811
    """The same rules and the purge of a closed case's results on PostgreSQL (foreign keys)."""
    w = make_world(pg_engine)
    sid, face = _possible_match(w)
    with pytest.raises(RefusedError):
        w.gov.verify("alice", sid, face, "confirm")
    assert _cand(w, "bob", sid, face).reviews[0].hidden
    assert w.gov.verify("bob", sid, face, "confirm").status == "confirmed"
    assert [i.status for i in w.gov.identifications("sue", "C-1")] == ["confirmed"]
    w.gov.close_case("sam", "C-1")
    w.clock.advance(days=400)
    assert w.gov.purge("admin").reviews_deleted == 1
    assert w.gov.identifications("sue", "C-1") == []
