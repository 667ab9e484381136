"""Fusion of any number of recognizers' cosine scores into one score on the primary's scale.

:class:`MultiFusion` generalises the shipped two-recognizer fusion
(:class:`facesearch.engine.embed.ScoreFusion`, which computes its scores with
:func:`fuse_normalised` below: one source of truth for the arithmetic).

Each member is a recognizer (its model key), its impostor mean and standard deviation (from a
calibration set) and a weight; the weights are in [0, 1] and sum to 1; the first member is the
*primary* (the recognizer whose vectors the gallery searches). A member's cosine ``s`` is
normalised with its impostor statistics (``normalisation="z"``: ``(s - mean) / std``;
``"unit"``: ``(s - mean) / (1 - mean)``), the normalised scores are mixed with the weights into
``z``, and ``z`` is mapped to the primary's scale: ``mean1 + (1 - mean1) * z / z(1, ..., 1)``.
So a pair at every member's impostor mean scores the primary's impostor mean, a perfect pair
(every cosine 1) scores exactly 1, and the map is increasing in every member's cosine.

Missing members (the rule)
--------------------------
A pair may lack a member's cosine (NaN: a gallery face without that member's vector, made
before the member was added or by a migration that has not reached it). Such a pair is scored
by the **primary alone**: its score is the primary's cosine, unchanged, and it is reported as
not fused (:meth:`MultiFusion.fused_mask`), so it is banded with the primary's own bands. The
fused bands are calibrated on scores of all members together; a score over a subset of the
members, even renormalised, has another impostor distribution, and no bands are calibrated for
it. (Renormalising over the members present would still map a perfect pair to 1 and the
impostor means to the primary's mean, and with only the primary present it gives the primary's
cosine; :func:`renormalised` computes it for study, but search never bands it.) A pair without
the primary's cosine has no score (NaN).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

from facesearch.errors import ConfigError

NORMALISATIONS = ("z", "unit")
#: ``MultiFusion.to_dict``'s ``kind``, to tell its records from ``ScoreFusion``'s
KIND = "multi"
WEIGHT_TOLERANCE = 1e-6


def normalised(score: Any, mean: float, std: float, normalisation: str) -> Any:
    """A cosine normalised with its model's impostor statistics."""
    if normalisation == "z":
        return (score - mean) / std
    return (score - mean) / (1.0 - mean)


def fuse_normalised(
    scores: Sequence[Any],
    means: Sequence[float],
    stds: Sequence[float],
    weights: Sequence[Any],
    normalisation: str,
) -> np.ndarray:
    """The fused score (output scale: the first member's) of per-member cosines ``scores``.

    ``weights`` may be arrays (a weight per pair, as a pose-dependent two-member fusion has);
    they must sum to 1 per pair. NaN in a member's scores propagates (see
    :meth:`MultiFusion.fuse` for the missing-member rule)."""
    z: Any = 0.0
    perfect: Any = 0.0
    for s, m, sd, w in zip(scores, means, stds, weights, strict=True):
        z = z + w * normalised(np.asarray(s, np.float64), m, sd, normalisation)
        perfect = perfect + w * normalised(np.float64(1.0), m, sd, normalisation)
    m1 = means[0]
    return np.asarray(m1 + (1.0 - m1) * z / perfect, np.float64)


@dataclass(frozen=True)
class Member:
    """One recognizer of a fusion: its model key, impostor statistics and weight."""

    model: str
    mean: float
    std: float
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "mean": self.mean, "std": self.std, "weight": self.weight}


@dataclass(frozen=True)
class MultiFusion:
    """A fusion of N recognizers (the first is the primary); see the module's docstring."""

    members: tuple[Member, ...]
    normalisation: str = "z"

    def __post_init__(self) -> None:
        if self.normalisation not in NORMALISATIONS:
            raise ConfigError(
                f"unknown fusion normalisation {self.normalisation!r}: {', '.join(NORMALISATIONS)}"
            )
        if len(self.members) < 2:
            raise ConfigError("a fusion needs at least two recognizers")
        keys = [m.model for m in self.members]
        if len(set(keys)) != len(keys):
            raise ConfigError(f"a fusion lists a recognizer twice: {keys}")
        weights = [m.weight for m in self.members]
        if any(not 0.0 <= w <= 1.0 for w in weights):
            raise ConfigError(f"fusion weights must be in [0, 1], got {weights}")
        if abs(sum(weights) - 1.0) > WEIGHT_TOLERANCE:
            raise ConfigError(f"fusion weights must sum to 1, got {weights} (sum {sum(weights)})")
        if any(not m.mean < 1.0 for m in self.members):
            raise ConfigError("fusion impostor means must be below 1")
        if any(not m.std > 0 for m in self.members):
            raise ConfigError("fusion impostor standard deviations must be positive")

    @property
    def primary(self) -> str:
        return self.members[0].model

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(m.model for m in self.members)

    @property
    def extra_models(self) -> tuple[str, ...]:
        """The members beyond the primary (whose vectors a search needs besides its own)."""
        return self.models[1:]

    @property
    def weights(self) -> np.ndarray:
        return np.array([m.weight for m in self.members], np.float64)

    def without_idle(self) -> MultiFusion:
        """The same fusion without its members of weight 0 beyond the primary (they change no
        score, but a pair missing one's vector would not be fused); at least two members stay."""
        kept = tuple(m for i, m in enumerate(self.members) if i == 0 or m.weight > 0)
        if len(kept) < 2 or len(kept) == len(self.members):
            return self
        return MultiFusion(kept, self.normalisation)

    def _columns(self, scores: Any) -> np.ndarray:
        x = np.asarray(scores, np.float64)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2 or x.shape[1] != len(self.members):
            raise ValueError(
                f"expected scores of shape (n, {len(self.members)}) (one column per member, "
                f"in the order {list(self.models)}), got {np.shape(scores)}"
            )
        return x

    def fused_mask(self, scores: Any) -> np.ndarray:
        """Which pairs have every member's cosine (so are fused, and banded with the fused
        bands)."""
        return np.isfinite(self._columns(scores)).all(axis=1)

    def fuse_complete(self, scores: Any) -> np.ndarray:
        """Fused scores of (n, N) cosines, NaN where any member's is missing (the rule of
        evaluation: such a pair is rejected at every threshold)."""
        x = self._columns(scores)
        return fuse_normalised(
            list(x.T),
            [m.mean for m in self.members],
            [m.std for m in self.members],
            [m.weight for m in self.members],
            self.normalisation,
        )

    def fuse(self, scores: Any) -> np.ndarray:
        """Fused scores of (n, N) cosines (columns in member order); a pair missing any other
        member's cosine scores the primary's cosine (the module's missing-member rule)."""
        x = self._columns(scores)
        complete = np.isfinite(x).all(axis=1)
        safe = np.where(np.isfinite(x), x, 0.0)
        return np.where(complete, self.fuse_complete(safe), x[:, 0])

    def renormalised(self, scores: Any) -> np.ndarray:
        """Fused over the members present, weights renormalised (NaN without the primary or
        when the members present have zero weight). For study only: never banded."""
        x = self._columns(scores)
        present = np.isfinite(x)
        w = np.where(present, self.weights[None, :], 0.0)
        total = w.sum(axis=1)
        w = w / np.where(total > 0, total, 1.0)[:, None]
        out = fuse_normalised(
            list(np.where(present, x, 0.0).T),
            [m.mean for m in self.members],
            [m.std for m in self.members],
            list(w.T),
            self.normalisation,
        )
        return np.where(present[:, 0] & (total > 0), out, np.nan)

    @classmethod
    def fit(
        cls,
        models: Sequence[str],
        impostors: Sequence[np.ndarray],
        weights: Sequence[float],
        normalisation: str = "z",
    ) -> MultiFusion:
        """Impostor statistics of each member (finite scores only) and the given weights."""
        members = []
        for key, imp, w in zip(models, impostors, weights, strict=True):
            x = np.asarray(imp, np.float64)
            x = x[np.isfinite(x)]
            members.append(Member(str(key), float(x.mean()), float(x.std()), float(w)))
        return cls(tuple(members), normalisation)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "members": [m.to_dict() for m in self.members],
            "normalisation": self.normalisation,
            "output": "unit",
            "rule": (
                "each member's cosine normalised by its impostor statistics "
                f"({self.normalisation}), mixed with the weights, mapped to the first member's "
                "scale (its impostor mean stays, a perfect pair scores 1); a pair missing any "
                "member's cosine is scored by the first member alone, with its own bands"
            ),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> MultiFusion:
        if raw.get("kind", KIND) != KIND or "members" not in raw:
            raise ConfigError("not a multi-recognizer fusion record (no 'members')")
        if str(raw.get("output", "unit")) != "unit":
            raise ConfigError("a multi-recognizer fusion maps to the primary's unit scale only")
        members = tuple(
            Member(str(m["model"]), float(m["mean"]), float(m["std"]), float(m["weight"]))
            for m in raw["members"]
        )
        return cls(members, str(raw.get("normalisation", "z")))


def is_multi_record(raw: Any) -> TypeGuard[dict[str, Any]]:
    """Whether a recorded fusion is a :class:`MultiFusion`'s (rather than a ScoreFusion's)."""
    return isinstance(raw, dict) and raw.get("kind") == KIND and "members" in raw
