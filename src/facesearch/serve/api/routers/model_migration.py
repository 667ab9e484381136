"""The gallery's recognizer: the migration's progress and the switch (administrators; the
status also auditors). A refusal for the gallery's state (not ready, nothing to go back to)
is 409 with what to do; for the role, 403. Both are in the audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter

from facesearch.app.types import SwitchRefusedError
from facesearch.serve.api.deps import CurrentPrincipal, ServiceDep
from facesearch.serve.api.errors import ApiError
from facesearch.serve.api.schemas_models_migration import ModelsMigrationOut, SwitchIn, SwitchOut

router = APIRouter(tags=["models"])
T = TypeVar("T")


def _conflict(run: Callable[[], T]) -> T:
    try:
        return run()
    except SwitchRefusedError as exc:
        raise ApiError(409, exc.reason, action=exc.action) from exc


@router.get("/models/migration", response_model=ModelsMigrationOut)
def migration(who: CurrentPrincipal, service: ServiceDep) -> ModelsMigrationOut:
    """The active recognizer, the previous one (and whether the gallery can switch back to
    it), the latest migration with its progress and whether it can be switched to
    (administrators, auditors)."""
    return ModelsMigrationOut.model_validate(service.model_switch.status(who))


@router.post("/models/migration/switch", response_model=SwitchOut)
def switch(body: SwitchIn, who: CurrentPrincipal, service: ServiceDep) -> SwitchOut:
    """Switch the gallery to the migrated recognizer ``target`` in one audited transaction
    (administrators; 409 while it is not ready, with why)."""
    report = _conflict(lambda: service.model_switch.switch(who, body.target))
    return SwitchOut.model_validate(report)


@router.post("/models/migration/switch-back", response_model=SwitchOut)
def switch_back(who: CurrentPrincipal, service: ServiceDep) -> SwitchOut:
    """Switch back to the recognizer used before the last switch (administrators; audited;
    409 when it cannot, with why)."""
    return SwitchOut.model_validate(_conflict(lambda: service.model_switch.switch_back(who)))
