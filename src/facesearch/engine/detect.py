"""Detect: YuNet face detection with five landmarks, on images of any size.

YuNet finds faces from about 20 pixels (as it sees them) to a few hundred. So that no face is
missed because a photo is large or small, detection runs in two passes:

* a *coarse* pass on a working copy whose long side is at most ``max_side`` (small photos are
  upscaled to ``min_side``), which finds the faces that are large in the frame;
* for photos larger than that working copy, a *fine* pass over the whole photo at
  ``fine_scale`` of its own resolution (full resolution by default), cut into overlapping
  tiles of at most ``tile_side`` pixels, which finds the small faces (20 to 60 pixels in a
  group photo or a crowd) that the coarse copy shrinks below YuNet's reach. The tiles overlap
  by more than the largest face the coarse pass may miss, so every such face lies wholly
  inside one tile.

When neither finds a face, a padded pass (a face that fills the frame), a low-threshold pass
and rotated passes run on the working copy. Detections from all passes are mapped back to
original pixels and merged by non-maximum suppression.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from facesearch.models.base import InferenceModel
from facesearch.models.manifest import ModelSpec, verified_model_path
from facesearch.models.runtime import open_session, quiet_opencv
from facesearch.models.yunet import YuNetOnSession

if TYPE_CHECKING:
    from facesearch.models.inference import InferenceSettings

FACEDETECTORYN = "opencv-facedetectoryn"  # the engine name of cv2.FaceDetectorYN


@dataclass(frozen=True)
class Detection:
    """A face in original-image pixels."""

    bbox: tuple[float, float, float, float]  # x, y, w, h
    landmarks: np.ndarray  # (5, 2) float32: right eye, left eye, nose, right/left mouth corner
    score: float

    @property
    def area(self) -> float:
        return self.bbox[2] * self.bbox[3]


@dataclass(frozen=True)
class DetectorSettings:
    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    max_side: int = 960
    pad_fraction: float = 0.25  # border added when the first pass finds nothing
    fallback_score_threshold: float = 0.3  # last resort when nothing is found at all
    min_side: int = 160  # smaller images are upscaled to this before detection
    # The fine pass (photos whose working copy is downscaled): resolution relative to the
    # original, and the largest tile side YuNet sees. At 1.0, 88% of 24-pixel faces and all
    # from 32 pixels are found in 2 to 24 megapixel photos (benchmarks/detect_small.py, 66
    # faces per size); 1.25 finds 97% of 24-pixel and 86% of 20-pixel faces at twice the time
    # of the fine pass, 1.5 finds 98.5% and 95.5% at 3.4 times (YuNet's time follows the
    # pixels it sees).
    fine_scale: float = 1.0
    tile_side: int = 2048
    # The smallest face (in pixels YuNet sees) that the coarse pass finds reliably: tiles
    # overlap so that any face smaller than that in the working copy fits in one tile.
    coarse_min_face: int = 40
    # last resort for tilted or frame-filling faces: rotate the photo by these angles
    rotation_fallback_degrees: tuple[float, ...] = (20.0, -20.0, 35.0, -35.0)
    # Off: no padded, low-threshold or rotated retries when nothing is found (video frames:
    # most have no face, and the retries cost up to six more passes each).
    fallbacks: bool = True


class YuNetDetector(InferenceModel[np.ndarray, list[Detection]]):
    def __init__(
        self,
        spec: ModelSpec,
        settings: DetectorSettings | None = None,
        inference: InferenceSettings | None = None,
    ) -> None:
        super().__init__(spec, inference)
        self.settings = settings or DetectorSettings()
        self._net: Any = None

    def _load(self) -> None:
        import cv2

        quiet_opencv()
        runtime, path = self.resolve_file(lambda: verified_model_path(self.spec))
        s = self.settings
        if runtime.engine == FACEDETECTORYN:  # OpenCV's own wrapper on its DNN engine
            self._net = cv2.FaceDetectorYN.create(
                str(path), "", self.spec.input_size, s.score_threshold, s.nms_threshold, 5000
            )
        else:  # the same pre- and post-processing around another engine's session
            session = open_session(runtime.engine, path)
            self._net = YuNetOnSession(
                session, self.spec.input_size, s.score_threshold, s.nms_threshold, 5000
            )

    def _run(self, image: np.ndarray) -> np.ndarray:
        assert self._net is not None
        h, w = image.shape[:2]
        self._net.setInputSize((w, h))
        _, faces = self._net.detect(image)
        return np.zeros((0, 15), np.float32) if faces is None else faces

    def _detect_scaled(self, image: np.ndarray, scale: float, pad: int) -> np.ndarray:
        """Run on ``image`` resized by ``scale`` and padded; rows in original coordinates."""
        import cv2

        h, w = image.shape[:2]
        work = image
        if scale != 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            work = cv2.resize(image, size, interpolation=interp)
        if pad:
            work = cv2.copyMakeBorder(work, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        rows = self._run(work).copy()
        if len(rows):
            xs = [0, 4, 6, 8, 10, 12]
            ys = [1, 5, 7, 9, 11, 13]
            rows[:, xs] = (rows[:, xs] - pad) / scale
            rows[:, ys] = (rows[:, ys] - pad) / scale
            rows[:, 2:4] /= scale
        return rows

    def _predict(self, image: np.ndarray) -> list[Detection]:
        s = self.settings
        h, w = image.shape[:2]
        long_side, short_side = max(h, w), min(h, w)
        scale = min(1.0, s.max_side / long_side)
        if short_side * scale < s.min_side:
            scale = min(s.min_side / short_side, s.max_side / long_side * 2)
        rows = [self._detect_scaled(image, scale, 0)]
        if scale < s.fine_scale:
            rows.extend(self._detect_fine(image, scale))
        if s.fallbacks and not any(len(r) for r in rows):
            # A face that fills the frame, or a hard pose: retry with a border, then with a
            # lower score threshold (such faces are flagged low_confidence by quality).
            pad = round(max(h, w) * scale * s.pad_fraction)
            rows = [self._detect_scaled(image, scale, pad)]
            if not len(rows[0]):
                assert self._net is not None
                self._net.setScoreThreshold(s.fallback_score_threshold)
                try:
                    rows = [self._detect_scaled(image, scale, pad)]
                finally:
                    self._net.setScoreThreshold(s.score_threshold)
            for angle in s.rotation_fallback_degrees if not len(rows[0]) else ():
                rows = [self._detect_rotated(image, scale, angle)]
                if len(rows[0]):
                    break
        merged = _nms(np.concatenate(rows, axis=0), s.nms_threshold)
        detections = [
            Detection(
                bbox=_clip_box(r[:4], w, h),
                landmarks=r[4:14].reshape(5, 2).astype(np.float32),
                score=float(r[14]),
            )
            for r in merged
        ]
        detections = [d for d in detections if d.bbox[2] >= 1 and d.bbox[3] >= 1]
        detections.sort(key=lambda d: d.area, reverse=True)
        return detections

    def _detect_rotated(self, image: np.ndarray, scale: float, angle: float) -> np.ndarray:
        """Detect in the photo rotated by ``angle`` degrees; rows in original coordinates.

        The canvas grows so nothing is cut off, and is scaled to about YuNet's input size
        (a face that fills the frame is found best there). Landmarks are rotated back; the
        box is the upright box around the rotated-back detection box.
        """
        import cv2

        h, w = image.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
        cos, sin = abs(m[0, 0]), abs(m[0, 1])
        nw, nh = int(np.ceil(h * sin + w * cos)), int(np.ceil(h * cos + w * sin))
        m[0, 2] += nw / 2.0 - w / 2.0
        m[1, 2] += nh / 2.0 - h / 2.0
        rotated = cv2.warpAffine(image, m, (nw, nh), flags=cv2.INTER_LINEAR)
        scale = min(scale, float(max(self.spec.input_size)) / max(nw, nh))
        rows = self._detect_scaled(rotated, scale, 0)
        if not len(rows):
            return rows
        inv = cv2.invertAffineTransform(m)
        out = rows.copy()
        points = rows[:, 4:14].reshape(-1, 5, 2)
        out[:, 4:14] = (points @ inv[:, :2].T + inv[:, 2]).reshape(-1, 10)
        x, y, bw, bh = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
        corners = np.stack([x, y, x + bw, y, x, y + bh, x + bw, y + bh], axis=1).reshape(-1, 4, 2)
        back = corners @ inv[:, :2].T + inv[:, 2]
        out[:, 0:2] = back.min(axis=1)
        out[:, 2:4] = back.max(axis=1) - back.min(axis=1)
        return out

    def _detect_fine(self, image: np.ndarray, coarse_scale: float) -> list[np.ndarray]:
        """The fine pass: the photo at ``fine_scale``, in overlapping tiles of equal size.

        The overlap holds the largest face the coarse pass (at ``coarse_scale``) may miss,
        with a quarter more for the context YuNet needs around a face. Rows come back in
        original coordinates.
        """
        import cv2

        s = self.settings
        h, w = image.shape[:2]
        work = image
        if s.fine_scale != 1.0:
            size = (max(1, round(w * s.fine_scale)), max(1, round(h * s.fine_scale)))
            interp = cv2.INTER_AREA if s.fine_scale < 1 else cv2.INTER_LINEAR
            work = cv2.resize(image, size, interpolation=interp)
        wh, ww = work.shape[:2]
        overlap = int(np.ceil(1.25 * s.coarse_min_face / coarse_scale * s.fine_scale))
        out = []
        for y0, y1 in tile_spans(wh, s.tile_side, overlap):
            for x0, x1 in tile_spans(ww, s.tile_side, overlap):
                rows = self._run(np.ascontiguousarray(work[y0:y1, x0:x1])).copy()
                if len(rows):
                    rows[:, [0, 4, 6, 8, 10, 12]] += x0
                    rows[:, [1, 5, 7, 9, 11, 13]] += y0
                    rows[:, :14] /= s.fine_scale
                    out.append(rows)
        return out


def tile_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Start and end of equal tiles of at most ``tile`` pixels that cover ``length`` pixels,
    each overlapping the next by at least ``overlap`` (one tile when the length fits)."""
    if length <= tile:
        return [(0, length)]
    overlap = min(overlap, tile // 2) + 1  # one pixel more: starts are rounded
    count = int(np.ceil((length - overlap) / (tile - overlap)))
    side = int(np.ceil((length + (count - 1) * overlap) / count))
    starts = np.linspace(0, length - side, count).round().astype(int)
    return [(int(x), int(x) + side) for x in starts]


def _clip_box(box: np.ndarray, w: int, h: int) -> tuple[float, float, float, float]:
    x0, y0 = max(0.0, float(box[0])), max(0.0, float(box[1]))
    x1, y1 = min(float(w), float(box[0] + box[2])), min(float(h), float(box[1] + box[3]))
    return (x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0))


def _nms(rows: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression on YuNet rows (x, y, w, h, ..., score)."""
    if len(rows) <= 1:
        return rows
    order = np.argsort(-rows[:, 14])
    rows = rows[order]
    x0, y0 = rows[:, 0], rows[:, 1]
    x1, y1 = x0 + rows[:, 2], y0 + rows[:, 3]
    areas = rows[:, 2] * rows[:, 3]
    keep: list[int] = []
    suppressed = np.zeros(len(rows), bool)
    for i in range(len(rows)):
        if suppressed[i]:
            continue
        keep.append(i)
        ix0, iy0 = np.maximum(x0[i], x0), np.maximum(y0[i], y0)
        ix1, iy1 = np.minimum(x1[i], x1), np.minimum(y1[i], y1)
        inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        iou = inter / (areas[i] + areas - inter + 1e-9)
        # also drop a box mostly inside a kept one (a tile cut a face in two)
        inside = inter / (np.minimum(areas[i], areas) + 1e-9)
        suppressed |= (iou > threshold) | (inside > 0.8)
    return rows[keep]
