"""Searches (an uploaded probe, inside a case), their results, reviews and reveals."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from facesearch.app.governed import SearchFilters, SearchRequest, search_filters
from facesearch.app.types import MAX_PROBES, MultiSearchOutcome
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
    ClusterSearchIn,
    Page,
    RevealIn,
    RevealOut,
    ReviewIn,
    ReviewOut,
    SearchOut,
)
from facesearch.serve.api.uploads import check_content_length, read_image
from facesearch.serve.api.views import review_out, search_out, with_probes

router = APIRouter(tags=["searches"])


def _filters(
    collection: str | None,
    captured_from: str | None,
    captured_to: str | None,
    source_prefix: str | None,
) -> SearchFilters | None:
    try:
        filters = search_filters(collection, captured_from, captured_to, source_prefix)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
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
    probe: Annotated[
        list[UploadFile],
        File(
            description="The probe photo; several photos of one person (at most 20) are "
            "searched as one query (multi-probe: mean of their embeddings, with the best "
            "single score and the probes that matched each candidate)."
        ),
    ],
    k: Annotated[int | None, Form(ge=1, le=1000)] = None,
    face: Annotated[int | None, Form(ge=0, le=1000)] = None,
    collection: Annotated[str | None, Form(max_length=200)] = None,
    captured_from: Annotated[str | None, Form(max_length=40)] = None,
    captured_to: Annotated[str | None, Form(max_length=40)] = None,
    source_prefix: Annotated[str | None, Form(max_length=2000)] = None,
    include_flagged: Annotated[bool, Form()] = False,
) -> SearchOut:
    if len(probe) > MAX_PROBES:
        raise ApiError(422, f"at most {MAX_PROBES} probes in one search, got {len(probe)}")
    check_content_length(request, settings.max_probe_bytes * len(probe), "probe")
    photos = [read_image(p, settings.max_probe_bytes) for p in probe]
    filters = _filters(collection, captured_from, captured_to, source_prefix)
    if len(photos) > 1:
        if include_flagged:
            raise ApiError(422, "include_flagged applies to a single probe")
        names = [p.filename or f"probe {i}" for i, p in enumerate(probe, start=1)]
        out = service.searches.multi_search(
            who, number, photos, SearchRequest(k, face, filters), names=names
        )
        return _multi_out(service, out)
    view = service.searches.search(
        who, number, photos[0], SearchRequest(k, face, filters, include_flagged)
    )
    return search_out(view.outcome, view.boxes, view)


def _multi_out(service: Any, out: MultiSearchOutcome) -> SearchOut:
    boxes = service.searches.face_boxes([c.face_id for c in out.outcome.candidates])
    return with_probes(search_out(out.outcome, boxes), out.probes, out.scores, out.cluster)


@router.post(
    "/cases/{number}/media/clusters/{cluster}/searches",
    response_model=SearchOut,
    status_code=201,
    responses={429: {"description": "over the search quota"}, 503: {"description": "queue full"}},
)
def search_cluster(
    number: str,
    cluster: PathId,
    who: CurrentPrincipal,
    service: ServiceDep,
    body: ClusterSearchIn,
) -> SearchOut:
    """Search the gallery with the best faces of one of the case's media-set clusters."""
    out = service.searches.cluster_search(
        who, number, cluster, SearchRequest(k=body.k), body.probes
    )
    return _multi_out(service, out)


def _with_details(service: Any, outs: list[SearchOut]) -> list[SearchOut]:
    details = service.searches.multi_probe_details([o.search_id for o in outs])
    return [with_probes(o, *details[o.search_id]) if o.search_id in details else o for o in outs]


@router.get("/cases/{number}/searches", response_model=Page[SearchOut])
def list_searches(
    number: str, who: CurrentPrincipal, service: ServiceDep, params: PageDep
) -> dict[str, Any]:
    outcomes = service.cases.show(who, number)[1]
    chosen = outcomes[params.offset : params.offset + params.limit]
    boxes = service.searches.face_boxes([c.face_id for o in chosen for c in o.candidates])
    result = page(outcomes, params)
    result["items"] = _with_details(service, [search_out(o, boxes) for o in chosen])
    return result


@router.get("/searches/{search_id}", response_model=SearchOut)
def view_search(search_id: PathId, who: CurrentPrincipal, service: ServiceDep) -> SearchOut:
    outcome = service.searches.view(who, search_id)
    out = search_out(outcome, service.searches.face_boxes([c.face_id for c in outcome.candidates]))
    return _with_details(service, [out])[0]


@router.get(
    "/searches/{search_id}/probe",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
def probe_image(search_id: PathId, who: CurrentPrincipal, service: ServiceDep) -> Response:
    media = service.searches.probe_image(who, search_id)
    return Response(
        media.data, media_type=media.media_type, headers={"Cache-Control": "private, no-store"}
    )


@router.post("/searches/{search_id}/reviews", response_model=ReviewOut, status_code=201)
def review(
    search_id: PathId, body: ReviewIn, who: CurrentPrincipal, service: ServiceDep
) -> ReviewOut:
    return review_out(
        service.searches.review(who, search_id, body.face_id, body.decision, body.note)
    )


@router.post(
    "/searches/{search_id}/candidates/{face_id}/reveal",
    response_model=RevealOut,
    status_code=201,
)
def reveal(
    search_id: PathId, face_id: PathId, body: RevealIn, who: CurrentPrincipal, service: ServiceDep
) -> RevealOut:
    seq = service.faces.reveal(who, search_id, face_id, body.reason)
    return RevealOut(search_id=search_id, face_id=face_id, audit_seq=seq)
