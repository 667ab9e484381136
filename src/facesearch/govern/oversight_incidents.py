"""The oversight report's section on suspensions of searching and incidents
(:mod:`facesearch.govern.incidents`): those begun or recorded in the report's period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import as_utc, format_ts
from facesearch.govern.schema import Incident, Suspension


def _ts(dt: datetime | None) -> str | None:
    return format_ts(dt) if dt is not None else None


def _within(dt: datetime, start: datetime | None, end: datetime | None) -> bool:
    at = as_utc(dt)
    return (start is None or at >= as_utc(start)) and (end is None or at < as_utc(end))


def suspensions_and_incidents(
    session: Session, start: datetime | None, end: datetime | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    suspensions = [
        {
            "id": s.id,
            "reason": s.reason,
            "started_by": s.started_by.username,
            "started_at": _ts(s.started_at),
            "ended_by": s.ended_by.username if s.ended_by else None,
            "ended_at": _ts(s.ended_at),
            "end_note": s.end_note,
        }
        for s in session.scalars(select(Suspension).order_by(Suspension.id))
        if _within(s.started_at, start, end)
    ]
    incidents = [
        {
            "id": i.id,
            "title": i.title,
            "serious": i.serious,
            "case": i.case_number,
            "recorded_by": i.recorded_by.username,
            "recorded_at": _ts(i.recorded_at),
            "reported_to": i.reported_to,
            "reported_at": _ts(i.reported_at),
            "status": "closed" if i.closed_at else "open",
        }
        for i in session.scalars(select(Incident).order_by(Incident.id))
        if _within(i.recorded_at, start, end)
    ]
    return suspensions, incidents


def suspension_lines(
    suspensions: list[dict[str, Any]], incidents: list[dict[str, Any]]
) -> list[str]:
    lines = ["", f"suspensions of searching ({len(suspensions)}):"]
    for s in suspensions:
        end = f"resumed {s['ended_at']} by {s['ended_by']}" if s["ended_at"] else "IN FORCE"
        lines.append(f"  #{s['id']} {s['started_at']} by {s['started_by']}: {s['reason']} ({end})")
    lines.append(f"incidents ({len(incidents)}):")
    for i in incidents:
        serious = " SERIOUS" if i["serious"] else ""
        told = f", reported to {i['reported_to']}" if i["reported_to"] else ""
        lines.append(f"  #{i['id']} {i['status']}{serious} {i['title']} ({i['recorded_at']}{told})")
    if not suspensions and not incidents:
        lines.append("  none")
    return lines
