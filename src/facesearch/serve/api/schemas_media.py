"""The HTTP models of media uploaded from the browser (``/cases/{number}/media/upload`` and
``/cases/{number}/media/jobs``): an upload job, read from what media/uploads.py answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class MediaUploadJobOut(BaseModel):
    """An upload into a new media set, imported and clustered in the background."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    case: str
    media_set: str = Field(description="The new media set (the upload's label).")
    note: str = Field(description="Where the material comes from, on what legal basis.")
    files: list[str] = Field(description="The files as uploaded (their names).")
    status: str = Field(description="queued, running, completed, failed or interrupted.")
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    files_total: int
    files_done: int
    faces: int
    import_id: int | None
    counts: dict[str, Any]
    error: str | None
