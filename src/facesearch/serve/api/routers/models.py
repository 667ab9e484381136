"""The recognizers, read only (administrators and auditors): what is shipped, what the agency
added with a model card, which one the gallery searches with (docs/models.md). Adding and
removing are the command line's (``facesearch models add|remove``), on the data's machine."""

from __future__ import annotations

from fastapi import APIRouter

from facesearch.app.types import UnknownModelError
from facesearch.serve.api.deps import CurrentPrincipal, ServiceDep
from facesearch.serve.api.errors import ApiError
from facesearch.serve.api.schemas_models import ModelDetailOut, ModelOut

router = APIRouter(tags=["models"])


@router.get("/models", response_model=list[ModelOut])
def models(who: CurrentPrincipal, service: ServiceDep) -> list[ModelOut]:
    """The recognizers: shipped, then added; their vectors' keys, calibration, smoke test and
    which one is active (administrators, auditors)."""
    return [ModelOut.model_validate(v) for v in service.models.list(who)]


@router.get("/models/{name}", response_model=ModelDetailOut)
def model(name: str, who: CurrentPrincipal, service: ServiceDep) -> ModelDetailOut:
    """One recognizer: its card, hash, smoke figures, bands and fusion (administrators,
    auditors)."""
    try:
        return ModelDetailOut.model_validate(service.models.show(who, name))
    except UnknownModelError as exc:
        raise ApiError(404, str(exc)) from None
