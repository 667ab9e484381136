"""What an approved user change does, and the operator's setup of the first administrators
(the rules for asking are in :mod:`.users`; the two-person rule in :mod:`.changes`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.errors import RefusedError
from facesearch.govern.schema import PendingChange
from facesearch.govern.users import (
    find_user,
    insert_user,
    roles_or_refuse,
    roles_text,
    target_user,
)


def apply_change(session: Session, audit: AuditLog, row: PendingChange, approver: str) -> None:
    """Make an approved user change take effect (``changes.approve`` calls this)."""
    action = "change.approve"
    p = row.payload or {}
    if row.kind == "user.add":
        if find_user(session, row.target) is not None:
            raise RefusedError(action, f"user {row.target!r} exists already")
        role_set = roles_or_refuse(action, p.get("roles", []))
        insert_user(
            session,
            audit,
            approver,
            row.target,
            role_set,
            p.get("password_hash"),
            str(p.get("display_name", "")),
            row.decided_at,
            change_id=row.id,
        )
        return
    target = target_user(session, action, row.target)
    if row.kind == "user.roles":
        if sorted(target.role_set) != list(p.get("from", [])):
            raise RefusedError(
                action,
                f"the roles of {target.username!r} changed since change {row.id} was asked "
                "for: reject it and ask again",
            )
        target.roles = roles_text(roles_or_refuse(action, p.get("to", [])))
        audit.record(
            approver,
            "user.roles",
            {
                "user": target.username,
                "from": p.get("from"),
                "to": sorted(target.role_set),
                "change_id": row.id,
            },
        )
    elif row.kind == "user.enable":
        target.active = True
        target.disabled_at = None
        audit.record(approver, "user.enable", {"user": target.username, "change_id": row.id})
    else:  # pragma: no cover - the appliers are chosen by kind
        raise RefusedError(action, f"not a user change: {row.kind}")
