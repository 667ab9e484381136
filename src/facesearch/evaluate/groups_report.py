"""Accuracy by group and age (``facesearch eval --groups FILE``): error rates at the operating
threshold per group an agency labels, with 95% confidence intervals, and the groups whose
error rate is more than the policy's factor above the best group's.

The method is stated in every report (:data:`METHOD`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facesearch.evaluate.datasets import Dataset
from facesearch.evaluate.group_labels import GroupLabels
from facesearch.evaluate.identification import (
    PreparedRecords,
    genuine_pairs,
    impostor_pairs,
    prepare_records,
)
from facesearch.evaluate.metric_inputs import scores_with_failures
from facesearch.evaluate.reports import EvalReport

Z95 = 1.959963984540054
DEFAULT_GALLERY_SIZES = (10, 100, 1000)
DEFAULT_DISPARITY_FACTOR = 1.5
AGE_BANDS = (
    (0.0, 12.0, "0-12"),
    (13.0, 17.0, "13-17"),
    (18.0, 30.0, "18-30"),
    (31.0, 50.0, "31-50"),
)
AGE_OLDEST = (51.0, "51+")
AGE_GAPS = ((0.0, 3.0, "0-2"), (3.0, 6.0, "3-5"), (6.0, 11.0, "6-10"), (11.0, math.inf, "11+"))
MIXED = "<mixed>"
METHOD = """\
* The pairs and scores are the evaluation's own (facesearch eval on identity-labelled
  photos): every genuine pair, and every impostor pair or the same seeded
  sample; a photo without a face is an error, never dropped (its genuine pairs are false
  non-matches, its impostor pairs are rejections).
* At the operating threshold (the search band "possible match": a pair is a match when its
  score is at or above it), per label column and value: FNMR over the genuine pairs whose
  two photos both carry that value; FMR within over the impostor pairs whose two photos
  both carry it; FMR across over the impostor pairs with exactly one photo carrying it
  (the other labelled otherwise). Genuine pairs whose photos carry different values (e.g. an
  age band per photo) are counted in a row of their own; unlabelled photos in none.
* Rank-1 at gallery size N, leave-one-out within the set: each photo of a person with
  another photo is a probe; its gallery is that person's other photos plus N minus that many
  photos of other people drawn at random (seeded), or all of them for "all". A hit needs the
  best mate to score strictly above every other person's photo (ties are misses); a probe
  without a face is a miss. Reported per group of the probe.
* 95% confidence intervals: Wilson score intervals for every rate. They treat pairs (and
  probes) as independent draws; pairs share photos and people, so the true uncertainty is
  wider, most of all for groups of few people.
* Flags: a group whose FNMR or within-group FMR is more than disparity_factor times
  the best (lowest) such rate among that column's groups, the factor from the policy
  ([accuracy] disparity_factor, 1.5 when absent). Where the best rate is 0, any group
  with an error exceeds it by more than any factor.
* Age: per age band (the file's age_band column, else bands of age: 0-12,
  13-17, 18-30, 31-50, 51+) and per age gap between the two photos of a genuine pair
  (0-2, 3-5, 6-10, 11+ years, from age): FNMR with its interval.
"""


def wilson_interval(errors: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion ``errors / n`` (None when ``n`` is 0)."""
    if n <= 0:
        return None
    p = errors / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if errors == 0 else max(0.0, centre - half)
    high = 1.0 if errors == n else min(1.0, centre + half)
    return low, high


def method_paragraphs() -> list[str]:
    """:data:`METHOD` as one paragraph per point (for HTML and PDF)."""
    points = METHOD.strip().removeprefix("* ").split("\n* ")
    return [" ".join(line.strip() for line in p.splitlines()) for p in points]


@dataclass(frozen=True)
class Rate:
    """``count`` of ``n`` (false non-matches of genuine pairs, hits of probes, ...)."""

    count: int
    n: int

    @property
    def rate(self) -> float | None:
        return self.count / self.n if self.n else None

    @property
    def ci95(self) -> tuple[float, float] | None:
        return wilson_interval(self.count, self.n)

    def to_dict(self) -> dict[str, Any]:
        ci = self.ci95
        return {
            "count": self.count,
            "n": self.n,
            "rate": self.rate,
            "ci95": None if ci is None else [ci[0], ci[1]],
        }


@dataclass
class GroupRow:
    column: str
    value: str
    n_images: int
    n_identities: int
    fnmr: Rate  # false non-matches of genuine pairs within the group
    fmr_within: Rate  # false matches of impostor pairs both in the group
    fmr_across: Rate  # false matches of impostor pairs with one side in the group
    rank1: dict[str, Rate]  # gallery size -> hits of the group's probes
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "n_images": self.n_images,
            "n_identities": self.n_identities,
            "fnmr": self.fnmr.to_dict(),
            "fmr_within": self.fmr_within.to_dict(),
            "fmr_across": self.fmr_across.to_dict(),
            "rank1": {size: r.to_dict() for size, r in self.rank1.items()},
            "flags": list(self.flags),
        }


@dataclass
class ColumnReport:
    column: str
    groups: list[GroupRow]
    mixed_genuine: Rate  # genuine pairs whose two photos carry different values
    n_unlabelled_images: int
    best: dict[str, str | None]  # metric -> best group's value
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "groups": [g.to_dict() for g in self.groups],
            "genuine_pairs_across_groups": self.mixed_genuine.to_dict(),
            "n_unlabelled_images": self.n_unlabelled_images,
            "best": self.best,
        }


@dataclass
class AgeReport:
    band_source: str
    bands: dict[str, Rate]  # band -> FNMR (genuine pairs with both photos in the band)
    bands_mixed: Rate  # genuine pairs whose photos are in different bands
    gaps: dict[str, Rate]  # age gap -> FNMR
    n_genuine_without_age: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "band_source": self.band_source,
            "fnmr_by_band": {k: v.to_dict() for k, v in self.bands.items()},
            "fnmr_across_bands": self.bands_mixed.to_dict(),
            "fnmr_by_age_gap": {k: v.to_dict() for k, v in self.gaps.items()},
            "n_genuine_without_both_ages": self.n_genuine_without_age,
        }


@dataclass
class GroupReport:
    dataset: str
    model_key: str
    scoring: str  # the embedding variant scored (e.g. fused with the second recognizer)
    threshold: float
    disparity_factor: float
    factor_source: str
    created_at: str
    n_images: int
    n_genuine: int
    n_impostor: int
    impostors_sampled: bool
    gallery_sizes: list[str]
    columns: list[ColumnReport]
    age: AgeReport | None
    labels_file: str
    notes: list[str] = field(default_factory=list)

    @property
    def flags(self) -> list[dict[str, Any]]:
        out = []
        for col in self.columns:
            for g in col.groups:
                for metric in g.flags:
                    rate = g.fnmr if metric == "FNMR" else g.fmr_within
                    best_value = col.best.get(metric)
                    best = next((b for b in col.groups if b.value == best_value), None)
                    best_rate = None
                    if best is not None:
                        best_rate = (best.fnmr if metric == "FNMR" else best.fmr_within).rate
                    out.append(
                        {
                            "column": col.column,
                            "group": g.value,
                            "metric": metric,
                            "rate": rate.rate,
                            "ci95": rate.to_dict()["ci95"],
                            "best_group": best_value,
                            "best_rate": best_rate,
                            "factor": self.disparity_factor,
                        }
                    )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "accuracy-groups",
            "created_at": self.created_at,
            "dataset": self.dataset,
            "labels_file": self.labels_file,
            "model_key": self.model_key,
            "scoring": self.scoring,
            "threshold": self.threshold,
            "disparity_factor": self.disparity_factor,
            "disparity_factor_from": self.factor_source,
            "n_images": self.n_images,
            "n_genuine": self.n_genuine,
            "n_impostor": self.n_impostor,
            "impostors_sampled": self.impostors_sampled,
            "gallery_sizes": self.gallery_sizes,
            "columns": [c.to_dict() for c in self.columns],
            "age": self.age.to_dict() if self.age else None,
            "flags": self.flags,
            "method": METHOD,
            "notes": list(self.notes),
        }

    def summary(self) -> dict[str, Any]:
        """What the accountability report shows: when, on what, with which model, flags."""
        return {
            "date": self.created_at,
            "dataset": self.dataset,
            "model_key": self.model_key,
            "scoring": self.scoring,
            "threshold": self.threshold,
            "disparity_factor": self.disparity_factor,
            "columns": [c.column for c in self.columns],
            "n_images": self.n_images,
            "flags": [flag_text(f) for f in self.flags],
        }


def flag_text(f: dict[str, Any]) -> str:
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.2f}%"

    return (
        f"{f['column']}={f['group']}: {f['metric']} {pct(f['rate'])} is more than "
        f"{f['factor']:g}x the best group's ({f['best_group']}: {pct(f['best_rate'])})"
    )


# ------------------------------------------------------------------------ computing


@dataclass(frozen=True)
class ScoredPairs:
    """The evaluation's pairs (record indices into ``prepared``) and their scores (-inf: no
    face on a side)."""

    prepared: PreparedRecords
    genuine: tuple[np.ndarray, np.ndarray]
    genuine_scores: np.ndarray
    impostor: tuple[np.ndarray, np.ndarray]
    impostor_scores: np.ndarray


def scored_pairs(
    dataset: Dataset, report: EvalReport, *, seed: int, max_impostors: int | None
) -> ScoredPairs:
    """The pairs an evaluation of ``dataset`` scored (the same records, the same seeded
    impostor sample) with the report's own scores."""
    prepared = prepare_records(dataset.records, report.embeddings)
    rng = np.random.default_rng(seed)
    ga, gb = genuine_pairs(prepared.labels)
    ia, ib = impostor_pairs(prepared.labels, max_impostors, rng)
    v = report.verification
    if v is not None and v.genuine_scores.size == ga.size and v.impostor_scores.size == ia.size:
        gen, imp = v.genuine_scores, v.impostor_scores
    else:  # no 1:1 figures in the report (no genuine or no impostor pair): score them here
        gen, imp = _scored(prepared, ga, gb), _scored(prepared, ia, ib)
    return ScoredPairs(prepared, (ga, gb), gen, (ia, ib), imp)


def _scored(prepared: PreparedRecords, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not a.size:
        return np.zeros(0, np.float64)
    return np.asarray(scores_with_failures(prepared.pair_scores(a, b)).scores, np.float64)


def _codes(values: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Integer code per record (-1: unlabelled) and the sorted distinct values."""
    distinct = sorted({v for v in values if v})
    index = {v: i for i, v in enumerate(distinct)}
    return np.array([index.get(v, -1) for v in values], np.int64), distinct


def _rank1_hits(
    prepared: PreparedRecords, sizes: Sequence[int], seed: int, chunk: int = 256
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Probes (records with a mate) and, per gallery size, whether each is a rank-1 hit."""
    labels = prepared.labels.astype(str)
    n = labels.size
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    probes = np.flatnonzero(counts[inverse] > 1)
    hits = {size: np.zeros(probes.size, bool) for size in sizes}
    rng = np.random.default_rng(seed)
    everyone = np.arange(n)
    for start in range(0, probes.size, chunk):
        rows = probes[start : start + chunk]
        sim = prepared.similarity(rows, slice(None)).astype(np.float64)
        for k, probe in enumerate(rows):
            row = sim[k]
            mate_mask = inverse == inverse[probe]
            mate_mask[probe] = False
            mates = row[mate_mask]
            best = np.nan if np.isnan(mates).all() else float(np.nanmax(mates))
            others = everyone[~mate_mask & (everyone != probe)]
            other_scores = np.nan_to_num(row[others], nan=-np.inf)
            for size in sizes:
                take = max(0, min(size - int(mate_mask.sum()), others.size))
                if take == others.size:
                    drawn = other_scores
                else:
                    drawn = other_scores[rng.choice(others.size, take, replace=False)]
                top = float(drawn.max()) if drawn.size else -np.inf
                hits[size][start + k] = bool(not math.isnan(best) and best > top)
    return probes, hits


def _group_rows(
    column: str,
    values: list[str],
    pairs: ScoredPairs,
    threshold: float,
    probes: np.ndarray,
    hits: dict[int, np.ndarray],
    size_names: dict[int, str],
) -> ColumnReport:
    codes, distinct = _codes(values)
    labels = pairs.prepared.labels.astype(str)
    ga, gb = pairs.genuine
    ia, ib = pairs.impostor
    gen_fail = pairs.genuine_scores < threshold
    imp_accept = pairs.impostor_scores >= threshold
    gca, gcb = codes[ga], codes[gb]
    ica, icb = codes[ia], codes[ib]
    both_labelled = (ica >= 0) & (icb >= 0)
    rows: list[GroupRow] = []
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for k, value in enumerate(distinct):
        gen = (gca == k) & (gcb == k)
        within = (ica == k) & (icb == k)
        across = both_labelled & ((ica == k) != (icb == k))
        members = codes == k
        probe_in = codes[probes] == k
        rows.append(
            GroupRow(
                column=column,
                value=value,
                n_images=int(members.sum()),
                n_identities=len(set(labels[members].tolist())),
                fnmr=Rate(int((gen & gen_fail).sum()), int(gen.sum())),
                fmr_within=Rate(int((within & imp_accept).sum()), int(within.sum())),
                fmr_across=Rate(int((across & imp_accept).sum()), int(across.sum())),
                rank1={
                    size_names[s]: Rate(int(h[probe_in].sum()), int(probe_in.sum()))
                    for s, h in hits.items()
                },
            )
        )
        curves[value] = (pairs.genuine_scores[gen], pairs.impostor_scores[within])
    mixed = (gca >= 0) & (gcb >= 0) & (gca != gcb)
    report = ColumnReport(
        column=column,
        groups=rows,
        mixed_genuine=Rate(int((mixed & gen_fail).sum()), int(mixed.sum())),
        n_unlabelled_images=int((codes < 0).sum()),
        best={},
        curves=curves,
    )
    return report


def flag_disparities(column: ColumnReport, factor: float) -> None:
    """Mark the groups whose FNMR or within-group FMR is more than ``factor`` times the best
    group's (groups without pairs for a metric take no part in it)."""
    for metric in ("FNMR", "FMR"):

        def rate_of(g: GroupRow, metric: str = metric) -> float | None:
            return (g.fnmr if metric == "FNMR" else g.fmr_within).rate

        rated = [(rate_of(g), g) for g in column.groups if rate_of(g) is not None]
        if not rated:
            column.best[metric] = None
            continue
        best_rate, best = min(rated, key=lambda rg: (rg[0], rg[1].value))
        column.best[metric] = best.value
        assert best_rate is not None
        for rate, g in rated:
            assert rate is not None
            if rate > factor * best_rate:
                g.flags.append(metric)


def _age_band(age: float) -> str:
    for lo, hi, name in AGE_BANDS:
        if age < hi + 1 and age >= lo:
            return name
    return AGE_OLDEST[1]


def _age_report(labels: GroupLabels, pairs: ScoredPairs, threshold: float) -> AgeReport:
    records = pairs.prepared.records
    ages = np.array([labels.age(r.path) for r in records], np.float64)
    ga, gb = pairs.genuine
    fail = pairs.genuine_scores < threshold
    if "age_band" in labels.columns:
        source = "the labels' age_band column"
        bands = [labels.value(r.path, "age_band") for r in records]
        order = sorted({b for b in bands if b})
    else:
        source = "bands of age: " + ", ".join([b[2] for b in AGE_BANDS] + [AGE_OLDEST[1]])
        bands = ["" if math.isnan(a) else _age_band(a) for a in ages]
        order = [b[2] for b in AGE_BANDS] + [AGE_OLDEST[1]]
    codes = np.array([order.index(b) if b else -1 for b in bands], np.int64)
    ca, cb = codes[ga], codes[gb]
    by_band = {}
    for k, name in enumerate(order):
        same = (ca == k) & (cb == k)
        by_band[name] = Rate(int((same & fail).sum()), int(same.sum()))
    mixed = (ca >= 0) & (cb >= 0) & (ca != cb)
    gap = np.abs(ages[ga] - ages[gb])
    known = ~np.isnan(gap)
    by_gap = {}
    for lo, hi, name in AGE_GAPS:
        inside = known & (gap >= lo) & (gap < hi)
        by_gap[name] = Rate(int((inside & fail).sum()), int(inside.sum()))
    return AgeReport(
        band_source=source,
        bands=by_band,
        bands_mixed=Rate(int((mixed & fail).sum()), int(mixed.sum())),
        gaps=by_gap,
        n_genuine_without_age=int((~known).sum()),
    )


def gallery_sizes(n_records: int, sizes: Sequence[int] = DEFAULT_GALLERY_SIZES) -> dict[int, str]:
    """The gallery sizes that fit a set of ``n_records`` photos, and "all" (every other one)."""
    chosen = {s: str(s) for s in sorted(set(sizes)) if 0 < s < n_records - 1}
    if n_records > 1:
        chosen[n_records - 1] = f"all ({n_records - 1})"
    return chosen


def group_report(
    pairs: ScoredPairs,
    labels: GroupLabels,
    *,
    threshold: float,
    disparity_factor: float = DEFAULT_DISPARITY_FACTOR,
    factor_source: str = "default",
    dataset: str,
    model_key: str,
    scoring: str = "",
    created_at: str,
    impostors_sampled: bool = False,
    sizes: Sequence[int] = DEFAULT_GALLERY_SIZES,
    seed: int = 2016,
) -> GroupReport:
    """Every figure per group and age of the evaluation's pairs (see :data:`METHOD`)."""
    prepared = pairs.prepared
    size_names = gallery_sizes(len(prepared.records), sizes)
    probes, hits = _rank1_hits(prepared, list(size_names), seed)
    notes: list[str] = []
    columns = []
    for column in labels.columns:
        values = [labels.value(r.path, column) for r in prepared.records]
        report = _group_rows(column, values, pairs, threshold, probes, hits, size_names)
        flag_disparities(report, disparity_factor)
        columns.append(report)
        if len(report.groups) < 2:
            notes.append(f"{column}: fewer than two groups, nothing to compare")
    age = _age_report(labels, pairs, threshold) if labels.has_ages else None
    if labels.n_rows_outside:
        notes.append(
            f"{labels.n_rows_outside} label row(s) name photos or people left out by --include"
        )
    kept = {r.path.resolve() for r in prepared.records}
    left_out = sum(1 for p in labels.labels if p not in kept)
    if left_out:
        notes.append(
            f"{left_out} labelled photo(s) not scored: byte-identical copies under one identity "
            "or MULTI: photos (see the evaluation report)"
        )
    return GroupReport(
        dataset=dataset,
        model_key=model_key,
        scoring=scoring,
        threshold=threshold,
        disparity_factor=disparity_factor,
        factor_source=factor_source,
        created_at=created_at,
        n_images=len(prepared.records),
        n_genuine=int(pairs.genuine_scores.size),
        n_impostor=int(pairs.impostor_scores.size),
        impostors_sampled=impostors_sampled,
        gallery_sizes=list(size_names.values()),
        columns=columns,
        age=age,
        labels_file=str(labels.source),
        notes=notes,
    )
