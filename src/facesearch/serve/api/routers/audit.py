"""Audit: verify the hash chain (auditors, administrators); the oversight report (auditors,
supervisors); the audit-entry browser, its CSV export and the checkpoint state (auditors,
supervisors, administrators)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from facesearch.app.types import EntryFilter, as_utc
from facesearch.serve.api.deps import CurrentPrincipal, PageDep, PathId, ServiceDep
from facesearch.serve.api.errors import ApiError
from facesearch.serve.api.schemas import Page, VerifyOut
from facesearch.serve.api.schemas_audit import AuditEntryOut, AuditStateOut

router = APIRouter(prefix="/audit", tags=["audit"])

Text = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]


def _utc(name: str, value: datetime | None) -> datetime | None:
    try:
        return as_utc(value) if value is not None else None
    except (OverflowError, ValueError):
        raise ApiError(422, f"{name}: not a time that can be given in UTC") from None


def entry_filter(
    actor: Text = None,
    action: Text = None,
    action_prefix: Text = None,
    case: Text = None,
    since: Annotated[datetime | None, Query(description="Inclusive (UTC).")] = None,
    until: Annotated[datetime | None, Query(description="Exclusive (UTC).")] = None,
    outcome: Annotated[Literal["ok", "refused", "failed"] | None, Query()] = None,
) -> EntryFilter:
    return EntryFilter(
        actor, action, action_prefix, case, _utc("since", since), _utc("until", until), outcome
    )


FilterDep = Annotated[EntryFilter, Depends(entry_filter)]


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


@router.get("/entries", response_model=Page[AuditEntryOut])
def list_entries(
    who: CurrentPrincipal, service: ServiceDep, params: PageDep, f: FilterDep
) -> dict[str, Any]:
    """Audit entries matching the filters, newest first (the look is itself logged)."""
    items, total = service.admin.audit_entries(who, f, params.limit, params.offset)
    return {"items": items, "total": total, "limit": params.limit, "offset": params.offset}


@router.get(
    "/entries.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The entries as CSV."}},
)
def export_entries(who: CurrentPrincipal, service: ServiceDep, f: FilterDep) -> Response:
    """Every entry matching the filters as CSV (header row; formula-like cells escaped with a
    leading apostrophe); logged as ``audit.export``."""
    text, _rows = service.admin.export_audit_entries(who, f)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-entries-{stamp}.csv"'},
    )


@router.get("/entries/{seq}", response_model=AuditEntryOut)
def show_entry(seq: PathId, who: CurrentPrincipal, service: ServiceDep) -> dict[str, Any]:
    found = service.admin.audit_entry(who, seq)
    if found is None:
        raise ApiError(404, f"no audit entry #{seq}")
    return found


@router.get("/state", response_model=AuditStateOut)
def audit_state(who: CurrentPrincipal, service: ServiceDep) -> dict[str, Any]:
    """The head of the log, the latest signed checkpoint it records (does the log still hold
    it?) and the entries added since."""
    return service.admin.audit_state(who)
