"""Suspending all searching, and the incident register (EU AI Act Art. 26(5); the oversight
report lists both).

* **Suspension.** An administrator suspends every search at once, with a reason: from then on
  each search (single, multi-probe, media person; web, API and CLI alike) is refused with
  that reason until an administrator resumes searching, with a note. Reviews, verifications,
  reports and audit stay available: the leads already found are still examined. At most one
  suspension is in force; suspending again while suspended is refused (the first reason
  stands). Both steps are audited.
* **Incidents.** Any active user records an incident (a title, what happened, when, the case
  if any, and whether it is serious). Administrators record to whom and when a serious one was
  reported, and close it with its resolution. Administrators, auditors and supervisors list
  them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.errors import RefusedError
from facesearch.govern.schema import Incident, Suspension
from facesearch.govern.users import Role, require_user

MAX_TITLE = 200
MAX_TEXT = 4000
READERS = {Role.ADMINISTRATOR, Role.AUDITOR, Role.SUPERVISOR}


@dataclass(frozen=True)
class SuspensionView:
    id: int
    reason: str
    started_by: str
    started_at: datetime
    ended_by: str | None
    ended_at: datetime | None
    end_note: str

    @property
    def in_force(self) -> bool:
        return self.ended_at is None

    def words(self) -> str:
        """The sentence every refused search and every user's banner shows."""
        return (
            f"all searching is suspended since {self.started_at:%Y-%m-%d %H:%M} UTC by "
            f"{self.started_by}: {self.reason}"
        )


@dataclass(frozen=True)
class IncidentView:
    id: int
    title: str
    description: str
    serious: bool
    case: str | None
    occurred_at: datetime | None
    recorded_by: str
    recorded_at: datetime
    reported_to: str
    reported_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    resolution: str

    @property
    def status(self) -> str:
        return "closed" if self.closed_at else "open"


def _suspension_view(row: Suspension) -> SuspensionView:
    return SuspensionView(
        row.id,
        row.reason,
        row.started_by.username,
        row.started_at,
        row.ended_by.username if row.ended_by else None,
        row.ended_at,
        row.end_note,
    )


def _incident_view(row: Incident) -> IncidentView:
    return IncidentView(
        row.id,
        row.title,
        row.description,
        row.serious,
        row.case_number,
        row.occurred_at,
        row.recorded_by.username,
        row.recorded_at,
        row.reported_to,
        row.reported_at,
        row.closed_by.username if row.closed_by else None,
        row.closed_at,
        row.resolution,
    )


def _text(value: str, what: str, action: str, *, limit: int = MAX_TEXT, required: bool) -> str:
    text = value.strip()
    if required and not text:
        raise RefusedError(action, f"{what} is required")
    if len(text) > limit:
        raise RefusedError(action, f"{what} is longer than {limit} characters")
    return text


# --- suspension ------------------------------------------------------------------------------


def current(session: Session) -> SuspensionView | None:
    """The suspension in force, if any (read before every search)."""
    row = session.scalars(
        select(Suspension).where(Suspension.ended_at.is_(None)).order_by(Suspension.id.desc())
    ).first()
    return _suspension_view(row) if row else None


def check_not_suspended(session: Session, action: str) -> None:
    """Refuse ``action`` (a search) while searching is suspended, saying why and since when."""
    found = current(session)
    if found is not None:
        raise RefusedError(action, f"{found.words()}; ask an administrator")


def suspend(
    session: Session, audit: AuditLog, actor: str, reason: str, now: datetime
) -> SuspensionView:
    action = "search.suspend"
    user = require_user(session, actor, action, {Role.ADMINISTRATOR})
    why = _text(reason, "a reason", action, required=True)
    found = current(session)
    if found is not None:
        raise RefusedError(action, f"already suspended: {found.words()}")
    row = Suspension(reason=why, started_by_id=user.id, started_at=now, end_note="")
    session.add(row)
    session.flush()
    audit.record(actor, action, {"suspension": row.id, "reason": why})
    session.refresh(row)
    return _suspension_view(row)


def resume(
    session: Session, audit: AuditLog, actor: str, note: str, now: datetime
) -> SuspensionView:
    action = "search.resume"
    user = require_user(session, actor, action, {Role.ADMINISTRATOR})
    text = _text(note, "a note", action, required=True)
    row = session.scalars(
        select(Suspension).where(Suspension.ended_at.is_(None)).order_by(Suspension.id.desc())
    ).first()
    if row is None:
        raise RefusedError(action, "searching is not suspended")
    row.ended_by_id, row.ended_at, row.end_note = user.id, now, text
    session.flush()
    audit.record(actor, action, {"suspension": row.id, "note": text})
    session.refresh(row)
    return _suspension_view(row)


def suspensions(session: Session, actor: str) -> list[SuspensionView]:
    """Every suspension, newest first (administrators, auditors, supervisors)."""
    require_user(session, actor, "search.suspensions", READERS)
    rows = session.scalars(select(Suspension).order_by(Suspension.id.desc())).all()
    return [_suspension_view(r) for r in rows]


# --- incidents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewIncident:
    title: str
    description: str = ""
    serious: bool = False
    case: str | None = None
    occurred_at: datetime | None = None


def record_incident(
    session: Session, audit: AuditLog, actor: str, new: NewIncident, now: datetime
) -> IncidentView:
    action = "incident.record"
    user = require_user(session, actor, action)
    row = Incident(
        title=_text(new.title, "a title", action, limit=MAX_TITLE, required=True),
        description=_text(new.description, "the description", action, required=False),
        serious=bool(new.serious),
        case_number=(new.case or "").strip() or None,
        occurred_at=new.occurred_at,
        recorded_by_id=user.id,
        recorded_at=now,
        reported_to="",
        resolution="",
    )
    session.add(row)
    session.flush()
    audit.record(
        actor,
        action,
        {"incident": row.id, "title": row.title, "serious": row.serious},
        case=row.case_number,
    )
    session.refresh(row)
    return _incident_view(row)


def _require_incident(session: Session, incident_id: int, action: str) -> Incident:
    row = session.get(Incident, incident_id)
    if row is None:
        raise RefusedError(action, f"no incident {incident_id}")
    return row


def report_incident(
    session: Session,
    audit: AuditLog,
    actor: str,
    incident_id: int,
    reported_to: str,
    reported_at: datetime,
) -> IncidentView:
    """Record that (and when) an incident was reported to an authority (administrators)."""
    action = "incident.report"
    require_user(session, actor, action, {Role.ADMINISTRATOR})
    row = _require_incident(session, incident_id, action)
    to = _text(reported_to, "the authority told", action, limit=MAX_TITLE, required=True)
    row.reported_to, row.reported_at = to, reported_at
    session.flush()
    audit.record(
        actor,
        action,
        {"incident": row.id, "reported_to": to, "reported_at": reported_at.isoformat()},
        case=row.case_number,
    )
    return _incident_view(row)


def close_incident(
    session: Session, audit: AuditLog, actor: str, incident_id: int, resolution: str, now: datetime
) -> IncidentView:
    action = "incident.close"
    user = require_user(session, actor, action, {Role.ADMINISTRATOR})
    row = _require_incident(session, incident_id, action)
    if row.closed_at is not None:
        raise RefusedError(action, f"incident {incident_id} is already closed")
    text = _text(resolution, "the resolution", action, required=True)
    row.closed_by_id, row.closed_at, row.resolution = user.id, now, text
    session.flush()
    audit.record(actor, action, {"incident": row.id}, case=row.case_number)
    session.refresh(row)
    return _incident_view(row)


def incidents(session: Session, actor: str, *, open_only: bool = False) -> list[IncidentView]:
    """The incident register, newest first (administrators, auditors, supervisors)."""
    require_user(session, actor, "incident.list", READERS)
    query = select(Incident).order_by(Incident.id.desc())
    if open_only:
        query = query.where(Incident.closed_at.is_(None))
    return [_incident_view(r) for r in session.scalars(query).all()]
