"""The quality refusal in plain words: what is wrong with a probe face and what to do.

A probe whose face quality is below the policy's ``search.min_probe_quality`` is refused
(:func:`facesearch.govern.searches.record_search`). The refusal names the cause the engine's
quality flags give (a profile, blur, a small face, a doubtful detection), the measured
quality against the minimum, and what the investigator can do: a more frontal or sharper
photo, a larger crop, or a supervisor's override where the policy allows it.
"""

from __future__ import annotations

from collections.abc import Sequence

# the engine's quality flags (facesearch.engine.quality), named here so that govern does not
# import the engine
TOO_SMALL = "too_small"
BLURRED = "blurred"
PROFILE = "profile"
LOW_CONFIDENCE = "low_confidence"

CAUSES = {
    PROFILE: "the face is turned to the side (a profile)",
    BLURRED: "the face is blurred",
    TOO_SMALL: "the face is too small in the photo",
    LOW_CONFIDENCE: "the detector is not sure it is a face at all",
}
ADVICE = {
    PROFILE: "a more frontal photo of the person",
    BLURRED: "a sharper photo",
    TOO_SMALL: "a larger or higher-resolution crop of the face",
    LOW_CONFIDENCE: "a photo where the face is clearly visible",
}
OVERRIDE_ADVICE = "or ask a supervisor of the case for a quality override"


def causes(flags: Sequence[str]) -> list[str]:
    """The plain-word causes of a face's quality flags (known ones, in a fixed order)."""
    return [CAUSES[f] for f in CAUSES if f in flags]


def _joined(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def quality_refusal(
    quality: float,
    minimum: float,
    flags: Sequence[str] = (),
    *,
    photo: str | None = None,
    override: bool = True,
) -> str:
    """Why a probe face of ``quality`` (with the engine's quality ``flags``) is refused under
    the policy's ``minimum``, and what to do; ``photo`` names it among several."""
    found = causes(flags)
    if found:
        what = _joined(found)
    else:
        what = (
            "the face is turned to the side (a profile), too small or too blurred for a "
            "reliable search"
        )
    what = what[0].upper() + what[1:]
    where = f"In {photo}: " if photo else ""
    if where:
        what = what[0].lower() + what[1:]
    advice = [ADVICE[f] for f in ADVICE if f in flags] or [
        "a more frontal, sharper photo or a larger crop of the face"
    ]
    todo = "Try " + " or ".join(advice)
    todo += f", {OVERRIDE_ADVICE}." if override else "."
    return (
        f"{where}{what}: quality {quality:.2f}, below the policy minimum of {minimum:.2f}. {todo}"
    )
