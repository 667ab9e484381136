"""A search's probes on screen and the side-by-side comparison: the probes (the searched face
found again, its box and landmarks), their pictures, and the candidates' landmarks. The same
access rules as reading the search; a probe retention deleted answers 410 Gone."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response

from facesearch.govern.probe_access import ProbePurgedError
from facesearch.serve.api.deps import CurrentPrincipal, PathId, ServiceDep
from facesearch.serve.api.errors import ApiError
from facesearch.serve.api.schemas_compare import (
    CandidateLandmarksOut,
    CandidatesLandmarksOut,
    ProbeGeometryOut,
    ProbesGeometryOut,
)

router = APIRouter(tags=["searches"])


@router.get("/searches/{search_id}/probes", response_model=ProbesGeometryOut)
def probes(search_id: PathId, who: CurrentPrincipal, service: ServiceDep) -> ProbesGeometryOut:
    """Every probe of the search (one, or a multi-probe search's by position): the photo's
    size, the faces found, the face searched with its box and five landmarks, and the links to
    its pictures; a purged probe is listed with ``purged`` true."""
    found = service.compare.probes(who, search_id)
    context = {"search_id": search_id}
    return ProbesGeometryOut(
        search_id=search_id,
        probes=[ProbeGeometryOut.model_validate(p, context=context) for p in found],
    )


@router.get(
    "/searches/{search_id}/probes/{position}/{kind}",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}},
        410: {"description": "the probe was deleted by retention"},
    },
)
def probe_picture(
    search_id: PathId,
    position: PathId,
    kind: Literal["face", "image"],
    who: CurrentPrincipal,
    service: ServiceDep,
) -> Response:
    """The probe's searched face (``face``: with the gallery crops' margin) or the whole photo,
    small, with that face boxed (``image``). Each read is audited (``probe.view``)."""
    try:
        media = service.compare.probe_picture(who, search_id, position, kind)
    except ProbePurgedError as exc:
        raise ApiError(410, str(exc)) from None
    return Response(
        media.data, media_type=media.media_type, headers={"Cache-Control": "private, no-store"}
    )


@router.get("/searches/{search_id}/landmarks", response_model=CandidatesLandmarksOut)
def candidate_landmarks(
    search_id: PathId, who: CurrentPrincipal, service: ServiceDep
) -> CandidatesLandmarksOut:
    """The candidates shown with their face box and five landmarks, in the photo's pixels and
    in their stored face crop's (``crop_url``), to align them on the eyes."""
    found = service.compare.candidates(who, search_id)
    return CandidatesLandmarksOut(
        search_id=search_id, candidates=[CandidateLandmarksOut.model_validate(c) for c in found]
    )
