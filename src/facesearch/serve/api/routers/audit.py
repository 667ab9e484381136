"""Audit: verify the hash chain (auditors, administrators); the oversight report (auditors,
supervisors)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from facesearch.serve.api.deps import CurrentPrincipal, ServiceDep
from facesearch.serve.api.schemas import VerifyOut

router = APIRouter(prefix="/audit", tags=["audit"])


@router.post("/verify", response_model=VerifyOut)
def verify(who: CurrentPrincipal, service: ServiceDep) -> VerifyOut:
    return VerifyOut.model_validate(service.admin.verify_audit(who))


@router.get("/report", response_model=dict[str, Any])
def oversight_report(
    who: CurrentPrincipal,
    service: ServiceDep,
    start: Annotated[datetime | None, Query()] = None,
    end: Annotated[datetime | None, Query()] = None,
    period: Annotated[Literal["day", "week", "month"], Query()] = "month",
) -> dict[str, Any]:
    report: dict[str, Any] = service.admin.oversight_report(who, start, end, period).as_dict()
    return report
