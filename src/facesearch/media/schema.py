"""Media-set tables: a case's seized material, kept apart from the reference gallery.

All names start with ``media_``. Nothing here is ever added to the gallery's vector index: a
media-set face is searchable only inside its own case (clustering, multi-probe search) and in
cross-case alerts that reveal nothing but the other case's number and supervisor.

* ``media_sets``: one per case and name (a case may hold several devices).
* ``media_imports``: one import run, with its counts; ``media_failures``: every bad file and why.
* ``media_files``: one file of a set, by its path inside the set: sizes, MD5/SHA-1/SHA-256, PDQ
  and its quality, EXIF date and camera, and what became of it (``status``: ``faces``,
  ``no_face``, ``eliminated``, ``duplicate``). An eliminated file names the hash set, the
  category and how it matched (``elimination``).
* ``media_faces``: faces of the files not eliminated, with their embedding (float32, unit norm),
  box, quality, flags, crop (blob key in the media blob store) and cluster.
* ``media_tracks``: the appearances of faces in a video (media/video.py): file, track number,
  first and last time seen (ms), sampled frames; its best faces are ``media_faces`` rows with
  the same ``track`` and their ``frame_ms``.
* ``media_clusters``: persons found by clustering; a person's decisions pin faces
  (``media_faces.pinned``), so that re-clustering keeps them; ``media_cluster_decisions`` keeps
  each decision (also in the audit log).
* ``media_upload_jobs``: a browser upload into a new media set of a case (its label and the
  source or legal basis noted by the uploader), imported and clustered in the background by the
  server that took it (app/media_jobs.py): status, progress, owner and heartbeat, the import it
  ran, the upload's folder (removed when the job ends).
* ``media_hash_sets`` / ``media_hash_entries``: known material (Project VIC VICS, CAID, plain
  lists, facesearch's own exports), agency-wide, not tied to a case.
* ``media_alerts``: one row per side of a cross-case hit (media/alerts.py): a media face of
  ``case_id`` matched a media face of ``other_case_id`` at or above the strong band. The other
  side's face and the score are kept for the audit; nothing of the other case is shown to
  either side but its number and supervisor.

The multi-probe searches made with a person's faces are governance records
(``gov_search_probes``, ``gov_multiprobe_scores``: govern/multisearch_schema.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from facesearch.store.schema import Base, FaceId, utcnow

__all__ = [
    "ClusterDecision",
    "HashEntry",
    "HashSet",
    "MediaAlert",
    "MediaCluster",
    "MediaFace",
    "MediaFailure",
    "MediaFile",
    "MediaImport",
    "MediaSet",
    "MediaTrack",
    "MediaUploadJob",
]


class MediaSet(Base):
    __tablename__ = "media_sets"
    __table_args__ = (UniqueConstraint("case_id", "name", name="uq_media_set"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MediaImport(Base):
    __tablename__ = "media_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("media_sets.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="running")
    sources: Mapped[list[str]] = mapped_column(JSON, default=list)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MediaFailure(Base):
    __tablename__ = "media_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("media_imports.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)


class MediaFile(Base):
    __tablename__ = "media_files"
    __table_args__ = (
        UniqueConstraint("set_id", "path", name="uq_media_file"),
        Index("ix_media_files_set_sha256", "set_id", "sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("media_sets.id"), index=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("media_imports.id"), index=True)
    path: Mapped[str] = mapped_column(Text)  # inside the set: "DCIM/a.jpg", "x.zip!b/c.jpg"
    source: Mapped[str] = mapped_column(Text)  # where it was read
    kind: Mapped[str] = mapped_column(String(10), default="image")  # image | video
    size: Mapped[int] = mapped_column(BigInteger)
    md5: Mapped[str] = mapped_column(String(32), index=True)
    sha1: Mapped[str] = mapped_column(String(40), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    pdq: Mapped[str | None] = mapped_column(String(64))  # 256 bits, hex
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    pdq_crops: Mapped[str | None] = mapped_column(Text)  # hex of PDQ_CROPS, space-separated
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    format: Mapped[str | None] = mapped_column(String(16))
    exif_datetime: Mapped[str | None] = mapped_column(String(32))  # as written by the camera
    camera_make: Mapped[str | None] = mapped_column(String(200))
    camera_model: Mapped[str | None] = mapped_column(String(200))
    duration_ms: Mapped[int | None] = mapped_column(Integer)  # videos
    # faces | no_face | eliminated | duplicate
    status: Mapped[str] = mapped_column(String(20), index=True)
    category: Mapped[str | None] = mapped_column(String(100))  # of the eliminating entry
    elimination: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("media_files.id"))
    thumbnail: Mapped[str | None] = mapped_column(String(64))  # blob key
    face_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MediaCluster(Base):
    __tablename__ = "media_clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    # set by a person's decision (merge, split, move, name): its pinned faces stay in it
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MediaFace(Base):
    __tablename__ = "media_faces"
    __table_args__ = (UniqueConstraint("file_id", "frame_ms", "face_index", name="uq_media_face"),)

    id: Mapped[int] = mapped_column(FaceId, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("media_files.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"), index=True)
    frame_ms: Mapped[int | None] = mapped_column(Integer)  # None for photos
    track: Mapped[int | None] = mapped_column(Integer)  # video track number within the file
    face_index: Mapped[int] = mapped_column(Integer)
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    w: Mapped[float] = mapped_column(Float)
    h: Mapped[float] = mapped_column(Float)
    landmarks: Mapped[list[list[float]]] = mapped_column(JSON)
    detector_score: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float)
    flags: Mapped[str] = mapped_column(String(200), default="")
    searchable: Mapped[bool] = mapped_column(Boolean, default=True)
    model: Mapped[str] = mapped_column(String(120))
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    crop: Mapped[str | None] = mapped_column(String(64))  # blob key
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("media_clusters.id"), index=True)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ClusterDecision(Base):
    __tablename__ = "media_cluster_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))  # merge | split | move | name | hide | show
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HashSet(Base):
    __tablename__ = "media_hash_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    format: Mapped[str] = mapped_column(String(20))  # vics-1 | vics-2 | caid | md5 | sha1
    default_category: Mapped[str | None] = mapped_column(String(100))
    file_sha256: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer, default=0)
    imported_by: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HashEntry(Base):
    __tablename__ = "media_hash_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("media_hash_sets.id"), index=True)
    md5: Mapped[str | None] = mapped_column(String(32), index=True)
    sha1: Mapped[str | None] = mapped_column(String(40), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    pdq: Mapped[str | None] = mapped_column(String(64))
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    pdq_crops: Mapped[str | None] = mapped_column(Text)  # hex of PDQ_CROPS, space-separated
    category: Mapped[str | None] = mapped_column(String(100))
    media_size: Mapped[int | None] = mapped_column(BigInteger)
    photodna: Mapped[str | None] = mapped_column(Text)  # opaque, kept as given
    media_id: Mapped[str | None] = mapped_column(String(100))  # the source's own id


class MediaTrack(Base):
    __tablename__ = "media_tracks"
    __table_args__ = (UniqueConstraint("file_id", "track", name="uq_media_track"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("media_files.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"), index=True)
    track: Mapped[int] = mapped_column(Integer)  # within the file, from 1
    start_ms: Mapped[int] = mapped_column(Integer)  # first sampled frame it was seen in
    end_ms: Mapped[int] = mapped_column(Integer)  # last sampled frame it was seen in
    frames: Mapped[int] = mapped_column(Integer)  # sampled frames it was seen in


class MediaAlert(Base):
    __tablename__ = "media_alerts"
    __table_args__ = (UniqueConstraint("face_id", "other_face_id", name="uq_media_alert"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"), index=True)
    other_case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"), index=True)
    face_id: Mapped[int] = mapped_column(FaceId, index=True)  # a media face of case_id
    other_face_id: Mapped[int] = mapped_column(FaceId)  # never shown to case_id's people
    score: Mapped[float] = mapped_column(Float)  # kept for the audit; not shown
    model: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MediaUploadJob(Base):
    """One upload of media into a new media set, imported in the background (ids never given
    twice, even on SQLite)."""

    __tablename__ = "media_upload_jobs"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"), index=True)
    set_name: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text)  # the source or legal basis of the material
    files: Mapped[list[str]] = mapped_column(JSON, default=list)  # as uploaded (names)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    files_total: Mapped[int] = mapped_column(Integer, default=0)
    files_done: Mapped[int] = mapped_column(Integer, default=0)
    faces: Mapped[int] = mapped_column(Integer, default=0)
    import_id: Mapped[int | None] = mapped_column(Integer)
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    folder: Mapped[str | None] = mapped_column(Text)  # the upload's files, until the job ends
    owner_host: Mapped[str | None] = mapped_column(String(255))
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    owner_started: Mapped[str | None] = mapped_column(String(40))
    heartbeat: Mapped[float | None] = mapped_column(Float)
