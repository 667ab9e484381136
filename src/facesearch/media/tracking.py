"""Faces followed across the sampled frames of a video: one track per appearance.

norfair (the maintained tracker the issue names) pins ``numpy<2`` and this project runs on
NumPy 2, so this is a small tracker on SciPy's Hungarian assignment
(:func:`scipy.optimize.linear_sum_assignment`). Each sampled frame's faces are matched to the
live tracks by a score mixing box overlap (IoU with the track's last box) and embedding
similarity (cosine with the track's running mean embedding):

* a pair may match when the faces look alike (cosine ≥ ``min_similarity``), or when the boxes
  overlap (IoU ≥ ``min_iou``) and the faces do not look unlike (cosine ≥ ``floor_similarity``);
  two people crossing therefore do not swap tracks, and a face turning away keeps its track
  while its box stays put;
* among allowed pairs the assignment maximises ``similarity + iou_weight * IoU``;
* a face left unmatched starts a track; a track unseen for more than ``max_gap_ms`` ends, so a
  person who leaves and comes back later starts a new track (one track per appearance).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

Box = tuple[float, float, float, float]  # x, y, w, h


@dataclass(frozen=True)
class TrackerSettings:
    min_similarity: float = 0.40
    floor_similarity: float = 0.15
    min_iou: float = 0.30
    iou_weight: float = 0.5
    max_gap_ms: int = 1500
    momentum: float = 0.8  # weight of the past in the track's running embedding

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_iou <= 1.0:
            raise ValueError(f"min_iou must be within [0, 1], got {self.min_iou}")
        if self.max_gap_ms < 0:
            raise ValueError(f"max_gap_ms must be ≥ 0, got {self.max_gap_ms}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be within [0, 1), got {self.momentum}")


@dataclass
class Track:
    id: int
    start_ms: int
    end_ms: int
    box: Box
    embedding: np.ndarray  # running mean, unit norm
    frames: int = 1


@dataclass(frozen=True)
class TrackOut:
    """One appearance of one face in a video: when it was first and last seen."""

    track: int
    start_ms: int
    end_ms: int
    frames: int  # sampled frames it was seen in


def iou(a: Box, b: Box) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = min(ax2, bx2) - max(a[0], b[0])
    h = min(ay2, by2) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return float(inter / (a[2] * a[3] + b[2] * b[3] - inter))


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


@dataclass
class FaceTracker:
    settings: TrackerSettings = field(default_factory=TrackerSettings)
    live: list[Track] = field(default_factory=list)
    ended: list[Track] = field(default_factory=list)
    _next: int = 1

    def update(self, frame_ms: int, boxes: list[Box], embeddings: np.ndarray) -> list[int]:
        """Match one sampled frame's faces; returns the track id of each face, in order."""
        s = self.settings
        still = [t for t in self.live if frame_ms - t.end_ms <= s.max_gap_ms]
        self.ended.extend(t for t in self.live if frame_ms - t.end_ms > s.max_gap_ms)
        self.live = still
        ids = [0] * len(boxes)
        matched: set[int] = set()
        if self.live and boxes:
            sims = np.stack([t.embedding for t in self.live]) @ np.asarray(embeddings).T
            ious = np.array([[iou(t.box, b) for b in boxes] for t in self.live])
            allowed = (sims >= s.min_similarity) | (
                (ious >= s.min_iou) & (sims >= s.floor_similarity)
            )
            score = np.where(allowed, sims + s.iou_weight * ious, -1e6)
            rows, cols = linear_sum_assignment(-score)
            for r, c in zip(rows, cols, strict=True):
                if not allowed[r, c]:
                    continue
                t = self.live[r]
                t.end_ms, t.box, t.frames = frame_ms, boxes[c], t.frames + 1
                t.embedding = _unit(s.momentum * t.embedding + (1 - s.momentum) * embeddings[c])
                ids[c] = t.id
                matched.add(c)
        for c, box in enumerate(boxes):
            if c in matched:
                continue
            t = Track(
                self._next, frame_ms, frame_ms, box, _unit(np.asarray(embeddings[c], np.float32))
            )
            self._next += 1
            self.live.append(t)
            ids[c] = t.id
        return ids

    def tracks(self) -> list[TrackOut]:
        """Every track so far (ended and live), by id."""
        every = sorted(self.ended + self.live, key=lambda t: t.id)
        return [TrackOut(t.id, t.start_ms, t.end_ms, t.frames) for t in every]
