"""Schemas of the administrators' gallery browser: a collection's images with their faces and
flags, the flagged counts per collection, and the removal of an image or a face."""

from __future__ import annotations

from pydantic import BaseModel, Field

from facesearch.serve.api.schemas import CollectionOut, In, ProvenanceOut, UtcDateTime


class CollectionCountsOut(CollectionOut):
    flagged: int | None = Field(
        None,
        description="Faces kept out of search for a quality reason (administrators only).",
    )


class FlagReasonOut(BaseModel):
    flag: str
    reason: str = Field(description="What the flag means, in words.")


class BrowseFaceOut(BaseModel):
    id: int
    face_index: int
    bbox: list[float] = Field(description="x, y, width, height in the image's pixels.")
    quality: float
    flags: list[str]
    reasons: list[FlagReasonOut]
    searchable: bool
    has_crop: bool


class BrowseImageOut(BaseModel):
    id: int
    sha256: str
    file: str = Field(description="Where it was first read (``archive!member`` in an archive).")
    width: int
    height: int
    format: str
    bytes: int
    created_at: UtcDateTime | None
    face_count: int = Field(description="Every face of the image, flagged or not.")
    provenance: list[ProvenanceOut] = Field(description="Its provenance in this collection.")
    faces: list[BrowseFaceOut] = Field(description="Its faces (only the flagged ones when asked).")


class BrowsePageOut(BaseModel):
    items: list[BrowseImageOut]
    total: int
    limit: int
    offset: int


class DeleteIn(In):
    reason: str = Field(min_length=1, max_length=5000)


class DeletedOut(BaseModel):
    removed: int = Field(description="How many faces were removed.")
