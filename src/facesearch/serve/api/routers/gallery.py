"""Collections, gallery figures, and the authorised face crops, thumbnails and images."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from facesearch.serve.api.deps import CurrentPrincipal, PageDep, PathId, QueryId, ServiceDep, page
from facesearch.serve.api.schemas import Page, StatsOut
from facesearch.serve.api.schemas_gallery import (
    BrowsePageOut,
    CollectionCountsOut,
    DeletedOut,
    DeleteIn,
)

router = APIRouter(tags=["gallery"])

MEDIA_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "the image bytes"},
    404: {"description": "no such face, or not one you may see"},
}


@router.get("/collections", response_model=Page[CollectionCountsOut])
def collections(who: CurrentPrincipal, service: ServiceDep, params: PageDep) -> dict[str, Any]:
    return page(service.library.collections(who), params)


@router.get("/collections/{name}/images", response_model=BrowsePageOut)
def collection_images(
    name: Annotated[str, Path(min_length=1, max_length=200)],
    who: CurrentPrincipal,
    service: ServiceDep,
    params: PageDep,
    flagged: Annotated[
        bool, Query(description="Only images with flagged faces, and only those faces.")
    ] = False,
) -> dict[str, Any]:
    """A collection's images, by id, with their provenance there and their faces
    (administrators: the gallery browser). Each face's crop is ``/faces/{id}/crop``."""
    return service.library.browse(
        who, name, flagged=flagged, limit=params.limit, offset=params.offset
    )


@router.post("/images/{image_id}/delete", response_model=DeletedOut)
def delete_image(
    image_id: PathId, body: DeleteIn, who: CurrentPrincipal, service: ServiceDep
) -> DeletedOut:
    """Delete an image with its faces and provenance, from the catalog and the index
    (administrators; logged with the reason)."""
    return DeletedOut(removed=service.library.remove_image(who, image_id, body.reason))


@router.post("/faces/{face_id}/delete", response_model=DeletedOut)
def delete_face(
    face_id: PathId, body: DeleteIn, who: CurrentPrincipal, service: ServiceDep
) -> DeletedOut:
    """Delete one face from the catalog and the index (administrators; logged with the
    reason); an image left without a face goes too."""
    service.library.known_face(who, face_id, "faces.delete")
    return DeletedOut(removed=service.admin.remove_faces(who, [face_id], body.reason))


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
