"""Supervised quality overrides: one probe face below the policy's minimum quality searched
with a supervisor's grant.

A probe face whose quality is below ``search.min_probe_quality`` is refused
(:mod:`facesearch.govern.searches`). When the policy allows it (``search.quality_override``,
on by default), the investigator may ask that this one face be searched anyway:

1. **request** (``quality_override.request``): an investigator assigned to the open case,
   for one probe (its SHA-256) and one face index, with a reason (at least
   :data:`MIN_REASON` characters). The reason is kept with the case; the permanent audit log
   keeps its SHA-256, as for review notes.
2. **grant** or **refuse** (``quality_override.grant`` / ``quality_override.refuse``): an
   active supervisor who is not the requester, while the case is open and the request
   pending.
3. **use** (``quality_override.use``): the requester's next search of that probe's face in
   that case, when its quality is below the minimum, runs under the grant; the override is
   then spent (one search only), the search row points to it and the search's audit entry
   names it (who granted, the reason's hash). Another probe, face, case or investigator gets
   nothing from it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.cases import OPEN, require_case
from facesearch.govern.errors import RefusedError
from facesearch.govern.overrides_schema import QualityOverride
from facesearch.govern.policy import Policy
from facesearch.govern.schema import Case, Search, User
from facesearch.govern.users import Role, has_role, require_user

REQUEST = "quality_override.request"
GRANT = "quality_override.grant"
REFUSE = "quality_override.refuse"
USE = "quality_override.use"
PENDING, GRANTED, REFUSED, USED = "pending", "granted", "refused", "used"
STATUSES = (PENDING, GRANTED, REFUSED, USED)
MIN_REASON = 10
SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class OverrideView:
    id: int
    case: str
    probe_sha256: str
    face: int
    quality: float | None
    reason: str
    status: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str
    search_id: int | None
    used_at: datetime | None


def view_of(o: QualityOverride) -> OverrideView:
    return OverrideView(
        id=o.id,
        case=o.case.number,
        probe_sha256=o.probe_sha256,
        face=o.face,
        quality=o.quality,
        reason=o.reason,
        status=o.status,
        requested_by=o.requested_by.username,
        requested_at=o.requested_at,
        decided_by=o.decided_by.username if o.decided_by else None,
        decided_at=o.decided_at,
        decision_note=o.decision_note,
        search_id=o.search_id,
        used_at=o.used_at,
    )


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def request_override(
    session: Session,
    audit: AuditLog,
    policy: Policy,
    actor: str,
    number: str,
    probe_sha256: str,
    face: int,
    quality: float | None,
    reason: str,
    now: datetime,
) -> OverrideView:
    """Step 1: an assigned investigator asks for an override of one probe face in a case."""
    if not policy.search.quality_override:
        raise RefusedError(REQUEST, "the policy in force allows no quality override")
    from facesearch.govern.searches import check_may_search  # searches uses this module

    try:
        user, case = check_may_search(session, policy, actor, number, 1)
    except RefusedError as exc:
        raise RefusedError(REQUEST, exc.reason) from None
    sha = probe_sha256.strip().lower()
    if not SHA256.fullmatch(sha):
        raise RefusedError(REQUEST, "probe_sha256 must be the probe's SHA-256 (64 hex digits)")
    if face < 0:
        raise RefusedError(REQUEST, f"face must be 0 or more, got {face}")
    why = reason.strip()
    if len(why) < MIN_REASON:
        raise RefusedError(
            REQUEST, f"give the reason for the override (at least {MIN_REASON} characters)"
        )
    open_ones = session.execute(
        select(QualityOverride).where(
            QualityOverride.case_id == case.id,
            QualityOverride.probe_sha256 == sha,
            QualityOverride.face == face,
            QualityOverride.requested_by_id == user.id,
            QualityOverride.status.in_((PENDING, GRANTED)),
        )
    ).scalar_one_or_none()
    if open_ones is not None:
        raise RefusedError(
            REQUEST,
            f"override {open_ones.id} for this probe face is already {open_ones.status}",
        )
    row = QualityOverride(
        case=case,
        probe_sha256=sha,
        face=int(face),
        quality=None if quality is None else float(quality),
        reason=why,
        status=PENDING,
        requested_by=user,
        requested_at=now,
        decision_note="",
    )
    session.add(row)
    session.flush()
    entry = audit.record(
        actor,
        REQUEST,
        {
            "case": case.number,
            "override_id": row.id,
            "probe_sha256": sha,
            "face": row.face,
            "quality": row.quality,
            "min_probe_quality": policy.search.min_probe_quality,
            "reason_sha256": _sha(why),
        },
    )
    row.audit_seq = entry.seq
    return view_of(row)


def decide_override(
    session: Session,
    audit: AuditLog,
    actor: str,
    override_id: int,
    grant: bool,
    note: str,
    now: datetime,
) -> OverrideView:
    """Step 2: a supervisor (not the requester) grants or refuses a pending override."""
    action = GRANT if grant else REFUSE
    user = require_user(session, actor, action, {Role.SUPERVISOR})
    row = session.get(QualityOverride, override_id)
    if row is None:
        raise RefusedError(action, f"no quality override {override_id}")
    if row.requested_by_id == user.id:
        raise RefusedError(
            action, f"{user.username!r} asked for override {row.id} and cannot decide on it"
        )
    if row.status != PENDING:
        raise RefusedError(action, f"override {row.id} is {row.status}, not pending")
    if row.case.status != OPEN:
        raise RefusedError(action, f"case {row.case.number!r} is {row.case.status}, not open")
    text = note.strip()
    if not grant and not text:
        raise RefusedError(action, "say why the override is refused")
    row.status = GRANTED if grant else REFUSED
    row.decided_by = user
    row.decided_at = now
    row.decision_note = text
    audit.record(
        actor,
        action,
        {
            "case": row.case.number,
            "override_id": row.id,
            "requested_by": row.requested_by.username,
            "probe_sha256": row.probe_sha256,
            "face": row.face,
            "note_sha256": _sha(text),
        },
    )
    return view_of(row)


def granted_override(
    session: Session, policy: Policy, case: Case, user: User, probe_sha256: str, face: int | None
) -> QualityOverride | None:
    """The unspent grant that lets ``user`` search this probe face in ``case`` below the
    quality minimum, if the policy in force still allows overrides."""
    if not policy.search.quality_override or face is None:
        return None
    found: QualityOverride | None = session.execute(
        select(QualityOverride)
        .where(
            QualityOverride.case_id == case.id,
            QualityOverride.probe_sha256 == probe_sha256,
            QualityOverride.face == int(face),
            QualityOverride.requested_by_id == user.id,
            QualityOverride.status == GRANTED,
        )
        .order_by(QualityOverride.id)
        .limit(1)
    ).scalar_one_or_none()
    return found


def use_override(
    audit: AuditLog, actor: str, row: QualityOverride, search: Search, now: datetime
) -> dict[str, Any]:
    """Step 3: spend ``row`` on ``search`` (flushed); answers what the search's own audit
    entry says of it."""
    row.status = USED
    row.search = search  # and search.quality_override = row, in memory
    row.used_at = now
    granted_by = row.decided_by.username if row.decided_by else None
    audit.record(
        actor,
        USE,
        {
            "case": row.case.number,
            "override_id": row.id,
            "search_id": search.id,
            "probe_sha256": row.probe_sha256,
            "face": row.face,
            "granted_by": granted_by,
        },
    )
    return {"override_id": row.id, "granted_by": granted_by, "reason_sha256": _sha(row.reason)}


def override_summary(search: Search) -> dict[str, Any] | None:
    """What a search's results say of the override it ran under (None: it did not)."""
    row: QualityOverride | None = getattr(search, "quality_override", None)
    if row is None:
        return None
    return {
        "id": row.id,
        "requested_by": row.requested_by.username,
        "reason": row.reason,
        "granted_by": row.decided_by.username if row.decided_by else None,
        "granted_at": row.decided_at.isoformat() if row.decided_at else None,
        "note": row.decision_note,
        "quality": row.quality,
    }


def list_overrides(
    session: Session,
    actor: str,
    *,
    case: str | None = None,
    status: str | None = None,
    probe_sha256: str | None = None,
) -> list[OverrideView]:
    """The overrides ``actor`` may see: a supervisor or auditor all of them, an investigator
    their own requests; newest first, filtered by case, status and probe."""
    action = "quality_override.list"
    user = require_user(session, actor, action)
    if status is not None and status not in STATUSES:
        raise RefusedError(action, f"status must be one of {', '.join(STATUSES)}")
    q = select(QualityOverride).order_by(QualityOverride.id.desc())
    if not (has_role(user, Role.SUPERVISOR) or has_role(user, Role.AUDITOR)):
        if not has_role(user, Role.INVESTIGATOR):
            raise RefusedError(action, f"user {user.username!r} may not see quality overrides")
        q = q.where(QualityOverride.requested_by_id == user.id)
    if case:
        q = q.where(QualityOverride.case_id == require_case(session, case, action).id)
    if status:
        q = q.where(QualityOverride.status == status)
    if probe_sha256:
        q = q.where(QualityOverride.probe_sha256 == probe_sha256.strip().lower())
    return [view_of(o) for o in session.execute(q.limit(500)).scalars()]
