"""Typed results of the application service, shared by the CLI and the HTTP API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from facesearch.govern.searches import SearchOutcome
from facesearch.search.scoring import ProbeFace

JobStatus = Literal["queued", "running", "completed", "cancelled", "failed", "interrupted"]


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
    probe_ambiguous: bool = False  # the probe's two largest faces are of similar size

    def to_dict(self, crop_path: Callable[[str], str] | None = None) -> dict[str, Any]:
        """The view as plain data (the CLI's ``--json``, the grid): the outcome's fields, the
        probe faces, timing, and per candidate its first provenance path and, given
        ``crop_path`` (blob key to file), where its face crop is stored."""
        view = asdict(self.outcome)
        view["face"] = self.face
        view["probe_faces"] = [asdict(f) for f in self.probe_faces]
        view["probe_ambiguous"] = self.probe_ambiguous
        view["gallery_size"] = self.gallery_size
        view["seconds"] = self.seconds
        for cand in view["candidates"]:
            crop = cand["crop"]
            cand["crop_path"] = crop_path(crop) if crop and crop_path else None
            first = cand["provenance"][0] if cand["provenance"] else {}
            cand["image_path"] = first.get("path")
        return view


@dataclass(frozen=True)
class Media:
    """Bytes to send (a crop, thumbnail, image or probe) and their media type."""

    data: bytes
    media_type: str


@dataclass
class IngestJob:
    """A background ingest, as its row in the catalog says (``store/jobs.py``); the counters
    move while it runs. ``interrupted``: its server stopped before it ended (``error`` says
    how); ``resumes`` / ``resumed_by`` link a resumed job and the job that resumed it."""

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
    cleanup: list[str] = field(default_factory=list)  # uploads: removed when done or cancelled
    # what a source is shown as (an upload's temporary file: the name it was uploaded under)
    names: dict[str, str] = field(default_factory=dict)
    resumes: int | None = None
    resumed_by: int | None = None

    @property
    def resumable(self) -> bool:
        """Interrupted and not resumed yet."""
        return self.status == "interrupted" and self.resumed_by is None

    @property
    def shown_sources(self) -> list[str]:
        """The sources as the administrator gave them (never an upload's temporary path)."""
        return [self.names.get(s, s) for s in self.sources]
