"""Wellbeing: what a specialist sees of seized material.

A media-set picture is shown as the viewer's wellbeing setting asks (app/wellbeing.py, decided
by the server): greyscale or in colour, blurred everywhere outside the face box or not, so that
a person can judge a face without being shown the rest of the scene; the picture as it is only
on an explicit, logged reveal (:meth:`Pictures.face_picture` with ``reveal=True``). ``crop``:
only the face box with a margin (the best face of a person on the Media page), never blurred
since nothing of the scene is in it.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.errors import RefusedError
from facesearch.media.access import MediaAccess
from facesearch.media.schema import MediaFace, MediaFile
from facesearch.media.video import box_in_crop

BLUR_SIGMA_FRACTION = 0.03  # of the picture's longer side


CROP_MARGIN = 0.25  # of the face box's size, on each side


def shielded(
    bgr: np.ndarray,
    box: tuple[float, float, float, float],
    *,
    greyscale: bool = True,
    blur: bool = True,
) -> np.ndarray:
    """``bgr`` in grey (3 channels), Gaussian-blurred outside ``box`` (x, y, w, h, pixels);
    ``greyscale`` or ``blur`` False leaves that step out."""
    import cv2

    grey = (
        cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        if greyscale
        else bgr.copy()
    )
    if not blur:
        return grey
    sigma = max(2.0, BLUR_SIGMA_FRACTION * max(bgr.shape[:2]))
    out = cv2.GaussianBlur(grey, (0, 0), sigma)
    h, w = bgr.shape[:2]
    x, y, bw, bh = box
    x0, y0 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
    x1, y1 = min(w, int(np.ceil(x + bw))), min(h, int(np.ceil(y + bh)))
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = grey[y0:y1, x0:x1]
    return out


def face_region(bgr: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The face box of ``bgr`` with a margin of :data:`CROP_MARGIN` on each side."""
    h, w = bgr.shape[:2]
    x, y, bw, bh = box
    mx, my = bw * CROP_MARGIN, bh * CROP_MARGIN
    x0, y0 = max(0, int(x - mx)), max(0, int(y - my))
    x1, y1 = min(w, int(np.ceil(x + bw + mx))), min(h, int(np.ceil(y + bh + my)))
    if x1 <= x0 or y1 <= y0:
        return bgr
    return np.ascontiguousarray(bgr[y0:y1, x0:x1])


class Pictures(MediaAccess):
    """A face's picture, shielded unless revealed (both logged)."""

    def face_picture(
        self,
        actor: str,
        case: str,
        face_id: int,
        *,
        reveal: bool = False,
        greyscale: bool = True,
        blur: bool = True,
        crop: bool = False,
    ) -> bytes:
        """The picture a face was found in, as JPEG: ``greyscale`` and ``blur`` outside the face
        box (the viewer's setting) unless ``reveal`` (an explicit act, logged as
        ``media.face.reveal``); ``crop``: the face box and a margin only."""
        import cv2

        action = "media.face.reveal" if reveal else "media.face.view"

        def fn(s: Session, a: AuditLog) -> bytes:
            _, c = self._media_case(s, actor, case, action)
            face = s.get(MediaFace, face_id)
            if face is None or face.case_id != c.id:
                raise RefusedError(action, f"case {c.number!r} has no face {face_id}")
            f = s.get(MediaFile, face.file_id)
            assert f is not None
            if f.thumbnail is None or not f.width:
                raise RefusedError(action, f"no picture is kept of {f.path}")
            # a video's face: the crop of its own frame (the thumbnail is another frame)
            video = face.frame_ms is not None and face.crop is not None and f.height
            kept = face.crop if video else f.thumbnail
            assert kept is not None
            pixels = cv2.imdecode(np.frombuffer(self.blobs.get(kept), np.uint8), cv2.IMREAD_COLOR)
            if pixels is None:
                raise RefusedError(action, f"the stored picture of {f.path} cannot be read")
            box = (face.x, face.y, face.w, face.h)
            if video:
                box = box_in_crop(box, (f.width, f.height or 0), pixels.shape[1])
            else:
                k = pixels.shape[1] / f.width
                box = (face.x * k, face.y * k, face.w * k, face.h * k)
            if crop:
                pixels = face_region(pixels, box)
            if not reveal:
                pixels = shielded(pixels, box, greyscale=greyscale, blur=blur and not crop)
            ok, buf = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if not ok:
                raise ValueError("JPEG encoding failed")
            shown = {} if reveal else {"greyscale": greyscale, "blurred": blur and not crop}
            a.record(
                actor,
                action,
                {"case": c.number, "face": face_id, "file": f.path, "crop": crop, **shown},
            )
            return bytes(buf.tobytes())

        return self._run(actor, action, {"case": case, "face": face_id}, fn)
