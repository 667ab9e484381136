"""A probe's faces, found before any search, for the investigator to pick the one to search.

Nothing is searched, stored or counted: no search row, no results, no ``search`` audit entry
(``facesearch.app.probes``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile

from facesearch.serve.api.deps import CurrentPrincipal, ServiceDep, SettingsDep
from facesearch.serve.api.schemas_probes import ProbeFacesOut
from facesearch.serve.api.uploads import check_content_length, read_image

router = APIRouter(tags=["searches"])


@router.post(
    "/cases/{number}/probe-faces",
    response_model=ProbeFacesOut,
    responses={
        413: {"description": "probe too large"},
        415: {"description": "not an image"},
        503: {"description": "search queue full"},
    },
)
def probe_faces(
    number: str,
    request: Request,
    who: CurrentPrincipal,
    service: ServiceDep,
    settings: SettingsDep,
    probe: Annotated[UploadFile, File(description="The probe photo.")],
) -> ProbeFacesOut:
    """The faces of a probe photo, before any search: each face's box, detector confidence,
    quality and quality flags, whether it is likely a face and whether its quality is below
    the policy's minimum, and the face to preselect. Allowed to whoever may search the case
    (an investigator assigned to an open, approved case); nothing is searched or logged as
    a search."""
    check_content_length(request, settings.max_probe_bytes, "probe")
    data = read_image(probe, settings.max_probe_bytes)
    found = service.searches.probe_faces(who, number, data)
    return ProbeFacesOut.model_validate(found)
