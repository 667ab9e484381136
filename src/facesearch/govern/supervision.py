"""Supervision of cases, part of the :class:`~facesearch.govern.governance.Governance` facade:
the requester's amendment and resubmission of a rejected case, and what a supervisor needs at
hand: how many cases wait for approval, the investigators a case can be assigned to, and the
disputed identifications (and possible matches awaiting verification) across the open cases.

Each method is one transaction (:meth:`~facesearch.govern.unit.GovernanceCore.run`); a
refusal is logged. The count and the picker's list are not audited (they show no case's
content); the identifications across cases are, like those of one case.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facesearch.govern import cases as cases_mod
from facesearch.govern import verifications
from facesearch.govern.accounts import AccountGovernance
from facesearch.govern.audit import AuditLog
from facesearch.govern.case_history import case_history, resubmissions_of
from facesearch.govern.cases import CaseSummary
from facesearch.govern.errors import RefusedError
from facesearch.govern.policy import Policy
from facesearch.govern.schema import Case, User
from facesearch.govern.users import Role, has_role, require_user


@dataclass(frozen=True)
class Investigator:
    """An active investigator a case may be assigned to (the supervisor's picker)."""

    username: str
    display_name: str


def summary_with_history(s: Session, case: Case, searches: int = 0) -> CaseSummary:
    """The case as shown on its page: with its resubmissions and its history."""
    found = resubmissions_of(s, [case.number]).get(case.number)
    return CaseSummary.of(case, searches, found, case_history(s, case))


def assignable_investigators(session: Session, actor: str, number: str) -> list[Investigator]:
    """The active investigators not assigned to case ``number`` (pending or open), for a
    supervisor."""
    action = "case.assignable"
    require_user(session, actor, action, {Role.SUPERVISOR})
    case = cases_mod.require_case(session, number, action)
    if case.status not in (cases_mod.PENDING, cases_mod.OPEN):
        raise RefusedError(action, f"case {case.number!r} is {case.status}")
    taken = set(cases_mod.assigned_usernames(case))
    users = session.execute(select(User).where(User.active.is_(True)).order_by(User.username))
    return [
        Investigator(u.username, u.display_name or "")
        for u in users.scalars()
        if has_role(u, Role.INVESTIGATOR) and u.username not in taken
    ]


def pending_count(session: Session, actor: str) -> int:
    """How many cases wait for a supervisor's decision (for a supervisor)."""
    require_user(session, actor, "case.pending_count", {Role.SUPERVISOR})
    q = select(func.count()).select_from(Case).where(Case.status == cases_mod.PENDING)
    return int(session.execute(q).scalar_one())


def identifications_across(
    session: Session,
    audit: AuditLog,
    policy: Policy,
    actor: str,
    status: str | None,
) -> list[verifications.Identification]:
    """The possible matches of every open case (only one ``status`` when given: ``disputed``
    is the supervisor's list of disputes, ``possible_match`` those awaiting verification), as
    the supervisor may see them (others' verdicts withheld until they record their own)."""
    action = "identifications.view"
    user = require_user(session, actor, action, {Role.SUPERVISOR})
    if status is not None and status not in verifications.STATUSES:
        wanted = ", ".join(verifications.STATUSES)
        raise RefusedError(action, f"status must be one of {wanted}; got {status!r}")
    found: list[verifications.Identification] = []
    q = select(Case).where(Case.status == cases_mod.OPEN).order_by(Case.requested_at, Case.id)
    cases = [c for c in session.execute(q).scalars() if cases_mod.can_read_case(user, c)]
    for case in cases:
        found += [
            i
            for i in verifications.identifications_of(session, policy, user, case)
            if status is None or i.status == status
        ]
    audit.record(
        actor,
        action,
        {
            "across_cases": len(cases),
            "status": status,
            "count": len(found),
            "awaiting_verification": sum(1 for i in found if i.awaiting_verification),
        },
    )
    return found


class SupervisionGovernance(AccountGovernance):
    """Resubmission of rejected cases and the supervisor's lists (module doc)."""

    def resubmit_case(
        self,
        actor: str,
        number: str,
        purpose: str,
        legal_authority: str,
        justification: str,
        note: str = "",
    ) -> CaseSummary:
        """The requester's rejected case, amended, back in the approval queue."""

        def fn(s: Session, a: AuditLog) -> CaseSummary:
            case = cases_mod.resubmit_case(
                s,
                a,
                self.policy,
                actor,
                number,
                purpose,
                legal_authority,
                justification,
                note,
                self.clock(),
            )
            return summary_with_history(s, case)

        return self.run(actor, "case.resubmit", {"case": number, "purpose": purpose}, fn)

    def assignable(self, actor: str, number: str) -> list[Investigator]:
        return self.run(
            actor,
            "case.assignable",
            {"case": number},
            lambda s, _a: assignable_investigators(s, actor, number),
        )

    def pending_count(self, actor: str) -> int:
        return self.run(actor, "case.pending_count", {}, lambda s, _a: pending_count(s, actor))

    def identifications_across(
        self, actor: str, status: str | None = None
    ) -> list[verifications.Identification]:
        return self.run(
            actor,
            "identifications.view",
            {"status": status},
            lambda s, a: identifications_across(s, a, self.policy, actor, status),
        )
