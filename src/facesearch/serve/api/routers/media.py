"""A case's media sets, read-only: the sets, the elimination summary, the cross-case alerts
and a face's picture (the persons found and their review: routers/persons). Governed like the CLI
(``facesearch media``): only the case's assigned investigators and supervisors; every read and
every refusal is logged; a case the caller may not read answers as it does for any other
refusal. A face's picture is greyscale and blurred outside the face box (``GET .../picture``);
the picture as it is only through the explicit ``POST .../reveal``, logged as
``media.face.reveal`` (like ``facesearch media picture --reveal``). Import and clustering stay on
the CLI (they run for minutes on the data's machine)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict

from facesearch.app.media import MediaService, media_service
from facesearch.app.service import Service
from facesearch.serve.api.deps import CurrentPrincipal, PathId, ServiceDep

router = APIRouter(prefix="/cases/{number}/media", tags=["media"])


class _MediaOut(BaseModel):
    """Read from the media acts' results: dataclasses (attributes) or dicts."""

    model_config = ConfigDict(from_attributes=True)


class MediaImportOut(_MediaOut):
    import_id: int
    actor: str
    started_at: datetime
    finished_at: datetime | None
    status: str


class MediaSetOut(_MediaOut):
    name: str
    created_by: str
    created_at: datetime
    files: int
    files_by_status: dict[str, int]
    imports: list[MediaImportOut]


class MediaSummaryOut(_MediaOut):
    case: str
    media_sets: int
    files: int
    files_by_status: dict[str, int]
    eliminated: int
    eliminated_by_category: dict[str, int]
    eliminated_by_hash_set: dict[str, int]
    eliminated_by_match: dict[str, int]
    faces: int
    faces_flagged: int
    clusters: int
    clusters_named: int
    clusters_hidden: int
    decisions: dict[str, int]


class AlertOut(_MediaOut):
    other_case: str
    supervisor: str | None
    supervisor_name: str
    faces: list[int]
    first_at: datetime
    last_at: datetime
    message: str


def _media(service: Service) -> MediaService:
    """The media acts with the server's settings (the same media settings as the CLI's)."""
    return media_service(service)


@router.get("", response_model=list[MediaSetOut])
def media_sets(number: str, who: CurrentPrincipal, service: ServiceDep) -> list[MediaSetOut]:
    return [MediaSetOut.model_validate(m) for m in _media(service).media_sets(who.username, number)]


@router.get("/summary", response_model=MediaSummaryOut)
def summary(number: str, who: CurrentPrincipal, service: ServiceDep) -> MediaSummaryOut:
    return MediaSummaryOut.model_validate(_media(service).summary(who.username, number))


@router.get("/alerts", response_model=list[AlertOut])
def alerts(number: str, who: CurrentPrincipal, service: ServiceDep) -> list[AlertOut]:
    return [AlertOut.model_validate(a) for a in _media(service).alerts(who.username, number)]


_JPEG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}}}


@router.get("/faces/{face}/picture", response_class=Response, responses=_JPEG)
def face_picture(number: str, face: PathId, who: CurrentPrincipal, service: ServiceDep) -> Response:
    """The picture the face was found in: greyscale, blurred outside the face box (logged as
    ``media.face.view``)."""
    data = _media(service).face_picture(who.username, number, face)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


@router.post("/faces/{face}/reveal", response_class=Response, responses=_JPEG)
def reveal_face(number: str, face: PathId, who: CurrentPrincipal, service: ServiceDep) -> Response:
    """The picture as it is, in colour and unblurred: an explicit act, logged as
    ``media.face.reveal`` before the picture is sent."""
    data = _media(service).face_picture(who.username, number, face, reveal=True)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})
