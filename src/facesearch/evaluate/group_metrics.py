"""Figures per group (error rates by demographic or capture group) and by quality bin.

Conventions: :mod:`facesearch.evaluate.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from facesearch.evaluate.metric_inputs import (
    BoolArray,
    _labels,
    _scores,
)

# ------------------------------------------------------------------ per-group figures


@dataclass(frozen=True)
class GroupRates:
    """FMR and FNMR at one threshold for one group; rates are NaN where a count is 0."""

    group: Hashable
    n_genuine: int
    n_false_non_match: int
    n_impostor: int
    n_false_match: int

    @property
    def fnmr(self) -> float:
        return self.n_false_non_match / self.n_genuine if self.n_genuine else math.nan

    @property
    def fmr(self) -> float:
        return self.n_false_match / self.n_impostor if self.n_impostor else math.nan


@dataclass(frozen=True)
class PerGroupRates:
    """Per-group FMR/FNMR; cross-group impostor pairs are reported apart, not dropped."""

    threshold: float
    groups: dict[Hashable, GroupRates]
    cross_group: GroupRates  # impostor pairs whose two sides are in different groups

    def fmr_ratio(self) -> float:
        """Highest over lowest per-group FMR (NaN if undefined), a NIST IR 8280 summary."""
        fmrs = [g.fmr for g in self.groups.values() if not math.isnan(g.fmr)]
        if not fmrs or min(fmrs) == 0:
            return math.nan
        return max(fmrs) / min(fmrs)

    def fnmr_ratio(self) -> float:
        """Highest over lowest per-group FNMR (NaN if undefined)."""
        fnmrs = [g.fnmr for g in self.groups.values() if not math.isnan(g.fnmr)]
        if not fnmrs or min(fnmrs) == 0:
            return math.nan
        return max(fnmrs) / min(fnmrs)


_CROSS_GROUP = "<cross-group>"


def _impostor_group(value: Any) -> tuple[Hashable, Hashable]:
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ValueError(f"an impostor group must be a value or a pair (a, b), got {value!r}")
        return value[0], value[1]
    return value, value


def per_group_error_rates(
    genuine_scores: ArrayLike,
    genuine_groups: Sequence[Hashable],
    impostor_scores: ArrayLike,
    impostor_groups: Sequence[Hashable | tuple[Hashable, Hashable]],
    threshold: float,
) -> PerGroupRates:
    """FMR and FNMR per group value at one fixed threshold (NIST IR 8280 style).

    ``genuine_groups`` gives the group of each genuine pair (both sides are one person).
    Each entry of ``impostor_groups`` is either one value (both sides in that group) or a
    pair ``(group_a, group_b)``. **Rule:** an impostor pair is attributed to a group only
    when both sides share it; pairs across groups are counted in ``cross_group``, never
    dropped. Failures (``-inf`` from :func:`scores_with_failures`) are rejections.
    """
    gen = _scores(genuine_scores, "genuine_scores", allow_empty=True)
    imp = _scores(impostor_scores, "impostor_scores", allow_empty=True)
    if len(genuine_groups) != gen.size:
        raise ValueError("genuine_groups must have one entry per genuine score")
    if len(impostor_groups) != imp.size:
        raise ValueError("impostor_groups must have one entry per impostor score")
    if gen.size + imp.size == 0:
        raise ValueError("no scores")
    t = float(threshold)
    counts: dict[Hashable, list[int]] = {}  # group -> [n_gen, n_fnm, n_imp, n_fm]
    cross = [0, 0, 0, 0]
    for score, group in zip(gen.tolist(), genuine_groups, strict=True):
        c = counts.setdefault(group, [0, 0, 0, 0])
        c[0] += 1
        c[1] += score < t
    for score, raw in zip(imp.tolist(), impostor_groups, strict=True):
        a, b = _impostor_group(raw)
        c = counts.setdefault(a, [0, 0, 0, 0]) if a == b else cross
        c[2] += 1
        c[3] += score >= t
    groups = {
        g: GroupRates(
            g, n_genuine=c[0], n_false_non_match=c[1], n_impostor=c[2], n_false_match=c[3]
        )
        for g, c in sorted(counts.items(), key=lambda kv: str(kv[0]))
    }
    return PerGroupRates(
        threshold=t,
        groups=groups,
        cross_group=GroupRates(_CROSS_GROUP, 0, 0, cross[2], cross[3]),
    )


# --------------------------------------------------------------------- quality bins


@dataclass(frozen=True)
class QualityBin:
    """Errors among pairs whose quality falls in ``[lower, upper)`` (last bin closed).

    ``missing`` marks the bin of pairs with no quality value (NaN), e.g. no face.
    """

    lower: float
    upper: float
    missing: bool
    n_genuine: int
    n_false_non_match: int
    n_impostor: int
    n_false_match: int

    @property
    def fnmr(self) -> float:
        return self.n_false_non_match / self.n_genuine if self.n_genuine else math.nan

    @property
    def fmr(self) -> float:
        return self.n_false_match / self.n_impostor if self.n_impostor else math.nan


def accuracy_by_quality_bin(
    scores: ArrayLike,
    labels: ArrayLike,
    quality: ArrayLike,
    threshold: float,
    bins: int | Sequence[float] = 5,
) -> list[QualityBin]:
    """FNMR and FMR per quality bin at one threshold, to see if quality predicts errors.

    ``quality`` is one value per pair, or an ``(n, 2)`` array of per-image qualities of
    which the pair's quality is the **minimum**. ``bins`` is either a number of
    equal-count (quantile) bins, merged where quantiles coincide, or increasing bin edges
    that must cover every quality value. Pairs with NaN quality go to a final bin with
    ``missing=True`` instead of being dropped.
    """
    s = _scores(scores, "scores")
    y = _labels(labels, s.size)
    q = np.array(quality, dtype=np.float64)
    if q.ndim == 2 and q.shape[1] == 2:
        q = q.min(axis=1)  # NaN on either side makes the pair's quality missing
    if q.ndim != 1 or q.shape[0] != s.size:
        raise ValueError(f"quality must have shape ({s.size},) or ({s.size}, 2), got {q.shape}")
    missing = ~np.isfinite(q)
    present = q[~missing]
    if isinstance(bins, int | np.integer):
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        if present.size:
            edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, int(bins) + 1)))
        else:
            edges = np.empty(0)
        if edges.size == 1:
            edges = np.array([edges[0], edges[0]])
    else:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("bin edges must be at least two strictly increasing values")
        if present.size and (present.min() < edges[0] or present.max() > edges[-1]):
            raise ValueError(
                f"quality values span [{present.min()}, {present.max()}] but the bin edges "
                f"span [{edges[0]}, {edges[-1]}]"
            )
    accepted = s >= float(threshold)
    out: list[QualityBin] = []

    def make(mask: BoolArray, lower: float, upper: float, is_missing: bool) -> QualityBin:
        return QualityBin(
            lower=lower,
            upper=upper,
            missing=is_missing,
            n_genuine=int((mask & y).sum()),
            n_false_non_match=int((mask & y & ~accepted).sum()),
            n_impostor=int((mask & ~y).sum()),
            n_false_match=int((mask & ~y & accepted).sum()),
        )

    if edges.size >= 2:
        n_bins = edges.size - 1
        index = np.clip(np.searchsorted(edges, q, side="right") - 1, 0, n_bins - 1)
        for b in range(n_bins):
            mask = (index == b) & ~missing
            out.append(make(mask, float(edges[b]), float(edges[b + 1]), False))
    if missing.any():
        out.append(make(missing, math.nan, math.nan, True))
    return out
