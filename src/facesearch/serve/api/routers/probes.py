"""A probe's faces, found before any search, for the investigator to pick the one to search.

Nothing is searched, stored or counted: no search row, no results, no ``search`` audit entry
(``facesearch.app.probes``). And the supervised quality overrides: a probe face below the
policy's minimum quality searched once with a supervisor's grant (``govern/overrides.py``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, Request, UploadFile

from facesearch.serve.api.deps import CurrentPrincipal, PathId, ServiceDep, SettingsDep
from facesearch.serve.api.schemas_probes import (
    OverrideDecisionIn,
    ProbeFacesOut,
    QualityOverrideIn,
    QualityOverrideOut,
)
from facesearch.serve.api.uploads import check_content_length, read_image

router = APIRouter(tags=["searches"])
OverrideStatus = Literal["pending", "granted", "refused", "used"]


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


@router.post(
    "/cases/{number}/quality-overrides", response_model=QualityOverrideOut, status_code=201
)
def request_override(
    number: str, body: QualityOverrideIn, who: CurrentPrincipal, service: ServiceDep
) -> QualityOverrideOut:
    """Ask a supervisor to let one probe face below the policy's minimum quality be searched
    in this case (an assigned investigator; a reason of at least 10 characters). Refused when
    the policy forbids overrides (``search.quality_override = false``)."""
    found = service.searches.overrides.request(
        who, number, body.probe_sha256, body.face, body.reason, body.quality
    )
    return QualityOverrideOut.model_validate(found)


@router.get("/quality-overrides", response_model=list[QualityOverrideOut])
def list_overrides(
    who: CurrentPrincipal,
    service: ServiceDep,
    case: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[OverrideStatus | None, Query()] = None,
    probe_sha256: Annotated[str | None, Query(pattern=r"^[0-9a-fA-F]{64}$")] = None,
) -> list[QualityOverrideOut]:
    """Quality overrides, newest first: all of them for supervisors and auditors (``status=
    pending``: the supervisor's queue), an investigator's own requests for them."""
    found = service.searches.overrides.list(
        who, case=case, status=status, probe_sha256=probe_sha256
    )
    return [QualityOverrideOut.model_validate(o) for o in found]


@router.post("/quality-overrides/{override_id}/grant", response_model=QualityOverrideOut)
def grant_override(
    override_id: PathId, body: OverrideDecisionIn, who: CurrentPrincipal, service: ServiceDep
) -> QualityOverrideOut:
    """A supervisor (not the requester) lets the requester search that probe face once."""
    found = service.searches.overrides.decide(who, override_id, True, body.note)
    return QualityOverrideOut.model_validate(found)


@router.post("/quality-overrides/{override_id}/refuse", response_model=QualityOverrideOut)
def refuse_override(
    override_id: PathId, body: OverrideDecisionIn, who: CurrentPrincipal, service: ServiceDep
) -> QualityOverrideOut:
    """A supervisor (not the requester) refuses the override, saying why."""
    found = service.searches.overrides.decide(who, override_id, False, body.note)
    return QualityOverrideOut.model_validate(found)
