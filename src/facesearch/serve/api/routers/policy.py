"""The policy in force (any signed-in user may read it) and validating a policy text."""

from __future__ import annotations

from fastapi import APIRouter

from facesearch.app.types import PolicyError
from facesearch.serve.api.deps import CurrentPrincipal, ServiceDep
from facesearch.serve.api.schemas import (
    PolicyCheckOut,
    PolicyOut,
    PolicyProblemOut,
    PolicyTextIn,
)
from facesearch.serve.api.views import policy_out

router = APIRouter(prefix="/policy", tags=["policy"])


@router.get("", response_model=PolicyOut)
def show(who: CurrentPrincipal, service: ServiceDep) -> PolicyOut:
    return policy_out(service.admin.show_policy(who))


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
