"""Request and response models of the suspension of searching and the incident register."""

from __future__ import annotations

from pydantic import Field

from facesearch.serve.api.schemas import In, Out, UtcDateTime


class SuspendIn(In):
    reason: str = Field(min_length=1, max_length=4000)


class ResumeIn(In):
    note: str = Field(min_length=1, max_length=4000)


class SuspensionOut(Out):
    id: int
    reason: str
    started_by: str
    started_at: UtcDateTime
    ended_by: str | None
    ended_at: UtcDateTime | None
    end_note: str
    in_force: bool


class SuspensionStateOut(Out):
    """Whether searching is suspended now (every signed-in user may ask: the web app shows it
    to everyone)."""

    suspended: bool
    message: str | None = Field(description="the sentence a refused search shows")
    suspension: SuspensionOut | None


class IncidentIn(In):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    serious: bool = False
    case: str | None = Field(default=None, max_length=100)
    occurred_at: UtcDateTime | None = None


class IncidentReportedIn(In):
    reported_to: str = Field(min_length=1, max_length=200)
    reported_at: UtcDateTime | None = None


class IncidentCloseIn(In):
    resolution: str = Field(min_length=1, max_length=4000)


class IncidentOut(Out):
    id: int
    title: str
    description: str
    serious: bool
    case: str | None
    occurred_at: UtcDateTime | None
    recorded_by: str
    recorded_at: UtcDateTime
    reported_to: str
    reported_at: UtcDateTime | None
    closed_by: str | None
    closed_at: UtcDateTime | None
    resolution: str
    status: str
