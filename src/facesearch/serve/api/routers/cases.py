"""Cases: open (investigators), approve / reject / assign / unassign / close (supervisors),
amend and resubmit a rejected case (its requester), read (their readers), the supervisor's
pending count and assignment picker, and the case report as HTML or PDF."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from facesearch.app.types import CaseSummary
from facesearch.serve.api.deps import CurrentPrincipal, PageDep, ServiceDep, page
from facesearch.serve.api.schemas import AssignIn, CaseIn, NoteIn, Page
from facesearch.serve.api.schemas_cases import (
    CaseRecordOut,
    InvestigatorOut,
    PendingCountOut,
    ResubmitIn,
)

router = APIRouter(prefix="/cases", tags=["cases"])
CaseStatus = Literal["pending", "open", "rejected", "closed"]


def case_out(c: CaseSummary) -> CaseRecordOut:
    return CaseRecordOut.model_validate(c)


@router.get("", response_model=Page[CaseRecordOut])
def list_cases(
    who: CurrentPrincipal,
    service: ServiceDep,
    params: PageDep,
    status: Annotated[CaseStatus | None, Query()] = None,
) -> dict[str, Any]:
    return page([case_out(c) for c in service.cases.summaries(who, status)], params)


@router.post("", response_model=CaseRecordOut, status_code=201)
def open_case(body: CaseIn, who: CurrentPrincipal, service: ServiceDep) -> CaseRecordOut:
    return case_out(
        service.cases.open(who, body.number, body.purpose, body.legal_authority, body.justification)
    )


@router.get("/pending/count", response_model=PendingCountOut)
def pending_count(who: CurrentPrincipal, service: ServiceDep) -> PendingCountOut:
    """How many cases wait for a supervisor's decision (supervisors; the web app's badge)."""
    return PendingCountOut(pending=service.cases.pending_count(who))


@router.get("/{number}", response_model=CaseRecordOut)
def show_case(number: str, who: CurrentPrincipal, service: ServiceDep) -> CaseRecordOut:
    return case_out(service.cases.show(who, number)[0])


@router.post("/{number}/approve", response_model=CaseRecordOut)
def approve(number: str, body: NoteIn, who: CurrentPrincipal, service: ServiceDep) -> CaseRecordOut:
    return case_out(service.cases.decide(who, number, "approve", body.note))


@router.post("/{number}/reject", response_model=CaseRecordOut)
def reject(number: str, body: NoteIn, who: CurrentPrincipal, service: ServiceDep) -> CaseRecordOut:
    return case_out(service.cases.decide(who, number, "reject", body.note))


@router.post("/{number}/resubmit", response_model=CaseRecordOut)
def resubmit(
    number: str, body: ResubmitIn, who: CurrentPrincipal, service: ServiceDep
) -> CaseRecordOut:
    """The requester amends their rejected case (every field as it should now read) and
    submits it again: pending approval, its history kept."""
    return case_out(
        service.cases.resubmit(
            who, number, body.purpose, body.legal_authority, body.justification, body.note
        )
    )


@router.get("/{number}/assignable", response_model=list[InvestigatorOut])
def assignable(number: str, who: CurrentPrincipal, service: ServiceDep) -> list[InvestigatorOut]:
    """The active investigators not yet assigned to the case (supervisors: the picker)."""
    return [InvestigatorOut.model_validate(i) for i in service.cases.assignable(who, number)]


@router.post("/{number}/assign", response_model=CaseRecordOut)
def assign(
    number: str, body: AssignIn, who: CurrentPrincipal, service: ServiceDep
) -> CaseRecordOut:
    return case_out(service.cases.decide(who, number, "assign", body.username))


@router.post("/{number}/unassign", response_model=CaseRecordOut)
def unassign(
    number: str, body: AssignIn, who: CurrentPrincipal, service: ServiceDep
) -> CaseRecordOut:
    return case_out(service.cases.decide(who, number, "unassign", body.username))


@router.post("/{number}/close", response_model=CaseRecordOut)
def close(number: str, body: NoteIn, who: CurrentPrincipal, service: ServiceDep) -> CaseRecordOut:
    return case_out(service.cases.decide(who, number, "close", body.note))


@router.get(
    "/{number}/report",
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "application/pdf": {}}}},
)
def report(
    number: str,
    who: CurrentPrincipal,
    service: ServiceDep,
    format: Annotated[Literal["html", "pdf"], Query()] = "html",
    all_candidates: Annotated[
        bool, Query(description="List every candidate shown, not only those reviewed.")
    ] = False,
    shielded: Annotated[
        bool,
        Query(description="Greyscale pictures, the probe blurred outside the searched face."),
    ] = False,
) -> Response:
    media = service.cases.report(
        who, number, format, all_candidates=all_candidates, shielded=shielded
    )
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in number)
    return Response(
        media.data,
        media_type=media.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="case-{safe}.{format}"',
            "Cache-Control": "private, no-store",
        },
    )
