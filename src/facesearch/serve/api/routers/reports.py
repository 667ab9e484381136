"""The reports that leave the system: the annual report (JSON, CSV, PDF), the public-records
export of the search log (CSV), the disclosure bundle of a case (a signed zip) and the
accountability report (JSON, HTML, PDF); and the outcomes of cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response

from facesearch.app.types import year_span
from facesearch.serve.api.deps import CurrentPrincipal, ServiceDep
from facesearch.serve.api.schemas_reports import (
    AccountabilityOut,
    AnnualOut,
    OutcomeIn,
    OutcomeOut,
)

router = APIRouter(tags=["reports"])
YearQuery = Annotated[int | None, Query(ge=1970, le=9998, description="A calendar year (UTC).")]
DateQuery = Annotated[date | None, Query(description="First day (or the day after the last).")]


def _period(year: int | None, start: date | None, end: date | None) -> tuple[datetime, datetime]:
    if year is not None:
        if start or end:
            raise HTTPException(422, "give a year, or a start and an end, not both")
        return year_span(year)
    if start is None or end is None:
        raise HTTPException(422, "give a year, or a start and an end (end exclusive)")
    if end <= start:
        raise HTTPException(422, "the end must be after the start")
    return datetime.combine(start, time(), UTC), datetime.combine(end, time(), UTC)


def _file(data: bytes, media_type: str, filename: str) -> Response:
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )


@router.post("/cases/{number}/outcomes", response_model=OutcomeOut, status_code=201)
def record_outcome(
    number: str, body: OutcomeIn, who: CurrentPrincipal, service: ServiceDep
) -> OutcomeOut:
    """Record an outcome of the case (its requester or a supervisor; audited): victim
    identified or safeguarded, suspect identified, arrest, charge, conviction, or none."""
    found = service.reports.record_outcome(who, number, body.kind, body.note)
    return OutcomeOut.model_validate(found)


@router.get("/cases/{number}/outcomes", response_model=list[OutcomeOut])
def outcomes(number: str, who: CurrentPrincipal, service: ServiceDep) -> list[OutcomeOut]:
    """The outcomes recorded for the case, oldest first (its readers)."""
    return [OutcomeOut.model_validate(o) for o in service.reports.outcomes(who, number)]


@router.get(
    "/cases/{number}/disclosure",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def disclosure(number: str, who: CurrentPrincipal, service: ServiceDep) -> Response:
    """The case's disclosure bundle for the defence: one zip of every search, probe,
    candidate, review and verification, the models and their measured accuracy, the case's
    audit entries and the latest checkpoint, with a manifest signed by the audit checkpoint
    key (supervisors and auditors; audited)."""
    bundle = service.reports.disclosure(who, number)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in number)
    return _file(bundle.data, "application/zip", f"disclosure-{safe}.zip")


@router.get(
    "/reports/annual",
    response_model=AnnualOut,
    responses={200: {"content": {"text/csv": {}, "application/pdf": {}}}},
)
def annual(
    who: CurrentPrincipal,
    service: ServiceDep,
    year: YearQuery = None,
    start: DateQuery = None,
    end: DateQuery = None,
    format: Annotated[Literal["json", "csv", "pdf"], Query()] = "json",
) -> AnnualOut | Response:
    """The annual report: counts by offence category (the case's purpose) of cases, searches,
    refusals, reviews, confirmed identifications and outcomes; no names, no images
    (administrators, auditors, supervisors; audited)."""
    begin, stop = _period(year, start, end)
    if format == "json":
        return AnnualOut.model_validate(service.reports.annual(who, begin, stop, "json").as_dict())
    found = service.reports.annual_file(who, begin, stop, format)
    return _file(found.data, found.media_type, found.filename)


@router.get(
    "/reports/public-records",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def public_records(
    who: CurrentPrincipal,
    service: ServiceDep,
    year: YearQuery = None,
    start: DateQuery = None,
    end: DateQuery = None,
) -> Response:
    """The public-records export of the search log: one row per search, only the fields the
    installation allows (FACESEARCH_REPORTS_PUBLIC_FIELDS) (administrators, auditors,
    supervisors; audited)."""
    begin, stop = _period(year, start, end)
    found = service.reports.public_records(who, begin, stop)
    return _file(found.data, found.media_type, found.filename)


@router.get(
    "/reports/accountability",
    response_model=AccountabilityOut,
    responses={200: {"content": {"text/html": {}, "application/pdf": {}}}},
)
def accountability(
    who: CurrentPrincipal,
    service: ServiceDep,
    format: Annotated[Literal["json", "html", "pdf"], Query()] = "json",
) -> AccountabilityOut | Response:
    """The accountability report of the installation: service, version, models with their
    measured accuracy, limits, data sources, the policy in force, incidents and suspensions
    (administrators, auditors, supervisors; audited)."""
    report = service.reports.accountability(who)
    if format == "json":
        return AccountabilityOut.model_validate(report.data)
    if format == "html":
        return _file(report.to_html().encode("utf-8"), "text/html", "accountability.html")
    return _file(report.to_pdf(who.username), "application/pdf", "accountability.pdf")
