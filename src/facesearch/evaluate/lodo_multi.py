"""Choosing an N-recognizer fusion by leave-one-dataset-out: :mod:`facesearch.evaluate.lodo`
generalised from two recognizers to any number (:class:`facesearch.engine.fusion.MultiFusion`).

The procedure is lodo's, member for member:

* Every labelled set is a :class:`MultiScoredSet`: per pair, each recognizer's cosine (an
  (n, N) matrix, columns in member order, the first the primary), the label, a fold id and a
  ``group`` (sets sharing photos share one).
* A *candidate* (:class:`MultiCandidate`) is a normalisation and a weight vector on the simplex;
  :func:`simplex_grid` makes them at step 0.1 (coarser when the count would pass
  ``max_candidates``: the step used is recorded), every point with at least two members of
  non-zero weight (a single recognizer alone is not a fusion: it is what a fusion must beat),
  fusions of fewer members first, then the primary's weight from high to low. Impostor
  statistics are fitted on the training sets only (:func:`impostor_statistics`, each set counting
  once, as lodo's).
* :func:`select`: among the candidates no worse than the best single recognizer on the most
  training sets, the highest mean 10-fold accuracy; ties to the lower mean EER, then the earlier
  candidate.
* :func:`leave_one_out` chooses on all other sets (``by_group``: outside the held-out set's group)
  and scores the held-out set with the choice and with each recognizer alone; :func:`accept`
  accepts only if on every held-out set the fusion is at least as accurate as the best single
  recognizer.
* With a single labelled set there is nothing to leave out: :func:`kfold_parts` splits it into
  parts by its folds (each part keeps two or more folds) and the parts stand in for sets. That is
  k-fold within one set, not leave-one-dataset-out; the record says so
  (:func:`choose`).

A pair missing any member's cosine is rejected at every threshold (as in lodo and ``facesearch
eval``). With two members and lodo's candidates (:func:`from_lodo_candidates`) the choice is
lodo's (tests/evaluate/test_lodo_multi.py checks it).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from facesearch.engine.fusion import Member, MultiFusion
from facesearch.evaluate.lodo import (
    EPS,
    FusionCandidate,
    LodoDecision,
    PairedTest,
    ScoredSet,
    SetScore,
    correct_decisions,
    score_set,
)
from facesearch.evaluate.metrics import kfold_verification_accuracy

#: grid steps tried in turn (as 1/K) until the candidates fit ``max_candidates``
GRID_DIVISIONS = (10, 8, 5, 4, 2)
MAX_CANDIDATES = 400


@dataclass(frozen=True)
class MultiScoredSet:
    """The pairs of one labelled set, scored by every member."""

    name: str
    scores: np.ndarray  # (n, N) cosines, NaN where a side has no face (or no vector)
    labels: np.ndarray  # (n,) bool
    folds: np.ndarray  # (n,) int (at least 2 distinct)
    group: str = ""
    impostor_scores: np.ndarray | None = None  # (m, N) impostor cosines for the statistics

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.scores.ndim != 2 or self.scores.shape[0] != n:
            raise ValueError(f"{self.name}: scores must be (n={n}, members)")
        if len(self.folds) != n:
            raise ValueError(f"{self.name}: folds has {len(self.folds)} pairs, not {n}")
        if np.unique(self.folds).size < 2:
            raise ValueError(f"{self.name}: needs at least two folds")

    @property
    def key(self) -> str:
        return self.group or self.name

    @property
    def n_members(self) -> int:
        return int(self.scores.shape[1])

    def impostors(self) -> np.ndarray:
        if self.impostor_scores is not None:
            return self.impostor_scores
        ok = ~self.labels & np.isfinite(self.scores).all(axis=1)
        return self.scores[ok]

    @classmethod
    def from_pair_set(cls, s: ScoredSet) -> MultiScoredSet:
        """A two-recognizer :class:`~facesearch.evaluate.lodo.ScoredSet` as a 2-member set."""
        imp = None
        if s.impostor_primary is not None and s.impostor_secondary is not None:
            imp = np.column_stack([s.impostor_primary, s.impostor_secondary])
        return cls(
            s.name, np.column_stack([s.primary, s.secondary]), s.labels, s.folds, s.group, imp
        )


@dataclass(frozen=True)
class MultiCandidate:
    """A normalisation and one weight per member (summing to 1)."""

    normalisation: str
    weights: tuple[float, ...]

    @property
    def label(self) -> str:
        return f"{self.normalisation}-norm, weights {', '.join(f'{w:g}' for w in self.weights)}"

    def fusion(self, models: Sequence[str], stats: Sequence[tuple[float, float]]) -> MultiFusion:
        members = tuple(
            Member(m, mean, std, w)
            for m, (mean, std), w in zip(models, stats, self.weights, strict=True)
        )
        return MultiFusion(members, self.normalisation)


def simplex_points(n_members: int, divisions: int) -> list[tuple[float, ...]]:
    """Weight vectors with coordinates in steps of 1/divisions, two or more non-zero; fewer
    non-zero members first, then the primary's weight (then the next member's ...) high to
    low."""
    points = [
        c
        for c in itertools.product(range(divisions + 1), repeat=n_members)
        if sum(c) == divisions and sum(1 for x in c if x) >= 2
    ]
    points.sort(key=lambda c: (sum(1 for x in c if x), tuple(-x for x in c)))
    return [tuple(round(x / divisions, 10) for x in c) for c in points]


def simplex_grid(
    n_members: int,
    normalisations: Sequence[str] = ("z", "unit"),
    max_candidates: int = MAX_CANDIDATES,
) -> tuple[list[MultiCandidate], float]:
    """The candidates (every normalisation, at the finest step of :data:`GRID_DIVISIONS`
    whose count fits ``max_candidates``) and the step used."""
    if n_members < 2:
        raise ValueError("a fusion needs at least two members")
    for k in GRID_DIVISIONS:
        points = simplex_points(n_members, k)
        if len(points) * len(normalisations) <= max_candidates or k == GRID_DIVISIONS[-1]:
            return [MultiCandidate(n, p) for n in normalisations for p in points], 1.0 / k
    raise AssertionError("unreachable")


def from_lodo_candidates(candidates: Sequence[FusionCandidate]) -> list[MultiCandidate]:
    """lodo's constant-weight two-recognizer candidates as 2-member ones (same order)."""
    out = []
    for c in candidates:
        if c.profile_weight is not None:
            raise ValueError("pose-dependent candidates have no N-member form")
        out.append(MultiCandidate(c.normalisation, (1.0 - c.weight, c.weight)))
    return out


def impostor_statistics(sets: Sequence[MultiScoredSet]) -> list[tuple[float, float]]:
    """Each member's impostor mean and standard deviation, each set counting once (lodo's
    rule: the mean of the sets' means; the root of the mean of their second moments about it)."""
    if not sets:
        raise ValueError("no training sets")
    out = []
    for j in range(sets[0].n_members):
        means, kept = [], []
        for s in sets:
            x = np.asarray(s.impostors()[:, j], np.float64)
            x = x[np.isfinite(x)]
            if x.size:
                means.append(float(x.mean()))
                kept.append(x)
        m = float(np.mean(means))
        var = float(np.mean([np.mean((x - m) ** 2) for x in kept]))
        out.append((m, float(np.sqrt(var))))
    return out


def fused_scores(fusion: MultiFusion, s: MultiScoredSet) -> np.ndarray:
    """Fused scores of the set's pairs; NaN (rejected) where any member's cosine is missing."""
    ok = np.isfinite(s.scores).all(axis=1)
    out = np.full(len(s.labels), np.nan)
    out[ok] = fusion.fuse_complete(s.scores[ok])
    return out


def _kfold_mean(scores: np.ndarray, s: MultiScoredSet) -> float:
    x = np.asarray(scores, np.float64).copy()
    x[~np.isfinite(x)] = -np.inf
    return kfold_verification_accuracy(x, s.labels, s.folds).mean


def single_scores(s: MultiScoredSet, models: Sequence[str]) -> dict[str, SetScore]:
    return {m: score_set(s.scores[:, j], s) for j, m in enumerate(models)}


@dataclass(frozen=True)
class MultiSelection:
    candidate: MultiCandidate
    fusion: MultiFusion
    trained_on: tuple[str, ...]
    mean_accuracy: float
    per_set: dict[str, SetScore]
    constrained: bool  # no worse than the best single recognizer on every training set
    n_candidates: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate.label,
            "fusion": self.fusion.to_dict(),
            "trained_on": list(self.trained_on),
            "mean_accuracy": self.mean_accuracy,
            "per_set": {k: vars(v) for k, v in self.per_set.items()},
            "no_worse_than_single_on_every_training_set": self.constrained,
            "n_candidates": self.n_candidates,
        }


def select(
    train: Sequence[MultiScoredSet],
    candidates: Sequence[MultiCandidate],
    models: Sequence[str],
    singles: dict[str, dict[str, SetScore]] | None = None,
) -> MultiSelection:
    """The candidate chosen on ``train`` (lodo's rule; see the module's docstring)."""
    if not train or not candidates:
        raise ValueError("select needs training sets and candidates")
    stats = impostor_statistics(train)
    singles = singles or {}
    best_single = {
        s.name: max(v.accuracy for v in (singles.get(s.name) or single_scores(s, models)).values())
        for s in train
    }
    rows = []
    for i, cand in enumerate(candidates):
        fusion = cand.fusion(models, stats)
        accs = {s.name: _kfold_mean(fused_scores(fusion, s), s) for s in train}
        no_worse = sum(accs[n] >= best_single[n] - EPS for n in accs)
        rows.append((no_worse, float(np.mean(list(accs.values()))), i, fusion))
    most = max(r[0] for r in rows)
    feasible = [r for r in rows if r[0] == most]
    top = max(r[1] for r in feasible)
    tied = [r for r in feasible if r[1] >= top - EPS]
    best_row, best_eer = tied[0], math.inf
    for r in tied:
        eers = [score_set(fused_scores(r[3], s), s).eer for s in train]
        mean_eer = float(np.nanmean(eers)) if np.isfinite(eers).any() else math.inf
        if mean_eer < best_eer - EPS:
            best_row, best_eer = r, mean_eer
    no_worse, mean_acc, i, fusion = best_row
    per = {s.name: score_set(fused_scores(fusion, s), s) for s in train}
    return MultiSelection(
        candidate=candidates[i],
        fusion=fusion,
        trained_on=tuple(s.name for s in train),
        mean_accuracy=mean_acc,
        per_set=per,
        constrained=no_worse == len(train),
        n_candidates=len(candidates),
    )


@dataclass(frozen=True)
class MultiHeldOut:
    name: str
    selection: MultiSelection
    fused: SetScore
    singles: dict[str, SetScore]  # each member alone on the held-out set
    against_best_single: PairedTest

    @property
    def best_single_name(self) -> str:
        return max(self.singles, key=lambda k: self.singles[k].accuracy)

    @property
    def best_single(self) -> float:
        return self.singles[self.best_single_name].accuracy

    @property
    def no_worse(self) -> bool:
        return self.fused.accuracy >= self.best_single - EPS

    def to_dict(self) -> dict[str, Any]:
        return {
            "held_out": self.name,
            "chosen": self.selection.candidate.label,
            "fusion": self.selection.fusion.to_dict(),
            "trained_on": list(self.selection.trained_on),
            "fused": vars(self.fused),
            "singles": {k: vars(v) for k, v in self.singles.items()},
            "best_single": self.best_single_name,
            "no_worse_than_best_single": self.no_worse,
            "paired_test_against_best_single": vars(self.against_best_single),
        }


def leave_one_out(
    sets: Sequence[MultiScoredSet],
    candidates: Sequence[MultiCandidate],
    models: Sequence[str],
    *,
    by_group: bool = False,
) -> list[MultiHeldOut]:
    """For each set: choose on the others, score it with the choice and each member alone."""
    if len(sets) < 2:
        raise ValueError("leave-one-out needs two or more sets (kfold_parts splits one)")
    singles = {s.name: single_scores(s, models) for s in sets}
    memo: dict[tuple[str, ...], MultiSelection] = {}
    out = []
    for held in sets:
        train = [s for s in sets if (s.key != held.key if by_group else s.name != held.name)]
        if not train:
            raise ValueError(f"no training sets outside {held.name}'s group")
        names = tuple(s.name for s in train)
        if names not in memo:
            memo[names] = select(train, candidates, models, singles)
        sel = memo[names]
        scores = fused_scores(sel.fusion, held)
        mine = singles[held.name]
        best = max(range(len(models)), key=lambda j: mine[models[j]].accuracy)
        test = PairedTest.of(
            correct_decisions(scores, held),
            correct_decisions(held.scores[:, best], held),
        )
        out.append(MultiHeldOut(held.name, sel, score_set(scores, held), mine, test))
    return out


def accept(results: Sequence[MultiHeldOut]) -> LodoDecision:
    """Accepted only if on every held-out set the fusion is at least as accurate as the best
    single recognizer."""
    failures = [r.name for r in results if not r.no_worse]
    return LodoDecision(not failures, failures)


def kfold_parts(s: MultiScoredSet, k: int = 5) -> list[MultiScoredSet]:
    """One set split into up to ``k`` parts by its folds (round robin over the sorted fold
    ids), each keeping two or more folds, to stand in for sets when only one is given. Each
    part's impostor statistics come from its own impostor pairs."""
    folds = np.unique(s.folds)
    k = min(k, folds.size // 2)
    if k < 2:
        raise ValueError(f"{s.name}: {folds.size} folds cannot make two parts of two folds")
    parts = []
    for j in range(k):
        mine = np.isin(s.folds, folds[j::k])
        parts.append(
            replace(
                s,
                name=f"{s.name} part {j + 1}/{k}",
                scores=s.scores[mine],
                labels=s.labels[mine],
                folds=s.folds[mine],
                group="",
                impostor_scores=None,
            )
        )
    return parts


@dataclass(frozen=True)
class MultiLodo:
    """The whole choice: how it was made, the held-out figures, and the fusion chosen on all."""

    models: tuple[str, ...]
    method: str  # "leave-one-dataset-out" | "k-fold within one set"
    note: str
    step: float | None  # None: candidates given by the caller
    held_out: list[MultiHeldOut]
    decision: LodoDecision
    final: MultiSelection  # chosen on every set (or part)

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "method": self.method,
            "note": self.note,
            "weight_step": self.step,
            "n_candidates": self.final.n_candidates,
            "held_out": [h.to_dict() for h in self.held_out],
            "decision": self.decision.to_dict(),
            "chosen_on_all": self.final.to_dict(),
        }


def choose(
    sets: Sequence[MultiScoredSet],
    models: Sequence[str],
    *,
    candidates: Sequence[MultiCandidate] | None = None,
    max_candidates: int = MAX_CANDIDATES,
    by_group: bool = True,
    k: int = 5,
) -> MultiLodo:
    """Leave-one-dataset-out over ``sets`` (k-fold parts of the one set when only one is
    given), the acceptance decision, and the fusion chosen the same way on all of them."""
    if not sets:
        raise ValueError("no labelled sets")
    if any(s.n_members != len(models) for s in sets):
        raise ValueError(f"every set must hold one column per member ({len(models)})")
    if candidates is None:
        candidates, step = simplex_grid(len(models), max_candidates=max_candidates)
    else:
        step = None
    groups = {s.key for s in sets}
    if len(sets) == 1 or (by_group and len(groups) == 1):
        pool = [p for s in sets for p in kfold_parts(s, k)] if len(sets) == 1 else list(sets)
        if len(sets) > 1:  # several sets of one group: leave each set out, not its group
            by_group = False
        method = "k-fold within one set" if len(sets) == 1 else "leave-one-set-out (one group)"
        note = (
            f"one labelled set ({sets[0].name}): split by its folds into {len(pool)} parts, each "
            "held out in turn; this is k-fold within one set, not leave-one-dataset-out, so the "
            "held-out figures say less about other kinds of photos"
            if len(sets) == 1
            else "every set shares photos with the others: each set held out in turn, which "
            "flatters the held-out figures"
        )
    else:
        pool, method = list(sets), "leave-one-dataset-out"
        note = (
            f"{len(sets)} labelled sets"
            + (" (sets sharing photos left out together)" if by_group else "")
            + "; impostor statistics from the training sets only"
        )
    held = leave_one_out(pool, candidates, models, by_group=by_group)
    final = select(pool, candidates, models)
    return MultiLodo(tuple(models), method, note, step, held, accept(held), final)
