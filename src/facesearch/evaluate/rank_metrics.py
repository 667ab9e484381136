"""Identification (1:N) figures: rank-k accuracy (closed set) and FNIR at FPIR (open set).

Conventions: :mod:`facesearch.evaluate.metrics`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from facesearch.evaluate.metric_inputs import (
    FloatArray,
    _allowed_errors,
    _check_rate,
    _frozen,
)
from facesearch.evaluate.metrics import (
    threshold_for_far,
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
