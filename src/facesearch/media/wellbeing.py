"""Wellbeing: what a specialist sees of seized material by default.

A media-set picture is shown greyscale, and blurred everywhere outside the face box, so that a
person can judge a face without being shown the rest of the scene; the picture as it is only
on an explicit, logged reveal (:meth:`MediaService.face_picture` with ``reveal=True``).
"""

from __future__ import annotations

import numpy as np

BLUR_SIGMA_FRACTION = 0.03  # of the picture's longer side


def shielded(bgr: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """``bgr`` in grey (3 channels), Gaussian-blurred outside ``box`` (x, y, w, h, pixels)."""
    import cv2

    grey = cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    sigma = max(2.0, BLUR_SIGMA_FRACTION * max(bgr.shape[:2]))
    out = cv2.GaussianBlur(grey, (0, 0), sigma)
    h, w = bgr.shape[:2]
    x, y, bw, bh = box
    x0, y0 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
    x1, y1 = min(w, int(np.ceil(x + bw))), min(h, int(np.ceil(y + bh)))
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = grey[y0:y1, x0:x1]
    return out
