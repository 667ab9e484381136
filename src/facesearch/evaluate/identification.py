"""Identity-labelled sets: genuine and impostor pairs, and 1:N closed- and open-set figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from facesearch.evaluate.protocols import (
    LabelledImage,
)
from facesearch.evaluate.rank_metrics import OpenSetPoint, fnir_at_fpir, rank_k_accuracy
from facesearch.evaluate.splits import make_identification_split

if TYPE_CHECKING:
    from facesearch.engine.embed import ScoreFusion
from facesearch.engine.embed import pair_pose
from facesearch.evaluate.datasets import (
    Dataset,
)
from facesearch.evaluate.embedding import (
    EmbeddingSet,
)
from facesearch.evaluate.reports import (
    EvalReport,
    IdentificationReport,
    Thresholds,
)
from facesearch.evaluate.verification import (
    DEFAULT_FOLDS,
    DEFAULT_SEED,
    MIN_PAIRS_FOR_KFOLD,
    _dot_rows,
    _random_folds,
    verification_report,
)

FPIR_TARGETS = (0.01, 0.003)
RANKS = (1, 5)
DEFAULT_MAX_IMPOSTORS = 2_000_000
NONMATED_FRACTION = 0.2
MULTI_PREFIX = "MULTI:"


# ---------------------------------------------------------------- identity-labelled sets


@dataclass(frozen=True)
class PreparedRecords:
    records: list[LabelledImage]
    labels: np.ndarray  # identity per record (object array of str)
    matrix: np.ndarray  # (n, dim) float32, NaN rows without a face
    quality: np.ndarray
    n_duplicates_removed: int
    n_multi_excluded: int
    second: np.ndarray | None = None  # the second model's vectors (fusion runs)
    fusion: ScoreFusion | None = None
    yaw: np.ndarray | None = None  # each record's yaw (the fusion's pose term)

    def _yaw(self) -> np.ndarray:
        return self.yaw if self.yaw is not None else np.full(len(self.labels), np.nan)

    def subset(self, mask: np.ndarray) -> PreparedRecords:
        return PreparedRecords(
            records=[r for r, m in zip(self.records, mask, strict=True) if m],
            labels=self.labels[mask],
            matrix=self.matrix[mask],
            quality=self.quality[mask],
            n_duplicates_removed=0,
            n_multi_excluded=0,
            second=None if self.second is None else self.second[mask],
            fusion=self.fusion,
            yaw=None if self.yaw is None else self.yaw[mask],
        )

    def pair_scores(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Scores of record pairs (a[i], b[i]); NaN without a face."""
        scores = _dot_rows(self.matrix, a, b)
        if self.fusion is not None and self.second is not None:
            yaw = self._yaw()
            pose = pair_pose(yaw[a], yaw[b])
            scores = self.fusion.fuse(scores, _dot_rows(self.second, a, b), pose)
        return scores

    def similarity(self, rows: np.ndarray | slice, cols: np.ndarray | slice) -> np.ndarray:
        """Scores of records ``rows`` against records ``cols`` (NaN without a face)."""
        sim = _similarity(self.matrix[rows], self.matrix[cols])
        if self.fusion is not None and self.second is not None:
            second = _similarity(self.second[rows], self.second[cols])
            pose = None
            if self.fusion.pose_dependent:
                yaw = self._yaw()
                pose = pair_pose(yaw[rows][:, None], yaw[cols][None, :])
            sim = self.fusion.fuse(sim, second, pose).astype(np.float32)
        return sim


def prepare_records(records: Sequence[LabelledImage], embeddings: EmbeddingSet) -> PreparedRecords:
    """Leave out ``MULTI:`` photos and byte-identical copies under one identity."""
    kept: list[LabelledImage] = []
    seen: set[tuple[str, str]] = set()
    duplicates = multi = 0
    for r in sorted(records, key=lambda r: (r.identity, str(r.path))):
        if r.identity.startswith(MULTI_PREFIX):
            multi += 1
            continue
        sha = embeddings[r.path].sha256
        if sha:
            if (r.identity, sha) in seen:
                duplicates += 1
                continue
            seen.add((r.identity, sha))
        kept.append(r)
    paths = [r.path for r in kept]
    return PreparedRecords(
        records=kept,
        labels=np.array([r.identity for r in kept], dtype=object),
        matrix=embeddings.matrix(paths),
        quality=embeddings.quality(paths),
        n_duplicates_removed=duplicates,
        n_multi_excluded=multi,
        second=embeddings.matrix(paths, second=True) if embeddings.has_second else None,
        fusion=embeddings.fusion,
        yaw=embeddings.yaw(paths),
    )


def genuine_pairs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair of distinct records of one identity, as index arrays."""
    by_id: dict[Any, list[int]] = {}
    for i, lab in enumerate(labels.tolist()):
        by_id.setdefault(lab, []).append(i)
    a_parts, b_parts = [], []
    for idx in by_id.values():
        if len(idx) > 1:
            arr = np.array(idx, np.int64)
            ia, ib = np.triu_indices(len(arr), k=1)
            a_parts.append(arr[ia])
            b_parts.append(arr[ib])
    if not a_parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(a_parts), np.concatenate(b_parts)


def impostor_pairs(
    labels: np.ndarray, limit: int | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of records of different identities, or a uniform sample of ``limit``."""
    codes = np.unique(labels.astype(str), return_inverse=True)[1].astype(np.int64)
    n = codes.size
    sizes = np.bincount(codes)
    total = (n * (n - 1) - int((sizes * (sizes - 1)).sum())) // 2
    if limit is None or total <= limit:
        a_parts, b_parts = [], []
        for i in range(n - 1):
            j = np.arange(i + 1, n, dtype=np.int64)
            j = j[codes[j] != codes[i]]
            a_parts.append(np.full(j.size, i, np.int64))
            b_parts.append(j)
        if not a_parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(a_parts), np.concatenate(b_parts)
    chosen = np.zeros(0, np.int64)
    while chosen.size < limit:
        draw = int((limit - chosen.size) * 1.2) + 16
        da = rng.integers(0, n, draw)
        db = rng.integers(0, n, draw)
        ok = codes[da] != codes[db]
        lo, hi = np.minimum(da, db)[ok], np.maximum(da, db)[ok]
        chosen = np.unique(np.concatenate([chosen, lo * n + hi]))
    chosen = rng.permutation(chosen)[:limit]
    chosen.sort()
    return chosen // n, chosen % n


def _pair_groups(
    prepared: PreparedRecords,
    columns: Sequence[str],
    ga: np.ndarray,
    gb: np.ndarray,
    ia: np.ndarray,
    ib: np.ndarray,
) -> dict[str, tuple[list[Any], list[Any]]]:
    out: dict[str, tuple[list[Any], list[Any]]] = {}
    for column in columns:
        values = [r.group(column) or "" for r in prepared.records]
        gen = [
            values[a] if values[a] == values[b] else "<mixed>" for a, b in zip(ga, gb, strict=True)
        ]
        imp: list[Any] = [(values[a], values[b]) for a, b in zip(ia, ib, strict=True)]
        out[column] = (gen, imp)
    return out


def evaluate_identities(
    dataset: Dataset,
    embeddings: EmbeddingSet,
    thresholds: Thresholds,
    *,
    seed: int = DEFAULT_SEED,
    max_impostors: int | None = DEFAULT_MAX_IMPOSTORS,
    identification: bool = True,
) -> EvalReport:
    """1:1 and 1:N report of an identity-labelled set (folders, manifests)."""
    prepared = prepare_records(dataset.records, embeddings)
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    ga, gb = genuine_pairs(prepared.labels)
    ia, ib = impostor_pairs(prepared.labels, max_impostors, rng)
    verification = None
    if ga.size and ia.size:
        a = np.concatenate([ga, ia])
        b = np.concatenate([gb, ib])
        labels = np.concatenate([np.ones(ga.size, bool), np.zeros(ia.size, bool)])
        scores = prepared.pair_scores(a, b)
        n_fold = min(ga.size, ia.size)
        kfold_mask = np.zeros(labels.size, bool)
        kfold_mask[: ga.size][rng.permutation(ga.size)[:n_fold]] = True
        kfold_mask[ga.size + rng.permutation(ia.size)[:n_fold]] = True
        folds = None
        if 2 * n_fold >= MIN_PAIRS_FOR_KFOLD:
            folds = np.zeros(labels.size, np.int64)
            folds[kfold_mask] = _random_folds(int(kfold_mask.sum()), DEFAULT_FOLDS, rng)
        else:
            notes.append("too few pairs for a 10-fold accuracy")
        quality = np.stack([prepared.quality[a], prepared.quality[b]], axis=1)
        groups = _pair_groups(prepared, dataset.group_columns, ga, gb, ia, ib)
        sampled = max_impostors is not None and ia.size == max_impostors
        protocol = (
            f"all {ga.size} genuine pairs; "
            + (f"{ia.size} sampled impostor pairs" if sampled else f"all {ia.size} impostor pairs")
            + f"; 10-fold on {2 * n_fold} balanced pairs, random folds (seed {seed})"
        )
        verification = verification_report(
            scores,
            labels,
            thresholds,
            folds=folds,
            kfold_mask=kfold_mask if folds is not None else None,
            quality=quality,
            groups=groups,
            protocol=protocol,
        )
    else:
        notes.append("no genuine or no impostor pairs: no 1:1 figures")
    ident = identification_report(prepared, seed=seed) if identification else None
    return EvalReport(
        dataset=dataset,
        embeddings=embeddings,
        thresholds=thresholds,
        verification=verification,
        identification=ident,
        n_images=len(dataset.records),
        n_duplicates_removed=prepared.n_duplicates_removed,
        n_multi_excluded=prepared.n_multi_excluded,
        notes=notes,
    )


def _similarity(m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """Cosine similarities; NaN where either side had no face."""
    return np.asarray(m1, np.float32) @ np.asarray(m2, np.float32).T


def identification_report(prepared: PreparedRecords, *, seed: int) -> IdentificationReport:
    labels = prepared.labels
    notes: list[str] = []
    closed = None
    _, inverse, counts = np.unique(labels.astype(str), return_inverse=True, return_counts=True)
    probes = np.flatnonzero(counts[inverse] > 1)
    if probes.size:
        sim = prepared.similarity(probes, slice(None))
        sim[np.arange(probes.size), probes] = np.nan  # a probe is not its own gallery item
        ranks = rank_k_accuracy(sim, labels[probes], labels, ks=RANKS)
        closed = {
            "protocol": "leave-one-out: each image with a mate is a probe against all others",
            "n_probes": ranks.n_probes,
            "n_gallery": int(labels.size - 1),
            "n_probes_without_face": int(np.isnan(prepared.matrix[probes, 0]).sum()),
            **{f"rank_{k}": acc for k, acc in ranks.accuracy.items()},
            "misses_at_rank_1": int((ranks.ranks > 1).sum()),
        }
    else:
        notes.append("no identity has two images: no closed-set figures")
    open_set = None
    n_ids = int(counts.size)
    if n_ids >= 5:
        split = make_identification_split(
            prepared.records, seed=seed, nonmated_fraction=NONMATED_FRACTION
        )
        out_ids = {r.identity for r in split.nonmated_probes}
        nonmated = [*split.nonmated_probes, *(r for r in split.unused if r.identity in out_ids)]
        index = {r.path: i for i, r in enumerate(prepared.records)}
        g = np.array([index[r.path] for r in split.gallery], np.int64)
        m = np.array([index[r.path] for r in split.mated_probes], np.int64)
        nm = np.array([index[r.path] for r in nonmated], np.int64)
        if g.size and m.size and nm.size:
            sim_m = prepared.similarity(m, g)
            sim_n = prepared.similarity(nm, g)
            points = []
            for fpir in FPIR_TARGETS:
                point = fnir_at_fpir(sim_m, labels[m], sim_n, labels[g], fpir, rank=1)
                points.append(_open_set_dict(fpir, point, nm.size))
            open_set = {
                "protocol": f"{NONMATED_FRACTION:.0%} of identities left out of the gallery "
                f"(seed {seed}); all their images are non-mated probes, one image of every "
                "other identity is a mated probe; rank 1",
                "n_gallery": int(g.size),
                "n_mated": int(m.size),
                "n_nonmated": int(nm.size),
                "points": points,
            }
    else:
        notes.append("fewer than 5 identities: no open-set figures")
    return IdentificationReport(closed_set=closed, open_set=open_set, notes=notes)


def _open_set_dict(fpir: float, point: OpenSetPoint | None, n_nonmated: int) -> dict[str, Any]:
    if point is None:
        return {
            "fpir": fpir,
            "supported": False,
            "reason": f"needs at least {math.ceil(1 / fpir)} non-mated probes, have {n_nonmated}",
        }
    return {
        "fpir": fpir,
        "supported": True,
        "fnir": point.fnir,
        "threshold": point.threshold,
        "fpir_reached": point.fpir,
    }
