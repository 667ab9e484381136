"""Cases: open (investigators), approve / reject / assign / unassign / close (supervisors),
read (their readers), and the case report as HTML or PDF."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from facesearch.serve.api.deps import CurrentPrincipal, PageDep, ServiceDep, page
from facesearch.serve.api.schemas import AssignIn, CaseIn, CaseOut, NoteIn, Page
from facesearch.serve.api.views import case_out

router = APIRouter(prefix="/cases", tags=["cases"])
CaseStatus = Literal["pending", "open", "rejected", "closed"]


@router.get("", response_model=Page[CaseOut])
def list_cases(
    who: CurrentPrincipal,
    service: ServiceDep,
    params: PageDep,
    status: Annotated[CaseStatus | None, Query()] = None,
) -> dict[str, Any]:
    return page([case_out(c) for c in service.cases.summaries(who, status)], params)


@router.post("", response_model=CaseOut, status_code=201)
def open_case(body: CaseIn, who: CurrentPrincipal, service: ServiceDep) -> CaseOut:
    return case_out(
        service.cases.open(who, body.number, body.purpose, body.legal_authority, body.justification)
    )


@router.get("/{number}", response_model=CaseOut)
def show_case(number: str, who: CurrentPrincipal, service: ServiceDep) -> CaseOut:
    return case_out(service.cases.show(who, number)[0])


@router.post("/{number}/approve", response_model=CaseOut)
def approve(number: str, body: NoteIn, who: CurrentPrincipal, service: ServiceDep) -> CaseOut:
    return case_out(service.cases.decide(who, number, "approve", body.note))


@router.post("/{number}/reject", response_model=CaseOut)
def reject(number: str, body: NoteIn, who: CurrentPrincipal, service: ServiceDep) -> CaseOut:
    return case_out(service.cases.decide(who, number, "reject", body.note))


@router.post("/{number}/assign", response_model=CaseOut)
def assign(number: str, body: AssignIn, who: CurrentPrincipal, service: ServiceDep) -> CaseOut:
    return case_out(service.cases.decide(who, number, "assign", body.username))


@router.post("/{number}/unassign", response_model=CaseOut)
def unassign(number: str, body: AssignIn, who: CurrentPrincipal, service: ServiceDep) -> CaseOut:
    return case_out(service.cases.decide(who, number, "unassign", body.username))


@router.post("/{number}/close", response_model=CaseOut)
def close(number: str, body: NoteIn, who: CurrentPrincipal, service: ServiceDep) -> CaseOut:
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
