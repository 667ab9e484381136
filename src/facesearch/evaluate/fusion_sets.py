"""Labelled sets scored by several recognizers, for choosing an N-recognizer fusion
(:mod:`facesearch.evaluate.lodo_multi`) and calibrating its bands.

Each member embeds every photo once (:class:`~facesearch.evaluate.embedding.EmbeddingSet`, one
per member, the same detector and face rule, so the same face of each photo); a pair's cosine
by each member is a column of :class:`~facesearch.evaluate.lodo_multi.MultiScoredSet`'s score
matrix. The pairs are those of ``benchmarks/fusion_lodo.py``:

* a pair protocol: its pairs and its folds (10 seeded random folds when it has none);
* identity-labelled photos (as ``facesearch eval``: byte-identical copies under one identity
  kept once): every genuine pair and as many sampled impostor pairs, 10 seeded random folds;
  every impostor pair (up to ``max_impostors``) for the impostor statistics.

:func:`calibration_pairs` gives the pairs the fused bands are calibrated on, as ``facesearch
calibrate`` does: every pair of distinct photos of an identity set (impostors up to
``max_impostors``), a protocol's own pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from facesearch.engine.fusion import MultiFusion
from facesearch.evaluate.calibrate import calibrate_scores
from facesearch.evaluate.datasets import Dataset
from facesearch.evaluate.embedding import EmbeddingSet
from facesearch.evaluate.identification import genuine_pairs, impostor_pairs, prepare_records
from facesearch.evaluate.lodo_multi import MultiScoredSet
from facesearch.evaluate.verification import _dot_rows, _random_folds
from facesearch.models.calibration import Calibration

MAX_IMPOSTORS = 2_000_000


@dataclass(frozen=True)
class MemberPairs:
    """One set's pairs as index pairs into its photos, and each member's vectors of them."""

    name: str
    photos: list[Path]
    matrices: list[np.ndarray]  # per member, (n_photos, dim), NaN rows without a face
    a: np.ndarray
    b: np.ndarray
    labels: np.ndarray
    folds: np.ndarray | None  # the protocol's folds, if it has them
    n_no_face: int

    def scores(self, a: np.ndarray | None = None, b: np.ndarray | None = None) -> np.ndarray:
        a = self.a if a is None else a
        b = self.b if b is None else b
        return np.column_stack([_dot_rows(m, a, b) for m in self.matrices])


def _member_pairs(
    name: str, dataset: Dataset, embeddings: Sequence[EmbeddingSet], max_impostors: int, seed: int
) -> MemberPairs:
    if dataset.pairs:
        photos = dataset.paths
        index = {p: i for i, p in enumerate(photos)}
        pairs = list(dataset.pairs)
        folds = (
            np.array([p.fold for p in pairs], np.int64)
            if all(p.fold is not None for p in pairs)
            else None
        )
        a = np.array([index[p.path_a] for p in pairs], np.int64)
        b = np.array([index[p.path_b] for p in pairs], np.int64)
        labels = np.array([p.same for p in pairs], bool)
    else:
        prepared = prepare_records(dataset.records, embeddings[0])
        photos = [r.path for r in prepared.records]
        ga, gb = genuine_pairs(prepared.labels)
        ia, ib = impostor_pairs(prepared.labels, max_impostors, np.random.default_rng(seed))
        a, b = np.concatenate([ga, ia]), np.concatenate([gb, ib])
        labels = np.concatenate([np.ones(ga.size, bool), np.zeros(ia.size, bool)])
        folds = None
    matrices = [e.matrix(photos) for e in embeddings]
    no_face = sum(1 for p in photos if any(not e[p].enrolled for e in embeddings))
    return MemberPairs(name, photos, matrices, a, b, labels, folds, no_face)


def _groups(names: list[str], photos: dict[str, set[Path]]) -> dict[str, str]:
    """Sets sharing photos share a group (connected components), named by their members."""
    group = {n: n for n in names}
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            if photos[x] & photos[y] and group[x] != group[y]:
                gx, gy = group[x], group[y]
                for n in names:
                    if group[n] == gy:
                        group[n] = gx
    members: dict[str, list[str]] = {}
    for n in names:
        members.setdefault(group[n], []).append(n)
    return {n: " + ".join(members[group[n]]) if len(members[group[n]]) > 1 else "" for n in names}


@dataclass(frozen=True)
class FusionData:
    """The sets for the choice and the pairs for the bands."""

    sets: list[MultiScoredSet]
    pairs: list[MemberPairs]


def fusion_data(
    datasets: dict[str, Dataset],
    embeddings: Sequence[EmbeddingSet],
    *,
    seed: int = 2016,
    max_impostors: int = MAX_IMPOSTORS,
) -> FusionData:
    """Every set's pairs scored by every member (``embeddings``: one per member, in member
    order), as in the module's docstring."""
    out, all_pairs = [], []
    for name, ds in datasets.items():
        mp = _member_pairs(name, ds, embeddings, max_impostors, seed)
        all_pairs.append(mp)
        rng = np.random.default_rng(seed)
        if ds.pairs:
            folds = mp.folds if mp.folds is not None else _random_folds(mp.labels.size, 10, rng)
            out.append(MultiScoredSet(name, mp.scores(), mp.labels, folds))
            continue
        gen = np.flatnonzero(mp.labels)
        imp = np.flatnonzero(~mp.labels)
        n = min(gen.size, imp.size)
        if n < 10:
            raise ValueError(
                f"{name}: {gen.size} genuine and {imp.size} impostor pairs; at least 10 of "
                "each are needed (identities with two or more photos)"
            )
        pick = np.concatenate(
            [gen[rng.permutation(gen.size)[:n]], imp[rng.permutation(imp.size)[:n]]]
        )
        scores = mp.scores(mp.a[pick], mp.b[pick])
        labels = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])
        folds = _random_folds(2 * n, 10, rng)
        impostors = mp.scores(mp.a[imp], mp.b[imp])
        out.append(MultiScoredSet(name, scores, labels, folds, impostor_scores=impostors))
    groups = _groups([s.name for s in out], {p.name: set(p.photos) for p in all_pairs})
    return FusionData([replace(s, group=groups[s.name]) for s in out], all_pairs)


def fusion_data_for(data: FusionData, members: Sequence[int]) -> FusionData:
    """``data`` with only the given members' columns (by index, in order)."""
    cols = list(members)
    sets = [
        replace(
            s,
            scores=s.scores[:, cols],
            impostor_scores=None if s.impostor_scores is None else s.impostor_scores[:, cols],
        )
        for s in data.sets
    ]
    pairs = [replace(p, matrices=[p.matrices[i] for i in cols]) for p in data.pairs]
    return FusionData(sets, pairs)


def fused_bands(
    fusion: MultiFusion,
    data: FusionData,
    *,
    model_key: str,
    dataset: str,
) -> Calibration:
    """The fused bands (FAR 1e-3 / 1e-4, ``evaluate.calibrate``'s rule) over every set's pairs
    (a pair missing a member's cosine is rejected, as a pair without a face)."""
    gen, imp = [], []
    for mp in data.pairs:
        fused = fusion.fuse_complete(mp.scores())
        gen.append(fused[mp.labels])
        imp.append(fused[~mp.labels])
    protocol = (
        "every pair of distinct photos of each identity set (byte-identical copies kept once), "
        "each pair protocol's pairs"
    )
    return calibrate_scores(
        np.concatenate(gen),
        np.concatenate(imp),
        model_key=model_key,
        embedding="fusion of " + " + ".join(fusion.models),
        dataset=dataset,
        protocol=protocol,
        n_images=len({p for mp in data.pairs for p in mp.photos}),
        n_no_face=sum(mp.n_no_face for mp in data.pairs),
    )
