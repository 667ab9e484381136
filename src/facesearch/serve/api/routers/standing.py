"""Standing queries ("search again when the gallery grows") and the alerts they raise."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from facesearch.serve.api.deps import CurrentPrincipal, PathId, ServiceDep
from facesearch.serve.api.schemas_standing import (
    AlertOut,
    StandingEndIn,
    StandingIn,
    StandingOut,
    StandingRenewIn,
    StandingRunOut,
)

router = APIRouter(tags=["standing queries"])


@router.post("/standing-queries", response_model=StandingOut, status_code=201)
def create(body: StandingIn, who: CurrentPrincipal, service: ServiceDep) -> StandingOut:
    """Keep searching for a one-photo search's probe face in every later ingest (an
    investigator assigned to its open case; the policy caps the expiry; audited)."""
    made = service.standing.create(
        who, body.search_id, body.objective, expires_at=body.expires_at, review_at=body.review_at
    )
    return StandingOut.model_validate(made)


@router.get("/standing-queries", response_model=list[StandingOut])
def queries(
    who: CurrentPrincipal,
    service: ServiceDep,
    case: Annotated[str | None, Query(max_length=100)] = None,
    active: Annotated[bool, Query()] = False,
) -> list[StandingOut]:
    """The standing queries of a case (or of every case the caller may read), newest first."""
    found = service.standing.queries(who, case, active_only=active)
    return [StandingOut.model_validate(q) for q in found]


@router.post("/standing-queries/{query_id}/renew", response_model=StandingOut)
def renew(
    query_id: PathId, body: StandingRenewIn, who: CurrentPrincipal, service: ServiceDep
) -> StandingOut:
    """A supervisor renews an active query (a new expiry within the policy's cap)."""
    found = service.standing.renew(
        who, query_id, expires_at=body.expires_at, review_at=body.review_at
    )
    return StandingOut.model_validate(found)


@router.post("/standing-queries/{query_id}/end", response_model=StandingOut)
def end(
    query_id: PathId, body: StandingEndIn, who: CurrentPrincipal, service: ServiceDep
) -> StandingOut:
    """The owner or a supervisor ends a query: its kept probe and vectors are deleted."""
    return StandingOut.model_validate(service.standing.end(who, query_id, body.note))


@router.post("/standing-queries/run", response_model=StandingRunOut)
def run(who: CurrentPrincipal, service: ServiceDep) -> StandingRunOut:
    """Compare the faces added since each query last ran (administrators; every ingest does it
    by itself: this is for a run an error interrupted)."""
    return StandingRunOut.model_validate(service.standing.run(who))


@router.get("/alerts", response_model=list[AlertOut])
def alerts(
    who: CurrentPrincipal,
    service: ServiceDep,
    all_alerts: Annotated[bool, Query(alias="all")] = False,
    case: Annotated[str | None, Query(max_length=100)] = None,
) -> list[AlertOut]:
    """The alerts of the caller's cases (investigators: the cases they are assigned to;
    supervisors: all), unseen ones unless ``all=true``, newest first."""
    found = service.standing.alerts(who, unseen_only=not all_alerts, case=case)
    return [AlertOut.model_validate(a) for a in found]


@router.post("/alerts/{alert_id}/seen", response_model=AlertOut)
def seen(alert_id: PathId, who: CurrentPrincipal, service: ServiceDep) -> AlertOut:
    """Mark an alert as seen (it stays listed with ``all=true``; audited)."""
    return AlertOut.model_validate(service.standing.seen(who, alert_id))
