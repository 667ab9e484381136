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

#: Why an image's original is not in the blob store (``images.original_state``; None: never
#: tried, e.g. ingested before revision 0012 or with originals off): over the size limit, or
#: no longer readable where it was ingested from when the backfill looked.
ORIGINAL_TOO_LARGE, ORIGINAL_LOST = "too_large", "lost"


#: What joins an archive and a member in a label shown to people: never parsed from a label
#: made now (the catalog keeps the two apart), so "!" in a folder name is only a character.
MEMBER_MARK = "!"


def source_label(path: str, member: str = "") -> str:
    """The one way an archive member is shown: ``archive.zip!dir/x.jpg`` (a plain file: its
    path). For display only: the archive and the member are stored apart."""
    return f"{path}{MEMBER_MARK}{member}" if member else path


def legacy_splits(label: str) -> list[tuple[str, str]]:
    """The ways a label stored before archive members were kept apart (revision 0012) may
    split into (archive, member), the plain path first: ``a!b/c.zip!x.jpg`` gives
    ``[("a!b/c.zip!x.jpg", ""), ("a", "b/c.zip!x.jpg"), ("a!b/c.zip", "x.jpg")]``. Only the
    migration and the reader of such old rows use it; which one holds is for the caller to
    check (the file exists; the bytes have the stored SHA-256)."""
    out = [(label, "")]
    at = label.find(MEMBER_MARK)
    while at > 0:
        out.append((label[:at], label[at + 1 :]))
        at = label.find(MEMBER_MARK, at + 1)
    return [(a, m) for a, m in out if a and (m or a == label)]


@dataclass(frozen=True)
class ProvenanceRecord:
    path: str  # the file or archive, as named to the ingest (an upload: its file name)
    collection: str
    source_url: str = ""
    page_url: str | None = None
    title: str | None = None
    captured_at: datetime | None = None
    member: str = ""  # the archive member ("" for a plain file)


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
    member: str = ""  # the archive member ``path`` holds ("" for a plain file)
    original: str | None = None  # blob key of the original photo, when kept
    original_state: str | None = None  # why it is not kept (ORIGINAL_*), if it is not


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
    image_path: str  # shown to people: the file, or ``archive!member`` (source_label)
    image_width: int
    image_height: int
    thumbnail: str | None
    provenance: list[dict[str, Any]] = field(default_factory=list)
    second_model: str | None = None
    second_embedding: np.ndarray | None = None  # the second recognizer's vector, if stored
    landmarks: tuple[tuple[float, float], ...] = ()  # five points, original image pixels
    image_file: str = ""  # where the image was read: the file or the archive
    image_member: str = ""  # the archive member ("" for a plain file)
    original: str | None = None  # blob key of the kept original
    original_state: str | None = None  # why no original is kept (ORIGINAL_*), if none is


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
