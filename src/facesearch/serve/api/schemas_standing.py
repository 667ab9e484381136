"""Request and response models of standing queries and their alerts."""

from __future__ import annotations

from pydantic import Field

from facesearch.serve.api.schemas import Id, In, Out, UtcDateTime


class StandingIn(In):
    search_id: Id = Field(description="the one-photo search whose probe face is kept searching")
    objective: str = Field(min_length=1, max_length=2000, description="what the query is for")
    expires_at: UtcDateTime | None = Field(
        default=None, description="default and cap: the policy's [standing] max_days"
    )
    review_at: UtcDateTime | None = None


class StandingRenewIn(In):
    expires_at: UtcDateTime | None = None
    review_at: UtcDateTime | None = None


class StandingEndIn(In):
    note: str = Field(default="", max_length=2000)


class StandingOut(Out):
    id: int
    case: str
    owner: str
    search_id: int
    objective: str
    face: int
    model: str
    status: str
    created_at: UtcDateTime
    review_at: UtcDateTime
    expires_at: UtcDateTime
    after_face_id: int
    last_run_at: UtcDateTime | None
    ended_at: UtcDateTime | None
    ended_by: str | None
    end_note: str
    alerts: int


class AlertOut(Out):
    id: int
    query_id: int
    case: str
    search_id: int
    objective: str
    candidates: int
    best_score: float
    at: UtcDateTime
    seen_at: UtcDateTime | None
    seen_by: str | None


class StandingRunOut(Out):
    queries: int
    new_faces: int
    alerts: list[int]
    seconds: float
