"""Cases: the only context in which a face search may run.

Life cycle::

    open (an investigator or supervisor requests it, naming a purpose the policy allows,
          the legal authority and a justification)
      -> pending   when the purpose needs approval
      -> open      at once when the policy says the purpose needs none
    pending -> open      approve, by a supervisor who is not the requester
    pending -> rejected  reject, by a supervisor who is not the requester
    rejected -> pending  resubmit, by the requester, with the request amended (purpose, legal
                         authority, justification): back in the supervisors' queue
    open    -> closed    close, by a supervisor or the requester

A case's history (request, decisions with their reasons, amendments, resubmissions,
assignments, closing) is read back from the audit log, where every one of those acts is
recorded (:func:`case_history`).

Searches run only while a case is ``open``, and only by active investigators assigned to it.
The requester, if an investigator, is assigned when the case is opened.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.case_history import CaseEvent, Rejection, Resubmissions
from facesearch.govern.errors import NotVisibleError, RefusedError
from facesearch.govern.policy import Policy, Purpose
from facesearch.govern.schema import CandidateRow, Case, CaseAssignment, Search, User
from facesearch.govern.users import Role, find_user, has_role, require_user

PENDING = "pending"
OPEN = "open"
REJECTED = "rejected"
CLOSED = "closed"
# A case number is a path segment of the HTTP API (``/cases/{number}``): no ``/``, no control
# characters or spaces, a sane length.
CASE_NUMBER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def case_number_problem(number: str) -> str | None:
    """Why ``number`` (already stripped) cannot be a case number, or None if it can."""
    if CASE_NUMBER_RE.fullmatch(number):
        return None
    return (
        f"invalid case number {number!r}: 1 to 64 letters, digits, '-', '_', '.' or ':', "
        "starting with a letter or digit"
    )


def find_case(session: Session, number: str) -> Case | None:
    return session.execute(select(Case).where(Case.number == number.strip())).scalar_one_or_none()


def require_case(session: Session, number: str, action: str) -> Case:
    case = find_case(session, number)
    if case is None:
        raise RefusedError(action, f"no case {number!r}")
    return case


def active_assignment(case: Case, user: User) -> CaseAssignment | None:
    for a in case.assignments:
        if a.user_id == user.id and a.removed_at is None:
            return a
    return None


def is_assigned(session: Session, case: Case, user: User) -> bool:
    """Whether ``user`` holds an active assignment to ``case``: one indexed lookup, not the
    case's whole assignment list (a large team's case is checked twice per search)."""
    found = session.execute(
        select(CaseAssignment.id)
        .where(
            CaseAssignment.case_id == case.id,
            CaseAssignment.user_id == user.id,
            CaseAssignment.removed_at.is_(None),
        )
        .limit(1)
    ).scalar_one_or_none()
    return found is not None


def assigned_usernames(case: Case) -> list[str]:
    return [a.user.username for a in case.assignments if a.removed_at is None]


def can_read_case(user: User, case: Case) -> bool:
    """Supervisors, auditors, the requester and assigned investigators may read a case."""
    if has_role(user, Role.SUPERVISOR) or has_role(user, Role.AUDITOR):
        return True
    return case.requested_by_id == user.id or active_assignment(case, user) is not None


def require_readable_case(session: Session, user: User, number: str, action: str) -> Case:
    case = require_case(session, number, action)
    if not can_read_case(user, case):
        raise NotVisibleError(
            action,
            f"user {user.username!r} is not assigned to case {case.number!r} "
            "(and is not a supervisor or auditor)",
            f"no case {number!r}",
        )
    return case


def case_showing_face(
    session: Session, actor: str, face_id: int, search_id: int | None, action: str
) -> str | None:
    """The case through which ``actor`` may see gallery face ``face_id`` (its crop, thumbnail
    or image): None for an administrator outside any search; otherwise a case whose search
    (``search_id``, when given) returned the face and which the actor may read
    (administrators read every case). :class:`RefusedError` otherwise."""
    user = require_user(session, actor, action)
    admin = has_role(user, Role.ADMINISTRATOR)
    if admin and search_id is None:
        return None
    q = (
        select(Case)
        .join(Search, Search.case_id == Case.id)
        .join(CandidateRow, CandidateRow.search_id == Search.id)
        .where(CandidateRow.face_id == face_id)
    )
    if search_id is not None:
        q = q.where(Search.id == search_id)
    for case in session.execute(q).scalars():
        if admin or can_read_case(user, case):
            return case.number
    raise RefusedError(
        action, f"face {face_id} was not returned by a search in a case {actor!r} may read"
    )


def checked_request(
    action: str, policy: Policy, purpose: str, legal_authority: str, justification: str
) -> Purpose:
    """The policy's purpose ``purpose``, after checking what a case request must give (a
    purpose the policy allows, a legal authority, a justification of 10 characters or more)."""
    p = policy.purpose(purpose)
    if p is None:
        allowed = "; ".join(f"{x.key} ({x.name})" for x in policy.purposes)
        raise RefusedError(action, f"purpose {purpose!r} is not allowed by the policy: {allowed}")
    if not legal_authority.strip():
        raise RefusedError(action, "a legal authority reference is required")
    if len(justification.strip()) < 10:
        raise RefusedError(action, "a justification is required (at least 10 characters)")
    return p


def open_case(
    session: Session,
    audit: AuditLog,
    policy: Policy,
    actor: str,
    number: str,
    purpose: str,
    legal_authority: str,
    justification: str,
    now: datetime,
) -> Case:
    action = "case.open"
    user = require_user(session, actor, action, {Role.INVESTIGATOR, Role.SUPERVISOR})
    number = number.strip()
    problem = case_number_problem(number)
    if problem is not None:
        raise RefusedError(action, problem)
    p = checked_request(action, policy, purpose, legal_authority, justification)
    if find_case(session, number) is not None:
        raise RefusedError(action, f"case {number!r} already exists")
    status = PENDING if p.requires_approval else OPEN
    case = Case(
        number=number,
        purpose_key=p.key,
        purpose_name=p.name,
        legal_authority=legal_authority.strip(),
        justification=justification.strip(),
        status=status,
        requires_approval=p.requires_approval,
        requested_by_id=user.id,
        requested_at=now,
        opened_at=None if p.requires_approval else now,
    )
    session.add(case)
    session.flush()
    audit.record(
        actor,
        action,
        {
            "case": number,
            "purpose": p.key,
            "purpose_name": p.name,
            "legal_authority": case.legal_authority,
            "justification": case.justification,
            "requires_approval": p.requires_approval,
            "status": status,
            "policy_sha256": policy.sha256,
        },
    )
    if has_role(user, Role.INVESTIGATOR):
        _assign(session, audit, actor, case, user, now)
    return case


def _decide(
    session: Session,
    audit: AuditLog,
    actor: str,
    number: str,
    approve: bool,
    note: str,
    now: datetime,
) -> Case:
    action = "case.approve" if approve else "case.reject"
    user = require_user(session, actor, action, {Role.SUPERVISOR})
    case = require_case(session, number, action)
    if case.requested_by_id == user.id:
        raise RefusedError(
            action, f"{user.username!r} requested case {case.number!r} and cannot decide on it"
        )
    if case.status != PENDING:
        raise RefusedError(action, f"case {case.number!r} is {case.status}, not pending approval")
    case.decided_by_id = user.id
    case.decided_at = now
    case.decision_note = note.strip()
    case.status = OPEN if approve else REJECTED
    if approve:
        case.opened_at = now
    audit.record(
        actor,
        action,
        {
            "case": case.number,
            "purpose": case.purpose_key,
            "requested_by": case.requested_by.username,
            "note": case.decision_note,
        },
    )
    return case


def approve_case(
    session: Session, audit: AuditLog, actor: str, number: str, note: str, now: datetime
) -> Case:
    return _decide(session, audit, actor, number, True, note, now)


def reject_case(
    session: Session, audit: AuditLog, actor: str, number: str, note: str, now: datetime
) -> Case:
    return _decide(session, audit, actor, number, False, note, now)


AMENDABLE = ("purpose", "legal_authority", "justification")


def resubmit_case(
    session: Session,
    audit: AuditLog,
    policy: Policy,
    actor: str,
    number: str,
    purpose: str,
    legal_authority: str,
    justification: str,
    note: str,
    now: datetime,
) -> Case:
    """The requester amends a rejected case's request and submits it again: it is pending
    approval again (whatever its purpose: a rejected request is decided by a supervisor),
    the rejection's decision cleared from the case and kept in the audit log. Audited as
    ``case.amend`` (the fields changed, before and after) and ``case.resubmit`` (the
    rejection answered, the requester's ``note``)."""
    action = "case.resubmit"
    user = require_user(session, actor, action, {Role.INVESTIGATOR, Role.SUPERVISOR})
    case = require_readable_case(session, user, number, action)
    if case.requested_by_id != user.id:
        raise RefusedError(
            action,
            f"only the requester of case {case.number!r} ({case.requested_by.username}) "
            "may amend and resubmit it",
        )
    if case.status != REJECTED:
        raise RefusedError(
            action,
            f"case {case.number!r} is {case.status}: only a rejected case can be amended "
            "and resubmitted",
        )
    p = checked_request(action, policy, purpose, legal_authority, justification)
    before = {
        "purpose": case.purpose_key,
        "legal_authority": case.legal_authority,
        "justification": case.justification,
    }
    after = {
        "purpose": p.key,
        "legal_authority": legal_authority.strip(),
        "justification": justification.strip(),
    }
    changes = {k: {"from": before[k], "to": after[k]} for k in AMENDABLE if before[k] != after[k]}
    rejection = {
        "by": case.decided_by.username if case.decided_by else None,
        "at": case.decided_at,
        "note": case.decision_note,
    }
    case.purpose_key = p.key
    case.purpose_name = p.name
    case.legal_authority = after["legal_authority"]
    case.justification = after["justification"]
    case.status = PENDING
    case.requires_approval = True
    case.decided_by = None
    case.decided_at = None
    case.decision_note = None
    if changes:
        audit.record(actor, "case.amend", {"case": case.number, "changes": changes})
    audit.record(
        actor,
        action,
        {
            "case": case.number,
            "purpose": p.key,
            "amended": sorted(changes),
            "rejection": rejection,
            "note": note.strip(),
            "status": PENDING,
            "policy_sha256": policy.sha256,
        },
    )
    session.flush()
    return case


def _assign(
    session: Session, audit: AuditLog, actor: str, case: Case, target: User, now: datetime
) -> None:
    a = CaseAssignment(case=case, user=target, assigned_by=actor, assigned_at=now)
    session.add(a)
    session.flush()
    audit.record(actor, "case.assign", {"case": case.number, "user": target.username})


def assign(
    session: Session, audit: AuditLog, actor: str, number: str, username: str, now: datetime
) -> Case:
    action = "case.assign"
    require_user(session, actor, action, {Role.SUPERVISOR})
    case = require_case(session, number, action)
    if case.status not in (PENDING, OPEN):
        raise RefusedError(action, f"case {case.number!r} is {case.status}")
    target = find_user(session, username)
    if target is None:
        raise RefusedError(action, f"unknown user {username!r}")
    if not target.active:
        raise RefusedError(action, f"user {target.username!r} is disabled")
    if not has_role(target, Role.INVESTIGATOR):
        raise RefusedError(action, f"user {target.username!r} is not an investigator")
    if active_assignment(case, target) is not None:
        raise RefusedError(action, f"{target.username!r} is already assigned to {case.number!r}")
    _assign(session, audit, actor, case, target, now)
    return case


def unassign(
    session: Session, audit: AuditLog, actor: str, number: str, username: str, now: datetime
) -> Case:
    action = "case.unassign"
    require_user(session, actor, action, {Role.SUPERVISOR})
    case = require_case(session, number, action)
    target = find_user(session, username)
    a = active_assignment(case, target) if target is not None else None
    if target is None or a is None:
        raise RefusedError(action, f"{username!r} is not assigned to case {case.number!r}")
    a.removed_at = now
    a.removed_by = actor
    audit.record(actor, action, {"case": case.number, "user": target.username})
    return case


def close_case(
    session: Session, audit: AuditLog, actor: str, number: str, note: str, now: datetime
) -> Case:
    action = "case.close"
    user = require_user(session, actor, action)
    case = require_case(session, number, action)
    if not (has_role(user, Role.SUPERVISOR) or case.requested_by_id == user.id):
        raise RefusedError(action, "only a supervisor or the case's requester may close it")
    if case.status not in (PENDING, OPEN):
        raise RefusedError(action, f"case {case.number!r} is already {case.status}")
    case.status = CLOSED
    case.closed_by_id = user.id
    case.closed_at = now
    case.close_note = note.strip()
    audit.record(actor, action, {"case": case.number, "note": case.close_note})
    return case


@dataclass(frozen=True)
class CaseSummary:
    number: str
    status: str
    purpose_key: str
    purpose_name: str
    legal_authority: str
    justification: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    opened_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    close_note: str | None
    assigned: tuple[str, ...]
    searches: int
    resubmissions: int = 0
    last_rejection: Rejection | None = None
    history: tuple[CaseEvent, ...] = ()

    @classmethod
    def of(
        cls,
        case: Case,
        searches: int = 0,
        resubmitted: Resubmissions | None = None,
        history: Iterable[CaseEvent] = (),
    ) -> CaseSummary:
        return cls(
            number=case.number,
            status=case.status,
            purpose_key=case.purpose_key,
            purpose_name=case.purpose_name,
            legal_authority=case.legal_authority,
            justification=case.justification,
            requested_by=case.requested_by.username,
            requested_at=case.requested_at,
            decided_by=case.decided_by.username if case.decided_by else None,
            decided_at=case.decided_at,
            decision_note=case.decision_note,
            opened_at=case.opened_at,
            closed_by=case.closed_by.username if case.closed_by else None,
            closed_at=case.closed_at,
            close_note=case.close_note,
            assigned=tuple(assigned_usernames(case)),
            searches=searches,
            resubmissions=resubmitted.count if resubmitted else 0,
            last_rejection=resubmitted.last_rejection if resubmitted else None,
            history=tuple(history),
        )
