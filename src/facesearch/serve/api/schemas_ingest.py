"""Schemas of the ingest page's additions: where a job stands (phase, rate, estimated end) and
the folders a server-side ingest may read."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from facesearch.serve.api.schemas import IngestJobOut, UtcDateTime

Phase = Literal["waiting", "counting files", "starting", "ingesting", "finishing"]


class IngestJobStateOut(IngestJobOut):
    phase: Phase | None = Field(None, description="What a queued or running job is doing.")
    phase_text: str | None = Field(None, description="The phase in words.")
    files_per_second: float | None = Field(None, description="The rate while it reads photos.")
    estimated_end: UtcDateTime | None = Field(None, description="At that rate.")


class IngestRootsOut(BaseModel):
    roots: list[str] = Field(
        description="The server folders a job may ingest from (FACESEARCH_INGEST_ROOTS)."
    )
