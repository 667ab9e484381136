"""What the accuracy metrics take: scores and labels checked, and failures to enrol kept.

The conventions (similarities, ties accepted, a pair without a face never dropped) are stated
in :mod:`facesearch.evaluate.metrics`; the helpers here hold every metric to them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

# Tolerance when turning ``n * rate`` into an integer count, so that 0.29 * 100 counts
# as 29 allowed errors and not 28.
_COUNT_EPS = 1e-9

_FAILURE_HINT = (
    "pairs with no face on one side? Pass the scores through scores_with_failures() so "
    "they count as rejections instead of being dropped"
)


# --------------------------------------------------------------------------- helpers


def _frozen(arr: NDArray[Any]) -> NDArray[Any]:
    arr.setflags(write=False)
    return arr


def _scores(values: ArrayLike, name: str, *, allow_empty: bool = False) -> FloatArray:
    """A private float64 copy of 1-D scores; NaN and +inf are refused, -inf allowed."""
    arr = np.array(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of scores, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty: the figure is undefined without {name} scores")
    n_nan = int(np.isnan(arr).sum())
    if n_nan:
        raise ValueError(f"{name} has {n_nan} NaN score(s) ({_FAILURE_HINT})")
    if np.isposinf(arr).any():
        raise ValueError(f"{name} has +inf score(s); similarities must be finite or -inf")
    return arr


def _labels(values: ArrayLike, n: int, name: str = "labels") -> BoolArray:
    """Boolean same-person labels: bool, or integers/floats that are all 0 or 1."""
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be 1-D with {n} entries (one per score), got {arr.shape}")
    if arr.dtype == np.bool_:
        return arr.copy()
    if arr.dtype.kind in "iuf":
        ok = np.isin(arr, (0, 1))
        if not ok.all():
            bad = arr[~ok][0]
            raise ValueError(f"{name} must be booleans or 0/1, found {bad!r}")
        return arr.astype(np.bool_)
    raise ValueError(f"{name} must be booleans or 0/1, got dtype {arr.dtype}")


def _check_rate(rate: float, name: str) -> float:
    rate = float(rate)
    if not 0.0 < rate < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {rate}")
    return rate


def _count_at_or_above(sorted_scores: FloatArray, thresholds: FloatArray) -> IntArray:
    """How many of ``sorted_scores`` (ascending) are ``>= t`` for each threshold ``t``."""
    left = np.searchsorted(sorted_scores, thresholds, side="left")
    return (sorted_scores.size - left).astype(np.int64)


def _allowed_errors(n: int, rate: float) -> int:
    return math.floor(n * rate + _COUNT_EPS)


# --------------------------------------------------------------------- failure to enrol


@dataclass(frozen=True, eq=False)
class FailureScores:
    """Scores with failures mapped to ``-inf`` (rejected at every threshold)."""

    scores: FloatArray
    failed: BoolArray
    n_failures: int


def scores_with_failures(scores: Iterable[float | None] | NDArray[Any]) -> FailureScores:
    """Map missing scores (``None``, NaN; ``-inf`` is kept) to ``-inf`` and count them.

    The returned scores are accepted by no threshold, so they count as rejections: false
    non-matches for genuine pairs, correct non-matches for impostor pairs.
    """
    values = scores if isinstance(scores, np.ndarray) else list(scores)
    arr = np.array(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {arr.shape}")
    if np.isposinf(arr).any():
        raise ValueError("scores have +inf; similarities must be finite")
    failed = np.isnan(arr) | np.isneginf(arr)
    arr[failed] = -np.inf
    return FailureScores(scores=_frozen(arr), failed=_frozen(failed), n_failures=int(failed.sum()))


@dataclass(frozen=True)
class FteCounts:
    """How many pairs had no score (failure to enrol on at least one side)."""

    n_pairs: int
    n_genuine: int
    n_impostor: int
    n_failed: int
    n_genuine_failed: int  # false non-matches at every threshold
    n_impostor_failed: int  # correct non-matches at every threshold

    @property
    def fte_rate(self) -> float:
        """Fraction of all pairs with no score (NaN when there are no pairs)."""
        return self.n_failed / self.n_pairs if self.n_pairs else math.nan


def fte_counts(scores: Iterable[float | None] | NDArray[Any], labels: ArrayLike) -> FteCounts:
    """Count pairs whose score is missing (``None``/NaN/``-inf``), split by label."""
    fs = scores_with_failures(scores)
    y = _labels(labels, fs.scores.size)
    return FteCounts(
        n_pairs=int(y.size),
        n_genuine=int(y.sum()),
        n_impostor=int((~y).sum()),
        n_failed=fs.n_failures,
        n_genuine_failed=int((fs.failed & y).sum()),
        n_impostor_failed=int((fs.failed & ~y).sum()),
    )
