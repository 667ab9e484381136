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
from collections.abc import Hashable, Iterable, Sequence
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


# -------------------------------------------------------------------- identification


def _similarity_matrix(sim: ArrayLike, name: str, n_gallery: int | None = None) -> FloatArray:
    arr = np.array(sim, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (probes x gallery), got shape {arr.shape}")
    if n_gallery is not None and arr.shape[1] != n_gallery:
        raise ValueError(
            f"{name} has {arr.shape[1]} gallery columns but there are {n_gallery} gallery labels"
        )
    if np.isposinf(arr).any():
        raise ValueError(f"{name} has +inf; similarities must be finite, NaN or -inf")
    arr[np.isnan(arr)] = -np.inf
    return arr


def _label_array(labels: Sequence[Hashable] | ArrayLike, name: str) -> NDArray[Any]:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _mate_ranks(
    sim: FloatArray, probe_labels: NDArray[Any], gallery_labels: NDArray[Any]
) -> tuple[FloatArray, FloatArray]:
    """Rank (1-based, ``inf`` if no finite mate score) and score of each probe's best mate.

    Rank = 1 + the number of non-mated gallery items scoring ``>=`` the best mated score:
    ties are counted against the probe (pessimistic CMC).
    """
    mated = probe_labels[:, None] == gallery_labels[None, :]
    has_mate = mated.any(axis=1)
    if not has_mate.all():
        first = int(np.flatnonzero(~has_mate)[0])
        raise ValueError(
            f"{int((~has_mate).sum())} probe(s) have no mate in the gallery (first: probe "
            f"{first}, label {probe_labels[first]!r}); closed-set ranks need every probe "
            "enrolled; use fnir_at_fpir for non-mated probes"
        )
    best = np.where(mated, sim, -np.inf).max(axis=1)
    outranked = (~mated & (sim >= best[:, None])).sum(axis=1)
    ranks = np.where(np.isfinite(best), 1.0 + outranked, np.inf)
    return ranks.astype(np.float64), best


@dataclass(frozen=True, eq=False)
class RankAccuracy:
    """Closed-set identification: fraction of probes whose mate is within rank k."""

    accuracy: dict[int, float]
    ranks: FloatArray  # per probe, 1-based; inf when the probe had no finite mate score
    n_probes: int
    n_failed: int  # probes with no finite score against their mate (e.g. no face)

    def cmc(self, max_rank: int) -> FloatArray:
        """Cumulative match characteristic: accuracy at ranks 1..max_rank."""
        ks = np.arange(1, max_rank + 1)
        return (self.ranks[None, :] <= ks[:, None]).mean(axis=1)


def rank_k_accuracy(
    sim: ArrayLike,
    probe_labels: Sequence[Hashable] | ArrayLike,
    gallery_labels: Sequence[Hashable] | ArrayLike,
    ks: Sequence[int] = (1, 5),
) -> RankAccuracy:
    """Closed-set rank-k accuracy (CMC) from a probes x gallery similarity matrix.

    A probe's rank is that of its best-scoring mated gallery item among all gallery items
    (the gallery may hold several items per identity); gallery items tying with it count
    against the probe. Every probe must have a mate in the gallery (``ValueError``
    otherwise). NaN similarities count as ``-inf``; a probe with no finite mate score is
    wrong at every rank.
    """
    gl = _label_array(gallery_labels, "gallery_labels")
    pl = _label_array(probe_labels, "probe_labels")
    s = _similarity_matrix(sim, "sim", gl.size)
    if s.shape[0] != pl.size:
        raise ValueError(f"sim has {s.shape[0]} probe rows but there are {pl.size} probe labels")
    if pl.size == 0:
        raise ValueError("no probes")
    ks_list = [int(k) for k in ks]
    if not ks_list or any(k < 1 for k in ks_list):
        raise ValueError(f"ks must be positive ranks, got {ks_list}")
    ranks, _ = _mate_ranks(s, pl, gl)
    return RankAccuracy(
        accuracy={k: float(np.mean(ranks <= k)) for k in ks_list},
        ranks=_frozen(ranks),
        n_probes=int(pl.size),
        n_failed=int(np.isinf(ranks).sum()),
    )


@dataclass(frozen=True)
class OpenSetPoint:
    """NIST FRTE open-set identification: FNIR at an FPIR target."""

    fpir_target: float
    fpir: float  # FPIR actually reached at ``threshold``
    fnir: float
    threshold: float
    rank: int
    n_mated: int
    n_nonmated: int


def fnir_at_fpir(
    mated_sim: ArrayLike,
    mated_probe_labels: Sequence[Hashable] | ArrayLike,
    nonmated_sim: ArrayLike,
    gallery_labels: Sequence[Hashable] | ArrayLike,
    fpir: float,
    *,
    rank: int = 1,
    nonmated_probe_labels: Sequence[Hashable] | ArrayLike | None = None,
) -> OpenSetPoint | None:
    """FNIR at a given FPIR, as NIST FRTE (1:N) defines them.

    * The threshold ``T`` is the smallest one for which the fraction of non-mated probes
      whose top-1 score is ``>= T`` is ``<= fpir`` (:func:`threshold_for_far` applied to
      the non-mated top-1 scores).
    * FNIR is the fraction of mated probes whose best mated gallery item is **not** both
      at rank ``<= rank`` (pessimistic ties, as in :func:`rank_k_accuracy`) **and** scored
      ``>= T``. NIST most often quotes ``rank=1``.

    A non-mated probe with no face (all-NaN row) is never a false positive but stays in
    the FPIR denominator; a mated probe with no face is a miss. If ``nonmated_probe_labels``
    is given, it is checked that none of them is in the gallery.

    Returns ``None`` when ``n_nonmated * fpir < 1``: too few non-mated probes to support
    that FPIR.
    """
    fpir = _check_rate(fpir, "fpir")
    if int(rank) < 1:
        raise ValueError(f"rank must be >= 1, got {rank}")
    gl = _label_array(gallery_labels, "gallery_labels")
    pl = _label_array(mated_probe_labels, "mated_probe_labels")
    mated = _similarity_matrix(mated_sim, "mated_sim", gl.size)
    nonmated = _similarity_matrix(nonmated_sim, "nonmated_sim", gl.size)
    if mated.shape[0] != pl.size:
        raise ValueError(
            f"mated_sim has {mated.shape[0]} rows but there are {pl.size} mated probe labels"
        )
    if pl.size == 0:
        raise ValueError("no mated probes: FNIR is undefined")
    if nonmated_probe_labels is not None:
        nl = _label_array(nonmated_probe_labels, "nonmated_probe_labels")
        if nl.size != nonmated.shape[0]:
            raise ValueError("nonmated_probe_labels must have one label per nonmated_sim row")
        enrolled = np.isin(nl, gl)
        if enrolled.any():
            raise ValueError(
                f"{int(enrolled.sum())} non-mated probe(s) have a mate in the gallery "
                f"(first label {nl[enrolled][0]!r})"
            )
    if gl.size == 0:
        raise ValueError("empty gallery")
    top_nonmated = nonmated.max(axis=1) if nonmated.shape[0] else np.empty(0, dtype=np.float64)
    n_nonmated = int(top_nonmated.size)
    if n_nonmated == 0 or _allowed_errors(n_nonmated, fpir) < 1:
        return None
    threshold = threshold_for_far(top_nonmated, fpir)
    if threshold is None:  # pragma: no cover - guarded above
        return None
    ranks, best = _mate_ranks(mated, pl, gl)
    hit = (ranks <= int(rank)) & (best >= threshold)
    return OpenSetPoint(
        fpir_target=fpir,
        fpir=float(np.mean(top_nonmated >= threshold)),
        fnir=float(1.0 - np.mean(hit)),
        threshold=threshold,
        rank=int(rank),
        n_mated=int(pl.size),
        n_nonmated=n_nonmated,
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
