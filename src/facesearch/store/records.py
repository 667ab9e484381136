"""What the catalog takes and gives: plain records of images, faces, provenance and filters.

These cross the store's boundary (workers and ingest hand them in, search reads them back);
the ORM rows they are written to are in :mod:`facesearch.store.schema`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

#: What a face's second vector was made from (``faces.second_source``).
FROM_PHOTO, FROM_CROP = "photo", "crop"


@dataclass(frozen=True)
class ProvenanceRecord:
    path: str
    collection: str
    source_url: str = ""
    page_url: str | None = None
    title: str | None = None
    captured_at: datetime | None = None


@dataclass(frozen=True)
class FaceRecord:
    """One face on its way from a worker to the catalog or a media set: what the pipeline
    found, its vectors, and its pictures (bytes as the worker encoded them, blob keys once
    they are stored). Made from an in-memory face by ``ingest.worker.face_record`` only."""

    face_index: int
    bbox: tuple[float, float, float, float]
    landmarks: list[list[float]]
    detector_score: float
    quality: float
    sharpness: float
    yaw: float
    flags: tuple[str, ...]
    embedding: np.ndarray
    model: str = ""
    crop: str | None = None  # blob key of the stored crop
    crop_jpeg: bytes = b""  # the crop as the worker encoded it, until stored
    second_model: str | None = None
    second_embedding: np.ndarray | None = None  # made in the worker, from the photo
    # blob key of the second recognizer's chip, aligned on the photo: queued for the pass
    second_chip: str | None = None
    second_chip_png: bytes | None = None  # that chip as the worker encoded it, until stored
    frame_ms: int | None = None  # a face of a video: when in the video
    track: int | None = None  # and which appearance (media/tracking.py)

    @property
    def searchable(self) -> bool:
        return not self.flags


@dataclass(frozen=True)
class ImageRecord:
    sha256: str
    size_bytes: int
    width: int
    height: int
    format: str
    path: str
    thumbnail: str | None
    faces: list[FaceRecord]
    provenance: ProvenanceRecord


@dataclass(frozen=True)
class SearchFilters:
    """Restrict a search to faces whose image has a provenance record matching all of these."""

    collection: str | None = None
    captured_from: datetime | None = None
    captured_to: datetime | None = None
    source_prefix: str | None = None  # e.g. "https://evidence.example.org/case-114/"

    @property
    def empty(self) -> bool:
        return all(
            v is None
            for v in (self.collection, self.captured_from, self.captured_to, self.source_prefix)
        )


@dataclass(frozen=True)
class StoredFace:
    """A face as search results show it: the face, its image and every provenance record."""

    face_id: int
    face_index: int
    bbox: tuple[float, float, float, float]
    quality: float
    flags: tuple[str, ...]
    model: str
    crop: str | None
    image_id: int
    image_sha256: str
    image_path: str
    image_width: int
    image_height: int
    thumbnail: str | None
    provenance: list[dict[str, Any]] = field(default_factory=list)
    second_model: str | None = None
    second_embedding: np.ndarray | None = None  # the second recognizer's vector, if stored
    landmarks: tuple[tuple[float, float], ...] = ()  # five points, original image pixels


@dataclass(frozen=True)
class PendingSecond:
    """A face waiting for its second vector: its chip, or (``chip`` None) what is needed to
    make one from its stored crop."""

    face_id: int
    chip: str | None
    crop: str | None
    bbox: tuple[float, float, float, float]
    landmarks: tuple[tuple[float, float], ...]
    image_width: int
    image_height: int
