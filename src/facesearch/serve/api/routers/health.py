"""``GET /health``: the server is up (no credentials needed)."""

from __future__ import annotations

from fastapi import APIRouter

from facesearch import __version__
from facesearch.serve.api.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut)
def health() -> HealthOut:
    return HealthOut(status="ok", version=__version__)
