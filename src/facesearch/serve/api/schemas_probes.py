"""Schemas of the probe examined before a search (``POST /cases/{number}/probe-faces``)."""

from __future__ import annotations

from pydantic import Field

from facesearch.serve.api.schemas import Out


class DetectedFaceOut(Out):
    index: int = Field(description="0 = the largest box; the search's `face` field names it.")
    bbox: tuple[float, float, float, float] = Field(description="x, y, w, h in pixels")
    detector_score: float = Field(description="The face detector's confidence, 0..1.")
    quality: float = Field(description="The quality the policy's minimum applies to, 0..1.")
    flags: list[str] = Field(description="too_small, blurred, profile, low_confidence")
    likely_face: bool = Field(
        description="False: the detector is not confident (low_confidence): perhaps no face."
    )
    below_minimum: bool = Field(
        description="The quality is below the policy's minimum: a search would be refused."
    )
    causes: list[str] = Field(description="The flags in plain words.")


class ProbeFacesOut(Out):
    sha256: str
    width: int
    height: int
    faces: list[DetectedFaceOut]
    preselected: int | None = Field(
        description="The largest likely face of sufficient quality (else the largest likely "
        "face; none when no face is likely)."
    )
    min_quality: float = Field(description="The policy's search.min_probe_quality.")
    message: str = Field(description="What to tell the investigator of this photo.")
