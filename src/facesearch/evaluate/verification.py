"""1:1 figures: from per-pair scores to the verification report (k-fold, TAR at FAR, EER)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from facesearch.evaluate.group_metrics import accuracy_by_quality_bin, per_group_error_rates
from facesearch.evaluate.metric_inputs import fte_counts, scores_with_failures
from facesearch.evaluate.metrics import OperatingPoint, eer, kfold_verification_accuracy, tar_at_far
from facesearch.evaluate.protocols import (
    VerificationPair,
)

if TYPE_CHECKING:
    pass
from facesearch.engine.embed import pair_pose
from facesearch.evaluate.datasets import (
    Dataset,
)
from facesearch.evaluate.embedding import (
    EmbeddingSet,
)
from facesearch.evaluate.reports import (
    EvalReport,
    Thresholds,
    VerificationReport,
)

FAR_TARGETS = (1e-2, 1e-3, 1e-4)
DEFAULT_SEED = 2016
DEFAULT_FOLDS = 10
MIN_PAIRS_FOR_KFOLD = 20


# ------------------------------------------------------------------------ verification


def _operating_point_dict(
    far: float, point: OperatingPoint | None, n_impostor: int
) -> dict[str, Any]:
    if point is None:
        return {
            "far": far,
            "supported": False,
            "reason": f"needs at least {math.ceil(1 / far)} impostor pairs, have {n_impostor}",
        }
    return {
        "far": far,
        "supported": True,
        "tar": point.tar,
        "threshold": point.threshold,
        "far_reached": point.far,
    }


def _rates_at(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> dict[str, float]:
    fnmr = float(np.mean(genuine < threshold)) if genuine.size else math.nan
    fmr = float(np.mean(impostor >= threshold)) if impostor.size else math.nan
    n = genuine.size + impostor.size
    correct = int((genuine >= threshold).sum() + (impostor < threshold).sum())
    return {"threshold": threshold, "fmr": fmr, "fnmr": fnmr, "accuracy": correct / n}


def _kfold_dict(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> dict[str, Any]:
    result = kfold_verification_accuracy(scores, labels, folds)
    return {
        "folds": len(result.folds),
        "mean": result.mean,
        "std": result.std,
        "standard_error": result.standard_error,
        "accuracies": result.accuracies.tolist(),
        "thresholds": result.thresholds.tolist(),
        "n_pairs": int(scores.size),
    }


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def verification_report(
    scores: np.ndarray,
    labels: np.ndarray,
    thresholds: Thresholds,
    *,
    folds: np.ndarray | None,
    kfold_mask: np.ndarray | None = None,
    quality: np.ndarray | None = None,
    groups: dict[str, tuple[list[Any], list[Any]]] | None = None,
    protocol: str,
) -> VerificationReport:
    """Every 1:1 figure from per-pair scores (NaN = no face on a side, never dropped).

    ``folds`` gives a fold id per pair (None: no k-fold figure); ``kfold_mask`` restricts
    the k-fold accuracy to a balanced subset. ``quality`` is (n, 2) per-image quality;
    ``groups`` maps a group column to (genuine groups, impostor groups) in pair order.
    """
    labels = np.asarray(labels, bool)
    counts = fte_counts(scores, labels)
    fs = scores_with_failures(scores).scores
    gen, imp = fs[labels], fs[~labels]
    kfold = None
    if folds is not None:
        mask = np.ones(fs.size, bool) if kfold_mask is None else kfold_mask
        kfold = _kfold_dict(fs[mask], labels[mask], folds[mask])
    tars = [_operating_point_dict(far, tar_at_far(gen, imp, far), imp.size) for far in FAR_TARGETS]
    eer_result = eer(gen, imp)
    at = {
        "match": _rates_at(gen, imp, thresholds.match),
        "strong": _rates_at(gen, imp, thresholds.strong),
    }
    bins: list[dict[str, Any]] = []
    if quality is not None:
        for b in accuracy_by_quality_bin(fs, labels, quality, thresholds.match, bins=5):
            bins.append(
                {
                    "quality_from": _clean(b.lower),
                    "quality_to": _clean(b.upper),
                    "no_face": b.missing,
                    "n_genuine": b.n_genuine,
                    "fnmr": _clean(b.fnmr),
                    "n_impostor": b.n_impostor,
                    "fmr": _clean(b.fmr),
                }
            )
    group_out: dict[str, dict[str, Any]] = {}
    for column, (g_groups, i_groups) in (groups or {}).items():
        rates = per_group_error_rates(gen, g_groups, imp, i_groups, thresholds.match)
        group_out[column] = {
            "threshold": rates.threshold,
            "groups": {
                str(k): {
                    "n_genuine": v.n_genuine,
                    "fnmr": _clean(v.fnmr),
                    "n_impostor": v.n_impostor,
                    "fmr": _clean(v.fmr),
                }
                for k, v in rates.groups.items()
            },
            "cross_group": {
                "n_impostor": rates.cross_group.n_impostor,
                "fmr": _clean(rates.cross_group.fmr),
            },
            "fmr_ratio": _clean(rates.fmr_ratio()),
            "fnmr_ratio": _clean(rates.fnmr_ratio()),
        }
    return VerificationReport(
        n_pairs=counts.n_pairs,
        n_genuine=counts.n_genuine,
        n_impostor=counts.n_impostor,
        n_failed=counts.n_failed,
        n_genuine_failed=counts.n_genuine_failed,
        n_impostor_failed=counts.n_impostor_failed,
        kfold=kfold,
        tar_at_far=tars,
        eer={"eer": eer_result.eer, "threshold": eer_result.threshold},
        at_thresholds=at,
        quality_bins=bins,
        groups=group_out,
        protocol=protocol,
        genuine_scores=gen,
        impostor_scores=imp,
    )


def pair_scores(embeddings: EmbeddingSet, pairs: Sequence[VerificationPair]) -> np.ndarray:
    """Cosine similarity per pair (the score ``compare`` prints); NaN without a face."""
    paths = list(dict.fromkeys(p for pair in pairs for p in (pair.path_a, pair.path_b)))
    index = {p: i for i, p in enumerate(paths)}
    a = np.array([index[p.path_a] for p in pairs], np.int64)
    b = np.array([index[p.path_b] for p in pairs], np.int64)
    scores = _dot_rows(embeddings.matrix(paths), a, b)
    if embeddings.fusion is not None:
        second = _dot_rows(embeddings.matrix(paths, second=True), a, b)
        yaw = embeddings.yaw(paths)
        scores = embeddings.fusion.fuse(scores, second, pair_pose(yaw[a], yaw[b]))
    return scores


def _dot_rows(matrix: np.ndarray, a: np.ndarray, b: np.ndarray, chunk: int = 262_144) -> np.ndarray:
    out = np.empty(a.size, np.float64)
    for s in range(0, a.size, chunk):
        out[s : s + chunk] = np.einsum(
            "ij,ij->i", matrix[a[s : s + chunk]], matrix[b[s : s + chunk]], dtype=np.float64
        )
    return out


def _random_folds(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    return (rng.permutation(n) % k + 1).astype(np.int64)


def evaluate_pairs(
    dataset: Dataset, embeddings: EmbeddingSet, thresholds: Thresholds, *, seed: int = DEFAULT_SEED
) -> EvalReport:
    """The 1:1 report of a pair protocol (CFP, LFW, pair tables)."""
    pairs = list(dataset.pairs)
    scores = pair_scores(embeddings, pairs)
    labels = np.array([p.same for p in pairs], bool)
    notes: list[str] = []
    if all(p.fold is not None for p in pairs):
        fold_ids = np.array([p.fold for p in pairs], np.int64)
        folds: np.ndarray | None = fold_ids
        protocol = f"{len(set(fold_ids.tolist()))} folds of the protocol"
    elif len(pairs) >= MIN_PAIRS_FOR_KFOLD and labels.any() and (~labels).any():
        folds = _random_folds(len(pairs), DEFAULT_FOLDS, np.random.default_rng(seed))
        protocol = f"{DEFAULT_FOLDS} random folds (seed {seed})"
    else:
        folds = None
        protocol = "no folds"
        notes.append(f"too few pairs for a {DEFAULT_FOLDS}-fold accuracy ({len(pairs)})")
    paths_a = [p.path_a for p in pairs]
    paths_b = [p.path_b for p in pairs]
    quality = np.stack([embeddings.quality(paths_a), embeddings.quality(paths_b)], axis=1)
    report = verification_report(
        scores, labels, thresholds, folds=folds, quality=quality, protocol=protocol
    )
    return EvalReport(
        dataset=dataset,
        embeddings=embeddings,
        thresholds=thresholds,
        verification=report,
        identification=None,
        n_images=len(dataset.paths),
        notes=notes,
    )
