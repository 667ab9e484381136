"""Schemas of the probe examined before a search (``POST /cases/{number}/probe-faces``) and of
the supervised quality overrides."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from facesearch.serve.api.schemas import In, Out, UtcDateTime


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


class QualityOverrideIn(In):
    probe_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="The probe's SHA-256.")
    face: int = Field(ge=0, le=1000, description="The probe face (its index, 0 = largest).")
    reason: str = Field(min_length=1, max_length=5000, description="Why it must be searched.")
    quality: float | None = Field(default=None, ge=0, le=1, description="As probe-faces said.")


class OverrideDecisionIn(In):
    note: str = Field(default="", max_length=5000, description="Required to refuse.")


class QualityOverrideOut(Out):
    id: int
    case: str
    probe_sha256: str
    face: int
    quality: float | None
    reason: str
    status: Literal["pending", "granted", "refused", "used"]
    requested_by: str
    requested_at: UtcDateTime
    decided_by: str | None
    decided_at: UtcDateTime | None
    decision_note: str
    search_id: int | None
    used_at: UtcDateTime | None
