"""A case's history, read back from the audit log: every act on a case (request, approval or
rejection with its reason, amendment, resubmission, assignment, closing) is audited with the
case's number, so the log is the history; nothing is kept twice."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import Entry
from facesearch.govern.schema import AuditEntry, Case

# the acts on a case its history shows, as audited; refusals ("<action>.refused") are not acts
HISTORY_ACTIONS = {
    "case.open": "requested",
    "case.approve": "approved",
    "case.reject": "rejected",
    "case.amend": "amended",
    "case.resubmit": "resubmitted",
    "case.assign": "assigned",
    "case.unassign": "unassigned",
    "case.close": "closed",
}


@dataclass(frozen=True)
class FieldChange:
    """One field of a case request amended: its value before and after."""

    field: str
    before: str
    after: str


@dataclass(frozen=True)
class CaseEvent:
    """One act on a case, read back from the audit log: ``event`` is one of
    :data:`HISTORY_ACTIONS`' words; ``note`` the reason or note given (a rejection's reason, a
    resubmission's answer to it); ``user`` the investigator (un)assigned; ``changes`` what an
    amendment changed."""

    at: datetime
    actor: str
    event: str
    note: str | None = None
    user: str | None = None
    changes: tuple[FieldChange, ...] = ()
    seq: int = 0

    @classmethod
    def of(cls, entry: Entry) -> CaseEvent:
        d = entry.details
        given = d.get("changes")
        changes: dict[str, Any] = given if isinstance(given, dict) else {}
        return cls(
            at=entry.at,
            actor=entry.actor,
            event=HISTORY_ACTIONS[entry.action],
            note=_text(d.get("note")),
            user=_text(d.get("user")),
            changes=tuple(
                FieldChange(k, str(v.get("from", "")), str(v.get("to", "")))
                for k, v in changes.items()
                if isinstance(v, dict)
            ),
            seq=entry.seq,
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# past this many cases, their entries are picked from those of the actions (rare acts: a
# rejection, a resubmission) rather than named one by one in the query
MAX_NAMED_CASES = 500


def _case_entries(session: Session, numbers: Iterable[str], actions: Iterable[str]) -> list[Entry]:
    wanted = set(numbers)
    if not wanted:
        return []
    q = select(AuditEntry).where(AuditEntry.action.in_(sorted(set(actions))))
    if len(wanted) <= MAX_NAMED_CASES:
        q = q.where(AuditEntry.case_number.in_(sorted(wanted)))
    rows = session.execute(q.order_by(AuditEntry.seq)).scalars()
    return [Entry.from_row(row) for row in rows if row.case_number in wanted]


def case_history(session: Session, case: Case) -> list[CaseEvent]:
    """Every act on ``case`` in the order it happened (the audit log's)."""
    return [CaseEvent.of(e) for e in _case_entries(session, [case.number], HISTORY_ACTIONS)]


@dataclass(frozen=True)
class Rejection:
    """The latest rejection of a case request (a resubmitted case keeps it here)."""

    by: str
    at: datetime
    note: str | None


@dataclass(frozen=True)
class Resubmissions:
    count: int
    last_rejection: Rejection | None


def resubmissions_of(session: Session, numbers: Iterable[str]) -> dict[str, Resubmissions]:
    """For each case number, how often it was resubmitted and its latest rejection (one
    query of the audit log for them all; cases never rejected are left out)."""
    out: dict[str, Resubmissions] = {}
    for e in _case_entries(session, numbers, ("case.reject", "case.resubmit")):
        number = e.case_number or ""
        seen = out.get(number, Resubmissions(0, None))
        if e.action == "case.reject":
            out[number] = Resubmissions(
                seen.count, Rejection(e.actor, e.at, _text(e.details.get("note")))
            )
        else:
            out[number] = Resubmissions(seen.count + 1, seen.last_rejection)
    return out
