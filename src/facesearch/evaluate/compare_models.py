"""Recognizers side by side on the same labelled photos: the current model, each candidate,
and the fusion of the current model with each candidate (``facesearch eval --compare``).

Every model's figures come from :func:`facesearch.evaluate.runner.evaluate` on its own
embedding pass (the function plain ``facesearch eval`` runs, same seed, so the current model's
figures are exactly plain ``eval``'s); this module adds what a comparison needs on top:

* **95% confidence intervals**, Wilson score intervals on the proportion each figure is: the
  10-fold accuracy over its balanced pairs, TAR over the genuine pairs, rank-1 over the
  probes. Wilson intervals treat the pairs (probes) as independent trials: photos of one
  person appear in many pairs, so they understate the uncertainty when a few people
  contribute most pairs, and they leave out the spread of the threshold itself (at FAR 1e-4,
  set by a handful of impostor scores). Read them as a lower bound on the uncertainty.
* **Rank-1 at gallery sizes**: each mated probe (leave-one-out, as ``eval``'s closed set)
  against its mates and ``G - mates`` other people's photos drawn at random (seeded; the same
  draws for every model, so the models meet the same galleries), for G = 10, 100, 1000,
  10 000 photos below the set's size, and the whole set ("all", ``eval``'s closed-set
  rank-1). Ties count against the probe.
* **The fusion** of the current model's primary recognizer (its own vectors, without any
  fusion it has) with a candidate, a :class:`~facesearch.engine.embed.ScoreFusion` fitted with
  :meth:`ScoreFusion.fit` on the impostor scores of these photos, its weight and
  normalisation chosen by :func:`facesearch.evaluate.lodo.select` over identity-disjoint
  parts of the set (an agency usually has one labelled set, so its people are split into
  parts that play the data sets' role). The weight is chosen on the same photos the row is
  scored on, so the row flatters the fusion; :func:`facesearch.evaluate.lodo.leave_one_out`
  over the parts (weight chosen on the others, scored on the held-out part) is reported with
  it, and is the honest estimate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facesearch.engine.embed import ScoreFusion
from facesearch.evaluate.embedding import NO_FACE, EmbeddingSet
from facesearch.evaluate.identification import (
    PreparedRecords,
    genuine_pairs,
    impostor_pairs,
    prepare_records,
)
from facesearch.evaluate.lodo import HeldOut, ScoredSet, candidate_grid, leave_one_out, select
from facesearch.evaluate.metrics import roc_curve
from facesearch.evaluate.reports import EvalReport
from facesearch.evaluate.runner import Dataset, pair_scores, thin_curve
from facesearch.evaluate.verification import DEFAULT_FOLDS, _dot_rows, _random_folds

GALLERY_SIZES = (10, 100, 1000, 10_000)
COMPARED_FARS = (1e-3, 1e-4)
Z95 = 1.959963984540054
FUSION_PARTS = 5
PART_IMPOSTORS = 20_000  # impostor pairs per part for choosing the weight (seeded sample)
CURRENT, CANDIDATE, FUSION = "current", "candidate", "fusion"
CI_METHOD = (
    "95% Wilson score intervals over the pairs (accuracy, TAR) or probes (rank-1), treated "
    "as independent: they understate the uncertainty when few people give many pairs, and "
    "leave out the spread of the threshold itself"
)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``successes`` out of ``n`` (NaN, NaN when ``n == 0``)."""
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class Figure:
    """A proportion with its 95% interval and the number of trials it rests on."""

    value: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, value: float, n: int) -> Figure:
        low, high = wilson(round(value * n), n)
        return cls(float(value), low, high, int(n))

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci95": [self.low, self.high], "n": self.n}

    def shown(self) -> str:
        return f"{100 * self.value:.2f}% [{100 * self.low:.1f}, {100 * self.high:.1f}]"


@dataclass
class ModelRow:
    """One column of the comparison: a model (or fusion), its report and its figures."""

    label: str
    role: str  # CURRENT, CANDIDATE or FUSION
    model_key: str
    report: EvalReport
    figures: dict[str, Figure | None]
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)
    fusion: dict[str, Any] | None = None  # how a fusion row's weight was chosen

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "role": self.role,
            "model_key": self.model_key,
            "figures": {k: None if v is None else v.to_dict() for k, v in self.figures.items()},
            "counts": self.counts,
            "notes": self.notes,
            "fusion": self.fusion,
            "report": self.report.to_dict(),
        }


@dataclass
class Comparison:
    dataset: Dataset
    rows: list[ModelRow]
    gallery_sizes: list[str]
    notes: list[str] = field(default_factory=list)

    def figure_names(self) -> list[str]:
        names = ["accuracy_10fold", *(f"tar_at_far_{far:.0e}" for far in COMPARED_FARS)]
        return names + [f"rank1_gallery_{g}" for g in self.gallery_sizes]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": {"protocol": self.dataset.kind, "source": str(self.dataset.source)},
            "confidence_intervals": CI_METHOD,
            "gallery_sizes": self.gallery_sizes,
            "notes": self.notes,
            "models": [r.to_dict() for r in self.rows],
        }


# ------------------------------------------------------------------------------ figures


def rank1_at_gallery_sizes(
    prepared: PreparedRecords, sizes: Sequence[int], *, seed: int
) -> dict[int, Figure]:
    """Rank-1 of each mated probe (leave-one-out) against its mates and ``G - mates`` other
    people's photos drawn at random (seeded), for each gallery size ``G`` in ``sizes``."""
    labels = prepared.labels.astype(str)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    probes = np.flatnonzero(counts[inverse] > 1)
    if probes.size == 0 or not sizes:
        return {}
    rng = np.random.default_rng(seed)
    n = labels.size
    out: dict[int, list[int]] = {g: [] for g in sizes}
    for start in range(0, probes.size, 256):
        rows = probes[start : start + 256]
        idx = np.arange(rows.size)
        sim = np.asarray(prepared.similarity(rows, slice(None)), np.float64)
        sim[np.isnan(sim)] = -np.inf
        mated = labels[rows][:, None] == labels[None, :]
        mated[idx, rows] = False
        others = ~mated
        others[idx, rows] = False
        best_mate = np.where(mated, sim, -np.inf).max(axis=1)
        # a random order of the other people's photos per probe: the first k are the gallery
        keys = np.where(others, rng.random((rows.size, n)), np.inf)
        order = np.argsort(keys, axis=1)
        ranked = np.take_along_axis(np.where(others, sim, -np.inf), order, axis=1)
        # best distractor score among the first k of the order, for every k
        running = np.maximum.accumulate(ranked, axis=1)
        n_mates = mated.sum(axis=1)
        n_others = others.sum(axis=1)
        for g in sizes:
            k = np.clip(g - n_mates, 0, n_others)
            top = np.where(k > 0, running[idx, np.maximum(k - 1, 0)], -np.inf)
            hit = np.isfinite(best_mate) & (best_mate > top)
            out[g].append(int(hit.sum()))
    return {g: Figure.of(sum(h) / probes.size, int(probes.size)) for g, h in out.items()}


def report_figures(
    report: EvalReport, *, seed: int, sizes: Sequence[int]
) -> tuple[dict[str, Figure | None], dict[str, int]]:
    """The comparison's figures of one report (and the counts they rest on)."""
    figures: dict[str, Figure | None] = {"accuracy_10fold": None}
    counts: dict[str, int] = {}
    v = report.verification
    for far in COMPARED_FARS:
        figures[f"tar_at_far_{far:.0e}"] = None
    if v is not None:
        counts.update(n_genuine=v.n_genuine, n_impostor=v.n_impostor)
        if v.kfold:
            figures["accuracy_10fold"] = Figure.of(v.kfold["mean"], int(v.kfold["n_pairs"]))
        for point in v.tar_at_far:
            key = f"tar_at_far_{point['far']:.0e}"
            if key in figures and point["supported"]:
                figures[key] = Figure.of(point["tar"], v.n_genuine)
    enrolled = report.embeddings
    counts["n_images"] = len(report.results)
    counts["n_no_face"] = sum(1 for r in report.results if not r.enrolled)
    if report.dataset.records:
        prepared = prepare_records(report.dataset.records, enrolled)
        counts["n_identities"] = len(set(prepared.labels.tolist()))
        ranks = rank1_at_gallery_sizes(prepared, sizes, seed=seed)
        for g, fig in ranks.items():
            figures[f"rank1_gallery_{g}"] = fig
        closed = report.identification.closed_set if report.identification else None
        if closed:
            counts["n_probes"] = int(closed["n_probes"])
            figures["rank1_gallery_all"] = Figure.of(closed["rank_1"], int(closed["n_probes"]))
    return figures, counts


def gallery_sizes(dataset: Dataset) -> tuple[list[int], list[str]]:
    """The sampled gallery sizes below the set's size, and every size's name ("all" last)."""
    if not dataset.records:
        return [], []
    n = len(dataset.records)
    sampled = [g for g in GALLERY_SIZES if g < n - 1]
    return sampled, [*(str(g) for g in sampled), "all"]


def model_row(
    label: str, role: str, report: EvalReport, *, seed: int, sizes: Sequence[int]
) -> ModelRow:
    figures, counts = report_figures(report, seed=seed, sizes=sizes)
    return ModelRow(label, role, report.embeddings.model_key, report, figures, counts)


# ------------------------------------------------------------------------------- fusion


def single(embeddings: EmbeddingSet) -> EmbeddingSet:
    """An embedding pass scored with its primary recognizer alone (no fusion)."""
    return dataclasses.replace(embeddings, fusion=None)


def paired_embeddings(
    current: EmbeddingSet, candidate: EmbeddingSet, fusion: ScoreFusion | None
) -> EmbeddingSet:
    """The current model's primary vectors with the candidate's as the second model's, scored
    with ``fusion``; a photo where either found no face has none here."""
    results = {}
    for path, mine in current.results.items():
        other = candidate.results.get(path)
        theirs = None if other is None else other.embedding
        if mine.embedding is None or theirs is None:
            error = mine.error or (other.error if other is not None else "") or NO_FACE
            results[path] = dataclasses.replace(mine, embedding=None, second=None, error=error)
        else:
            results[path] = dataclasses.replace(mine, second=theirs)
    return EmbeddingSet(
        results=results,
        model_key=f"{current.model_key}+{candidate.model_key}",
        variant="fusion",
        dim=current.dim,
        seconds=current.seconds + candidate.seconds,
        workers=current.workers,
        fusion=fusion,
        face_rule=current.face_rule,
    )


@dataclass(frozen=True)
class FusionChoice:
    fusion: ScoreFusion
    rule: str
    parts: int
    held_out: list[HeldOut]

    def to_dict(self) -> dict[str, Any]:
        return {
            "fusion": self.fusion.to_dict(),
            "rule": self.rule,
            "parts": self.parts,
            "held_out_parts": [h.to_dict() for h in self.held_out],
        }

    @property
    def note(self) -> str:
        if not self.held_out:
            return self.rule
        fused = float(np.mean([h.fused.accuracy for h in self.held_out]))
        best = float(np.mean([h.best_single for h in self.held_out]))
        no_worse = sum(1 for h in self.held_out if h.no_worse)
        return (
            f"{self.rule}; leave-one-part-out (weight chosen on the other parts, scored on the "
            f"held-out part): fused 10-fold accuracy {100 * fused:.2f}% against "
            f"{100 * best:.2f}% for the better single model, no worse on {no_worse} of "
            f"{len(self.held_out)} parts"
        )


def _scored_parts(
    dataset: Dataset, paired: EmbeddingSet, *, parts: int, seed: int
) -> tuple[list[ScoredSet], np.ndarray, np.ndarray]:
    """The set cut into identity-disjoint parts (pair protocols: by fold) as scored sets of
    both models' cosines; and all impostor cosines of both models (for the statistics)."""
    rng = np.random.default_rng(seed)
    sets: list[ScoredSet] = []
    if dataset.pairs:
        base = single(paired)
        second = dataclasses.replace(
            base,
            results={
                p: dataclasses.replace(r, embedding=r.second) for p, r in base.results.items()
            },
        )
        pairs = list(dataset.pairs)
        s1, s2 = pair_scores(base, pairs), pair_scores(second, pairs)
        labels = np.array([p.same for p in pairs], bool)
        if all(p.fold is not None for p in pairs):
            part = np.array([p.fold for p in pairs], np.int64) % parts
        else:
            part = rng.permutation(len(pairs)) % parts
        for k in range(parts):
            m = part == k
            if m.sum() >= 2 * DEFAULT_FOLDS and labels[m].any() and (~labels[m]).any():
                folds = _random_folds(int(m.sum()), DEFAULT_FOLDS, rng)
                pose = np.full(int(m.sum()), np.nan)
                sets.append(ScoredSet(f"part {k + 1}", s1[m], s2[m], labels[m], folds, pose))
        return sets, s1[~labels], s2[~labels]
    prepared = prepare_records(dataset.records, single(paired))
    if prepared.second is None:
        raise ValueError("the candidate found no face in any photo")
    ids = np.unique(prepared.labels.astype(str))
    part_of = {i: k % parts for k, i in enumerate(rng.permutation(ids).tolist())}
    part = np.array([part_of[lab] for lab in prepared.labels.astype(str)])
    for k in range(parts):
        rows = np.flatnonzero(part == k)
        labels_k = prepared.labels[rows]
        ga, gb = genuine_pairs(labels_k)
        ia, ib = impostor_pairs(labels_k, PART_IMPOSTORS, rng)
        if ga.size == 0 or ia.size == 0 or ga.size + ia.size < 2 * DEFAULT_FOLDS:
            continue
        a, b = rows[np.concatenate([ga, ia])], rows[np.concatenate([gb, ib])]
        labels = np.concatenate([np.ones(ga.size, bool), np.zeros(ia.size, bool)])
        folds = _random_folds(labels.size, DEFAULT_FOLDS, rng)
        sets.append(
            ScoredSet(
                f"part {k + 1}",
                _dot_rows(prepared.matrix, a, b),
                _dot_rows(prepared.second, a, b),
                labels,
                folds,
                np.full(labels.size, np.nan),
            )
        )
    ia, ib = impostor_pairs(prepared.labels, PART_IMPOSTORS * parts, rng)
    return sets, _dot_rows(prepared.matrix, ia, ib), _dot_rows(prepared.second, ia, ib)


def choose_fusion(
    dataset: Dataset, paired: EmbeddingSet, *, seed: int, parts: int = FUSION_PARTS
) -> FusionChoice:
    """The fusion of the two models in ``paired`` (see the module's docstring)."""
    n_ids = len({r.identity for r in dataset.records}) if dataset.records else parts * 2
    parts = max(2, min(parts, n_ids // 2))
    sets, imp1, imp2 = _scored_parts(dataset, paired, parts=parts, seed=seed)
    candidates = candidate_grid()
    if len(sets) < 2:
        weight, norm = 0.5, "z"
        rule = (
            f"weight {weight:g} ({norm}-norm) set, not chosen: too few people to cut the set "
            "into two or more parts with genuine and impostor pairs"
        )
        held: list[HeldOut] = []
    else:
        chosen = select(sets, candidates)
        weight, norm = chosen.candidate.weight, chosen.candidate.normalisation
        held = leave_one_out(sets, candidates)
        what = "people" if dataset.records else "protocol folds"
        rule = (
            f"weight {weight:g} ({norm}-norm) chosen among {len(candidates)} candidates by "
            f"lodo.select over {len(sets)} parts of these photos (disjoint {what}), impostor "
            "statistics fitted on all of them (ScoreFusion.fit): chosen on the data it is "
            "scored on, so this row is optimistic"
        )
    fusion = ScoreFusion.fit(imp1, imp2, weight, normalisation=norm)
    return FusionChoice(fusion, rule, len(sets), held)


def fusion_row(
    label: str,
    dataset: Dataset,
    current: EmbeddingSet,
    candidate: EmbeddingSet,
    report_of: Any,
    *,
    seed: int,
    sizes: Sequence[int],
) -> ModelRow:
    """The fusion of ``current``'s primary recognizer with ``candidate``, its weight chosen
    as the module's docstring says; ``report_of(embeddings)`` makes its report (as for the
    other rows)."""
    choice = choose_fusion(dataset, paired_embeddings(current, candidate, None), seed=seed)
    paired = paired_embeddings(current, candidate, choice.fusion)
    report: EvalReport = report_of(paired)
    row = model_row(label, FUSION, report, seed=seed, sizes=sizes)
    row.fusion = choice.to_dict()
    row.notes.append(choice.note)
    return row


def comparison_curves(rows: Sequence[ModelRow]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(FAR, TAR) of each row, thinned for plotting."""
    out = {}
    for row in rows:
        v = row.report.verification
        if v is None:
            continue
        curve = roc_curve(v.genuine_scores, v.impostor_scores)
        out[row.label] = thin_curve(curve.far, curve.tar)
    return out
