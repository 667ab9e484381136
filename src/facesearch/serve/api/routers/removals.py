"""Removal and suppression requests (administrators): preview from photos of the person,
apply (remove the faces and keep the person out of later ingests and results), cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

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
    NoteIn,
    Page,
    RemovalAppliedOut,
    RemovalApplyIn,
    RemovalMatchOut,
    RemovalOut,
    RemovalPreviewOut,
)
from facesearch.serve.api.uploads import check_content_length, read_image

router = APIRouter(prefix="/removals", tags=["removals"])
MAX_PHOTOS = 20


@router.get("", response_model=Page[RemovalOut])
def list_removals(who: CurrentPrincipal, service: ServiceDep, params: PageDep) -> dict[str, Any]:
    return page(service.admin.list_removals(who), params)


@router.post("", response_model=RemovalPreviewOut, status_code=201)
def preview(
    request: Request,
    who: CurrentPrincipal,
    service: ServiceDep,
    settings: SettingsDep,
    photos: Annotated[list[UploadFile], File(description="Photos of the person.")],
    requester: Annotated[str, Form(min_length=1, max_length=500)],
    reason: Annotated[str, Form(min_length=1, max_length=5000)],
) -> RemovalPreviewOut:
    check_content_length(request, settings.max_probe_bytes * MAX_PHOTOS, "photos")

    if not 1 <= len(photos) <= MAX_PHOTOS:
        raise ApiError(422, f"send 1 to {MAX_PHOTOS} photos of the person")
    data = [read_image(p, settings.max_probe_bytes, "photo") for p in photos]
    request_id, matches = service.admin.preview_removal(who, data, requester, reason)
    return RemovalPreviewOut(
        request_id=request_id, matches=[RemovalMatchOut.model_validate(m) for m in matches]
    )


@router.post("/{request_id}/apply", response_model=RemovalAppliedOut)
def apply(
    request_id: PathId, body: RemovalApplyIn, who: CurrentPrincipal, service: ServiceDep
) -> RemovalAppliedOut:
    removed = service.admin.apply_removal(who, request_id, body.face_ids)
    return RemovalAppliedOut(request_id=request_id, removed=removed)


@router.post("/{request_id}/cancel", status_code=204, response_class=Response)
def cancel(
    request_id: PathId, body: NoteIn, who: CurrentPrincipal, service: ServiceDep
) -> Response:
    service.admin.cancel_removal(who, request_id, body.note)
    return Response(status_code=204)
