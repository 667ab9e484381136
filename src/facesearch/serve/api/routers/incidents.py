"""Suspending all searching (administrators; every user is told) and the incident register."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from facesearch.app.types import NewIncident
from facesearch.serve.api.deps import CurrentPrincipal, PathId, ServiceDep
from facesearch.serve.api.schemas_incidents import (
    IncidentCloseIn,
    IncidentIn,
    IncidentOut,
    IncidentReportedIn,
    ResumeIn,
    SuspendIn,
    SuspensionOut,
    SuspensionStateOut,
)

router = APIRouter(tags=["oversight"])


@router.get("/suspension", response_model=SuspensionStateOut)
def suspension(who: CurrentPrincipal, service: ServiceDep) -> SuspensionStateOut:
    """Whether all searching is suspended now, why, since when and by whom."""
    found = service.incidents.suspension()
    return SuspensionStateOut(
        suspended=found is not None,
        message=found.words() if found else None,
        suspension=SuspensionOut.model_validate(found) if found else None,
    )


@router.post("/suspension", response_model=SuspensionOut, status_code=201)
def suspend(body: SuspendIn, who: CurrentPrincipal, service: ServiceDep) -> SuspensionOut:
    """Suspend every search at once, with a reason (administrators; audited). Searches are
    refused with that reason until searching is resumed; reviews and reports go on."""
    return SuspensionOut.model_validate(service.incidents.suspend(who, body.reason))


@router.post("/suspension/end", response_model=SuspensionOut)
def resume(body: ResumeIn, who: CurrentPrincipal, service: ServiceDep) -> SuspensionOut:
    """Resume searching, with a note (administrators; audited)."""
    return SuspensionOut.model_validate(service.incidents.resume(who, body.note))


@router.get("/suspensions", response_model=list[SuspensionOut])
def suspensions(who: CurrentPrincipal, service: ServiceDep) -> list[SuspensionOut]:
    """Every suspension, newest first (administrators, auditors, supervisors)."""
    return [SuspensionOut.model_validate(x) for x in service.incidents.suspensions(who)]


@router.get("/incidents", response_model=list[IncidentOut])
def incidents(
    who: CurrentPrincipal,
    service: ServiceDep,
    open_only: Annotated[bool, Query(alias="open")] = False,
) -> list[IncidentOut]:
    """The incident register, newest first (administrators, auditors, supervisors)."""
    return [IncidentOut.model_validate(x) for x in service.incidents.list(who, open_only=open_only)]


@router.post("/incidents", response_model=IncidentOut, status_code=201)
def record_incident(body: IncidentIn, who: CurrentPrincipal, service: ServiceDep) -> IncidentOut:
    """Record an incident (any signed-in user; audited)."""
    new = NewIncident(body.title, body.description, body.serious, body.case, body.occurred_at)
    return IncidentOut.model_validate(service.incidents.record(who, new))


@router.post("/incidents/{incident_id}/reported", response_model=IncidentOut)
def incident_reported(
    incident_id: PathId, body: IncidentReportedIn, who: CurrentPrincipal, service: ServiceDep
) -> IncidentOut:
    """Record to which authority, and when, an incident was reported (administrators)."""
    found = service.incidents.reported(who, incident_id, body.reported_to, body.reported_at)
    return IncidentOut.model_validate(found)


@router.post("/incidents/{incident_id}/close", response_model=IncidentOut)
def close_incident(
    incident_id: PathId, body: IncidentCloseIn, who: CurrentPrincipal, service: ServiceDep
) -> IncidentOut:
    """Close an incident with its resolution (administrators; audited)."""
    return IncidentOut.model_validate(service.incidents.close(who, incident_id, body.resolution))
