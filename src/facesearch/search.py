"""Search results, bands and 1:1 comparison: what an investigator sees.

Candidates are investigative leads, never identifications: every result carries that
statement, the score, and a plain-language band derived from the model's thresholds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from facesearch.models.manifest import ModelSpec

LEADS_NOTICE = (
    "Results are investigative leads, not identifications: every candidate needs independent "
    "confirmation by a trained person before any action is taken."
)

STRONG, POSSIBLE, WEAK = "strong", "possible", "weak"


@dataclass(frozen=True)
class Bands:
    """Score cut-offs: >= strong is 'strong', >= match is 'possible', else 'weak'."""

    match: float
    strong: float

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> Bands:
        return cls(match=float(spec.thresholds["match"]), strong=float(spec.thresholds["strong"]))

    def band(self, score: float) -> str:
        if score >= self.strong:
            return STRONG
        if score >= self.match:
            return POSSIBLE
        return WEAK


@dataclass(frozen=True)
class ProbeFace:
    index: int
    bbox: tuple[float, float, float, float]
    quality: float
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Candidate:
    rank: int
    face_id: int
    score: float
    band: str
    face_index: int
    bbox: tuple[float, float, float, float]
    quality: float
    crop: str | None  # blob key of the face crop
    crop_path: str | None
    image_sha256: str
    image_path: str
    thumbnail: str | None
    provenance: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class SearchResult:
    probe_sha256: str
    model: str
    model_sha256: str
    thresholds: dict[str, float]
    k: int
    face: int  # index of the probe face searched
    probe_faces: list[ProbeFace]
    candidates: list[Candidate]
    gallery_size: int
    seconds: float
    notice: str = LEADS_NOTICE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    score: float
    band: str
    same: bool  # score >= the model's match threshold
    threshold: float
    model: str
    face_a: ProbeFace
    face_b: ProbeFace
    notice: str = LEADS_NOTICE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
