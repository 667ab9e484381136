"""Collections, gallery figures, and the authorised face crops, thumbnails and images."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response

from facesearch.serve.api.deps import CurrentPrincipal, PageDep, PathId, QueryId, ServiceDep, page
from facesearch.serve.api.schemas import CollectionOut, Page, StatsOut

router = APIRouter(tags=["gallery"])

MEDIA_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "the image bytes"},
    404: {"description": "no such face, or not one you may see"},
}


@router.get("/collections", response_model=Page[CollectionOut])
def collections(who: CurrentPrincipal, service: ServiceDep, params: PageDep) -> dict[str, Any]:
    return page(service.library.collections(who), params)


@router.get("/stats", response_model=StatsOut)
def stats(who: CurrentPrincipal, service: ServiceDep) -> dict[str, Any]:
    return service.library.stats(who)


@router.get("/faces/{face_id}/{kind}", response_class=Response, responses=MEDIA_RESPONSES)
def face_media(
    face_id: PathId,
    kind: Literal["crop", "thumbnail", "image"],
    who: CurrentPrincipal,
    service: ServiceDep,
    search_id: QueryId = None,
) -> Response:
    media = service.faces.media(who, face_id, kind, search_id)
    return Response(
        media.data,
        media_type=media.media_type,
        headers={"Cache-Control": "private, no-store"},
    )
