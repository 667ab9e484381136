"""Typed results of the application service, shared by the CLI and the HTTP API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from facesearch.govern.searches import SearchOutcome
from facesearch.search import ProbeFace

JobStatus = Literal["queued", "running", "completed", "cancelled", "failed"]


@dataclass(frozen=True)
class SearchView:
    """A governed search as shown: the recorded outcome plus what the engine said about the
    probe (every face found, with its box, so a client can choose another) and its timing."""

    outcome: SearchOutcome
    face: int | None = None
    probe_faces: tuple[ProbeFace, ...] = ()
    gallery_size: int | None = None
    seconds: float | None = None
    boxes: dict[int, tuple[float, float, float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Media:
    """Bytes to send (a crop, thumbnail, image or probe) and their media type."""

    data: bytes
    media_type: str


@dataclass
class IngestJob:
    """A background ingest; the counters move while it runs."""

    id: int
    sources: list[str]
    collection: str | None
    created_by: str
    created_at: datetime
    status: JobStatus = "queued"
    files_total: int = 0
    files_done: int = 0
    faces: int = 0
    run_id: int | None = None
    counts: dict[str, Any] | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cancel_requested: bool = False
    cleanup: list[str] = field(default_factory=list)  # uploaded files removed when done


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int
    limit: int
    offset: int


def paginate(items: list[Any], limit: int, offset: int) -> Page:
    return Page(items[offset : offset + limit], len(items), limit, offset)
