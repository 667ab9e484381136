"""Accuracy figures one can state: verification (1:1) and identification (1:N) metrics.

Pure NumPy, no global state; every result is a frozen dataclass.

Conventions used throughout
---------------------------
* Scores are **similarities**: higher means "more likely the same person".
* A threshold ``t`` **accepts** a score ``s`` when ``s >= t`` (ties are accepted).
* FAR is the false accept rate (= FMR, false match rate): the fraction of impostor
  (different-person) comparisons accepted. TAR is the true accept rate (= 1 - FNMR):
  the fraction of genuine (same-person) comparisons accepted.
* Empty classes are errors: every function that needs genuine or impostor scores raises
  ``ValueError`` when that class is empty instead of returning a meaningless number.

Failure to enrol (no face found on one side of a pair)
------------------------------------------------------
A pair whose score could not be computed is **never dropped**. Verification functions
refuse NaN scores with a ``ValueError`` that names this section; pass the raw scores
(``None``/NaN where a side had no face) through :func:`scores_with_failures`, which maps
them to ``-inf``. A ``-inf`` score is rejected at every threshold, so a genuine pair with
no face counts as a false non-match and an impostor pair with no face as a correct
non-match, and both stay in the denominators. :func:`fte_counts` reports how many there
were so the figure can be stated next to the accuracy. Typical use::

    fs = scores_with_failures(raw_scores)          # raw_scores may hold None / NaN
    counts = fte_counts(raw_scores, labels)
    curve = roc_curve(fs.scores[labels], fs.scores[~labels])
    result = kfold_verification_accuracy(fs.scores, labels, folds)

Identification similarity matrices (probes x gallery) may contain NaN; it is read as
``-inf`` (never ranks above anything, never reaches a threshold). A probe with no face is
passed as an all-NaN row: a miss for mated probes, a correct rejection for non-mated ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from facesearch.evaluate.metric_inputs import (
    BoolArray,
    FloatArray,
    IntArray,
    _allowed_errors,
    _check_rate,
    _count_at_or_above,
    _frozen,
    _labels,
    _scores,
)

# ------------------------------------------------------------------------- ROC / EER


@dataclass(frozen=True, eq=False)
class RocCurve:
    """FAR and TAR at every distinct score threshold, thresholds in descending order.

    The first point is ``threshold=+inf`` (accept nothing: FAR = TAR = 0); then one point
    per distinct finite score. With no failures the last point has FAR = TAR = 1.
    """

    thresholds: FloatArray
    far: FloatArray
    tar: FloatArray
    n_genuine: int
    n_impostor: int

    @property
    def fnmr(self) -> FloatArray:
        """False non-match rate, ``1 - tar``."""
        return 1.0 - self.tar


def roc_curve(genuine: ArrayLike, impostor: ArrayLike) -> RocCurve:
    """Exact ROC over all distinct finite scores (a threshold ``t`` accepts ``s >= t``).

    Tied scores share one threshold, so genuine and impostor scores that tie move
    together (no optimistic ordering inside ties). ``-inf`` scores (failures) are never
    accepted and stay in the denominators.
    """
    gen = np.sort(_scores(genuine, "genuine"))
    imp = np.sort(_scores(impostor, "impostor"))
    finite = np.concatenate([gen[np.isfinite(gen)], imp[np.isfinite(imp)]])
    thresholds = np.concatenate([[np.inf], np.unique(finite)[::-1]])
    far = _count_at_or_above(imp, thresholds) / imp.size
    tar = _count_at_or_above(gen, thresholds) / gen.size
    return RocCurve(
        thresholds=_frozen(thresholds),
        far=_frozen(far),
        tar=_frozen(tar),
        n_genuine=int(gen.size),
        n_impostor=int(imp.size),
    )


def threshold_for_far(impostor: ArrayLike, far: float) -> float | None:
    """The smallest threshold whose FAR on these impostor scores is ``<= far``.

    With ``n`` impostor scores, ``k = floor(n * far)`` false accepts are allowed. The
    threshold is the next float64 above the (k+1)-th highest impostor score: every score
    strictly above it is accepted, that score and everything below rejected. No smaller
    float64 threshold keeps FAR ``<= far``.

    Returns ``None`` when the data cannot support the rate: ``n * far < 1`` (fewer than
    ``1 / far`` impostor scores, so not even one false accept could be observed).
    """
    far = _check_rate(far, "far")
    imp = _scores(impostor, "impostor")
    k = min(_allowed_errors(imp.size, far), imp.size)
    if k < 1:
        return None
    desc = np.concatenate([np.sort(imp)[::-1], [-np.inf]])
    return float(np.nextafter(desc[k], np.inf))


@dataclass(frozen=True)
class OperatingPoint:
    """TAR at a FAR target, with the threshold that achieves it on this data."""

    far_target: float
    far: float  # FAR actually reached at ``threshold`` (<= far_target)
    tar: float
    threshold: float
    n_genuine: int
    n_impostor: int


def tar_at_far(genuine: ArrayLike, impostor: ArrayLike, far: float) -> OperatingPoint | None:
    """The largest TAR over thresholds whose FAR is ``<= far``, and its threshold.

    TAR and FAR are monotone in the threshold, so the largest TAR is reached at the
    smallest admissible threshold, :func:`threshold_for_far`; the TAR equals the best
    point of :func:`roc_curve` with ``far <= far``.

    Returns ``None`` when ``n_impostor * far < 1``: the data cannot support that FAR.
    """
    gen = _scores(genuine, "genuine")
    imp = _scores(impostor, "impostor")
    threshold = threshold_for_far(imp, far)
    if threshold is None:
        return None
    return OperatingPoint(
        far_target=float(far),
        far=float(np.mean(imp >= threshold)),
        tar=float(np.mean(gen >= threshold)),
        threshold=threshold,
        n_genuine=int(gen.size),
        n_impostor=int(imp.size),
    )


@dataclass(frozen=True)
class EerResult:
    """Equal error rate and the threshold where FAR and FNMR cross (NaN if they never do)."""

    eer: float
    threshold: float


def eer(genuine: ArrayLike, impostor: ArrayLike) -> EerResult:
    """Equal error rate, linearly interpolated at the FAR/FNMR crossing.

    Walking the :func:`roc_curve` points from the highest threshold down, ``FAR - FNMR``
    never decreases. Let points ``i-1`` and ``i`` bracket the first point where
    ``FAR >= FNMR``; with weight ``a`` at which the straight line between them has
    ``FAR == FNMR``, the EER is that common value and the threshold is the same linear
    interpolation between the two thresholds (or the threshold of point ``i`` when point
    ``i-1`` is the ``+inf`` start). An exact crossing at a point returns that point.
    If FAR stays below FNMR at every threshold (possible only with many failures), the
    result is NaN.
    """
    curve = roc_curve(genuine, impostor)
    far, fnmr, thr = curve.far, curve.fnmr, curve.thresholds
    diff = far - fnmr
    crossing = np.flatnonzero(diff >= 0)
    if crossing.size == 0:
        return EerResult(eer=math.nan, threshold=math.nan)
    i = int(crossing[0])  # >= 1: at +inf FAR = 0 and FNMR = 1
    d0, d1 = float(diff[i - 1]), float(diff[i])
    a = d0 / (d0 - d1)  # in (0, 1]
    rate = float(far[i - 1] + a * (far[i] - far[i - 1]))
    t_hi, t_lo = float(thr[i - 1]), float(thr[i])
    threshold = t_lo if (a >= 1.0 or not math.isfinite(t_hi)) else t_hi + a * (t_lo - t_hi)
    return EerResult(eer=rate, threshold=threshold)


# --------------------------------------------------------------- k-fold verification


def _threshold_runs(scores: FloatArray, labels: BoolArray) -> tuple[FloatArray, IntArray]:
    """Candidate thresholds (distinct finite scores ascending, then +inf) and #correct."""
    distinct = np.unique(scores[np.isfinite(scores)])
    candidates = np.append(distinct, np.inf)
    pos = np.sort(scores[labels])
    neg = np.sort(scores[~labels])
    true_accepts = _count_at_or_above(pos, candidates)
    true_rejects = neg.size - _count_at_or_above(neg, candidates)
    return candidates, (true_accepts + true_rejects).astype(np.int64)


def best_accuracy_threshold(scores: ArrayLike, labels: ArrayLike) -> tuple[float, float]:
    """The threshold maximising accuracy on these pairs, and that accuracy.

    Accuracy only changes at distinct scores: every threshold in ``(u_{j-1}, u_j]`` gives
    the same decisions as ``u_j``. The maximising thresholds form one or more runs of
    such intervals; the threshold returned is the **midpoint of the best run**: the run
    with the widest bounded score range (ties: the lowest one). A run open at the bottom
    (accept every finite score) returns its upper end; a run open at the top (reject
    everything) returns the next float above the highest score; if every threshold ties,
    the median finite score (0.0 when none) is returned.
    """
    s = _scores(scores, "scores")
    y = _labels(labels, s.size)
    candidates, correct = _threshold_runs(s, y)
    best = int(correct.max())
    optimal = np.flatnonzero(correct == best)
    # Split the optimal candidate indices into runs of consecutive indices.
    breaks = np.flatnonzero(np.diff(optimal) > 1) + 1
    runs = np.split(optimal, breaks)
    finite_scores = s[np.isfinite(s)]

    def bounds(run: IntArray) -> tuple[float, float]:
        lo_idx, hi_idx = int(run[0]), int(run[-1])
        lower = -math.inf if lo_idx == 0 else float(candidates[lo_idx - 1])
        return lower, float(candidates[hi_idx])

    spans = [bounds(run) for run in runs]
    bounded = [(lo, hi) for lo, hi in spans if math.isfinite(lo) and math.isfinite(hi)]
    if bounded:
        lower, upper = max(bounded, key=lambda b: (b[1] - b[0], -b[0]))
        mid = (lower + upper) / 2.0
        threshold = mid if mid > lower else upper
    else:
        lower, upper = spans[0]
        if math.isfinite(upper):
            threshold = upper
        elif math.isfinite(lower):
            threshold = float(np.nextafter(lower, np.inf))
        else:
            threshold = float(np.median(finite_scores)) if finite_scores.size else 0.0
    return threshold, best / s.size


@dataclass(frozen=True, eq=False)
class KFoldResult:
    """Held-out accuracy per fold with thresholds chosen on the other folds.

    ``std`` is the population standard deviation over folds (ddof=0, as insightface and
    facenet report it); ``standard_error`` is the LFW README's ``S_E = s / sqrt(k)`` with
    ``s`` the sample standard deviation (ddof=1).
    """

    mean: float
    std: float
    standard_error: float
    folds: IntArray  # fold id per entry of the arrays below
    accuracies: FloatArray  # held-out accuracy per fold
    thresholds: FloatArray  # threshold chosen on the other folds
    train_accuracies: FloatArray  # accuracy of that threshold on the other folds
    fold_sizes: IntArray


def _fold_ids(folds: int | ArrayLike, n: int) -> IntArray:
    if isinstance(folds, int | np.integer) and not isinstance(folds, bool):
        k = int(folds)
        if not 2 <= k <= n:
            raise ValueError(f"folds must be between 2 and the number of pairs ({n}), got {k}")
        sizes = [part.size for part in np.array_split(np.arange(n), k)]
        return np.repeat(np.arange(1, k + 1, dtype=np.int64), sizes)
    arr = np.asarray(folds)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"folds must be an int or 1-D with {n} fold ids, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"fold ids must be integers, got dtype {arr.dtype}")
    if np.unique(arr).size < 2:
        raise ValueError("need at least two distinct fold ids")
    return arr.astype(np.int64)


def kfold_verification_accuracy(
    scores: ArrayLike, labels: ArrayLike, folds: int | ArrayLike = 10
) -> KFoldResult:
    """The LFW/CFP protocol: per fold, threshold from the other folds, accuracy on it.

    ``folds`` is either a fold id per pair (CFP and LFW readers provide them) or a count
    ``k`` that splits the pairs, in order, into ``k`` contiguous folds numbered 1..k
    (``numpy.array_split`` sizes). For each fold the threshold is
    :func:`best_accuracy_threshold` on the pairs of all *other* folds only, so no pair is
    ever scored with a threshold chosen on it. A pair is predicted "same" when
    ``score >= threshold``. Failures must be mapped with :func:`scores_with_failures`.
    """
    s = _scores(scores, "scores")
    y = _labels(labels, s.size)
    ids = _fold_ids(folds, s.size)
    unique = np.unique(ids)
    accs, thresholds, train_accs, sizes = [], [], [], []
    for fold in unique:
        test = ids == fold
        threshold, train_acc = best_accuracy_threshold(s[~test], y[~test])
        predicted = s[test] >= threshold
        accs.append(float(np.mean(predicted == y[test])))
        thresholds.append(threshold)
        train_accs.append(train_acc)
        sizes.append(int(test.sum()))
    acc_arr = np.array(accs)
    k = acc_arr.size
    return KFoldResult(
        mean=float(acc_arr.mean()),
        std=float(acc_arr.std()),
        standard_error=float(acc_arr.std(ddof=1) / math.sqrt(k)),
        folds=_frozen(unique.astype(np.int64)),
        accuracies=_frozen(acc_arr),
        thresholds=_frozen(np.array(thresholds, dtype=np.float64)),
        train_accuracies=_frozen(np.array(train_accs, dtype=np.float64)),
        fold_sizes=_frozen(np.array(sizes, dtype=np.int64)),
    )
