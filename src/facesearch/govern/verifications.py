"""Two-person confirmation of an identification (EU AI Act Art. 14(5): no action on a
biometric identification unless two trained people verified it separately).

A candidate's status::

    lead            no current "possible match" review
    possible_match  its latest review says "possible match": awaiting independent verification
    confirmed       the reviewer and ``review.verifications_required - 1`` independent
                    verifiers say so (the policy's ``[review]``; 2 people by default)
    disputed        an independent verifier rejected it (shown to the case's supervisors)

Rules for a verification (checked in the transaction that writes it and its audit entry; a
refusal is logged like every other): the case is open and its results not purged; the
candidate's latest review is "possible match"; the verifier is an investigator assigned to the
case or a supervisor (as for reviews: auditors and administrators cannot verify), did not run
the search and did not make a possible-match review of that candidate. One verdict per verifier
per candidate counts: a later one supersedes theirs (the audit entry names the one it
supersedes); every verdict is kept and listed.

Independence: until a person who may verify a candidate has recorded their own verdict, what
they are shown of it (:func:`for_viewer`: the search results, the case's identifications, the
case report) withholds the other examiners' names and notes (each review's decision stays, so
they know a possible match awaits them; other verdicts are only counted). The status itself
stays visible: a supervisor must see a dispute, and resolves it by examining it in turn.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from facesearch.govern.audit import AuditLog
from facesearch.govern.cases import OPEN, active_assignment, require_readable_case
from facesearch.govern.errors import RefusedError
from facesearch.govern.policy import Policy
from facesearch.govern.schema import CandidateRow, Case, Review, Search, User, Verification
from facesearch.govern.searches import (
    CandidateView,
    ReviewDecision,
    ReviewView,
    SearchOutcome,
    VerificationView,
    outcome_of,
    require_search,
    searches_of_case,
    shown_candidate,
)
from facesearch.govern.trainings import check_trained
from facesearch.govern.users import Role, has_role, require_user

CONFIRM = "confirm"
REJECT = "reject"
INCONCLUSIVE = "inconclusive"
VERDICTS = (CONFIRM, REJECT, INCONCLUSIVE)

LEAD = "lead"
POSSIBLE_MATCH = "possible_match"
CONFIRMED = "confirmed"
DISPUTED = "disputed"
STATUSES = (LEAD, POSSIBLE_MATCH, CONFIRMED, DISPUTED)
STATUS_LABELS = {
    LEAD: "lead",
    POSSIBLE_MATCH: "possible match (awaiting independent verification)",
    CONFIRMED: "confirmed identification",
    DISPUTED: "disputed (a verifier rejected it)",
}
HIDDEN_TEXT = "awaiting your independent verification"


def parse_verdict(text: str) -> str:
    t = text.strip().lower()
    if t not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}; got {text!r}")
    return t


def _is_possible_match(reviews: Sequence[Review]) -> bool:
    return bool(reviews) and reviews[-1].decision == ReviewDecision.POSSIBLE_MATCH


def _latest_by_verifier(verifs: Sequence[Verification]) -> dict[int, Verification]:
    latest: dict[int, Verification] = {}
    for v in sorted(verifs, key=lambda x: x.id):
        latest[v.verifier_id] = v
    return latest


def _not_independent(search: Search, reviews: Sequence[Review]) -> set[int]:
    """The users whose verdict cannot count: the searcher and every possible-match reviewer."""
    pm = {r.reviewer_id for r in reviews if r.decision == ReviewDecision.POSSIBLE_MATCH}
    return {search.user_id} | pm


def status_of(
    search: Search, reviews: Sequence[Review], verifs: Sequence[Verification], required: int
) -> str:
    """The candidate's status under the policy's ``required`` number of examiners."""
    if not _is_possible_match(reviews):
        return LEAD
    excluded = _not_independent(search, reviews)
    current = [v for uid, v in _latest_by_verifier(verifs).items() if uid not in excluded]
    if any(v.verdict == REJECT for v in current):
        return DISPUTED
    confirms = sum(1 for v in current if v.verdict == CONFIRM)
    return CONFIRMED if 1 + confirms >= required else POSSIBLE_MATCH


def eligibility_problem(
    user: User, case: Case, search: Search, reviews: Sequence[Review]
) -> str | None:
    """Why ``user`` may not verify this candidate (None: they may)."""
    if not (has_role(user, Role.INVESTIGATOR) or has_role(user, Role.SUPERVISOR)):
        return "only investigators and supervisors verify identifications"
    if not has_role(user, Role.SUPERVISOR) and active_assignment(case, user) is None:
        return f"user {user.username!r} is not assigned to case {case.number!r}"
    if search.user_id == user.id:
        return (
            f"user {user.username!r} ran search {search.id}: the searcher cannot verify its "
            "candidates (a second, independent examiner must)"
        )
    if user.id in _not_independent(search, reviews):
        return (
            f"user {user.username!r} reviewed this candidate as a possible match: that "
            "examiner cannot also verify it"
        )
    return None


def _verifications_by_candidate(
    session: Session, search_ids: Sequence[int]
) -> dict[int, list[Verification]]:
    out: dict[int, list[Verification]] = defaultdict(list)
    if not search_ids:
        return out
    rows = session.execute(
        select(Verification)
        .options(selectinload(Verification.verifier))
        .where(Verification.search_id.in_(list(search_ids)))
        .order_by(Verification.id)
    ).scalars()
    for v in rows:
        out[v.candidate_id].append(v)
    return out


def _view(v: Verification, status: str = "") -> VerificationView:
    return VerificationView(v.verdict, v.note, v.basis, v.verifier.username, v.at, status)


def verify_candidate(
    session: Session,
    audit: AuditLog,
    policy: Policy,
    actor: str,
    search_id: int,
    face_id: int,
    verdict: str,
    note: str,
    basis: str,
    now: datetime,
) -> VerificationView:
    """Record ``actor``'s independent verdict on a possible match (the rules: module doc)."""
    action = "verify"
    user = require_user(session, actor, action, {Role.INVESTIGATOR, Role.SUPERVISOR})
    check_trained(session, policy, user, action, now)  # jurisdiction profile: a training
    search = require_search(session, action, search_id)
    case = search.case
    if case.status != OPEN:
        raise RefusedError(
            action, f"case {case.number!r} is {case.status}; verifications need it open"
        )
    try:
        v = parse_verdict(verdict)
    except ValueError as exc:
        raise RefusedError(action, str(exc)) from None
    cand = shown_candidate(search, face_id, action)
    reviews = list(cand.reviews)
    if not _is_possible_match(reviews):
        raise RefusedError(
            action,
            f"face {face_id} in search {search_id} has no current 'possible match' review: "
            "only a possible match is verified",
        )
    problem = eligibility_problem(user, case, search, reviews)
    if problem:
        raise RefusedError(action, problem)
    earlier = _verifications_by_candidate(session, [search.id]).get(cand.id, [])
    previous = _latest_by_verifier(earlier).get(user.id)
    row = Verification(
        candidate_id=cand.id,
        search_id=search.id,
        face_id=cand.face_id,
        verdict=v,
        note=note.strip(),
        basis=basis.strip(),
        verifier=user,
        at=now,
    )
    session.add(row)
    session.flush()
    status = status_of(search, reviews, [*earlier, row], policy.review.verifications_required)
    entry = audit.record(
        actor,
        action,
        {
            "case": case.number,
            "search_id": search.id,
            "face_id": cand.face_id,
            "score": round(cand.score, 6),
            "verdict": v,
            "basis": row.basis,
            # the note is kept with the case's results; the permanent log keeps its hash
            "note_sha256": hashlib.sha256(row.note.encode("utf-8")).hexdigest(),
            "supersedes": None if previous is None else previous.id,
            "status": status,
            "verifications_required": policy.review.verifications_required,
        },
    )
    row.audit_seq = entry.seq
    return _view(row, status)


def for_viewer(
    session: Session, policy: Policy, user: User, outcomes: Sequence[SearchOutcome]
) -> list[SearchOutcome]:
    """``outcomes`` as ``user`` may see them: each candidate's status and verifications, and,
    where ``user`` may verify a possible match and has not yet, the other examiners' names,
    notes and verdicts withheld (module doc). Two queries for any number of searches."""
    ids = [o.search_id for o in outcomes]
    if not ids:
        return []
    rows = session.execute(
        select(CandidateRow)
        .options(selectinload(CandidateRow.reviews).selectinload(Review.reviewer))
        .where(CandidateRow.search_id.in_(ids))
    ).scalars()
    by_key = {(c.search_id, c.face_id): c for c in rows}
    verifs = _verifications_by_candidate(session, ids)
    searches = {
        s.id: s for s in session.execute(select(Search).where(Search.id.in_(ids))).scalars()
    }
    required = policy.review.verifications_required
    out: list[SearchOutcome] = []
    for o in outcomes:
        search = searches[o.search_id]
        cands: list[CandidateView] = []
        for c in o.candidates:
            row = by_key.get((o.search_id, c.face_id))
            if row is None:  # results purged meanwhile
                cands.append(c)
                continue
            cands.append(_candidate_for(user, search, row, verifs.get(row.id, []), c, required))
        out.append(replace(o, candidates=tuple(cands)))
    return out


def _candidate_for(
    user: User,
    search: Search,
    row: CandidateRow,
    verifs: Sequence[Verification],
    c: CandidateView,
    required: int,
) -> CandidateView:
    reviews = list(row.reviews)
    status = status_of(search, reviews, verifs, required)
    eligible = (
        status != LEAD
        and search.case.status == OPEN
        and search.results_purged_at is None
        and eligibility_problem(user, search.case, search, reviews) is None
    )
    mine = [v for v in verifs if v.verifier_id == user.id]
    awaiting = eligible and not mine
    if not awaiting:
        return replace(
            c,
            status=status,
            verifications=tuple(_view(v) for v in verifs),
            can_verify=eligible,
        )
    shown = tuple(
        ReviewView(r.decision, r.note, r.reviewer.username, r.at)
        if r.reviewer_id == user.id
        else ReviewView(r.decision, "", "", r.at, hidden=True)
        for r in reviews
    )
    return replace(
        c,
        reviews=shown,
        status=status,
        verifications=(),
        can_verify=True,
        awaiting_verification=True,
        verifications_hidden=len(verifs),
    )


@dataclass(frozen=True)
class Identification:
    """A candidate of a case's search that is at least a possible match, as a viewer sees it."""

    case: str
    search_id: int
    searcher: str
    searched_at: datetime
    face_id: int
    rank: int
    score: float
    band: str
    status: str
    reviews: tuple[ReviewView, ...]
    verifications: tuple[VerificationView, ...]
    can_verify: bool
    awaiting_verification: bool
    verifications_hidden: int


def identifications_of(
    session: Session, policy: Policy, user: User, case: Case
) -> list[Identification]:
    """Every candidate of the case's searches that is not a mere lead, as ``user`` sees it."""
    outcomes = for_viewer(
        session, policy, user, [outcome_of(s) for s in searches_of_case(session, case)]
    )
    return [
        Identification(
            case.number,
            o.search_id,
            o.user,
            o.at,
            c.face_id,
            c.rank,
            c.score,
            c.band,
            c.status,
            c.reviews,
            c.verifications,
            c.can_verify,
            c.awaiting_verification,
            c.verifications_hidden,
        )
        for o in outcomes
        for c in o.candidates
        if c.status != LEAD
    ]


def list_identifications(
    session: Session,
    audit: AuditLog,
    policy: Policy,
    actor: str,
    number: str,
    status: str | None = None,
) -> list[Identification]:
    """The case's possible matches with their reviews, verifications and status (only one
    ``status`` when given: ``disputed`` is the supervisor's list), for its readers."""
    action = "identifications.view"
    user = require_user(session, actor, action)
    if status is not None and status not in STATUSES:
        raise RefusedError(action, f"status must be one of {', '.join(STATUSES)}; got {status!r}")
    case = require_readable_case(session, user, number, action)
    found = [
        i
        for i in identifications_of(session, policy, user, case)
        if status is None or i.status == status
    ]
    audit.record(
        actor,
        action,
        {
            "case": case.number,
            "status": status,
            "count": len(found),
            "awaiting_verification": sum(1 for i in found if i.awaiting_verification),
        },
    )
    return found
