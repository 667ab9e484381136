"""Outcomes of a case, recorded by its requester or a supervisor (issue 24, item 7): what the
search leads came to (a victim identified or safeguarded, a suspect identified, an arrest, a
charge, a conviction, or nothing). They are counted by the annual report; never a name.

Outcomes live in their own table (``gov_case_outcomes``): one row per outcome recorded, each
audited as ``case.outcome`` with the case's purpose, so that the annual report's counts can be
made from the log alone. They are recorded on an open or closed case (not a pending or
rejected one: no search ran in it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from facesearch.govern.audit import AuditLog
from facesearch.govern.cases import CLOSED, OPEN, require_readable_case
from facesearch.govern.errors import RefusedError
from facesearch.govern.schema import Case, User
from facesearch.govern.users import Role, has_role, require_user
from facesearch.store.schema import Base

__all__ = ["KINDS", "CaseOutcome", "OutcomeView", "list_outcomes", "record_outcome"]

KINDS = (
    "victim_identified",
    "victim_safeguarded",
    "suspect_identified",
    "arrest",
    "charge",
    "conviction",
    "none",
)
KIND_LABELS = {
    "victim_identified": "victim identified",
    "victim_safeguarded": "victim safeguarded",
    "suspect_identified": "suspect identified",
    "arrest": "arrest",
    "charge": "charge",
    "conviction": "conviction",
    "none": "no outcome",
}
MAX_NOTE = 2000


class CaseOutcome(Base):
    """One outcome of a case (see the module docstring)."""

    __tablename__ = "gov_case_outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("gov_users.id"))
    note: Mapped[str] = mapped_column(Text, default="")

    case: Mapped[Case] = relationship()
    recorded_by: Mapped[User] = relationship()


@dataclass(frozen=True)
class OutcomeView:
    id: int
    case: str
    kind: str
    label: str
    at: datetime
    recorded_by: str
    note: str


def _view(row: CaseOutcome) -> OutcomeView:
    return OutcomeView(
        row.id,
        row.case.number,
        row.kind,
        KIND_LABELS[row.kind],
        row.at,
        row.recorded_by.username,
        row.note,
    )


def parse_kind(text: str, action: str = "case.outcome") -> str:
    kind = text.strip().lower().replace("-", "_").replace(" ", "_")
    if kind not in KINDS:
        raise RefusedError(action, f"outcome must be one of {', '.join(KINDS)}; got {text!r}")
    return kind


def record_outcome(
    session: Session,
    audit: AuditLog,
    actor: str,
    number: str,
    kind: str,
    note: str,
    now: datetime,
) -> OutcomeView:
    """Record an outcome of case ``number`` (its requester or a supervisor; audited)."""
    action = "case.outcome"
    user = require_user(session, actor, action, {Role.INVESTIGATOR, Role.SUPERVISOR})
    k = parse_kind(kind, action)
    case = require_readable_case(session, user, number, action)
    if case.requested_by_id != user.id and not has_role(user, Role.SUPERVISOR):
        raise RefusedError(
            action,
            f"only the case's requester or a supervisor records its outcomes, not {actor!r}",
        )
    if case.status not in (OPEN, CLOSED):
        raise RefusedError(action, f"case {case.number} is {case.status}: no outcome to record")
    text = note.strip()
    if len(text) > MAX_NOTE:
        raise RefusedError(action, f"the note is longer than {MAX_NOTE} characters")
    row = CaseOutcome(case_id=case.id, kind=k, at=now, recorded_by_id=user.id, note=text)
    session.add(row)
    session.flush()
    audit.record(
        actor,
        action,
        {"case": case.number, "purpose": case.purpose_key, "outcome": row.id, "kind": k},
    )
    session.refresh(row)
    return _view(row)


def list_outcomes(session: Session, actor: str, number: str) -> list[OutcomeView]:
    """The case's outcomes, oldest first (anyone who may read the case)."""
    action = "case.outcomes"
    user = require_user(session, actor, action)
    case = require_readable_case(session, user, number, action)
    rows = session.scalars(
        select(CaseOutcome).where(CaseOutcome.case_id == case.id).order_by(CaseOutcome.id)
    ).all()
    return [_view(r) for r in rows]


def outcomes_of_case(session: Session, case: Case) -> list[OutcomeView]:
    rows = session.scalars(
        select(CaseOutcome).where(CaseOutcome.case_id == case.id).order_by(CaseOutcome.id)
    ).all()
    return [_view(r) for r in rows]
