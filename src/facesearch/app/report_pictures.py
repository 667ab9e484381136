"""The case report's pictures, from the application's gallery
(:class:`facesearch.govern.report.ReportPictures`).

* A probe: its searched face found again by the detector (on the search pool, with this
  thread's own pipeline: faces come largest first, as when it was searched), cropped with the
  margin the gallery's crops have; and the whole photo, small, with that face boxed in red.
* A candidate: the gallery's stored face crop, read through the blob store (decrypted when
  the data directory is encrypted: nothing is read from a file directly), printed as stored.

Every picture is a JPEG of a few kilobytes. With ``shielded`` (the wellbeing option) every
picture is greyscale and the whole probe is blurred outside the searched face
(:func:`facesearch.media.wellbeing.shielded`, as a media set's pictures are shown).
Governance decides which candidates may be pictured; this only makes the pictures.
"""

from __future__ import annotations

import logging

import numpy as np

from facesearch.app.context import AppContext
from facesearch.engine.decode import DecodedImage
from facesearch.engine.detect import Detection
from facesearch.errors import FacesearchError
from facesearch.govern.report import Picture, ProbePictures
from facesearch.ingest.worker import face_crop
from facesearch.media.wellbeing import shielded as shield

log = logging.getLogger(__name__)

FACE_MAX_SIDE = 200  # pixels: 30 mm printed at about 170 dpi
WHOLE_MAX_SIDE = 480  # pixels: 60 mm printed at about 200 dpi
QUALITY = 80
BOX_BGR = (0, 0, 255)


def jpeg(pixels: np.ndarray, max_side: int, *, grey: bool = False) -> Picture:
    """``pixels`` (BGR) at most ``max_side`` pixels on their longer side, as a JPEG."""
    import cv2  # OpenCV is imported where it is used (start-up time), as the engine does

    h, w = pixels.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    if grey and pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    ok, buf = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return Picture(bytes(buf.tobytes()), int(pixels.shape[1]), int(pixels.shape[0]))


def boxed(pixels: np.ndarray, box: tuple[float, float, float, float], max_side: int) -> np.ndarray:
    """``pixels`` scaled to at most ``max_side``, with ``box`` (x, y, w, h in the original's
    pixels) drawn on the scaled picture, so the line is as thick as it looks on paper."""
    import cv2

    h, w = pixels.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    else:
        pixels = pixels.copy()
    if pixels.ndim == 2:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    x, y, bw, bh = (v * scale for v in box)
    thick = max(2, round(max(pixels.shape[:2]) / 160))
    cv2.rectangle(
        pixels, (round(x), round(y)), (round(x + bw), round(y + bh)), BOX_BGR, thick, cv2.LINE_AA
    )
    return pixels


class GalleryPictures:
    """A case report's pictures from the application's gallery (see the module docstring)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def _detect(self, decoded: DecodedImage) -> list[Detection]:
        ctx = self.ctx

        def run() -> list[Detection]:
            verifier = ctx.verifier()  # this search thread's own pipeline
            with ctx.engine_lock.read():
                return verifier.pipeline.detect(decoded)

        return ctx.pool.run(run)

    def probe(self, image: bytes, face: int | None, *, shielded: bool) -> ProbePictures | None:
        import cv2

        try:
            decoded = self.ctx.gallery.decode(image)
        except FacesearchError as exc:  # a stored probe was decoded when it was searched
            log.warning("a probe could not be decoded for the case report: %s", exc)
            return None
        pixels = decoded.pixels
        found = self._detect(decoded)
        index = 0 if face is None else face
        if not 0 <= index < len(found):
            # no face found again (or fewer than when searched): the whole photo, unboxed
            whole = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY) if shielded else pixels
            return ProbePictures(None, jpeg(whole, WHOLE_MAX_SIDE))
        box = found[index].bbox
        crop = jpeg(face_crop(pixels, box), FACE_MAX_SIDE, grey=shielded)
        whole = shield(pixels, box) if shielded else pixels
        return ProbePictures(crop, jpeg(boxed(whole, box, WHOLE_MAX_SIDE), WHOLE_MAX_SIDE))

    def crop(self, key: str, *, shielded: bool) -> Picture | None:
        import cv2

        blobs = self.ctx.gallery.blobs
        try:
            if not blobs.exists(key):
                return None
            data = blobs.get(key)  # strict: with a key set, a crop not encrypted is refused
        except FacesearchError as exc:
            log.warning("the face crop %s could not be read for the case report: %s", key, exc)
            return None
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if pixels is None:
            return None
        if not shielded and data[:3] == b"\xff\xd8\xff" and max(pixels.shape[:2]) <= FACE_MAX_SIDE:
            # the stored crop as it is (a JPEG of at most 160 pixels: ingest's)
            return Picture(data, int(pixels.shape[1]), int(pixels.shape[0]))
        return jpeg(pixels, FACE_MAX_SIDE, grey=shielded)
