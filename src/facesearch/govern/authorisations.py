"""Authorisation of searches, urgent use with a deadline, and deletion when it is missed
(issue 24, item 2).

The policy's ``[authorisation]`` (:class:`facesearch.govern.policy.AuthorisationPolicy`) says
whether a case's searches need one: ``no`` (recorded if given, never required),
``before_search`` (a granted judicial warrant, binding administrative authorisation or "not
required, because ..." must be recorded before a search), ``before_or_urgent`` (or an urgent
use, started by an investigator: searches may run at once, and the authorisation must be
recorded within ``urgent_hours``).

* **Recording.** The case's supervisor-role users and its requester or assigned investigators
  record an authorisation: its kind, authority, reference, date, or the reason it is not
  required, granted or refused, with a scan of the document (PDF, JPEG or PNG, at most
  :data:`MAX_SCAN` bytes; encrypted like probes when a key is set). A supervisor validates
  it (that the record matches the scan). Every step is audited.
* **Urgent use.** Recording a granted document ends the case's pending urgent use
  (``authorised``); while one is pending the case report cannot be exported and the
  supervisors see its deadline (:func:`deadlines`).
* **Enforcement.** Past the deadline (:func:`enforce`: ``facesearch purge``,
  ``POST /authorisations/enforce``, and every reading of the case), or at once when the
  authorisation is recorded as refused, the probes, candidates, reviews and verifications of
  the searches run under that urgent use are deleted and a signed deletion receipt is
  written (``govern/receipts.py``).
* **The Art. 12(3) record** of every search: :func:`search_record`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog, as_utc, canonical_json
from facesearch.govern.authorisations_schema import Authorisation, DeletionReceipt
from facesearch.govern.cases import (
    OPEN,
    can_read_case,
    is_assigned,
    require_case,
    require_readable_case,
)
from facesearch.govern.errors import NotVisibleError, RefusedError
from facesearch.govern.multisearch_schema import MultiProbeScore, SearchProbe
from facesearch.govern.policy import Policy
from facesearch.govern.receipts import write_receipt
from facesearch.govern.schema import (
    CandidateRow,
    Case,
    Probe,
    Review,
    Search,
    StandingQuery,
    User,
    Verification,
)
from facesearch.govern.users import Role, has_role, require_user
from facesearch.store.crypto import Cipher, maybe_encrypt

KINDS = {
    "judicial_warrant": "judicial warrant",
    "administrative": "binding administrative authorisation",
    "urgent": "urgent use pending authorisation",
    "not_required": "not required",
}
DOCUMENTS = ("judicial_warrant", "administrative")
PERMITTING = ("judicial_warrant", "administrative", "not_required")
MAX_SCAN = 10 * 1024 * 1024
MAX_TEXT = 2000
SCAN_TYPES = {b"%PDF": "application/pdf", b"\xff\xd8\xff": "image/jpeg", b"\x89PNG": "image/png"}


@dataclass(frozen=True)
class NewAuthorisation:
    kind: str
    authority: str = ""
    reference: str = ""
    issued_on: datetime | None = None
    reason: str = ""
    granted: bool = True
    scan: bytes | None = None


@dataclass(frozen=True)
class AuthorisationView:
    id: int
    case: str
    kind: str
    kind_label: str
    authority: str
    reference: str
    issued_on: datetime | None
    reason: str
    status: str
    deadline_at: datetime | None
    resolved_at: datetime | None
    scan_sha256: str | None
    scan_type: str | None
    scan_size: int | None
    recorded_by: str
    recorded_at: datetime
    validated_by: str | None
    validated_at: datetime | None
    receipt_id: int | None
    searches: int

    @property
    def awaiting(self) -> bool:
        """An urgent use whose authorisation is not recorded yet."""
        return self.kind == "urgent" and self.status == "pending"


def _view(session: Session, row: Authorisation) -> AuthorisationView:
    n = session.scalar(select(func.count()).where(Search.authorisation_id == row.id))
    return AuthorisationView(
        row.id,
        row.case.number,
        row.kind,
        KINDS.get(row.kind, row.kind),
        row.authority,
        row.reference,
        row.issued_on,
        row.reason,
        row.status,
        row.deadline_at,
        row.resolved_at,
        row.scan_sha256,
        row.scan_type,
        row.scan_size,
        row.recorded_by.username,
        row.recorded_at,
        row.validated_by.username if row.validated_by else None,
        row.validated_at,
        row.receipt_id,
        int(n or 0),
    )


def _text(value: str, what: str, action: str, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise RefusedError(action, f"{what} is required")
    if len(text) > MAX_TEXT:
        raise RefusedError(action, f"{what} is longer than {MAX_TEXT} characters")
    return text


def scan_type(data: bytes, action: str) -> str:
    """The media type of a scan (PDF, JPEG or PNG, by its first bytes), refused otherwise."""
    if len(data) > MAX_SCAN:
        raise RefusedError(action, f"the scan is larger than {MAX_SCAN // (1024 * 1024)} MiB")
    for magic, kind in SCAN_TYPES.items():
        if data.startswith(magic):
            return kind
    raise RefusedError(action, "the scan must be a PDF, JPEG or PNG file")


def _may_record(session: Session, user: User, case: Case) -> bool:
    if has_role(user, Role.SUPERVISOR):
        return True
    return has_role(user, Role.INVESTIGATOR) and (
        case.requested_by_id == user.id or is_assigned(session, case, user)
    )


def _pending_urgent(session: Session, case: Case) -> list[Authorisation]:
    return list(
        session.scalars(
            select(Authorisation)
            .where(
                Authorisation.case_id == case.id,
                Authorisation.kind == "urgent",
                Authorisation.status == "pending",
            )
            .order_by(Authorisation.id)
        )
    )


def record_authorisation(
    session: Session,
    audit: AuditLog,
    policy: Policy,
    cipher: Cipher | None,
    key: Ed25519PrivateKey | None,
    actor: str,
    number: str,
    new: NewAuthorisation,
    now: datetime,
) -> AuthorisationView:
    """Record an authorisation of case ``number`` (see the module docstring). A granted
    document ends the case's pending urgent use; a refused one deletes its searches."""
    action = "authorisation.record"
    user = require_user(session, actor, action, {Role.INVESTIGATOR, Role.SUPERVISOR})
    case = require_case(session, number, action)
    if not _may_record(session, user, case):
        raise RefusedError(
            action, f"user {user.username!r} is not assigned to case {case.number!r}"
        )
    if case.status not in (OPEN, "pending"):
        raise RefusedError(action, f"case {case.number!r} is {case.status}")
    rules = policy.authorisation
    if new.kind not in KINDS:
        raise RefusedError(action, f"the kind must be one of {', '.join(KINDS)}")
    if new.kind not in rules.types:
        raise RefusedError(action, f"the policy in force does not allow {KINDS[new.kind]!r}")
    row = Authorisation(
        case_id=case.id,
        kind=new.kind,
        authority=_text(new.authority, "the authority", action, required=new.kind in DOCUMENTS),
        reference=_text(new.reference, "the reference", action, required=new.kind in DOCUMENTS),
        issued_on=new.issued_on,
        reason=_text(new.reason, "the reason", action, required=new.kind == "not_required"),
        status="granted" if new.granted or new.kind == "not_required" else "refused",
        recorded_by_id=user.id,
        recorded_at=now,
        scan_encrypted=False,
    )
    if new.kind == "urgent":
        if rules.required != "before_or_urgent":
            raise RefusedError(action, "the policy in force does not allow urgent use")
        if case.status != OPEN:
            raise RefusedError(action, f"case {case.number!r} is not open")
        if _pending_urgent(session, case):
            raise RefusedError(action, f"case {case.number!r} already has an urgent use pending")
        row.status = "pending"
        row.deadline_at = as_utc(now) + timedelta(hours=rules.urgent_hours)
    if new.scan:
        sha = hashlib.sha256(new.scan).hexdigest()
        row.scan_type = scan_type(new.scan, action)
        row.scan = maybe_encrypt(cipher, new.scan, aad=sha.encode())
        row.scan_sha256, row.scan_size = sha, len(new.scan)
        row.scan_encrypted = cipher is not None
    session.add(row)
    session.flush()
    audit.record(
        actor,
        action,
        {
            "case": case.number,
            "authorisation": row.id,
            "kind": row.kind,
            "status": row.status,
            "authority": row.authority,
            "reference": row.reference,
            "issued_on": row.issued_on,
            "reason": row.reason,
            "deadline_at": row.deadline_at,
            "scan_sha256": row.scan_sha256,
        },
    )
    if new.kind in DOCUMENTS:
        for urgent in _pending_urgent(session, case):
            if row.status == "granted":
                urgent.status, urgent.resolved_at = "authorised", now
                audit.record(
                    actor,
                    "authorisation.urgent_authorised",
                    {"case": case.number, "authorisation": urgent.id, "by": row.id},
                )
            else:
                _delete_urgent(session, audit, actor, urgent, "refused", key, now)
    session.flush()
    session.refresh(row)
    return _view(session, row)


def validate(
    session: Session, audit: AuditLog, actor: str, authorisation_id: int, now: datetime
) -> AuthorisationView:
    """A supervisor confirms the record matches its document (not the one who recorded it)."""
    action = "authorisation.validate"
    user = require_user(session, actor, action, {Role.SUPERVISOR})
    row = require_authorisation(session, authorisation_id, action)
    if row.kind == "urgent":
        raise RefusedError(action, "an urgent use has no document to validate")
    if row.recorded_by_id == user.id:
        raise RefusedError(action, "the one who recorded an authorisation cannot validate it")
    if row.validated_at is not None:
        raise RefusedError(action, f"authorisation {row.id} is already validated")
    row.validated_by_id, row.validated_at = user.id, now
    session.flush()
    audit.record(actor, action, {"case": row.case.number, "authorisation": row.id})
    session.refresh(row)
    return _view(session, row)


def require_authorisation(session: Session, authorisation_id: int, action: str) -> Authorisation:
    row = session.get(Authorisation, authorisation_id)
    if row is None:
        raise RefusedError(action, f"no authorisation {authorisation_id}")
    return row


def of_case(session: Session, actor: str, number: str) -> list[AuthorisationView]:
    """The case's authorisations, oldest first (whoever may read the case)."""
    action = "authorisation.list"
    user = require_user(session, actor, action)
    case = require_readable_case(session, user, number, action)
    rows = session.scalars(
        select(Authorisation).where(Authorisation.case_id == case.id).order_by(Authorisation.id)
    )
    return [_view(session, r) for r in rows]


def scan_of(session: Session, actor: str, authorisation_id: int) -> tuple[Authorisation, bytes]:
    """The stored (maybe encrypted) scan, for a reader of the case; the caller decrypts."""
    action = "authorisation.scan"
    user = require_user(session, actor, action)
    row = require_authorisation(session, authorisation_id, action)
    if not can_read_case(user, row.case):
        raise NotVisibleError(
            action,
            f"user {user.username!r} may not read case {row.case.number!r}",
            f"no authorisation {authorisation_id}",
        )
    data = row.scan
    if data is None:
        raise RefusedError(action, f"authorisation {authorisation_id} has no scan")
    return row, data


def deadlines(session: Session, actor: str) -> list[AuthorisationView]:
    """Every urgent use awaiting its authorisation, nearest deadline first (supervisors,
    administrators, auditors)."""
    require_user(
        session,
        actor,
        "authorisation.deadlines",
        {Role.SUPERVISOR, Role.ADMINISTRATOR, Role.AUDITOR},
    )
    rows = session.scalars(
        select(Authorisation)
        .where(Authorisation.kind == "urgent", Authorisation.status == "pending")
        .order_by(Authorisation.deadline_at, Authorisation.id)
    )
    return [_view(session, r) for r in rows]


# --- before and during a search --------------------------------------------------------------


def authorise_search(
    session: Session, policy: Policy, case: Case, now: datetime
) -> Authorisation | None:
    """The authorisation a search of ``case`` runs under now: the latest granted one, else a
    pending urgent use before its deadline; refused when the policy requires one and there
    is none (None: none recorded and none required)."""
    granted = session.scalars(
        select(Authorisation)
        .where(
            Authorisation.case_id == case.id,
            Authorisation.kind.in_(PERMITTING),
            Authorisation.status == "granted",
        )
        .order_by(Authorisation.id.desc())
    ).first()
    if granted is not None:
        return granted
    rules = policy.authorisation
    urgent = next(iter(_pending_urgent(session, case)), None)
    if urgent is not None and urgent.deadline_at and as_utc(urgent.deadline_at) > as_utc(now):
        return urgent
    if rules.required == "no":
        return None
    also = " or an urgent use" if rules.required == "before_or_urgent" else ""
    raise RefusedError(
        "search",
        f"case {case.number!r} has no granted authorisation recorded{also}: the policy "
        "requires one before searching",
    )


def check_export(session: Session, case: Case, action: str) -> None:
    """Refuse exporting the case's results while an urgent use awaits its authorisation."""
    urgent = next(iter(_pending_urgent(session, case)), None)
    if urgent is not None:
        raise RefusedError(
            action,
            f"case {case.number!r} has an urgent use awaiting its authorisation (deadline "
            f"{as_utc(urgent.deadline_at or urgent.recorded_at):%Y-%m-%d %H:%M} UTC): its "
            "results cannot be exported until the authorisation is recorded",
        )


# --- enforcement -----------------------------------------------------------------------------


def enforce(
    session: Session,
    audit: AuditLog,
    actor: str,
    key: Ed25519PrivateKey | None,
    now: datetime,
    case: Case | None = None,
) -> list[DeletionReceipt]:
    """Delete the searches of every urgent use past its deadline (of ``case``, or all), each
    with a receipt. Idempotent: an expired use is enforced once."""
    query = select(Authorisation).where(
        Authorisation.kind == "urgent",
        Authorisation.status == "pending",
        Authorisation.deadline_at <= as_utc(now),
    )
    if case is not None:
        query = query.where(Authorisation.case_id == case.id)
    # locked (PostgreSQL): two servers enforcing at once write one receipt, not two
    rows = list(session.scalars(query.order_by(Authorisation.id).with_for_update()))
    return [_delete_urgent(session, audit, actor, r, "expired", key, now) for r in rows]


def _sha(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def _delete_urgent(
    session: Session,
    audit: AuditLog,
    actor: str,
    urgent: Authorisation,
    reason: str,
    key: Ed25519PrivateKey | None,
    now: datetime,
) -> DeletionReceipt:
    """Delete what the searches under ``urgent`` left (probes, candidates, reviews,
    verifications, multi-probe scores, standing queries' copies) and write the receipt."""
    searches = list(session.scalars(select(Search).where(Search.authorisation_id == urgent.id)))
    ids = [s.id for s in searches]
    items: list[dict[str, Any]] = []
    probe_ids: set[int] = set()
    for s in searches:
        cands = list(s.candidates)
        reviews = list(session.scalars(select(Review).where(Review.search_id == s.id)))
        verifs = list(session.scalars(select(Verification).where(Verification.search_id == s.id)))
        extra = session.scalars(select(SearchProbe.probe_id).where(SearchProbe.search_id == s.id))
        probe_ids |= {s.probe_id, *[p for p in extra if p is not None]}
        items.append(
            {
                "search_id": s.id,
                "at": s.at,
                "user": s.user.username,
                "probe_sha256": s.probe_sha256,
                "candidates": [
                    {
                        "face_id": c.face_id,
                        "sha256": _sha(
                            [c.rank, c.face_id, c.score, c.band, c.image_sha256, c.crop]
                        ),
                    }
                    for c in cands
                ],
                "reviews": [
                    _sha([r.id, r.face_id, r.decision, r.note, r.reviewer_id, r.at])
                    for r in reviews
                ],
                "verifications": [
                    _sha([v.id, v.face_id, v.verdict, v.note, v.basis, v.verifier_id, v.at])
                    for v in verifs
                ],
            }
        )
    probes_deleted: list[str] = []
    if ids:
        session.execute(delete(Verification).where(Verification.search_id.in_(ids)))
        session.execute(delete(Review).where(Review.search_id.in_(ids)))
        session.execute(delete(MultiProbeScore).where(MultiProbeScore.search_id.in_(ids)))
        session.execute(delete(CandidateRow).where(CandidateRow.search_id.in_(ids)))
        for s in searches:
            s.results_purged_at = now
        for q in session.scalars(select(StandingQuery).where(StandingQuery.search_id.in_(ids))):
            q.embedding = q.second_embedding = q.probe = None
            q.status, q.ended_at = "stopped", now
            q.end_note = f"urgent use {reason}: its searches were deleted"
        # a probe also used by a search under another authorisation stays
        kept = set(
            session.scalars(
                select(Search.probe_id).where(Search.probe_id.in_(probe_ids), Search.id.not_in(ids))
            )
        )
        for p in session.scalars(select(Probe).where(Probe.id.in_(probe_ids - kept))):
            if p.data is not None:
                probes_deleted.append(p.sha256)
                p.data, p.purged_at = None, now
    urgent.status, urgent.resolved_at = reason, now
    content = {
        "authorisation": urgent.id,
        "urgent_since": urgent.recorded_at,
        "deadline_at": urgent.deadline_at,
        "deleted_at": now,
        "searches": items,
        "probes_deleted_sha256": sorted(probes_deleted),
    }
    receipt = write_receipt(session, audit, actor, urgent.case, reason, content, key, now)
    urgent.receipt_id = receipt.id
    session.flush()
    session.expire_all()
    return receipt
