"""Governed searches and the review of their candidates.

A governed search has three steps, run by the application layer (``facesearch.app.governed``):
:func:`permit_search` (its own transaction) decides whether it may run; the engine searches,
holding no transaction; :func:`record_search` (a second transaction) filters what is shown
(policy band, suppression, maximum count), stores the probe and the candidates for the case,
and records everything in the audit log.

Rules: a search runs only in an ``open`` case, by an active investigator assigned to it, for
a purpose the policy in force still allows. ``k`` is capped at ``search.max_candidates``. A
probe whose quality (as the engine measured it) is below ``search.min_probe_quality`` is
refused, as is one whose quality the engine did not measure when the minimum is above 0.
Candidates in a band weaker than ``search.min_band_shown``, or in a band the policy does not
list, are not shown (counted as ``hidden_below_band``); candidates of suppressed people are not
shown (``hidden_suppressed``). Reviews are accepted while the
case is open, from assigned investigators and supervisors, on candidates that were shown.

Every result carries :data:`LEADS_STATEMENT`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog, as_utc, jsonable
from facesearch.govern.authorisations import authorise_search
from facesearch.govern.cases import (
    OPEN,
    active_assignment,
    is_assigned,
    require_case,
    require_readable_case,
)
from facesearch.govern.collection_basis import check_searchable
from facesearch.govern.errors import RefusedError
from facesearch.govern.incidents import check_not_suspended
from facesearch.govern.overrides import granted_override, override_summary, use_override
from facesearch.govern.overrides_schema import QualityOverride
from facesearch.govern.policy import Policy
from facesearch.govern.probe_quality import quality_refusal
from facesearch.govern.schema import CandidateRow, Case, Probe, Review, Search, User
from facesearch.govern.suppression import SuppressionMatcher, filter_candidates
from facesearch.govern.trainings import check_trained
from facesearch.govern.users import Role, has_role, require_user
from facesearch.search.multiprobe import MultiCandidate, MultiProbeResult
from facesearch.search.scoring import LEADS_NOTICE, SearchCandidate, SearchResult
from facesearch.store import generation
from facesearch.store.crypto import Cipher, maybe_encrypt

LEADS_STATEMENT = LEADS_NOTICE  # one wording everywhere (facesearch.search.scoring)


class ReviewDecision:
    POSSIBLE_MATCH = "possible_match"
    NOT_A_MATCH = "not_a_match"
    INSUFFICIENT_QUALITY = "insufficient_quality"
    # "withdrawn": the reviewer's undo of a first decision (the candidate is unreviewed again;
    # the review it withdraws stays on record, as every review does)
    WITHDRAWN = "withdrawn"
    ALL: ClassVar[tuple[str, ...]] = (POSSIBLE_MATCH, NOT_A_MATCH, INSUFFICIENT_QUALITY)
    RECORDED: ClassVar[tuple[str, ...]] = (*ALL, WITHDRAWN)
    LABELS: ClassVar[dict[str, str]] = {
        POSSIBLE_MATCH: "possible match",
        NOT_A_MATCH: "not a match",
        INSUFFICIENT_QUALITY: "insufficient quality",
        WITHDRAWN: "withdrawn",
    }


def parse_decision(text: str) -> str:
    t = text.strip().lower().replace(" ", "_").replace("-", "_")
    if t not in ReviewDecision.RECORDED:
        raise ValueError(
            f"decision must be one of {', '.join(ReviewDecision.RECORDED)}; got {text!r}"
        )
    return t


EngineResult = SearchResult | MultiProbeResult


def probe_quality(result: EngineResult) -> float | None:
    """Quality (0..1) of the probe face that was searched, if the engine measured it (of a
    multi-probe search: the lowest of its probes', so the minimum applies to every probe)."""
    if isinstance(result, MultiProbeResult):
        return result.probe_quality
    for f in result.probe_faces:
        if f.index == result.face and f.quality is not None:
            return float(f.quality)
    return None


def probe_flags(result: EngineResult) -> tuple[str, ...]:
    """The engine's quality flags of the probe face searched (of a multi-probe search: every
    probe's, for the refusal's words)."""
    if isinstance(result, MultiProbeResult):
        return tuple(f for p in result.probes for f in getattr(p, "flags", ()))
    for f in result.probe_faces:
        if f.index == result.face:
            return tuple(f.flags)
    return ()


@dataclass(frozen=True)
class ReviewView:
    decision: str
    note: str
    reviewer: str
    at: datetime
    # the reviewer and note are withheld from an examiner who has yet to record their own
    # independent verification of this candidate (facesearch.govern.verifications)
    hidden: bool = False


@dataclass(frozen=True)
class VerificationView:
    """An examiner's independent verdict on a possible match (confirm, reject, inconclusive),
    with the basis of their comparison; ``status`` is the candidate's after it was recorded."""

    verdict: str
    note: str
    basis: str
    verifier: str
    at: datetime
    status: str = ""


@dataclass(frozen=True)
class CandidateView:
    rank: int
    face_id: int
    score: float
    band: str
    image_sha256: str | None
    provenance: list[dict[str, Any]]
    crop: str | None
    reviews: tuple[ReviewView, ...] = ()
    # two-person confirmation (facesearch.govern.verifications.for_viewer fills these in):
    # lead | possible_match | confirmed | disputed; the verifications the viewer may see;
    # whether the viewer may verify it, and whether they are yet to (others' verdicts hidden)
    status: str = "lead"
    verifications: tuple[VerificationView, ...] = ()
    can_verify: bool = False
    awaiting_verification: bool = False
    verifications_hidden: int = 0

    @property
    def decision(self) -> str | None:
        """The latest review decision, if any (none once the latest withdrew the one before)."""
        latest = self.reviews[-1].decision if self.reviews else None
        return None if latest == ReviewDecision.WITHDRAWN else latest


@dataclass(frozen=True)
class SearchOutcome:
    search_id: int
    case: str
    purpose: str
    user: str
    at: datetime
    probe_sha256: str
    probe_quality: float | None
    model: str
    model_sha256: str
    threshold: float | None
    thresholds: dict[str, float]
    k_requested: int
    k_used: int
    min_band_shown: str
    hidden_below_band: int
    hidden_suppressed: int
    candidates: tuple[CandidateView, ...]
    audit_seq: int | None
    results_purged_at: datetime | None = None
    statement: str = field(default=LEADS_STATEMENT)
    # the supervised quality override it ran under (who asked and granted, the reason)
    quality_override: dict[str, Any] | None = None


def outcome_of(search: Search) -> SearchOutcome:
    cands = tuple(
        CandidateView(
            rank=c.rank,
            face_id=c.face_id,
            score=c.score,
            band=c.band,
            image_sha256=c.image_sha256,
            provenance=list(c.provenance or []),
            crop=c.crop,
            reviews=tuple(
                ReviewView(r.decision, r.note, r.reviewer.username, r.at) for r in c.reviews
            ),
        )
        for c in search.candidates
    )
    return SearchOutcome(
        search_id=search.id,
        case=search.case.number,
        purpose=search.case.purpose_key,
        user=search.user.username,
        at=search.at,
        probe_sha256=search.probe_sha256,
        probe_quality=search.probe_quality,
        model=search.model,
        model_sha256=search.model_sha256,
        threshold=search.threshold,
        thresholds=dict(search.thresholds or {}),
        k_requested=search.k_requested,
        k_used=search.k_used,
        min_band_shown=search.min_band_shown,
        hidden_below_band=search.hidden_below_band,
        hidden_suppressed=search.hidden_suppressed,
        candidates=cands,
        audit_seq=search.audit_seq,
        results_purged_at=search.results_purged_at,
        quality_override=override_summary(search),
    )


def check_may_search(
    session: Session, policy: Policy, actor: str, number: str, k: int
) -> tuple[User, Case]:
    """Raise :class:`RefusedError` unless ``actor`` may search in case ``number`` now."""
    action = "search"
    user = require_user(session, actor, action, {Role.INVESTIGATOR})
    check_not_suspended(session, action)
    case = require_case(session, number, action)
    if case.status != OPEN:
        why = {
            "pending": "is awaiting a supervisor's approval",
            "rejected": "was rejected",
            "closed": "is closed",
        }.get(case.status, f"is {case.status}")
        raise RefusedError(action, f"case {case.number!r} {why}; searches need an open case")
    if policy.purpose(case.purpose_key) is None:
        raise RefusedError(
            action,
            f"case {case.number!r} purpose {case.purpose_key!r} is no longer allowed by the "
            "policy in force",
        )
    if not is_assigned(session, case, user):
        raise RefusedError(
            action, f"user {user.username!r} is not assigned to case {case.number!r}"
        )
    if k < 1:
        raise RefusedError(action, f"k must be at least 1, got {k}")
    return user, case


PROBE_FACES = "probe.faces"  # the faces of a probe examined before a search: not a search


def check_may_examine(session: Session, policy: Policy, actor: str, number: str) -> Case:
    """Raise :class:`RefusedError` (action ``probe.faces``) unless ``actor`` may search in
    case ``number`` now: who may search a case may see the faces of a probe first. No quota
    is counted: nothing is searched."""
    try:
        return check_may_search(session, policy, actor, number, 1)[1]
    except RefusedError as exc:
        raise RefusedError(PROBE_FACES, exc.reason) from None


class QuotaExceededError(RefusedError):
    """A user ran as many searches as the policy allows in a period; ``retry_after`` is the
    number of seconds until the oldest counted search leaves the period."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__("search", reason)
        self.retry_after = retry_after


def check_quota(session: Session, policy: Policy, user: User, now: datetime) -> None:
    """Refuse a search beyond the policy's per-user hourly and daily quotas.

    One aggregate query over the user's last day (indexed by user), not the period's
    searches themselves: a busy user has thousands."""
    hour, day = timedelta(hours=1), timedelta(days=1)
    in_hour = Search.at > now - hour
    day_count, day_first, hour_count, hour_first = session.execute(
        select(
            func.count(),
            func.min(Search.at),
            func.count(sql_case((in_hour, 1))),
            func.min(sql_case((in_hour, Search.at))),
        ).where(Search.user_id == user.id, Search.at > now - day)
    ).one()
    limits = (
        (hour, policy.access.searches_per_user_per_hour, "hour", hour_count, hour_first),
        (day, policy.access.searches_per_user_per_day, "day", day_count, day_first),
    )
    for period, limit, name, count, first in limits:
        if count >= limit:
            wait = max(1, int((as_utc(first) + period - as_utc(now)).total_seconds()) + 1)
            raise QuotaExceededError(
                f"user {user.username!r} has run {limit} searches in the last {name}, the "
                f"policy's limit; try again in {wait} s",
                wait,
            )


@dataclass(frozen=True)
class SearchPermit:
    """What the check before a search decided: the search may run, with these numbers."""

    actor: str
    case: str
    k_requested: int
    k_used: int
    # the Art. 12(3) record (govern/authorisations.py): when the search started
    started_at: datetime | None = None


def permit_search(
    session: Session,
    policy: Policy,
    actor: str,
    number: str,
    k: int | None,
    now: datetime,
    collection: str | None = None,
) -> SearchPermit:
    """Step 1 of a governed search (its own transaction): role, case, assignment, quota, and
    the lawful basis of the collections searched where the profile requires one."""
    k_req = policy.search.max_candidates if k is None else int(k)
    user, case = check_may_search(session, policy, actor, number, k_req)
    check_quota(session, policy, user, now)
    authorise_search(session, policy, case, now)  # refused without a needed authorisation
    check_searchable(session, policy, collection)  # jurisdiction profile: collections' basis
    return SearchPermit(actor, case.number, k_req, min(k_req, policy.search.max_candidates), now)


def record_search(
    session: Session,
    audit: AuditLog,
    policy: Policy,
    matcher: SuppressionMatcher,
    cipher: Cipher | None,
    permit: SearchPermit,
    probe: bytes,
    result: EngineResult,
    face: int | None,
    collection: str | None,
    now: datetime,
) -> SearchOutcome:
    """Step 3 of a governed search (its own transaction): check again that the case is still
    open and assigned (it may have closed while the engine ran), apply the policy's quality,
    band and suppression rules to the engine's ``result``, store the probe and candidates, and
    write the audit entry."""
    actor, k_req, k_used = permit.actor, permit.k_requested, permit.k_used
    user, case = check_may_search(session, policy, actor, permit.case, k_req)
    probe_sha = hashlib.sha256(probe).hexdigest()
    quality = probe_quality(result)
    thresholds = {k: float(v) for k, v in result.thresholds.items() if v is not None}
    min_q = policy.search.min_probe_quality
    override: QualityOverride | None = None
    if min_q > 0:
        if quality is None:
            raise RefusedError(
                "search",
                f"the policy requires probe quality >= {min_q} but the search engine did not "
                "report the probe's quality",
            )
        if float(quality) < min_q and not isinstance(result, MultiProbeResult):
            override = granted_override(session, policy, case, user, probe_sha, result.face)
        if float(quality) < min_q and override is None:
            allowed = policy.search.quality_override and not isinstance(result, MultiProbeResult)
            raise RefusedError(
                "search",
                quality_refusal(float(quality), min_q, probe_flags(result), override=allowed),
            )
    raw: list[SearchCandidate | MultiCandidate] = list(result.candidates)
    shown_band = [c for c in raw if policy.search.band_shown(str(c.band))]
    below_band = len(raw) - len(shown_band)
    kept, suppressed = filter_candidates(session, matcher, shown_band, result.model, cipher)
    kept = sorted(kept, key=lambda c: -float(c.score))[:k_used]

    probe_row = store_probe(session, case, cipher, probe, now)
    search = Search(
        case=case,
        user=user,
        at=now,
        probe=probe_row,
        probe_sha256=probe_sha,
        probe_quality=None if quality is None else float(quality),
        model=str(result.model),
        model_sha256=str(result.model_sha256),
        threshold=thresholds.get("match"),
        thresholds=thresholds,
        k_requested=k_req,
        k_used=k_used,
        face=None if result.face is None else int(result.face),
        collection=collection,
        min_band_shown=policy.search.min_band_shown,
        hidden_below_band=below_band,
        hidden_suppressed=suppressed,
        policy_sha256=policy.sha256,
        candidates=[],
    )
    # --- the authorisation it runs under and the Art. 12(3) record (govern/authorisations)
    under = authorise_search(session, policy, case, now)
    search.authorisation_id = under.id if under is not None else None
    search.started_at, search.generation = permit.started_at or now, generation.current(session)
    # ---
    session.add(search)
    if override is None:
        setattr(search, "quality_override", None)  # known: no query for it  # noqa: B010
    # one bulk INSERT of the candidates at the flush; built with their (empty) reviews so
    # that the outcome below is made from memory, with no query per candidate
    session.add_all(
        CandidateRow(
            search=search,
            rank=rank,
            face_id=int(c.face_id),
            score=float(c.score),
            band=str(c.band),
            image_sha256=c.image_sha256,
            provenance=jsonable(list(c.provenance or [])),
            crop=c.crop,
            reviews=[],
        )
        for rank, c in enumerate(kept, start=1)
    )
    session.flush()
    details: dict[str, Any] = {
        "case": case.number,
        "purpose": case.purpose_key,
        "search_id": search.id,
        "probe_sha256": probe_sha,
        "probe_quality": search.probe_quality,
        "model": search.model,
        "model_sha256": search.model_sha256,
        "threshold": search.threshold,
        "thresholds": thresholds,
        "k_requested": k_req,
        "k": k_used,
        "face": search.face,
        "face_requested": face,
        "collection": collection,
        "min_band_shown": search.min_band_shown,
        "hidden_below_band": below_band,
        "hidden_suppressed": suppressed,
        "policy_sha256": policy.sha256,
        "authorisation": search.authorisation_id,
        "gallery_generation": search.generation,
        "candidates": [
            {"face_id": int(c.face_id), "score": round(float(c.score), 6), "band": str(c.band)}
            for c in kept
        ],
    }
    backend_sha = result.probe_sha256
    if backend_sha and backend_sha != probe_sha:
        details["backend_probe_sha256"] = backend_sha
    if override is not None:  # the one search this grant allows (govern/overrides.py)
        details["quality_override"] = use_override(audit, actor, override, search, now)
        session.flush()
    entry = audit.record(actor, "search", details)
    search.audit_seq = entry.seq
    session.flush()
    return outcome_of(search)  # from the objects in memory: nothing is read back


def store_probe(
    session: Session, case: Case, cipher: Cipher | None, probe: bytes, now: datetime
) -> Probe:
    """The case's stored copy of a probe image (one row per distinct image per case),
    encrypted when a cipher is set; a copy purged earlier and used again is kept anew."""
    probe_sha = hashlib.sha256(probe).hexdigest()
    probe_row = session.execute(
        select(Probe).where(Probe.case_id == case.id, Probe.sha256 == probe_sha)
    ).scalar_one_or_none()
    if probe_row is None:
        probe_row = Probe(
            case_id=case.id,
            sha256=probe_sha,
            size=len(probe),
            data=maybe_encrypt(cipher, probe, aad=probe_sha.encode()),
            encrypted=cipher is not None,
            created_at=now,
        )
        session.add(probe_row)
    elif probe_row.data is None:  # purged earlier, used again: keep it under retention anew
        probe_row.data = maybe_encrypt(cipher, probe, aad=probe_sha.encode())
        probe_row.encrypted = cipher is not None
        probe_row.purged_at = None
    return probe_row


def require_search(session: Session, action: str, search_id: int) -> Search:
    search = session.get(Search, search_id)
    if search is None:
        raise RefusedError(action, f"no search {search_id}")
    return search


def view_search(session: Session, audit: AuditLog, actor: str, search_id: int) -> SearchOutcome:
    action = "search.view"
    user = require_user(session, actor, action)
    search = require_search(session, action, search_id)
    require_readable_case(session, user, search.case.number, action)
    audit.record(
        actor,
        action,
        {
            "case": search.case.number,
            "search_id": search.id,
            "candidates": [c.face_id for c in search.candidates],
            "results_purged": search.results_purged_at is not None,
        },
    )
    return outcome_of(search)


def shown_candidate(search: Search, face_id: int, action: str) -> CandidateRow:
    """The candidate ``face_id`` of ``search``, refused for ``action`` (and logged by the
    caller's unit of work) when the search's results were purged or the face was not shown."""
    if search.results_purged_at is not None:
        raise RefusedError(action, f"the results of search {search.id} have been purged")
    cand = next((c for c in search.candidates if c.face_id == int(face_id)), None)
    if cand is None:
        raise RefusedError(
            action, f"face {face_id} was not a candidate shown in search {search.id}"
        )
    return cand


def review_candidate(
    session: Session,
    audit: AuditLog,
    actor: str,
    search_id: int,
    face_id: int,
    decision: str,
    note: str,
    now: datetime,
    policy: Policy | None = None,
) -> ReviewView:
    action = "review"
    user = require_user(session, actor, action, {Role.INVESTIGATOR, Role.SUPERVISOR})
    if policy is not None:  # jurisdiction profile: a current training
        check_trained(session, policy, user, action, now)
    search = require_search(session, action, search_id)
    case = search.case
    if case.status != OPEN:
        raise RefusedError(action, f"case {case.number!r} is {case.status}; reviews need it open")
    if not has_role(user, Role.SUPERVISOR) and active_assignment(case, user) is None:
        raise RefusedError(
            action, f"user {user.username!r} is not assigned to case {case.number!r}"
        )
    try:
        d = parse_decision(decision)
    except ValueError as exc:
        raise RefusedError(action, str(exc)) from None
    cand = shown_candidate(search, face_id, action)
    if d == ReviewDecision.WITHDRAWN and (
        not cand.reviews or cand.reviews[-1].decision == ReviewDecision.WITHDRAWN
    ):
        raise RefusedError(action, f"face {face_id} has no review decision to withdraw")
    row = Review(
        candidate=cand,
        search_id=search.id,
        face_id=cand.face_id,
        decision=d,
        note=note.strip(),
        reviewer=user,
        at=now,
    )
    session.add(row)
    session.flush()
    entry = audit.record(
        actor,
        action,
        {
            "case": case.number,
            "search_id": search.id,
            "face_id": cand.face_id,
            "score": round(cand.score, 6),
            "decision": d,
            # the note is kept with the case's results; the permanent log keeps its hash
            "note_sha256": hashlib.sha256(row.note.encode("utf-8")).hexdigest(),
        },
    )
    row.audit_seq = entry.seq
    return ReviewView(d, row.note, user.username, now)


def searches_of_case(session: Session, case: Case) -> list[Search]:
    return list(
        session.execute(
            select(Search).where(Search.case_id == case.id).order_by(Search.at, Search.id)
        ).scalars()
    )
