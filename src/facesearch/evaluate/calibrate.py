"""Calibrated decision thresholds, and the calibration file a deployment can apply.

The band rule
-------------
Scores are cosine similarities of the pipeline's embeddings. On a labelled calibration set,
every pair of distinct images of different people is an impostor comparison, every pair of
distinct images of one person a genuine one. For a target false accept rate (FAR) the
threshold is :func:`~facesearch.evaluate.metrics.threshold_for_far`: the lowest score at
which at most that fraction of the impostor comparisons is accepted.

* ``match`` (the "possible" band, and ``compare``'s same/different decision) is the FAR 1e-3
  threshold: at most one comparison in a thousand between different people reaches it.
* ``strong`` is the FAR 1e-4 threshold: at most one in ten thousand.

A 1:1 check or a search result in the "possible" band is a lead for a person to review, not
an identification; a 1:N search against N people of whom none is the probe's person returns
on average about N x 1e-3 "possible" and N x 1e-4 "strong" candidates. So ``strong`` is the
band an investigator should expect to be right nearly always, and ``possible`` the band worth
a careful look. Both FAR targets must be supported by the data (``n_impostor * far >= 1``;
:data:`MIN_FALSE_ACCEPTS` or more is advised, a warning is recorded otherwise).

The packaged manifest carries thresholds calibrated this way on CFP (see its
``calibration`` record and ``docs/accuracy.md``). ``facesearch calibrate DATA`` computes them
on an agency's own labelled photos and writes a :data:`CALIBRATION_FILE` into the gallery's
data directory; :func:`calibrated_manifest` applies such a file on top of the packaged
manifest (it never rewrites the manifest). Deleting the file returns to the packaged values.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from facesearch import __version__
from facesearch.engine.embed import DLIB_RECOGNIZER_KEY, ScoreFusion
from facesearch.evaluate.metrics import threshold_for_far
from facesearch.evaluate.runner import pair_scores, prepare_records
from facesearch.models.calibration import (
    BAND_RULE,
    CALIBRATION_FILE,
    FAR_MATCH,
    FAR_STRONG,
    MIN_FALSE_ACCEPTS,
    RECORDED_FARS,
    Calibration,
    CalibrationError,
    far_key,
    find_calibration,
    load_calibration,
    packaged_calibration,
    write_calibration,
)
from facesearch.search.calibration import apply_calibration, calibrated_manifest, embedding_variant

if TYPE_CHECKING:
    from facesearch.engine.embed import ScoreFusion
    from facesearch.evaluate.runner import Dataset, EmbeddingSet, PreparedRecords


# ------------------------------------------------------------------------- computing


def calibrate_scores(
    genuine: np.ndarray,
    impostor: np.ndarray,
    *,
    model_key: str,
    embedding: str,
    dataset: str,
    protocol: str,
    n_images: int,
    n_no_face: int,
    far_match: float = FAR_MATCH,
    far_strong: float = FAR_STRONG,
    date: str | None = None,
) -> Calibration:
    """Thresholds at the FAR targets from genuine and impostor scores (-inf = no face).

    Raises :class:`CalibrationError` when there are too few impostor comparisons for
    ``far_strong`` (fewer than ``1 / far_strong``).
    """

    gen = np.asarray(genuine, np.float64)
    imp = np.asarray(impostor, np.float64)
    gen = np.where(np.isnan(gen), -np.inf, gen)
    imp = np.where(np.isnan(imp), -np.inf, imp)
    if gen.size == 0:
        raise CalibrationError("no genuine pairs: every identity needs two or more photos")
    needed = math.ceil(1 / far_strong)
    if imp.size < needed:
        raise CalibrationError(
            f"{imp.size} impostor comparisons cannot support FAR {far_strong:g}: at least "
            f"{needed} are needed (e.g. 150 photos of 10 or more people); "
            f"{MIN_FALSE_ACCEPTS * needed} or more are advised"
        )
    fars = sorted({*RECORDED_FARS, far_match, far_strong}, reverse=True)
    thresholds: dict[str, float] = {}
    figures: dict[str, Any] = {}
    for far in fars:
        t = threshold_for_far(imp, far)
        if t is None:
            continue
        thresholds[far_key(far)] = t
        figures[far_key(far)] = {
            "threshold": t,
            "tar": float(np.mean(gen >= t)),
            "far": float(np.mean(imp >= t)),
            "false_accepts": int((imp >= t).sum()),
        }
    warnings = []
    for far in (far_match, far_strong):
        allowed = math.floor(imp.size * far + 1e-9)
        if allowed < MIN_FALSE_ACCEPTS:
            warnings.append(
                f"FAR {far:g} rests on {allowed} false accept(s) among {imp.size} impostor "
                f"comparisons; {MIN_FALSE_ACCEPTS * math.ceil(1 / far)} or more are advised"
            )
    match = thresholds[far_key(far_match)]
    strong = thresholds[far_key(far_strong)]
    return Calibration(
        model_key=model_key,
        embedding=embedding,
        match=round_up(match),
        strong=round_up(strong),
        thresholds=thresholds,
        dataset=dataset,
        protocol=protocol,
        date=date or datetime.now(UTC).date().isoformat(),
        n_images=n_images,
        n_no_face=n_no_face,
        n_genuine=int(gen.size),
        n_impostor=int(imp.size),
        figures=figures,
        warnings=tuple(warnings),
        facesearch_version=__version__,
    )


def round_up(threshold: float, digits: int = 4) -> float:
    """Round a threshold up to ``digits`` decimals (never lowers it, so FAR never rises)."""
    scale = 10**digits
    return math.ceil(threshold * scale - 1e-9) / scale


def all_pair_scores(prepared: PreparedRecords, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Scores of every genuine and every impostor pair of distinct records (exact, no sample).

    A record without a face gives ``-inf`` scores (rejected at every threshold, counted).
    """
    codes = np.unique(prepared.labels.astype(str), return_inverse=True)[1]
    n = codes.size
    gen_parts, imp_parts = [], []
    for s in range(0, n, block):
        rows = slice(s, min(n, s + block))
        sim = prepared.similarity(rows, slice(None))
        i = np.arange(rows.start, rows.stop)[:, None]
        j = np.arange(n)[None, :]
        upper = j > i
        same = codes[rows][:, None] == codes[None, :]
        gen_parts.append(sim[upper & same])
        imp_parts.append(sim[upper & ~same])
    gen = np.concatenate(gen_parts).astype(np.float64) if gen_parts else np.zeros(0)
    imp = np.concatenate(imp_parts).astype(np.float64) if imp_parts else np.zeros(0)
    gen[np.isnan(gen)] = -np.inf
    imp[np.isnan(imp)] = -np.inf
    return gen, imp


def held_out_check(
    prepared: PreparedRecords, *, seed: int, far_match: float, far_strong: float
) -> dict[str, Any] | None:
    """Split the identities in two halves (seeded); calibrate on each, measure on the other.

    Shows how far the FAR reached on people the thresholds were not made on strays from the
    target. None when either half is too small to support ``far_strong``.
    """
    ids = np.unique(prepared.labels.astype(str))
    if ids.size < 4:
        return None
    rng = np.random.default_rng(seed)
    half = set(rng.permutation(ids)[: ids.size // 2].tolist())
    in_a = np.array([lab in half for lab in prepared.labels.astype(str)])
    halves = []
    for mask in (in_a, ~in_a):
        halves.append(all_pair_scores(prepared.subset(mask)))
    out: dict[str, Any] = {"seed": seed, "n_identities": [len(half), int(ids.size) - len(half)]}
    runs = []
    for (_, cal_imp), (test_gen, test_imp) in (
        (halves[0], halves[1]),
        (halves[1], halves[0]),
    ):
        run: dict[str, Any] = {}
        for far in (far_match, far_strong):
            t = threshold_for_far(cal_imp, far)
            if t is None:
                return None
            run[far_key(far)] = {
                "threshold": t,
                "far_on_other_half": float(np.mean(test_imp >= t)),
                "tar_on_other_half": float(np.mean(test_gen >= t)),
            }
        runs.append(run)
    out["runs"] = runs
    return out


def calibrate_dataset(
    dataset: Dataset,
    embeddings: EmbeddingSet,
    *,
    far_match: float = FAR_MATCH,
    far_strong: float = FAR_STRONG,
    seed: int = 2016,
    check_halves: bool = True,
    date: str | None = None,
    include: Sequence[str] = (),
) -> Calibration:
    """Calibrate on an evaluation input: all pairs of an identity-labelled set, or a pair
    protocol's own pairs (which seldom hold enough impostor pairs for FAR 1e-4).

    With fused embeddings (the default pipeline), SFace's own bands and the fused bands are
    both calibrated; the fused ones go in ``Calibration.fused``."""
    kwargs: dict[str, Any] = dict(
        far_match=far_match,
        far_strong=far_strong,
        seed=seed,
        check_halves=check_halves,
        date=date,
        include=include,
    )
    if embeddings.fusion is None:
        return _calibrate_one(dataset, embeddings, **kwargs)

    base_variant = embeddings.variant.removesuffix("+dlib-fusion")
    primary = _calibrate_one(
        dataset, dataclasses.replace(embeddings, fusion=None, variant=base_variant), **kwargs
    )
    fused = _calibrate_one(dataset, embeddings, **kwargs)
    return dataclasses.replace(
        primary,
        fused={
            "model": DLIB_RECOGNIZER_KEY,
            "fusion": embeddings.fusion.to_dict(),
            "match": fused.match,
            "strong": fused.strong,
            "thresholds": fused.thresholds,
            "figures": fused.figures,
        },
    )


def _calibrate_one(
    dataset: Dataset,
    embeddings: EmbeddingSet,
    *,
    far_match: float,
    far_strong: float,
    seed: int,
    check_halves: bool,
    date: str | None,
    include: Sequence[str],
) -> Calibration:

    failures = embeddings.failures()
    if dataset.pairs:
        scores = pair_scores(embeddings, list(dataset.pairs))
        labels = np.array([p.same for p in dataset.pairs], bool)
        gen, imp = scores[labels], scores[~labels]
        protocol = f"the {len(dataset.pairs)} pairs of the {dataset.kind} protocol"
        n_images = len(dataset.paths)
        check = None
        extra_notes: dict[str, Any] = {}
    else:
        prepared = prepare_records(dataset.records, embeddings)
        gen, imp = all_pair_scores(prepared)
        n_ids = len(set(prepared.labels.tolist()))
        protocol = (
            f"all pairs of distinct images of {n_ids} identities "
            "(byte-identical copies under one identity kept once)"
        )
        if include:
            protocol += "; images matching " + ", ".join(repr(p) for p in include)
        n_images = len(prepared.records)
        check = (
            held_out_check(prepared, seed=seed, far_match=far_match, far_strong=far_strong)
            if check_halves
            else None
        )
        extra_notes = {
            "n_duplicates_removed": prepared.n_duplicates_removed,
            "n_multi_person_excluded": prepared.n_multi_excluded,
        }
    cal = calibrate_scores(
        gen,
        imp,
        model_key=embeddings.model_key,
        embedding=embeddings.variant,
        dataset=str(dataset.source),
        protocol=protocol,
        n_images=n_images,
        n_no_face=len(failures),
        far_match=far_match,
        far_strong=far_strong,
        date=date,
    )
    figures = dict(cal.figures)
    figures.update(extra_notes)
    if check is not None:
        figures["held_out_halves"] = check
    if failures:
        figures["no_face"] = [str(r.path) for r in failures]
    return dataclasses.replace(cal, figures=figures)


def fit_fusion(dataset: Dataset, embeddings: EmbeddingSet, weight: float) -> ScoreFusion:
    """Score-fusion parameters: each model's impostor mean and spread over all impostor
    pairs of an identity-labelled set embedded with the second model too."""

    prepared = prepare_records(dataset.records, embeddings)
    if prepared.second is None:
        raise CalibrationError("fitting a fusion needs the second model's vectors (fusion run)")
    primary = dataclasses.replace(prepared, fusion=None, second=None)
    secondary = dataclasses.replace(prepared, matrix=prepared.second, fusion=None, second=None)
    _, imp1 = all_pair_scores(primary)
    _, imp2 = all_pair_scores(secondary)
    return ScoreFusion.fit(imp1, imp2, weight)


# ---------------------------------------------------------------------- files, applying


__all__ = [
    "BAND_RULE",
    "CALIBRATION_FILE",
    "FAR_MATCH",
    "FAR_STRONG",
    "Calibration",
    "CalibrationError",
    "all_pair_scores",
    "apply_calibration",
    "calibrate_dataset",
    "calibrate_scores",
    "calibrated_manifest",
    "embedding_variant",
    "far_key",
    "find_calibration",
    "fit_fusion",
    "held_out_check",
    "load_calibration",
    "packaged_calibration",
    "round_up",
    "write_calibration",
]
