"""Request and response bodies of the case supervision endpoints: a rejected case amended and
resubmitted, its history, the supervisor's picker and count, the identifications across
cases (the rest of the cases' bodies: :mod:`facesearch.serve.api.schemas`)."""

from __future__ import annotations

from pydantic import Field

from facesearch.serve.api.schemas import CaseOut, IdentificationOut, In, Out, UtcDateTime


class ResubmitIn(In):
    """A rejected case's request, amended: every field as it should now read."""

    purpose: str = Field(min_length=1, max_length=200)
    legal_authority: str = Field(min_length=1, max_length=2000)
    justification: str = Field(min_length=1, max_length=10000)
    note: str = Field(default="", max_length=10000, description="The answer to the rejection.")


class FieldChangeOut(Out):
    field: str
    before: str
    after: str


class CaseEventOut(Out):
    """One act on the case, from the audit log: ``event`` is requested, approved, rejected,
    amended, resubmitted, assigned, unassigned or closed."""

    at: UtcDateTime
    actor: str
    event: str
    note: str | None = None
    user: str | None = None
    changes: list[FieldChangeOut] = Field(default_factory=list)


class RejectionOut(Out):
    by: str
    at: UtcDateTime
    note: str | None = None


class CaseRecordOut(CaseOut):
    """A case, with how often it was resubmitted after a rejection, its latest rejection and
    (one case shown: ``GET /cases/{number}``, resubmit) its history."""

    resubmissions: int = 0
    last_rejection: RejectionOut | None = None
    history: list[CaseEventOut] = Field(default_factory=list)


class InvestigatorOut(Out):
    username: str
    display_name: str


class PendingCountOut(Out):
    pending: int


class CaseIdentificationOut(IdentificationOut):
    """A possible match with the case it belongs to (the identifications across cases)."""

    case: str
