"""Choosing the score fusion by leave-one-dataset-out (LODO).

A fusion (:class:`facesearch.engine.embed.ScoreFusion`) has a weight, a normalisation, impostor
statistics and, optionally, a pose term. Choosing them on the set that is then scored
flatters the figures, and the sets held here differ a lot (press photos, frontal and
profile; small grey studio photos; phone photos), so the choice is made and checked like
this:

* Every labelled set is a :class:`ScoredSet`: per pair, both recognizers' cosines, the label,
  a fold id (the protocol's folds, or seeded random ones) and the pair's pose term. Sets that
  share photos carry the same ``group`` (CFP-FF and CFP-FP share CFP's frontal photos).
* A *candidate* is a way to build a fusion from training sets (:class:`FusionCandidate`: a
  normalisation, a weight and optionally a profile weight); its impostor statistics are
  always fitted on the training sets only (:func:`impostor_statistics`).
* :func:`select` fits every candidate on the training sets and keeps, among the candidates
  that are at least as accurate as the better single recognizer on the most training sets
  (ideally all: ``constrained=True``), the one with the highest mean 10-fold accuracy over
  them (each set counts once, whatever its size). Ties go to the lower mean equal error
  rate, then to the simpler candidate (earlier in the list).
* :func:`leave_one_out` runs :func:`select` once per held-out set on all other sets (with
  ``by_group=True``, on all sets outside the held-out set's group), then scores the held-out
  set with the chosen fusion, next to SFace alone and the second recognizer alone.
* :func:`accept` applies the rule for shipping a fused default: on every held-out set the
  LODO choice is at least as accurate as the better single recognizer.

Accuracy is the 10-fold protocol of :func:`facesearch.evaluate.metrics.kfold_verification_accuracy`
(thresholds chosen on the other nine folds); a pair with a side without a face is rejected at
every threshold, as everywhere in ``facesearch eval``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from facesearch.engine.embed import ScoreFusion
from facesearch.evaluate.metrics import eer, kfold_verification_accuracy

SFACE, SECOND = "sface", "second"
EPS = 1e-9


class LabelledPairs(Protocol):
    """What scoring a set's pairs needs: their labels and fold ids (a :class:`ScoredSet`, or
    ``lodo_multi.MultiScoredSet``)."""

    @property
    def labels(self) -> np.ndarray: ...

    @property
    def folds(self) -> np.ndarray: ...


@dataclass(frozen=True)
class ScoredSet:
    """The pairs of one labelled set, scored by both recognizers."""

    name: str
    primary: np.ndarray  # (n,) SFace cosines, NaN where a side has no face
    secondary: np.ndarray  # (n,) second-model cosines, NaN where a side has none
    labels: np.ndarray  # (n,) bool, same person
    folds: np.ndarray  # (n,) int fold ids (at least 2 distinct)
    pose: np.ndarray  # (n,) pose term of the pair (embed.pair_pose), NaN when unknown
    group: str = ""  # sets sharing photos share a group; "" = the set's own name
    impostor_primary: np.ndarray | None = None  # impostor cosines for the statistics
    impostor_secondary: np.ndarray | None = None  # (default: the set's impostor pairs)

    def __post_init__(self) -> None:
        n = len(self.labels)
        for name in ("primary", "secondary", "folds", "pose"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"{self.name}: {name} has {len(getattr(self, name))} pairs, not {n}"
                )
        if np.unique(self.folds).size < 2:
            raise ValueError(f"{self.name}: needs at least two folds")

    @property
    def key(self) -> str:
        return self.group or self.name

    def impostors(self) -> tuple[np.ndarray, np.ndarray]:
        if self.impostor_primary is not None and self.impostor_secondary is not None:
            return self.impostor_primary, self.impostor_secondary
        ok = ~self.labels & np.isfinite(self.primary) & np.isfinite(self.secondary)
        return self.primary[ok], self.secondary[ok]


@dataclass(frozen=True)
class FusionCandidate:
    """How to build a fusion from training data: everything but the impostor statistics."""

    normalisation: str
    weight: float
    profile_weight: float | None = None
    pose_start: float = 0.15
    pose_full: float = 0.45

    @property
    def label(self) -> str:
        pose = (
            ""
            if self.profile_weight is None
            else f", profile weight {self.profile_weight:g} (pose {self.pose_start:g}"
            f"-{self.pose_full:g})"
        )
        return f"{self.normalisation}-norm, weight {self.weight:g}{pose}"

    def fusion(self, stats: tuple[float, float, float, float]) -> ScoreFusion:
        m1, s1, m2, s2 = stats
        options: dict[str, Any] = {"normalisation": self.normalisation}
        if self.profile_weight is not None:
            options.update(
                profile_weight=self.profile_weight,
                pose_start=self.pose_start,
                pose_full=self.pose_full,
            )
        return ScoreFusion(self.weight, m1, s1, m2, s2, **options)


def candidate_grid(
    weights: Sequence[float] = tuple(np.round(np.arange(0.05, 1.0, 0.05), 2)),
    normalisations: Sequence[str] = ("z", "unit"),
    profile_weights: Sequence[float] = (),
    pose_ramps: Sequence[tuple[float, float]] = ((0.15, 0.45),),
) -> list[FusionCandidate]:
    """Constant-weight candidates first (simpler), then pose-dependent ones."""
    out = [FusionCandidate(n, float(w)) for n in normalisations for w in weights]
    for n in normalisations:
        for ramp in pose_ramps:
            for w in weights:
                for pw in profile_weights:
                    if abs(pw - w) > EPS:
                        out.append(FusionCandidate(n, float(w), float(pw), *ramp))
    return out


def impostor_statistics(sets: Sequence[ScoredSet]) -> tuple[float, float, float, float]:
    """Each model's impostor mean and standard deviation, each set counting once: the mean
    over sets of their means, and the square root of the mean over sets of their second
    moments about that mean (finite scores only)."""
    if not sets:
        raise ValueError("no training sets")
    out = []
    for model in (0, 1):
        means, seconds = [], []
        for s in sets:
            scores = np.asarray(s.impostors()[model], np.float64)
            scores = scores[np.isfinite(scores)]
            if scores.size:
                means.append(float(scores.mean()))
                seconds.append(scores)
        m = float(np.mean(means))
        var = float(np.mean([np.mean((x - m) ** 2) for x in seconds]))
        out += [m, float(np.sqrt(var))]
    return out[0], out[1], out[2], out[3]


def _with_failures(scores: np.ndarray) -> np.ndarray:
    s = np.asarray(scores, np.float64).copy()
    s[~np.isfinite(s)] = -np.inf
    return s


@dataclass(frozen=True)
class SetScore:
    accuracy: float  # 10-fold mean
    std: float
    eer: float


def correct_decisions(scores: np.ndarray, s: LabelledPairs) -> np.ndarray:
    """Per pair, whether the 10-fold protocol decides it correctly (threshold from the other
    folds)."""
    x = _with_failures(scores)
    k = kfold_verification_accuracy(x, s.labels, s.folds)
    threshold = dict(zip(k.folds.tolist(), k.thresholds.tolist(), strict=True))
    t = np.array([threshold[f] for f in s.folds.tolist()])
    return (x >= t) == s.labels


def _kfold_mean(scores: np.ndarray, s: ScoredSet) -> float:
    return kfold_verification_accuracy(_with_failures(scores), s.labels, s.folds).mean


def score_set(scores: np.ndarray, s: LabelledPairs) -> SetScore:
    """10-fold accuracy (mean, std over folds) and EER of these scores of ``s``'s pairs."""
    x = _with_failures(scores)
    k = kfold_verification_accuracy(x, s.labels, s.folds)
    gen, imp = x[s.labels], x[~s.labels]
    e = eer(gen, imp).eer if gen.size and imp.size else float("nan")
    return SetScore(k.mean, k.std, float(e))


@dataclass(frozen=True)
class PairedTest:
    """Exact McNemar test of two scorings' 10-fold decisions on the same pairs."""

    only_first_right: int
    only_second_right: int
    p_value: float  # two-sided

    @classmethod
    def of(cls, first_right: np.ndarray, second_right: np.ndarray) -> PairedTest:
        b = int(np.sum(first_right & ~second_right))
        c = int(np.sum(~first_right & second_right))
        n, k = b + c, min(b, c)
        if n == 0:
            return cls(b, c, 1.0)
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
        return cls(b, c, min(1.0, 2.0 * tail))


def fused_scores(fusion: ScoreFusion, s: ScoredSet) -> np.ndarray:
    ok = np.isfinite(s.primary) & np.isfinite(s.secondary)
    out = np.full(len(s.labels), np.nan)
    out[ok] = fusion.fuse(s.primary[ok], s.secondary[ok], s.pose[ok])
    return out


def single_scores(s: ScoredSet) -> dict[str, SetScore]:
    return {SFACE: score_set(s.primary, s), SECOND: score_set(s.secondary, s)}


@dataclass(frozen=True)
class Selection:
    candidate: FusionCandidate
    fusion: ScoreFusion
    trained_on: tuple[str, ...]
    mean_accuracy: float  # over the training sets
    per_set: dict[str, SetScore]  # the chosen fusion on each training set
    constrained: bool  # it is at least as accurate as the better single model on each
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
    train: Sequence[ScoredSet],
    candidates: Sequence[FusionCandidate],
    singles: dict[str, dict[str, SetScore]] | None = None,
) -> Selection:
    """The candidate chosen on ``train`` (see the module's docstring for the rule)."""
    if not train or not candidates:
        raise ValueError("select needs training sets and candidates")
    stats = impostor_statistics(train)
    singles = singles or {}
    best_single = {
        s.name: max(v.accuracy for v in (singles.get(s.name) or single_scores(s)).values())
        for s in train
    }
    rows = []
    for i, cand in enumerate(candidates):
        fusion = cand.fusion(stats)
        scores = {s.name: fused_scores(fusion, s) for s in train}
        accs = {s.name: _kfold_mean(scores[s.name], s) for s in train}
        no_worse = sum(accs[n] >= best_single[n] - EPS for n in accs)
        rows.append((no_worse, float(np.mean(list(accs.values()))), i, fusion))
    most = max(r[0] for r in rows)
    feasible = [r for r in rows if r[0] == most]
    top = max(r[1] for r in feasible)
    tied = [r for r in feasible if r[1] >= top - EPS]
    # ties: the lower mean EER (computed only for the tied), then the earlier candidate
    best_row, best_eer = tied[0], math.inf
    for r in tied:
        eers = [score_set(fused_scores(r[3], s), s).eer for s in train]
        mean_eer = float(np.nanmean(eers)) if np.isfinite(eers).any() else math.inf
        if mean_eer < best_eer - EPS:
            best_row, best_eer = r, mean_eer
    no_worse, mean_acc, i, fusion = best_row
    per = {s.name: score_set(fused_scores(fusion, s), s) for s in train}
    key = (no_worse == len(train), mean_acc)
    return Selection(
        candidate=candidates[i],
        fusion=fusion,
        trained_on=tuple(s.name for s in train),
        mean_accuracy=key[1],
        per_set=per,
        constrained=key[0],
        n_candidates=len(candidates),
    )


@dataclass(frozen=True)
class HeldOut:
    name: str
    selection: Selection
    fused: SetScore  # the selection's fusion on the held-out set
    singles: dict[str, SetScore]  # SFace alone, second model alone on it
    against_best_single: PairedTest | None = None  # fused vs the better single, pair by pair

    @property
    def best_single(self) -> float:
        return max(v.accuracy for v in self.singles.values())

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
            "sface": vars(self.singles[SFACE]),
            "second": vars(self.singles[SECOND]),
            "no_worse_than_better_single": self.no_worse,
            "paired_test_against_better_single": None
            if self.against_best_single is None
            else vars(self.against_best_single),
        }


def leave_one_out(
    sets: Sequence[ScoredSet],
    candidates: Sequence[FusionCandidate],
    *,
    by_group: bool = False,
    memo: dict[tuple[str, ...], Selection] | None = None,
) -> list[HeldOut]:
    """For each set: choose on the others (``by_group``: on the sets outside its group), score
    it with the choice and with each recognizer alone. ``memo`` keeps selections by training
    sets, to share them between calls with the same candidates."""
    singles = {s.name: single_scores(s) for s in sets}
    memo = {} if memo is None else memo
    out = []
    for held in sets:
        train = [s for s in sets if (s.key != held.key if by_group else s.name != held.name)]
        names = tuple(s.name for s in train)
        if names not in memo:
            memo[names] = select(train, candidates, singles)
        sel = memo[names]
        scores = fused_scores(sel.fusion, held)
        fused = score_set(scores, held)
        mine = singles[held.name]
        best = held.primary if mine[SFACE].accuracy >= mine[SECOND].accuracy else held.secondary
        test = PairedTest.of(correct_decisions(scores, held), correct_decisions(best, held))
        out.append(HeldOut(held.name, sel, fused, mine, test))
    return out


@dataclass(frozen=True)
class LodoDecision:
    accepted: bool
    failures: list[str] = field(default_factory=list)  # held-out sets where fusion lost

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "held_out_sets_where_fusion_lost": self.failures}


def accept(results: Sequence[HeldOut]) -> LodoDecision:
    """A fused default is accepted only if on every held-out set it is at least as accurate
    as the better of the two recognizers alone."""
    failures = [r.name for r in results if not r.no_worse]
    return LodoDecision(not failures, failures)


# ------------------------------------------------------------------ embedding variants
#
# Whether to embed each face's mirror image too (flip averaging, per recognizer) changes the
# vectors, so every pair's cosines: a *variant* is one such choice, and each labelled set is
# scored once per variant (same pairs, same folds). The variant is chosen by leave-one-dataset-
# out like the weight: on the training sets, each variant's best candidate is found by
# :func:`select`, and the variants are then compared by the same rule (no worse than the best
# single option on the most training sets, then the highest mean accuracy, then the lower mean
# EER, then the earlier, simpler variant). The single options a fusion must not lose to are
# every recognizer alone in every variant (SFace plain or flip-averaged, dlib plain or
# flip-averaged): a flip that helps SFace alone must not be credited to the fusion.


@dataclass(frozen=True)
class VariantHeldOut:
    name: str
    variant: str
    selection: Selection
    fused: SetScore
    singles: dict[str, SetScore]  # every single option ("sface", "sface+flip", ...)
    best_single_name: str
    against_best_single: PairedTest

    @property
    def best_single(self) -> float:
        return self.singles[self.best_single_name].accuracy

    @property
    def no_worse(self) -> bool:
        return self.fused.accuracy >= self.best_single - EPS

    def to_dict(self) -> dict[str, Any]:
        return {
            "held_out": self.name,
            "variant": self.variant,
            "chosen": self.selection.candidate.label,
            "fusion": self.selection.fusion.to_dict(),
            "trained_on": list(self.selection.trained_on),
            "fused": vars(self.fused),
            "singles": {k: vars(v) for k, v in self.singles.items()},
            "best_single": self.best_single_name,
            "no_worse_than_better_single": self.no_worse,
            "paired_test_against_better_single": vars(self.against_best_single),
        }


def single_options(variants: dict[str, Sequence[ScoredSet]]) -> dict[str, dict[str, np.ndarray]]:
    """Per set name, each distinct single-recognizer scoring over the variants, keyed
    ``sface`` / ``second`` plus the variant's flag for that recognizer (``+flip``)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for variant, sets in variants.items():
        flips = variant_flips(variant)
        for s in sets:
            mine = out.setdefault(s.name, {})
            mine[SFACE + ("+flip" if flips[0] else "")] = s.primary
            mine[SECOND + ("+flip" if flips[1] else "")] = s.secondary
    return out


def variant_flips(variant: str) -> tuple[bool, bool]:
    """(flip SFace, flip the second recognizer) of a variant name such as ``sface+flip``,
    ``second+flip``, ``both+flip`` or ``plain``."""
    names = {"plain": (False, False), "sface+flip": (True, False)}
    names |= {"second+flip": (False, True), "both+flip": (True, True)}
    if variant not in names:
        raise ValueError(f"unknown embedding variant {variant!r}: one of {sorted(names)}")
    return names[variant]


def _check_variants(variants: dict[str, Sequence[ScoredSet]]) -> list[str]:
    if not variants:
        raise ValueError("no variants")
    first = next(iter(variants.values()))
    names = [s.name for s in first]
    for v, sets in variants.items():
        if [s.name for s in sets] != names:
            raise ValueError(f"variant {v}: not the same sets as the others")
        for a, b in zip(first, sets, strict=True):
            if not (np.array_equal(a.labels, b.labels) and np.array_equal(a.folds, b.folds)):
                raise ValueError(f"variant {v}: set {a.name} has other pairs or folds")
    return names


def select_variant(
    variants: dict[str, Sequence[ScoredSet]],
    train_names: Sequence[str],
    candidates: Sequence[FusionCandidate],
    singles: dict[str, dict[str, SetScore]],
) -> tuple[str, Selection]:
    """The variant and candidate chosen on the training sets ``train_names``."""
    best_single = {n: max(v.accuracy for v in singles[n].values()) for n in train_names}
    rows = []
    for order, (variant, sets) in enumerate(variants.items()):
        train = [s for s in sets if s.name in train_names]
        sel = select(train, candidates, {n: singles[n] for n in train_names})
        no_worse = sum(sel.per_set[n].accuracy >= best_single[n] - EPS for n in train_names)
        eers = [sel.per_set[n].eer for n in train_names]
        mean_eer = float(np.nanmean(eers)) if np.isfinite(eers).any() else math.inf
        rows.append(((no_worse, sel.mean_accuracy, -mean_eer, -order), variant, sel))
    # compare accuracies with a tolerance, as select does
    rows.sort(key=lambda r: r[0], reverse=True)
    best = rows[0]
    for r in rows[1:]:
        same = r[0][0] == best[0][0] and abs(r[0][1] - best[0][1]) <= EPS
        lower_eer = r[0][2] > best[0][2] + EPS
        earlier = abs(r[0][2] - best[0][2]) <= EPS and r[0][3] > best[0][3]
        if same and (lower_eer or earlier):
            best = r
    return best[1], best[2]


def leave_one_out_variants(
    variants: dict[str, Sequence[ScoredSet]],
    candidates: Sequence[FusionCandidate],
    *,
    by_group: bool = False,
    memo: dict[tuple[str, ...], tuple[str, Selection]] | None = None,
) -> list[VariantHeldOut]:
    """:func:`leave_one_out` where the embedding variant is chosen too (on the training sets),
    and the held-out fusion must be no worse than every single option on that set. ``memo``
    keeps choices by training sets, to share them between calls with the same candidates."""
    names = _check_variants(variants)
    options = single_options(variants)
    first = {s.name: s for s in next(iter(variants.values()))}
    singles = {
        n: {label: score_set(scores, first[n]) for label, scores in options[n].items()}
        for n in names
    }
    out = []
    for held_name in names:
        held_key = first[held_name].key
        train = [n for n in names if (first[n].key != held_key if by_group else n != held_name)]
        if memo is None or tuple(train) not in memo:
            chosen = select_variant(variants, train, candidates, singles)
            if memo is not None:
                memo[tuple(train)] = chosen
        variant, sel = memo[tuple(train)] if memo is not None else chosen
        held = next(s for s in variants[variant] if s.name == held_name)
        scores = fused_scores(sel.fusion, held)
        fused = score_set(scores, held)
        mine = singles[held_name]
        best_name = max(mine, key=lambda k: mine[k].accuracy)
        test = PairedTest.of(
            correct_decisions(scores, held), correct_decisions(options[held_name][best_name], held)
        )
        out.append(VariantHeldOut(held_name, variant, sel, fused, mine, best_name, test))
    return out


def accept_variants(results: Sequence[VariantHeldOut]) -> LodoDecision:
    """:func:`accept` for variant choices: no worse than every single option on every set."""
    failures = [r.name for r in results if not r.no_worse]
    return LodoDecision(not failures, failures)
