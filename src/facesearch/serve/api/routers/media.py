"""A case's media sets, read-only: the sets, the elimination summary, the cross-case alerts
and a face's picture (the persons found and their review: routers/persons). Governed like the CLI
(``facesearch media``): only the case's assigned investigators and supervisors; every read and
every refusal is logged; a case the caller may not read answers as it does for any other
refusal. A face's picture is drawn as the caller's wellbeing setting asks (app/wellbeing.py:
greyscale or colour, blurred outside the face box or not; ``crop``: the face alone), decided by
the server from the principal (``GET .../picture``); the picture as it is only through the
explicit ``POST .../reveal``, logged as ``media.face.reveal`` (like ``facesearch media picture
--reveal``). The case's investigators upload photos, videos or an archive of them into a new
media set (``POST .../upload``, multipart: ``files``, ``label``, ``note``), imported and
clustered in the background (``GET .../jobs``: progress); the CLI imports from the data's
machine."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict

from facesearch.app import wellbeing
from facesearch.app.media import MediaService, media_service
from facesearch.app.service import Service
from facesearch.serve.api.deps import CurrentPrincipal, PathId, ServiceDep, SettingsDep
from facesearch.serve.api.media_upload import save_media_files
from facesearch.serve.api.schemas_media import MediaUploadJobOut
from facesearch.serve.api.uploads import check_content_length

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
def face_picture(
    number: str,
    face: PathId,
    who: CurrentPrincipal,
    service: ServiceDep,
    crop: Annotated[bool, Query(description="Only the face box and a margin.")] = False,
) -> Response:
    """The picture the face was found in, as the caller's wellbeing setting asks (greyscale
    or colour, blurred outside the face box or not; logged as ``media.face.view``)."""
    mine = wellbeing.user_wellbeing(service.governance, who.username)
    data = _media(service).face_picture(
        who.username,
        number,
        face,
        greyscale=mine.greyscale,
        blur=mine.blur_outside_face,
        crop=crop,
    )
    headers = {
        "Cache-Control": "private, no-store",
        "X-Wellbeing": f"greyscale={int(mine.greyscale)}; blur={int(mine.blur_outside_face)}",
    }
    return Response(data, media_type="image/jpeg", headers=headers)


@router.post("/faces/{face}/reveal", response_class=Response, responses=_JPEG)
def reveal_face(number: str, face: PathId, who: CurrentPrincipal, service: ServiceDep) -> Response:
    """The picture as it is, in colour and unblurred: an explicit act, logged as
    ``media.face.reveal`` before the picture is sent."""
    data = _media(service).face_picture(who.username, number, face, reveal=True)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


@router.post(
    "/upload",
    response_model=MediaUploadJobOut,
    status_code=202,
    responses={
        403: {
            "description": "not an investigator of the case, the case not open, or the "
            "media set exists"
        },
        413: {"description": "larger than the server's limits"},
        415: {"description": "not a photo, a video, or a zip or tar archive"},
        422: {"description": "no file, no label or note, or an archive with no media inside"},
    },
)
def upload_media(
    number: str,
    request: Request,
    who: CurrentPrincipal,
    service: ServiceDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile], File(description="Photos, videos, or a zip or tar.")],
    label: Annotated[str, Form(min_length=1, max_length=200, pattern=r"\S")],
    note: Annotated[str, Form(min_length=1, max_length=2000, pattern=r"\S")],
) -> MediaUploadJobOut:
    """Upload media into a new media set of the case (its investigators, the case open): the
    set's ``label`` and a ``note`` of the material's source and legal basis (audited as
    ``media.upload``); imported and clustered in the background (``GET .../jobs``)."""
    check_content_length(request, settings.max_archive_bytes, "upload")
    _media(service).may_upload(who.username, number)  # before the upload is saved
    jobs = service.media_jobs
    folder = jobs.upload_dir()
    names = save_media_files(files, folder / "files", settings)  # removes folder on refusal
    job = jobs.start(who, number, set_name=label, note=note, files=names, folder=folder)
    return MediaUploadJobOut.model_validate(job)


@router.get("/jobs", response_model=list[MediaUploadJobOut])
def upload_jobs(number: str, who: CurrentPrincipal, service: ServiceDep) -> list[MediaUploadJobOut]:
    """The case's media upload jobs, newest first, with their progress."""
    return [MediaUploadJobOut.model_validate(j) for j in service.media_jobs.jobs(who, number)]
