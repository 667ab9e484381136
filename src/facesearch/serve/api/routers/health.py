"""``GET /health``: the server is up (no credentials needed). The version is told only to a
signed-in caller (a token or a session): anonymous scanners learn nothing to match against
known vulnerabilities; a readiness check needs only the 200 and ``status``."""

from __future__ import annotations

from fastapi import APIRouter

from facesearch import __version__
from facesearch.serve.api.deps import SignedInDep
from facesearch.serve.api.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, response_model_exclude_none=True)
def health(signed_in: SignedInDep) -> HealthOut:
    return HealthOut(status="ok", version=__version__ if signed_in else None)
