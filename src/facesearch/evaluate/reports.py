"""The evaluation report: thresholds, verification and identification figures, enrolment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facesearch.evaluate.protocols import (
    FaceConvention,
    face_convention,
)

if TYPE_CHECKING:
    pass
from facesearch.evaluate.datasets import (
    Dataset,
)
from facesearch.evaluate.embedding import (
    NO_FACE,
    EmbeddingSet,
    ImageResult,
)

# --------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class Thresholds:
    """The operating thresholds the report is stated at (the manifest's search bands)."""

    match: float
    strong: float


@dataclass
class VerificationReport:
    n_pairs: int
    n_genuine: int
    n_impostor: int
    n_failed: int
    n_genuine_failed: int
    n_impostor_failed: int
    kfold: dict[str, Any] | None
    tar_at_far: list[dict[str, Any]]
    eer: dict[str, float]
    at_thresholds: dict[str, dict[str, float]]
    quality_bins: list[dict[str, Any]]
    groups: dict[str, dict[str, Any]]
    protocol: str
    genuine_scores: np.ndarray = field(repr=False)  # -inf where a side had no face
    impostor_scores: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "n_pairs": self.n_pairs,
            "n_genuine": self.n_genuine,
            "n_impostor": self.n_impostor,
            "n_pairs_without_score": self.n_failed,
            "n_genuine_without_score": self.n_genuine_failed,
            "n_impostor_without_score": self.n_impostor_failed,
            "kfold_accuracy": self.kfold,
            "tar_at_far": self.tar_at_far,
            "eer": self.eer,
            "at_thresholds": self.at_thresholds,
            "quality_bins": self.quality_bins,
            "groups": self.groups,
        }


@dataclass
class IdentificationReport:
    closed_set: dict[str, Any] | None
    open_set: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"closed_set": self.closed_set, "open_set": self.open_set, "notes": self.notes}


@dataclass
class EvalReport:
    dataset: Dataset
    embeddings: EmbeddingSet
    thresholds: Thresholds
    verification: VerificationReport | None
    identification: IdentificationReport | None
    n_images: int
    n_duplicates_removed: int = 0
    n_multi_excluded: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def face_convention(self) -> FaceConvention:
        return face_convention(self.dataset.kind)

    @property
    def results(self) -> list[ImageResult]:
        """This data set's images (an embedding pass may cover several data sets)."""
        return [self.embeddings[p] for p in self.dataset.paths]

    @property
    def no_face(self) -> list[Path]:
        return sorted(r.path for r in self.results if r.error == NO_FACE)

    @property
    def unreadable(self) -> list[ImageResult]:
        failed = (r for r in self.results if r.error and r.error != NO_FACE)
        return sorted(failed, key=lambda r: str(r.path))

    def to_dict(self) -> dict[str, Any]:
        emb = self.embeddings
        results = self.results
        multi = sum(1 for r in results if r.n_faces > 1)
        convention = self.face_convention
        rule = emb.face_rule
        return {
            "dataset": {
                "protocol": self.dataset.kind,
                "source": str(self.dataset.source),
                "n_images": self.n_images,
                "n_duplicates_removed": self.n_duplicates_removed,
                "n_multi_person_excluded": self.n_multi_excluded,
                "group_columns": list(self.dataset.group_columns),
                "notes": [*self.dataset.notes, *self.notes],
                "face_rule": rule,
                "face_rule_reason": convention.reason
                if rule == convention.rule
                else f"{rule}, set for this run (the protocol's convention: {convention.rule})",
            },
            "model": {
                "key": emb.model_key,
                "embedding": emb.variant,
                "thresholds": {"match": self.thresholds.match, "strong": self.thresholds.strong},
            },
            "enrolment": {
                "n_images": len(results),
                "n_enrolled": sum(1 for r in results if r.enrolled),
                "n_no_face": len(self.no_face),
                "n_unreadable": len(self.unreadable),
                "n_several_faces": multi,
                "n_ambiguous": sum(1 for r in results if r.ambiguous),
                "n_scored_face_not_largest": sum(1 for r in results if r.face not in (None, 0)),
                "no_face": [str(p) for p in self.no_face],
                "unreadable": [{"path": str(r.path), "reason": r.error} for r in self.unreadable],
            },
            "verification": self.verification.to_dict() if self.verification else None,
            "identification": self.identification.to_dict() if self.identification else None,
            "timing": {
                "seconds_embedding": round(emb.seconds, 2),
                "images_per_second": round(len(emb.results) / emb.seconds, 2)
                if emb.seconds
                else None,
                "workers": emb.workers,
            },
        }
