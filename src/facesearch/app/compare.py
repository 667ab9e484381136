"""The probe on the results page and the side-by-side comparison: a search's probes (the
searched face found again by the detector, its box and five landmarks), their pictures, and
the candidates' landmarks in their face crops' pixels, so that the web app can put both faces
at the same scale with the eyes on one line.

Landmarks are five points: right eye, left eye, nose, right and left mouth corner (the
detector's order, :class:`facesearch.engine.detect.Detection`). A probe's geometry is kept
in memory by its SHA-256 and searched face (the detector runs once per probe and process);
reading the list of probes is not audited once its geometry is known, every read of a
probe's picture (and of a probe not yet measured) is (``probe.view``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from facesearch.app.principal import Principal
from facesearch.app.report_pictures import boxed, jpeg
from facesearch.app.results import Media
from facesearch.engine.decode import DecodedImage
from facesearch.engine.detect import Detection
from facesearch.govern.probe_access import ProbeEntry, list_probes, read_probe
from facesearch.ingest.worker import CROP_MAX_SIDE, crop_origin

if TYPE_CHECKING:
    from facesearch.app.context import AppContext

PROBE_FACE_MAX_SIDE = 320  # pixels of the probe's face picture (a candidate's crop: 160)
PROBE_WHOLE_MAX_SIDE = 640
CACHED_PROBES = 256

Points = tuple[tuple[float, float], ...]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class FacePicture:
    """A face picture's size and the face's five landmarks in its pixels."""

    width: int
    height: int
    landmarks: Points


@dataclass(frozen=True)
class ProbeGeometry:
    image_width: int
    image_height: int
    faces_found: int
    face: int | None  # the face searched, found again (index, largest first); None: not found
    bbox: Box | None  # in the photo's pixels
    landmarks: Points
    picture: FacePicture  # the face picture (the whole photo, small, when not found again)


@dataclass(frozen=True)
class ProbeInfo:
    entry: ProbeEntry
    geometry: ProbeGeometry | None  # None: purged


@dataclass(frozen=True)
class CandidateGeometry:
    face_id: int
    rank: int
    image_width: int
    image_height: int
    bbox: Box
    landmarks: Points  # in the photo's pixels; () when the gallery has none
    crop: FacePicture  # the stored crop's size and the landmarks in its pixels


def _scaled(points: Points, origin: tuple[int, int], scale: float) -> Points:
    return tuple(
        (round((x - origin[0]) * scale, 2), round((y - origin[1]) * scale, 2)) for x, y in points
    )


def crop_picture(
    image_size: tuple[int, int], bbox: Box, landmarks: Points, max_side: int
) -> tuple[tuple[int, int], tuple[int, int], float, FacePicture]:
    """Where the face crop (the box and a 25% margin, as the gallery's) lies in the photo,
    its scale to at most ``max_side`` pixels, and its picture's size and landmarks."""
    origin, (cw, ch) = crop_origin(image_size, bbox)
    scale = min(1.0, max_side / max(cw, ch))
    size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
    return origin, (cw, ch), scale, FacePicture(*size, _scaled(landmarks, origin, scale))


class Compare:
    """A search's probes and candidates as the comparison needs them (module docstring)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._cache: OrderedDict[tuple[str, int | None], ProbeGeometry] = OrderedDict()
        self._lock = threading.Lock()

    # --- probes -----------------------------------------------------------------------------

    def _read(self, who: Principal, search_id: int, position: int) -> ProbeEntry:
        gov = self.ctx.governance
        entry: ProbeEntry = gov.run(
            who.username,
            "probe.view",
            {"search_id": search_id, "position": position},
            lambda s, a: read_probe(s, a, gov.cipher, who.username, search_id, position),
        )
        return entry

    def _detect(self, decoded: DecodedImage) -> list[Detection]:
        """The faces of the probe, largest first, as when it was searched (on the search pool,
        with this thread's own pipeline, as the case report's pictures are made)."""
        ctx = self.ctx

        def run() -> list[Detection]:
            with ctx.engine_lock.read():
                return ctx.verifier().pipeline.detect(decoded)

        found: list[Detection] = ctx.pool.run(run)
        return found

    def _measure(self, entry: ProbeEntry) -> tuple[ProbeGeometry, np.ndarray]:
        assert entry.data is not None
        decoded = self.ctx.gallery.decode(entry.data)
        pixels = decoded.pixels
        h, w = pixels.shape[:2]
        found = self._detect(decoded)
        index = 0 if entry.face is None else entry.face
        if 0 <= index < len(found):
            det = found[index]
            marks: Points = tuple((float(x), float(y)) for x, y in det.landmarks)
            *_, picture = crop_picture((w, h), det.bbox, marks, PROBE_FACE_MAX_SIDE)
            geometry = ProbeGeometry(w, h, len(found), index, det.bbox, marks, picture)
        else:
            scale = min(1.0, PROBE_FACE_MAX_SIDE / max(w, h))
            picture = FacePicture(max(1, round(w * scale)), max(1, round(h * scale)), ())
            geometry = ProbeGeometry(w, h, len(found), None, None, (), picture)
        with self._lock:
            self._cache[(entry.sha256, entry.face)] = geometry
            while len(self._cache) > CACHED_PROBES:
                self._cache.popitem(last=False)
        return geometry, pixels

    def probes(self, who: Principal, search_id: int) -> list[ProbeInfo]:
        """Every probe of the search with the searched face's box and landmarks (a purged
        probe: its entry only)."""
        gov = self.ctx.governance
        entries: list[ProbeEntry] = gov.run(
            who.username,
            "probe.view",
            {"search_id": search_id},
            lambda s, a: list_probes(s, who.username, search_id),
        )
        out = []
        for entry in entries:
            if entry.purged:
                out.append(ProbeInfo(entry, None))
                continue
            with self._lock:
                geometry = self._cache.get((entry.sha256, entry.face))
            if geometry is None:
                geometry = self._measure(self._read(who, search_id, entry.position))[0]
            out.append(ProbeInfo(entry, geometry))
        return out

    def probe_picture(self, who: Principal, search_id: int, position: int, kind: str) -> Media:
        """The probe's face (``kind`` "face": the searched face with the gallery crops'
        margin, at most 320 pixels) or the whole photo small with that face boxed ("image")."""
        entry = self._read(who, search_id, position)
        geometry, pixels = self._measure(entry)
        box = geometry.bbox
        if kind == "face":
            if box is None:
                return Media(jpeg(pixels, PROBE_FACE_MAX_SIDE).jpeg, "image/jpeg")
            origin, (cw, ch), _, _ = crop_picture(
                (geometry.image_width, geometry.image_height), box, (), PROBE_FACE_MAX_SIDE
            )
            face = pixels[origin[1] : origin[1] + ch, origin[0] : origin[0] + cw]
            return Media(jpeg(face, PROBE_FACE_MAX_SIDE).jpeg, "image/jpeg")
        if box is None:
            return Media(jpeg(pixels, PROBE_WHOLE_MAX_SIDE).jpeg, "image/jpeg")
        whole = boxed(pixels, box, PROBE_WHOLE_MAX_SIDE)
        return Media(jpeg(whole, PROBE_WHOLE_MAX_SIDE).jpeg, "image/jpeg")

    # --- candidates -------------------------------------------------------------------------

    def candidates(self, who: Principal, search_id: int) -> list[CandidateGeometry]:
        """The candidates shown (as reading the search: audited ``search.view``) with their
        box and landmarks, in the photo's pixels and in their stored crop's."""
        outcome = self.ctx.governance.view_search(who.username, search_id)
        stored = self.ctx.gallery.catalog.faces([c.face_id for c in outcome.candidates])
        out = []
        for c in outcome.candidates:
            f = stored.get(c.face_id)
            if f is None:  # deleted from the gallery since
                continue
            size = (f.image_width, f.image_height)
            *_, crop = crop_picture(size, f.bbox, f.landmarks, CROP_MAX_SIDE)
            out.append(CandidateGeometry(c.face_id, c.rank, *size, f.bbox, f.landmarks, crop))
        return out
