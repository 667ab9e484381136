"""The policy in force and the one pending, if any (any signed-in user may read them), and
validating a policy text."""

from __future__ import annotations

from fastapi import APIRouter

from facesearch.app.types import PolicyError
from facesearch.serve.api.deps import CurrentPrincipal, ServiceDep
from facesearch.serve.api.schemas import (
    PendingPolicyOut,
    PolicyCheckOut,
    PolicyOut,
    PolicyProblemOut,
    PolicyTextIn,
)
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


@router.post("/validate", response_model=PolicyCheckOut)
def validate(body: PolicyTextIn, who: CurrentPrincipal, service: ServiceDep) -> PolicyCheckOut:
    try:
        parsed = service.admin.validate_policy(who, body.text)
    except PolicyError as exc:
        return PolicyCheckOut(
            valid=False,
            sha256=None,
            problems=[PolicyProblemOut(field=f, message=m) for f, m in exc.problems],
        )
    return PolicyCheckOut(valid=True, sha256=parsed.sha256, problems=[])
