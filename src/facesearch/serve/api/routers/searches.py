"""Searches (an uploaded probe, inside a case), their results, reviews and reveals."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from facesearch.app.service import SearchRequest
from facesearch.serve.api.deps import (
    CurrentPrincipal,
    PageDep,
    PathId,
    ServiceDep,
    SettingsDep,
    page,
)
from facesearch.serve.api.errors import ApiError
from facesearch.serve.api.schemas import (
    Page,
    RevealIn,
    RevealOut,
    ReviewIn,
    ReviewOut,
    SearchOut,
)
from facesearch.serve.api.uploads import check_content_length, read_image
from facesearch.serve.api.views import review_out, search_out
from facesearch.store.catalog import SearchFilters

router = APIRouter(tags=["searches"])


def _filters(
    collection: str | None,
    captured_from: str | None,
    captured_to: str | None,
    source_prefix: str | None,
) -> SearchFilters | None:
    from facesearch.ingest.sources import parse_datetime

    try:
        start = parse_datetime(captured_from) if captured_from else None
        end = parse_datetime(captured_to) if captured_to else None
    except ValueError as exc:
        raise ApiError(422, f"dates must be ISO 8601 (YYYY-MM-DD): {exc}") from None
    if end is not None and captured_to and len(captured_to.strip()) == 10:
        end = end.replace(hour=23, minute=59, second=59, microsecond=999999)
    filters = SearchFilters(collection or None, start, end, source_prefix or None)
    return None if filters.empty else filters


@router.post(
    "/cases/{number}/searches",
    response_model=SearchOut,
    status_code=201,
    responses={
        413: {"description": "probe too large"},
        415: {"description": "not an image"},
        429: {"description": "over the search quota"},
        503: {"description": "search queue full"},
    },
)
def search(
    number: str,
    request: Request,
    who: CurrentPrincipal,
    service: ServiceDep,
    settings: SettingsDep,
    probe: Annotated[UploadFile, File(description="The probe photo.")],
    k: Annotated[int | None, Form(ge=1, le=1000)] = None,
    face: Annotated[int | None, Form(ge=0, le=1000)] = None,
    collection: Annotated[str | None, Form(max_length=200)] = None,
    captured_from: Annotated[str | None, Form(max_length=40)] = None,
    captured_to: Annotated[str | None, Form(max_length=40)] = None,
    source_prefix: Annotated[str | None, Form(max_length=2000)] = None,
    include_flagged: Annotated[bool, Form()] = False,
) -> SearchOut:
    check_content_length(request, settings.max_probe_bytes, "probe")
    data = read_image(probe, settings.max_probe_bytes)
    filters = _filters(collection, captured_from, captured_to, source_prefix)
    view = service.search(who, number, data, SearchRequest(k, face, filters, include_flagged))
    return search_out(view.outcome, view.boxes, view)


@router.get("/cases/{number}/searches", response_model=Page[SearchOut])
def list_searches(
    number: str, who: CurrentPrincipal, service: ServiceDep, params: PageDep
) -> dict[str, Any]:
    outcomes = service.list_searches(who, number)
    chosen = outcomes[params.offset : params.offset + params.limit]
    boxes = service.face_boxes([c.face_id for o in chosen for c in o.candidates])
    result = page(outcomes, params)
    result["items"] = [search_out(o, boxes) for o in chosen]
    return result


@router.get("/searches/{search_id}", response_model=SearchOut)
def view_search(search_id: PathId, who: CurrentPrincipal, service: ServiceDep) -> SearchOut:
    outcome = service.view_search(who, search_id)
    return search_out(outcome, service.face_boxes([c.face_id for c in outcome.candidates]))


@router.get(
    "/searches/{search_id}/probe",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
def probe_image(search_id: PathId, who: CurrentPrincipal, service: ServiceDep) -> Response:
    media = service.probe_image(who, search_id)
    return Response(
        media.data, media_type=media.media_type, headers={"Cache-Control": "private, no-store"}
    )


@router.post("/searches/{search_id}/reviews", response_model=ReviewOut, status_code=201)
def review(
    search_id: PathId, body: ReviewIn, who: CurrentPrincipal, service: ServiceDep
) -> ReviewOut:
    return review_out(service.review(who, search_id, body.face_id, body.decision, body.note))


@router.post(
    "/searches/{search_id}/candidates/{face_id}/reveal",
    response_model=RevealOut,
    status_code=201,
)
def reveal(
    search_id: PathId, face_id: PathId, body: RevealIn, who: CurrentPrincipal, service: ServiceDep
) -> RevealOut:
    seq = service.reveal(who, search_id, face_id, body.reason)
    return RevealOut(search_id=search_id, face_id=face_id, audit_seq=seq)
