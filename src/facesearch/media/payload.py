"""What media-import workers return: one result per file (photo or video), per batch.

Plain data only (numbers, bytes, :class:`~facesearch.store.records.FaceRecord`), so that results
cross process boundaries; shared by the photo workers (media/worker.py) and videos
(media/video.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from facesearch.media.elimination import PdqMatch
from facesearch.media.hashing import FileMetadata, PdqHash
from facesearch.media.tracking import TrackOut
from facesearch.store.records import FaceRecord

#: One file of a media batch: the run's key for it, its bytes, whether an exact hash already
#: eliminated it, and what it is by content ("image" or "video", media/sniff.py).
MediaItem = tuple[int, bytes, bool, str]


@dataclass
class MediaOut:
    key: int
    ok: bool
    reason: str = ""
    width: int = 0
    height: int = 0
    format: str = ""
    pdq: PdqHash | None = None
    pdq_match: PdqMatch | None = None
    metadata: FileMetadata = field(default_factory=FileMetadata)
    thumbnail_jpeg: bytes | None = None
    faces: list[FaceRecord] = field(default_factory=list)
    # videos (media/video.py): faces carry their time (frame_ms) and track
    kind: str = "image"
    duration_ms: int | None = None
    tracks: list[TrackOut] = field(default_factory=list)


@dataclass
class MediaBatchOut:
    items: list[MediaOut]
    timings: dict[str, float]
