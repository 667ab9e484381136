"""Pending changes: the two-person rule for the acts one administrator must not do alone.

Granting the ``administrator`` or ``supervisor`` role (adding such a user, or changing a
user's roles), re-enabling a disabled user and putting a new policy in force are recorded as a
:class:`~facesearch.govern.schema.PendingChange` (``<kind>.requested`` in the audit log). The
change takes effect only when an administrator *other than the one who asked* approves it
(``change.approved``, then the change's own entry); either administrator may list pending
changes, and any administrator may reject one (``change.rejected``; the one who asked may so
withdraw it).

A change detected rather than asked for (a policy file that differs from the policy in force)
is requested by ``system``: the first administrator to approve it endorses it
(``change.endorsed``) and a second, different administrator puts it in force.

This module keeps the table; what a change does when approved is supplied by the caller
(:class:`~facesearch.govern.governance.Governance` passes the user and policy appliers), so
it imports no other governance module but the schema and the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.errors import RefusedError
from facesearch.govern.schema import PendingChange, User

ADMINISTRATOR = "administrator"  # users.Role.ADMINISTRATOR (users imports this module)
SYSTEM = "system"  # the requester of a change detected, not asked for (a new policy file)
KINDS = ("user.add", "user.roles", "user.enable", "policy")
PENDING, APPROVED, REJECTED, SUPERSEDED = "pending", "approved", "rejected", "superseded"

Applier = Callable[[Session, AuditLog, PendingChange, str], None]


@dataclass(frozen=True)
class ChangeView:
    """A pending (or decided) change as shown: never its payload (it may hold a password
    hash or a whole policy text), only its summary."""

    id: int
    kind: str
    target: str
    summary: str
    status: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str
    message: str = ""

    @classmethod
    def of(cls, row: PendingChange, message: str = "") -> ChangeView:
        return cls(
            row.id,
            row.kind,
            row.target,
            row.summary,
            row.status,
            row.requested_by,
            row.requested_at,
            row.decided_by,
            row.decided_at,
            row.note or "",
            message,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "summary": self.summary,
            "status": self.status,
            "requested_by": self.requested_by,
            "requested_at": self.requested_at,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at,
            "note": self.note,
            "message": self.message,
        }


def administrators(session: Session) -> list[str]:
    """The active administrators' names."""
    rows = session.execute(
        select(User.username, User.roles).where(User.active.is_(True)).order_by(User.username)
    ).all()
    return [name for name, roles in rows if ADMINISTRATOR in roles.split(",")]


def _require_admin(session: Session, actor: str, action: str) -> User:
    user = session.execute(
        select(User).where(User.username == (actor or "").strip().lower())
    ).scalar_one_or_none()
    if user is None:
        raise RefusedError(action, f"unknown user {actor!r}")
    if not user.active:
        raise RefusedError(action, f"user {user.username!r} is disabled")
    if user.must_change_password:
        raise RefusedError(action, f"user {user.username!r} must change their password first")
    if ADMINISTRATOR not in user.role_set:
        have = ", ".join(sorted(user.role_set)) or "none"
        raise RefusedError(
            action, f"user {user.username!r} lacks the role needed (administrator); has: {have}"
        )
    return user


def waiting_message(session: Session, row: PendingChange) -> str:
    """What the requester is told: who must act next (and, with one administrator, that the
    change cannot take effect until there is a second)."""
    admins = administrators(session)
    others = [a for a in admins if a != row.requested_by]
    first = f"change {row.id} ({row.summary}) is pending"
    how = f"'facesearch change approve {row.id}' or POST /api/v1/changes/{row.id}/approve"
    if row.requested_by == SYSTEM:
        need = "two administrators must approve it"
        if len(admins) < 2:
            need += f"; there is only {len(admins)} administrator, so it stays pending"
        return f"{first}: {need} ({how})"
    if not others:
        return (
            f"{first}: a second administrator must approve it, and {row.requested_by!r} is "
            "the only administrator, so it stays pending until there is another one"
        )
    return f"{first}: another administrator ({', '.join(others)}) must approve it ({how})"


def request(
    session: Session,
    audit: AuditLog,
    actor: str,
    kind: str,
    target: str,
    payload: Mapping[str, Any],
    summary: str,
    now: datetime,
    details: Mapping[str, Any] | None = None,
) -> PendingChange:
    """Record a change that waits for a second administrator (``<kind>.requested``)."""
    assert kind in KINDS, kind
    action = f"{kind}.request"
    duplicate = session.execute(
        select(PendingChange.id).where(
            PendingChange.kind == kind,
            PendingChange.target == target,
            PendingChange.status == PENDING,
        )
    ).scalar()
    if duplicate is not None:
        raise RefusedError(action, f"change {duplicate} already asks this and is still pending")
    row = PendingChange(
        kind=kind,
        target=target,
        payload=dict(payload),
        summary=summary,
        status=PENDING,
        requested_by=actor,
        requested_at=now,
        note="",
    )
    session.add(row)
    session.flush()
    admins = administrators(session)
    audit.record(
        actor,
        f"{kind}.requested",
        {
            "change_id": row.id,
            "target": target,
            "summary": summary,
            **dict(details or {}),
            "administrators": len(admins),
        },
    )
    return row


def _pending(session: Session, action: str, change_id: int) -> PendingChange:
    row = session.get(PendingChange, change_id)
    if row is None:
        raise RefusedError(action, f"no change with id {change_id}")
    if row.status != PENDING:
        raise RefusedError(action, f"change {change_id} is {row.status}, not pending")
    return row


def approve(
    session: Session,
    audit: AuditLog,
    actor: str,
    change_id: int,
    now: datetime,
    appliers: Mapping[str, Applier],
    note: str = "",
) -> ChangeView:
    """Approve a pending change as an administrator who did not ask for it: it takes effect
    now (``change.approved``, then what the applier records). A change requested by
    ``system`` is first endorsed by one administrator (``change.endorsed``, still pending)."""
    action = "change.approve"
    acting = _require_admin(session, actor, action)
    row = _pending(session, action, change_id)
    if row.requested_by == acting.username:
        raise RefusedError(
            action,
            f"change {row.id} was asked for by {acting.username!r}: another administrator "
            "must approve it (the two-person rule)",
        )
    if row.requested_by == SYSTEM:
        row.requested_by = acting.username
        audit.record(
            actor,
            "change.endorsed",
            {"change_id": row.id, "kind": row.kind, "target": row.target, "note": note},
        )
        return ChangeView.of(row, waiting_message(session, row))
    row.status = APPROVED
    row.decided_by = acting.username
    row.decided_at = now
    row.note = note
    audit.record(
        actor,
        "change.approved",
        {
            "change_id": row.id,
            "kind": row.kind,
            "target": row.target,
            "summary": row.summary,
            "requested_by": row.requested_by,
            "note": note,
        },
    )
    appliers[row.kind](session, audit, row, acting.username)
    row.payload = _without_secrets(row.payload)
    return ChangeView.of(row, f"change {row.id} approved: {row.summary}")


def _without_secrets(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """A decided change keeps what it did, not the password hash it carried."""
    return {k: v for k, v in (payload or {}).items() if k != "password_hash"}


def reject(
    session: Session, audit: AuditLog, actor: str, change_id: int, now: datetime, note: str = ""
) -> ChangeView:
    """Reject (or, by the one who asked, withdraw) a pending change: it never takes effect."""
    action = "change.reject"
    acting = _require_admin(session, actor, action)
    row = _pending(session, action, change_id)
    row.status = REJECTED
    row.payload = _without_secrets(row.payload)
    row.decided_by = acting.username
    row.decided_at = now
    row.note = note
    audit.record(
        actor,
        "change.rejected",
        {
            "change_id": row.id,
            "kind": row.kind,
            "target": row.target,
            "summary": row.summary,
            "requested_by": row.requested_by,
            "note": note,
        },
    )
    return ChangeView.of(row, f"change {row.id} rejected: {row.summary}")


def list_changes(session: Session, actor: str, status: str | None = PENDING) -> list[ChangeView]:
    """Changes (pending ones by default; all with ``status=None``), for administrators."""
    _require_admin(session, actor, "change.list")
    q = select(PendingChange).order_by(PendingChange.id)
    if status is not None:
        q = q.where(PendingChange.status == status)
    return [ChangeView.of(r) for r in session.execute(q).scalars()]


def pending_for(session: Session, kind: str, target: str | None = None) -> PendingChange | None:
    """The pending change of ``kind`` (on ``target``), if any."""
    q = select(PendingChange).where(PendingChange.kind == kind, PendingChange.status == PENDING)
    if target is not None:
        q = q.where(PendingChange.target == target)
    return session.execute(q.order_by(PendingChange.id.desc()).limit(1)).scalar_one_or_none()


@dataclass(frozen=True)
class PendingPolicy:
    """A policy waiting for two administrators, as shown to any signed-in user: its hash and
    text, who recorded it and when (``system``: the process that first read the changed
    ``policy.toml``; ``first_used_by``: the user whose act it was doing then, when known),
    and the administrators who approved it so far (the first approval endorses it; the
    second puts it in force)."""

    change_id: int
    sha256: str
    source: str
    text: str
    recorded_by: str
    recorded_at: datetime
    approvals: tuple[str, ...]
    first_used_by: str | None = None
    approvals_needed: int = 2

    @classmethod
    def of(cls, row: PendingChange) -> PendingPolicy:
        payload = row.payload or {}
        endorsed = () if row.requested_by == SYSTEM else (row.requested_by,)
        first = str(payload.get("first_used_by") or "")
        return cls(
            row.id,
            row.target,
            str(payload.get("source", "")),
            str(payload.get("text", "")),
            str(payload.get("asked_by") or SYSTEM),
            row.requested_at,
            endorsed,
            first if first and first != "(none)" else None,
        )


def request_policy(
    session: Session,
    audit: AuditLog,
    actor: str,
    sha256: str,
    text: str,
    source: str,
    in_force_sha256: str,
    now: datetime,
) -> PendingChange:
    """An administrator asks to put a policy text (already checked by the caller: it parses)
    in force: a pending change that a second administrator approves (the one who asked counts
    as the first of the two). It supersedes any other policy change still pending."""
    action = "policy.request"
    acting = _require_admin(session, actor, action)
    if sha256 == in_force_sha256:
        raise RefusedError(action, "this policy is already in force")
    supersede(session, audit, "policy", sha256, actor=acting.username)
    return request(
        session,
        audit,
        acting.username,
        "policy",
        sha256,
        {"text": text, "source": source, "asked_by": acting.username},
        f"put policy {sha256[:12]} ({source}) in force",
        now,
        {"policy_sha256": sha256, "in_force_sha256": in_force_sha256, "source": source},
    )


def pending_policy(session: Session) -> PendingPolicy | None:
    """The policy change still pending (at most one: a newer file supersedes it), if any."""
    row = pending_for(session, "policy")
    return PendingPolicy.of(row) if row is not None else None


def ever_requested(session: Session, kind: str, target: str) -> bool:
    """True if a change of ``kind`` on ``target`` was ever recorded (whatever its status)."""
    n = session.execute(
        select(func.count())
        .select_from(PendingChange)
        .where(PendingChange.kind == kind, PendingChange.target == target)
    ).scalar_one()
    return bool(n)


def supersede(
    session: Session, audit: AuditLog, kind: str, keep_target: str, actor: str = SYSTEM
) -> None:
    """Mark the pending changes of ``kind`` on any other target superseded (a newer policy
    file, or a policy an administrator asks for, replaces one still waiting)."""
    rows = session.execute(
        select(PendingChange).where(
            PendingChange.kind == kind,
            PendingChange.status == PENDING,
            PendingChange.target != keep_target,
        )
    ).scalars()
    for row in rows:
        row.status = SUPERSEDED
        audit.record(
            actor,
            "change.superseded",
            {"change_id": row.id, "kind": kind, "target": row.target, "by": keep_target},
        )
