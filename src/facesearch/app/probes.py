"""The faces of a probe, found before any search: what the investigator picks from.

:func:`probe_faces` is governed like a search's first step (who may search the case may
examine a probe for it; a refusal is logged as ``probe.faces.refused``) but searches nothing:
no search row, no stored probe or results, no ``search`` audit entry, no quota counted. The
detection runs on the server's search pool, on the calling search thread's own face pipeline,
the way a search finds its probe's faces (:meth:`facesearch.app.context.AppContext.verifier`).

Each face is answered with its box, the detector's confidence, the quality score and flags
the search applies, whether it is likely a face (the detector's confidence reaches the
pipeline's minimum: a gift box or a wall decoration usually does not) and whether its quality
is below the policy's minimum (such a face would be refused). The face to preselect is the
largest one that passes both checks, not merely the largest box.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from facesearch.app.governed import NO_CASE
from facesearch.govern.probe_quality import LOW_CONFIDENCE, causes
from facesearch.govern.searches import PROBE_FACES, check_may_examine

if TYPE_CHECKING:
    from facesearch.app.context import AppContext
    from facesearch.app.principal import Principal
    from facesearch.engine.pipeline import Face


@dataclass(frozen=True)
class DetectedFace:
    index: int  # 0 = the largest box; what a search's ``face`` names
    bbox: tuple[float, float, float, float]  # x, y, w, h in the photo's pixels
    detector_score: float  # the detector's confidence, 0..1
    quality: float  # the quality score the policy's minimum applies to, 0..1
    flags: tuple[str, ...]  # the search's quality flags: too_small, blurred, profile, ...
    likely_face: bool  # the detector's confidence reaches the pipeline's minimum
    below_minimum: bool  # a search of this face would be refused for its quality
    causes: tuple[str, ...]  # the flags in plain words


@dataclass(frozen=True)
class ProbeFaces:
    sha256: str
    width: int
    height: int
    faces: tuple[DetectedFace, ...]
    preselected: int | None  # the largest likely face of sufficient quality, if any
    min_quality: float  # the policy's search.min_probe_quality
    message: str  # what the page says of this photo, in words


def _face(f: Face, minimum: float) -> DetectedFace:
    flags = tuple(f.quality.flags)
    x, y, w, h = (round(float(v), 1) for v in f.bbox)
    return DetectedFace(
        index=int(f.index),
        bbox=(x, y, w, h),
        detector_score=round(float(f.detector_score), 4),
        quality=float(f.quality.score),
        flags=flags,
        likely_face=LOW_CONFIDENCE not in flags,
        below_minimum=float(f.quality.score) < minimum,
        causes=tuple(causes(flags)),
    )


def preselect(faces: tuple[DetectedFace, ...]) -> int | None:
    """The largest likely face of sufficient quality, else the largest likely face, else
    none (the investigator picks). Faces come largest first."""
    for ok in (lambda f: f.likely_face and not f.below_minimum, lambda f: f.likely_face):
        found = next((f.index for f in faces if ok(f)), None)
        if found is not None:
            return found
    return None


def _message(faces: tuple[DetectedFace, ...], chosen: int | None, minimum: float) -> str:
    if not faces:
        return (
            "No face was found in this photo. Try a photo where the face is larger, "
            "frontal and well lit, or a crop around the face."
        )
    likely = [f for f in faces if f.likely_face]
    good = [f for f in likely if not f.below_minimum]
    n = len(faces)
    found = f"{n} face{'s' if n != 1 else ''} found"
    if len(likely) < n:
        found += f" ({n - len(likely)} of them doubtful: perhaps not a face)"
    if chosen is None:
        return f"{found}; none is likely a face. Pick one only if it really is a face."
    if not good:
        return (
            f"{found}; none reaches the policy's minimum quality of {minimum:.2f}: a search "
            "would be refused. Try a more frontal, sharper photo or a larger crop, or ask a "
            "supervisor of the case for a quality override."
        )
    return f"{found}. Face {chosen + 1} is preselected; pick another if it is not the one."


def probe_faces(ctx: AppContext, who: Principal, case: str | None, probe: bytes) -> ProbeFaces:
    """The faces of ``probe`` for a search in ``case`` (see the module docstring): refused
    (and logged) without a case or for someone who may not search it; BusyError when the
    search queue is full; DecodeError for what is no readable image."""
    gov = ctx.governance
    sha = hashlib.sha256(probe).hexdigest()
    asked = {"case": case, "probe_sha256": sha}
    if not case:
        gov.refuse(who.username, PROBE_FACES, NO_CASE, asked)
    if not probe:
        gov.refuse(who.username, PROBE_FACES, "the probe image is empty", asked)
    gov.run(
        who.username,
        PROBE_FACES,
        asked,
        lambda s, _a: check_may_examine(s, gov.policy, who.username, case),
    )
    minimum = float(gov.policy.search.min_probe_quality)

    def detect() -> ProbeFaces:
        verifier = ctx.verifier()  # this search thread's own pipeline
        decoded = verifier.decode(probe)
        found = verifier.pipeline.process_image(decoded).faces
        faces = tuple(_face(f, minimum) for f in found)
        chosen = preselect(faces)
        return ProbeFaces(
            sha256=sha,
            width=int(decoded.width),
            height=int(decoded.height),
            faces=faces,
            preselected=chosen,
            min_quality=minimum,
            message=_message(faces, chosen, minimum),
        )

    result: ProbeFaces = ctx.pool.run(detect)
    return result
