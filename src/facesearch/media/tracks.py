"""The appearances of faces in a case's videos, as shown to its investigators.

Each :class:`TrackView` names the video (its path inside the media set), the appearance's first
and last time in it, and the faces kept of it (ids, times, clusters), so that a person found in
a video is found at a time: ``phone/VID_0001.mp4 00:12.5-00:19.0``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.schema import Case
from facesearch.media.schema import MediaFace, MediaFile, MediaTrack


def clock(ms: int | None) -> str:
    """``mm:ss.s`` (``h:mm:ss.s`` past the hour) for a time in a video; empty for photos."""
    if ms is None:
        return ""
    tenths = round(ms / 100)
    h, rest = divmod(tenths, 36000)
    m, rest = divmod(rest, 600)
    s = rest / 10
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m:02d}:{s:04.1f}"


@dataclass(frozen=True)
class TrackFace:
    face_id: int
    frame_ms: int
    quality: float
    cluster: int | None


@dataclass(frozen=True)
class TrackView:
    file: str
    file_id: int
    track: int
    start_ms: int
    end_ms: int
    frames: int
    faces: list[TrackFace]

    @property
    def when(self) -> str:
        return f"{clock(self.start_ms)}-{clock(self.end_ms)}"


def track_views(s: Session, c: Case) -> list[TrackView]:
    """Every appearance in the case's videos, by file and time."""
    rows = s.execute(
        select(MediaTrack, MediaFile.path)
        .join(MediaFile, MediaFile.id == MediaTrack.file_id)
        .where(MediaTrack.case_id == c.id)
        .order_by(MediaFile.path, MediaTrack.start_ms, MediaTrack.track)
    ).all()
    faces: dict[tuple[int, int], list[TrackFace]] = defaultdict(list)
    for f in s.execute(
        select(MediaFace)
        .where(MediaFace.case_id == c.id, MediaFace.track.is_not(None))
        .order_by(MediaFace.frame_ms, MediaFace.id)
    ).scalars():
        assert f.track is not None and f.frame_ms is not None
        faces[(f.file_id, f.track)].append(
            TrackFace(int(f.id), f.frame_ms, round(f.quality, 3), f.cluster_id)
        )
    return [
        TrackView(
            path, t.file_id, t.track, t.start_ms, t.end_ms, t.frames, faces[(t.file_id, t.track)]
        )
        for t, path in rows
    ]
