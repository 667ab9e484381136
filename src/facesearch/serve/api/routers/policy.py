"""The policy in force and the one pending, if any (any signed-in user may read them),
validating a policy text, and asking to put a checked one in force (administrators: a pending
change a second administrator approves with ``POST /changes/{id}/approve``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from facesearch.app.types import PolicyError
from facesearch.serve.api.deps import CurrentPrincipal, ServiceDep
from facesearch.serve.api.routers.profiles import requirements_out
from facesearch.serve.api.schemas import (
    ChangeOut,
    PendingPolicyOut,
    PolicyOut,
    PolicyProblemOut,
    PolicyTextIn,
)
from facesearch.serve.api.schemas_account import PolicyInForceOut, PolicyRequestIn
from facesearch.serve.api.schemas_profiles import PolicyValidateOut
from facesearch.serve.api.views import policy_out

router = APIRouter(prefix="/policy", tags=["policy"])


@router.get("", response_model=PolicyOut)
def show(who: CurrentPrincipal, service: ServiceDep) -> PolicyOut:
    """The policy in force and, when a changed policy waits for two administrators, that one
    (``pending``: its hash, who recorded it and when, the approvals so far)."""
    out = policy_out(service.admin.show_policy(who))
    pending = service.admin.pending_policy(who)
    if pending is not None:
        out.pending = PendingPolicyOut.model_validate(pending)
    return out


@router.post("/validate", response_model=PolicyValidateOut)
def validate(body: PolicyTextIn, who: CurrentPrincipal, service: ServiceDep) -> PolicyValidateOut:
    """Check a policy text (nothing changes): every problem, or, when valid, what its
    jurisdiction profile requires and which requirements this installation does not meet."""
    try:
        parsed = service.admin.validate_policy(who, body.text)
    except PolicyError as exc:
        return PolicyValidateOut(
            valid=False,
            sha256=None,
            problems=[PolicyProblemOut(field=f, message=m) for f, m in exc.problems],
        )
    found = requirements_out(*service.compliance.requirements(who, parsed))
    return PolicyValidateOut(valid=True, sha256=parsed.sha256, problems=[], profile=found)


@router.get("/in-force", response_model=PolicyInForceOut)
def in_force(who: CurrentPrincipal, service: ServiceDep) -> PolicyInForceOut:
    """The policy in force: its hash, since when, who put it in force; and the pending one's
    change, hash and unified diff against it, if one waits."""
    return PolicyInForceOut.model_validate(service.accounts.policy_in_force(who))


@router.post(
    "/request",
    status_code=202,
    response_model=ChangeOut,
    responses={
        403: {"description": "not an administrator, or this policy is already in force"},
        422: {"description": "the text is not a valid policy (every problem listed)"},
    },
)
def request_policy(body: PolicyRequestIn, who: CurrentPrincipal, service: ServiceDep) -> Any:
    """Ask to put a policy text in force (administrators): checked whole, then pending until a
    second administrator approves it (``POST /changes/{change_id}/approve``)."""
    view = service.accounts.request_policy(who, body.text)
    out = ChangeOut.model_validate(view)
    return JSONResponse(out.model_dump(mode="json"), status_code=202)
