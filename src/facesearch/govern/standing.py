"""Standing queries: "search again when the gallery grows" (the unsolved photo file of model
police policies; watch lists and new-enrolment searches in other systems).

A standing query is made from a one-photo search of an open case by an investigator assigned
to it, with an objective, a review date and an expiry the policy caps (``[standing]``:
``allowed``, ``max_days``, ``review_days``). It keeps the probe face's vectors (sealed like the
gallery's) and the probe photo (encrypted like the case's probes), and the id of the last
gallery face it was compared with. After each ingest the application compares the faces added
since with every active query (:mod:`facesearch.app.standing`: the new faces only, never the
whole gallery again); a query whose new candidates reach the possible band gets an **alert**:
the candidates recorded as a search of its case under its owner's name (audited, reviewed,
confirmed and reported like any other search) and a row here that the case's investigators and
supervisors see until one of them opens it.

Life of a query: ``active`` until its expiry (then ``expired``, by itself, at the next run),
until a supervisor of the case or its owner ends it (``ended``), or until its case or owner can
no longer search (``stopped``, with the reason: case closed, owner no longer assigned). A
supervisor renews an active query (a new expiry within the cap and a new review date). Ending,
expiry and stopping delete the kept probe photo and vectors (also those kept for another
recognizer: ``govern/standing_moves.py``). Every step is audited.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, object_session

from facesearch.govern.audit import AuditLog, as_utc
from facesearch.govern.cases import OPEN, can_read_case, is_assigned, require_case
from facesearch.govern.errors import RefusedError
from facesearch.govern.moves_schema import StandingQueryVector
from facesearch.govern.multisearch import multi_details
from facesearch.govern.policy import Policy
from facesearch.govern.schema import Case, Search, StandingAlert, StandingQuery, User
from facesearch.govern.users import Role, has_role, require_user
from facesearch.search.scoring import ProbeFace
from facesearch.store.crypto import (
    Cipher,
    maybe_decrypt,
    maybe_encrypt,
    open_embedding,
    seal_embedding,
)

ACTIVE, ENDED, EXPIRED, STOPPED = "active", "ended", "expired", "stopped"
EMBEDDING_COLUMN = "gov_standing_queries.embedding"
SECOND_COLUMN = "gov_standing_queries.second_embedding"
MAX_OBJECTIVE = 2000


@dataclass(frozen=True)
class QueryVectors:
    """What the engine compares: the probe face's vectors, as the search that made it had them."""

    model: str
    embedding: np.ndarray
    second_model: str | None = None
    second: np.ndarray | None = None
    yaw: float | None = None
    probe_face: ProbeFace | None = None  # its index, box, quality and flags


@dataclass(frozen=True)
class StandingView:
    id: int
    case: str
    owner: str
    search_id: int
    objective: str
    face: int
    model: str
    status: str
    created_at: datetime
    review_at: datetime
    expires_at: datetime
    after_face_id: int
    last_run_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None
    end_note: str
    alerts: int


@dataclass(frozen=True)
class AlertView:
    id: int
    query_id: int
    case: str
    search_id: int
    objective: str
    candidates: int
    best_score: float
    at: datetime
    seen_at: datetime | None
    seen_by: str | None


@dataclass(frozen=True)
class DueQuery:
    """An active query as a run needs it (read in one transaction, used outside it)."""

    id: int
    case: str
    owner: str
    face: int
    vectors: QueryVectors
    probe: bytes
    after_face_id: int


def _utc(when: datetime | None) -> datetime | None:
    return None if when is None else as_utc(when)


def _view(session: Session, q: StandingQuery) -> StandingView:
    alerts = session.scalar(
        select(func.count(StandingAlert.id)).where(StandingAlert.query_id == q.id)
    )
    return StandingView(
        q.id,
        q.case.number,
        q.owner.username,
        q.search_id,
        q.objective,
        q.face,
        q.model,
        q.status,
        as_utc(q.created_at),
        as_utc(q.review_at),
        as_utc(q.expires_at),
        q.after_face_id,
        _utc(q.last_run_at),
        _utc(q.ended_at),
        q.ended_by.username if q.ended_by else None,
        q.end_note,
        int(alerts or 0),
    )


def _alert_view(a: StandingAlert) -> AlertView:
    return AlertView(
        a.id,
        a.query_id,
        a.query.case.number,
        a.search_id,
        a.query.objective,
        a.candidates,
        a.best_score,
        as_utc(a.at),
        _utc(a.seen_at),
        a.seen_by.username if a.seen_by else None,
    )


def require_search_for_query(
    session: Session, actor: str, search_id: int
) -> tuple[Search, User, int | None]:
    """The search a standing query is made from, if ``actor`` may make one of it: an
    investigator assigned to its open case, its probe still kept; a one-photo search, or a
    media person's (the cluster it searched is returned: its faces make the query)."""
    action = "standing.create"
    user = require_user(session, actor, action, {Role.INVESTIGATOR})
    search = session.get(Search, search_id)
    if search is None or not can_read_case(user, search.case):
        raise RefusedError(action, f"no search {search_id}")
    case = search.case
    if case.status != OPEN:
        raise RefusedError(action, f"case {case.number!r} is not open")
    if not is_assigned(session, case, user):
        raise RefusedError(action, f"user {actor!r} is not assigned to case {case.number!r}")
    cluster = None
    multi = multi_details(session, [search.id]).get(search.id)
    if multi is not None:
        cluster = multi[2]
        if cluster is None:
            raise RefusedError(
                action,
                "a standing query starts from a one-photo search or a media person's search "
                "(Search the gallery with Person N), not from several photos",
            )
    if search.probe.data is None:
        raise RefusedError(action, f"search {search_id}'s probe was purged (retention)")
    return search, user, cluster


def probe_of(session: Session, cipher: Cipher | None, search: Search) -> bytes:
    data = search.probe.data
    assert data is not None  # checked by require_search_for_query
    return maybe_decrypt(cipher, data, aad=search.probe.sha256.encode())


def _checked_dates(
    policy: Policy,
    action: str,
    now: datetime,
    expires_at: datetime | None,
    review_at: datetime | None,
) -> tuple[datetime, datetime]:
    cap = timedelta(days=policy.standing.max_days)
    expires = as_utc(expires_at) if expires_at else now + cap
    if expires <= now:
        raise RefusedError(action, "the expiry must be in the future")
    if expires - now > cap + timedelta(minutes=1):
        raise RefusedError(
            action, f"the policy allows a standing query {policy.standing.max_days} days at most"
        )
    review = as_utc(review_at) if review_at else now + timedelta(days=policy.standing.review_days)
    return expires, min(review, expires)


def create_query(
    session: Session,
    audit: AuditLog,
    policy: Policy,
    cipher: Cipher | None,
    actor: str,
    search_id: int,
    objective: str,
    vectors: QueryVectors,
    after_face_id: int,
    now: datetime,
    *,
    expires_at: datetime | None = None,
    review_at: datetime | None = None,
) -> StandingView:
    action = "standing.create"
    if not policy.standing.allowed:
        raise RefusedError(action, "the policy in force does not allow standing queries")
    search, user, _ = require_search_for_query(session, actor, search_id)
    text = objective.strip()
    if not text:
        raise RefusedError(action, "an objective is required (what the query is for)")
    if len(text) > MAX_OBJECTIVE:
        raise RefusedError(action, f"the objective is longer than {MAX_OBJECTIVE} characters")
    expires, review = _checked_dates(policy, action, now, expires_at, review_at)
    probe = probe_of(session, cipher, search)
    row = StandingQuery(
        case_id=search.case_id,
        owner_id=user.id,
        search_id=search.id,
        objective=text,
        face=search.face or 0,
        model=vectors.model,
        embedding=None,
        second_model=vectors.second_model,
        yaw=vectors.yaw,
        probe_face=asdict(vectors.probe_face) if vectors.probe_face else {},
        probe_sha256=search.probe_sha256,
        after_face_id=int(after_face_id),
        created_at=now,
        review_at=review,
        expires_at=expires,
        status=ACTIVE,
        end_note="",
    )
    session.add(row)
    session.flush()  # the id the vectors are sealed to
    row.embedding = seal_embedding(
        cipher, vectors.embedding, row.id, vectors.model, EMBEDDING_COLUMN
    )
    if vectors.second is not None and vectors.second_model:
        row.second_embedding = seal_embedding(
            cipher, vectors.second, row.id, vectors.second_model, SECOND_COLUMN
        )
    row.probe = maybe_encrypt(cipher, probe, aad=row.probe_sha256.encode())
    session.flush()
    audit.record(
        actor,
        action,
        {
            "standing_query": row.id,
            "search_id": search.id,
            "objective": text,
            "expires_at": expires.isoformat(),
            "after_face_id": row.after_face_id,
        },
        case=search.case.number,
    )
    session.refresh(row)
    return _view(session, row)


def _forget(row: StandingQuery, status: str, now: datetime, note: str, by: User | None) -> None:
    """End a query: its kept probe and vectors are deleted (the row and its alerts stay)."""
    row.status, row.ended_at, row.end_note = status, now, note
    row.ended_by_id = by.id if by else None
    row.probe, row.embedding, row.second_embedding = None, None, None
    session = object_session(row)
    if session is not None:  # and its vectors of other recognizers (govern/standing_moves.py)
        session.execute(delete(StandingQueryVector).where(StandingQueryVector.query_id == row.id))


def _require_query(session: Session, query_id: int, action: str) -> StandingQuery:
    row = session.get(StandingQuery, query_id)
    if row is None:
        raise RefusedError(action, f"no standing query {query_id}")
    return row


def end_query(
    session: Session, audit: AuditLog, actor: str, query_id: int, note: str, now: datetime
) -> StandingView:
    """The owner or a supervisor ends an active query (its probe and vectors are deleted)."""
    action = "standing.end"
    user = require_user(session, actor, action, {Role.INVESTIGATOR, Role.SUPERVISOR})
    row = _require_query(session, query_id, action)
    if not (row.owner_id == user.id or has_role(user, Role.SUPERVISOR)):
        raise RefusedError(action, "only the query's owner or a supervisor may end it")
    if row.status != ACTIVE:
        raise RefusedError(action, f"standing query {query_id} is already {row.status}")
    _forget(row, ENDED, now, note.strip() or "ended", user)
    session.flush()
    audit.record(
        actor, action, {"standing_query": row.id, "note": row.end_note}, case=row.case.number
    )
    return _view(session, row)


def renew_query(
    session: Session,
    audit: AuditLog,
    policy: Policy,
    actor: str,
    query_id: int,
    now: datetime,
    *,
    expires_at: datetime | None = None,
    review_at: datetime | None = None,
) -> StandingView:
    """A supervisor renews an active query: a new expiry (within the cap) and review date."""
    action = "standing.renew"
    require_user(session, actor, action, {Role.SUPERVISOR})
    row = _require_query(session, query_id, action)
    if row.status != ACTIVE:
        raise RefusedError(action, f"standing query {query_id} is {row.status}: make a new one")
    row.expires_at, row.review_at = _checked_dates(policy, action, now, expires_at, review_at)
    session.flush()
    audit.record(
        actor,
        action,
        {"standing_query": row.id, "expires_at": row.expires_at.isoformat()},
        case=row.case.number,
    )
    return _view(session, row)


def list_queries(
    session: Session, actor: str, number: str | None, *, active_only: bool = False
) -> list[StandingView]:
    """A case's queries (or, without a case, every query the actor may read), newest first."""
    action = "standing.list"
    user = require_user(session, actor, action)
    query = select(StandingQuery).order_by(StandingQuery.id.desc())
    if number is not None:
        case = require_case(session, number, action)
        if not can_read_case(user, case):
            raise RefusedError(action, f"no case {number!r}")
        query = query.where(StandingQuery.case_id == case.id)
    if active_only:
        query = query.where(StandingQuery.status == ACTIVE)
    rows = [r for r in session.scalars(query).all() if can_read_case(user, r.case)]
    return [_view(session, r) for r in rows]


# --- a run after an ingest --------------------------------------------------------------------


def expire_and_collect(
    session: Session, audit: AuditLog, cipher: Cipher | None, actor: str, now: datetime
) -> list[DueQuery]:
    """Expire the queries past their expiry and stop those whose case or owner can no longer
    search (audited); the rest, with their vectors and probe, for the run."""
    due: list[DueQuery] = []
    for row in session.scalars(select(StandingQuery).where(StandingQuery.status == ACTIVE)):
        why = _stop_reason(session, row, now)
        if why is not None:
            status, note = why
            _forget(row, status, now, note, None)
            audit.record(
                actor, f"standing.{status}", {"standing_query": row.id, "reason": note},
                case=row.case.number,
            )  # fmt: skip
            continue
        assert row.embedding is not None  # kept while the query is active
        vectors = QueryVectors(
            row.model,
            open_embedding(cipher, row.embedding, row.id, row.model, EMBEDDING_COLUMN),
            row.second_model,
            None
            if row.second_embedding is None or not row.second_model
            else open_embedding(
                cipher, row.second_embedding, row.id, row.second_model, SECOND_COLUMN
            ),
            row.yaw,
            _probe_face(row.probe_face),
        )
        assert row.probe is not None
        probe = maybe_decrypt(cipher, row.probe, aad=row.probe_sha256.encode())
        due.append(
            DueQuery(
                row.id,
                row.case.number,
                row.owner.username,
                row.face,
                vectors,
                probe,
                row.after_face_id,
            )
        )
    session.flush()
    return due


def _probe_face(stored: dict[str, Any] | None) -> ProbeFace | None:
    if not stored:
        return None
    return ProbeFace(
        int(stored["index"]),
        tuple(float(v) for v in stored["bbox"]),  # type: ignore[arg-type]
        float(stored["quality"]),
        tuple(stored.get("flags") or ()),
    )


def _stop_reason(session: Session, row: StandingQuery, now: datetime) -> tuple[str, str] | None:
    if as_utc(row.expires_at) <= now:
        return EXPIRED, f"expired {as_utc(row.expires_at):%Y-%m-%d}"
    if row.case.status != OPEN:
        return STOPPED, f"case {row.case.number} is {row.case.status}"
    owner = row.owner
    if not owner.active or not has_role(owner, Role.INVESTIGATOR):
        return STOPPED, f"its owner {owner.username} can no longer search"
    if not is_assigned(session, row.case, owner):
        return STOPPED, f"its owner {owner.username} is no longer assigned to the case"
    return None


def advance(
    session: Session, query_id: int, seen_up_to: int, expected_after: int, now: datetime
) -> bool:
    """Move a query's mark past the faces just compared, unless another run moved it first
    (then this run's result for it is dropped: False)."""
    row = session.get(StandingQuery, query_id)
    if row is None or row.status != ACTIVE or row.after_face_id != expected_after:
        return False
    row.after_face_id = max(row.after_face_id, int(seen_up_to))
    row.last_run_at = now
    return True


def record_alert(
    session: Session,
    audit: AuditLog,
    actor: str,
    query_id: int,
    search_id: int,
    candidates: int,
    best_score: float,
    now: datetime,
) -> StandingAlert:
    row = session.get(StandingQuery, query_id)
    assert row is not None
    alert = StandingAlert(
        query_id=query_id,
        search_id=search_id,
        case_id=row.case_id,
        candidates=candidates,
        best_score=float(best_score),
        at=now,
    )
    session.add(alert)
    session.flush()
    audit.record(
        actor,
        "standing.alert",
        {
            "standing_query": query_id,
            "alert": alert.id,
            "search_id": search_id,
            "candidates": candidates,
            "best_score": round(float(best_score), 4),
        },
        case=row.case.number,
    )
    return alert


# --- alerts -------------------------------------------------------------------------------------


def _alert_readers(session: Session, user: User) -> list[int] | None:
    """The case ids whose alerts ``user`` sees: a supervisor all (None); an investigator the
    cases they are assigned to."""
    if has_role(user, Role.SUPERVISOR):
        return None
    if not has_role(user, Role.INVESTIGATOR):
        raise RefusedError("standing.alerts", "alerts are for investigators and supervisors")
    cases = session.scalars(select(Case).where(Case.status == OPEN)).all()
    return [c.id for c in cases if is_assigned(session, c, user)]


def alerts(
    session: Session, actor: str, *, unseen_only: bool = True, number: str | None = None
) -> list[AlertView]:
    user = require_user(session, actor, "standing.alerts", {Role.INVESTIGATOR, Role.SUPERVISOR})
    query = select(StandingAlert).order_by(StandingAlert.id.desc())
    readable = _alert_readers(session, user)
    if readable is not None:
        query = query.where(StandingAlert.case_id.in_(readable))
    if number is not None:
        case = require_case(session, number, "standing.alerts")
        query = query.where(StandingAlert.case_id == case.id)
    if unseen_only:
        query = query.where(StandingAlert.seen_at.is_(None))
    return [_alert_view(a) for a in session.scalars(query).all()]


def mark_seen(
    session: Session, audit: AuditLog, actor: str, alert_id: int, now: datetime
) -> AlertView:
    action = "standing.alert.seen"
    user = require_user(session, actor, action, {Role.INVESTIGATOR, Role.SUPERVISOR})
    alert = session.get(StandingAlert, alert_id)
    readable = _alert_readers(session, user)
    if alert is None or (readable is not None and alert.case_id not in readable):
        raise RefusedError(action, f"no alert {alert_id}")
    if alert.seen_at is None:
        alert.seen_at, alert.seen_by_id = now, user.id
        session.flush()
        audit.record(actor, action, {"alert": alert.id}, case=alert.query.case.number)
    session.refresh(alert)
    return _alert_view(alert)
