"""YuNet on any session: OpenCV's ``FaceDetectorYN`` pre- and post-processing around a graph.

``cv2.FaceDetectorYN`` runs the detector only on OpenCV's DNN engine. :class:`YuNetOnSession`
does what it does (pad the BGR image to a multiple of 32 at the bottom and right, run the graph,
decode the 8/16/32-stride heads into boxes, five landmarks and ``sqrt(cls * obj)`` scores, keep
scores at or above the threshold, non-maximum suppression on integer boxes) on a session of any
engine, with the same methods, so the detector's tiling and fallbacks do not change.
"""

from __future__ import annotations

import numpy as np

from facesearch.models.runtime import Session

STRIDES = (8, 16, 32)
DIVISOR = 32


class YuNetOnSession:
    """The subset of ``cv2.FaceDetectorYN`` that facesearch uses, on a :class:`Session`."""

    def __init__(
        self,
        session: Session,
        input_size: tuple[int, int],
        score_threshold: float,
        nms_threshold: float,
        top_k: int = 5000,
    ) -> None:
        self._session = session
        self._score = float(score_threshold)
        self._nms = float(nms_threshold)
        self._top_k = int(top_k)
        self._size = (0, 0)
        self.setInputSize(input_size)

    def setInputSize(self, size: tuple[int, int]) -> None:  # OpenCV's name
        self._size = (int(size[0]), int(size[1]))

    def setScoreThreshold(self, threshold: float) -> None:  # OpenCV's name
        self._score = float(threshold)

    def detect(self, image: np.ndarray) -> tuple[int, np.ndarray | None]:
        """Rows of (x, y, w, h, 5 x (x, y) landmarks, score), or None when there is none."""
        w, h = self._size
        if image.shape[:2] != (h, w):
            raise ValueError(f"image is {image.shape[1]}x{image.shape[0]}, input size {w}x{h}")
        pad_w = ((w - 1) // DIVISOR + 1) * DIVISOR
        pad_h = ((h - 1) // DIVISOR + 1) * DIVISOR
        blob = np.zeros((1, 3, pad_h, pad_w), np.float32)
        blob[0, :, :h, :w] = image.transpose(2, 0, 1)
        outputs = self._session.run_all(blob)
        faces = self._decode(outputs, pad_w, pad_h)
        return 1, (faces if len(faces) else None)

    def _decode(self, outputs: list[np.ndarray], pad_w: int, pad_h: int) -> np.ndarray:
        rows = []
        n = len(STRIDES)
        for i, stride in enumerate(STRIDES):
            cols, nrows = pad_w // stride, pad_h // stride
            cls = np.clip(outputs[i].reshape(-1), 0.0, 1.0)
            obj = np.clip(outputs[i + n].reshape(-1), 0.0, 1.0)
            score = np.sqrt(cls * obj)
            keep = np.nonzero(score >= self._score)[0]
            if not len(keep):
                continue
            bbox = outputs[i + 2 * n].reshape(-1, 4)[keep]
            kps = outputs[i + 3 * n].reshape(-1, 10)[keep]
            c = (keep % cols).astype(np.float32)
            r = (keep // cols).astype(np.float32)
            assert cols * nrows == len(cls), "YuNet output does not match the padded input"
            cx = (c + bbox[:, 0]) * stride
            cy = (r + bbox[:, 1]) * stride
            bw = np.exp(bbox[:, 2]) * stride
            bh = np.exp(bbox[:, 3]) * stride
            out = np.empty((len(keep), 15), np.float32)
            out[:, 0] = cx - bw / 2.0
            out[:, 1] = cy - bh / 2.0
            out[:, 2] = bw
            out[:, 3] = bh
            out[:, 4:14:2] = (kps[:, 0::2] + c[:, None]) * stride
            out[:, 5:14:2] = (kps[:, 1::2] + r[:, None]) * stride
            out[:, 14] = score[keep]
            rows.append(out)
        if not rows:
            return np.zeros((0, 15), np.float32)
        faces = np.concatenate(rows)
        if len(faces) <= 1:
            return faces
        import cv2

        boxes = [[int(x), int(y), int(bw), int(bh)] for x, y, bw, bh in faces[:, :4]]
        keep_idx = cv2.dnn.NMSBoxes(
            boxes, faces[:, 14].tolist(), self._score, self._nms, 1.0, self._top_k
        )
        return faces[np.asarray(keep_idx, dtype=np.int64).reshape(-1)]
