"""Models side by side (evaluate/compare_models.py): the intervals, rank-1 at gallery sizes
and the fusion of two models, on synthetic embeddings of two recognizers that err
independently (the real runs are in tests/cli/test_calibrate_model.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from facesearch.evaluate.compare_models import (
    CANDIDATE,
    CURRENT,
    FUSION,
    fusion_row,
    gallery_sizes,
    model_row,
    paired_embeddings,
    rank1_at_gallery_sizes,
    wilson,
)
from facesearch.evaluate.featurecache import FeatureCache
from facesearch.evaluate.identification import prepare_records
from facesearch.evaluate.protocols import LabelledImage, VerificationPair
from facesearch.evaluate.runner import (
    NO_FACE,
    Dataset,
    EmbeddingSet,
    ImageResult,
    Thresholds,
    evaluate,
)


def _two_models(
    n_ids: int = 40, per_id: int = 6, noise: float = 1.1, seed: int = 0
) -> tuple[Dataset, EmbeddingSet, EmbeddingSet]:
    """One identity-labelled set embedded by two models whose errors are independent."""
    rng = np.random.default_rng(seed)
    records, sets = [], []
    centres = [rng.normal(size=(n_ids, 24)), rng.normal(size=(n_ids, 24))]
    paths = []
    for i in range(n_ids):
        for j in range(per_id):
            path = Path(f"/synthetic/id{i:03d}/{j:02d}.jpg")
            paths.append((i, j, path))
            records.append(LabelledImage(path, f"id{i:03d}"))
    for m, key in enumerate(("current@0", "candidate@1")):
        results = {}
        for i, j, path in paths:
            vec = centres[m][i] + noise * rng.normal(size=24)
            vec = (vec / np.linalg.norm(vec)).astype(np.float32)
            results[path] = ImageResult(path, vec, 0.9, (), 1, f"{i}-{j}", "")
        sets.append(EmbeddingSet(results, key, "single", 24))
    dataset = Dataset("manifest", Path("/synthetic"), records=tuple(records))
    return dataset, sets[0], sets[1]


def test_wilson_intervals() -> None:
    low, high = wilson(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson(10, 10)[1] == 1.0 and wilson(10, 10)[0] == pytest.approx(0.7225, abs=1e-4)
    assert wilson(0, 10)[0] == 0.0
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_rank1_at_gallery_sizes_matches_the_closed_set_and_shrinks_with_size() -> None:
    dataset, current, _ = _two_models()
    report = evaluate(dataset, current, Thresholds(0.5, 0.6), seed=3)
    sampled, names = gallery_sizes(dataset)
    assert sampled == [10, 100] and names == ["10", "100", "all"]
    row = model_row("current", CURRENT, report, seed=3, sizes=sampled)
    closed = report.identification.closed_set  # type: ignore[union-attr]
    assert row.figures["rank1_gallery_all"].value == closed["rank_1"]  # type: ignore[union-attr]
    # a gallery of every photo is the closed set, computed independently
    prepared = prepare_records(dataset.records, current)
    everything = rank1_at_gallery_sizes(prepared, [10_000], seed=3)[10_000]
    assert everything.value == pytest.approx(closed["rank_1"])
    assert everything.n == closed["n_probes"] == 240
    r10, r100 = (row.figures[f"rank1_gallery_{g}"] for g in (10, 100))
    assert r10 is not None and r100 is not None
    assert r10.value >= r100.value >= closed["rank_1"]  # smaller galleries are easier
    assert r10.low <= r10.value <= r10.high
    # figures and their intervals, with the counts they rest on
    acc = row.figures["accuracy_10fold"]
    assert acc is not None and acc.n == report.verification.kfold["n_pairs"]  # type: ignore[union-attr]
    assert row.counts["n_identities"] == 40 and row.counts["n_genuine"] == 40 * 15


def test_fusion_of_two_models_is_chosen_on_parts_and_beats_each_alone() -> None:
    dataset, current, candidate = _two_models()

    def report_of(emb: EmbeddingSet):  # type: ignore[no-untyped-def]
        return evaluate(dataset, emb, Thresholds(0.5, 0.6), seed=3)

    rows = [
        model_row("current", CURRENT, report_of(current), seed=3, sizes=[10]),
        model_row("candidate", CANDIDATE, report_of(candidate), seed=3, sizes=[10]),
        fusion_row("both", dataset, current, candidate, report_of, seed=3, sizes=[10]),
    ]
    fused = rows[2]
    assert fused.role == FUSION and fused.model_key == "current@0+candidate@1"
    assert fused.fusion is not None and fused.fusion["parts"] == 5
    assert len(fused.fusion["held_out_parts"]) == 5
    assert 0 < fused.fusion["fusion"]["weight"] < 1
    assert "optimistic" in fused.notes[0] and "leave-one-part-out" in fused.notes[0]
    accs = [r.figures["accuracy_10fold"].value for r in rows]  # type: ignore[union-attr]
    assert accs[2] > max(accs[:2])  # independent errors: the fusion helps
    eer = [r.report.verification.eer["eer"] for r in rows]  # type: ignore[union-attr]
    assert eer[2] < min(eer[:2])


def test_a_photo_either_model_misses_has_no_face_in_the_fusion() -> None:
    dataset, current, candidate = _two_models(n_ids=6, per_id=4)
    missed = dataset.records[0].path
    candidate.results[missed] = ImageResult(missed, None, math.nan, (), 0, "x", NO_FACE)
    paired = paired_embeddings(current, candidate, None)
    assert not paired[missed].enrolled and paired[missed].error == NO_FACE
    other = dataset.records[1].path
    assert paired[other].second is candidate[other].embedding
    assert paired[other].embedding is current[other].embedding


def test_feature_caches_are_keyed_by_model_and_never_mix(tmp_path: Path) -> None:
    """Two models never share cached vectors: a cache records its models' keys, keeps them
    through save/load, and refuses to merge with a cache of other models."""
    _, current, candidate = _two_models(n_ids=3, per_id=2)
    root = Path("/synthetic")
    mine = FeatureCache.from_embeddings(current, root, "second@0")
    theirs = FeatureCache.from_embeddings(candidate, root, "second@0")
    assert (mine.model_key, theirs.model_key) == ("current@0", "candidate@1")
    loaded = FeatureCache.load(mine.save(tmp_path / "cache.npz"))
    assert loaded.model_key == "current@0" and loaded.second_model_key == "second@0"
    assert loaded.merge(mine).len == mine.len
    with pytest.raises(ValueError, match="different models"):
        loaded.merge(theirs)


def test_a_pair_protocol_is_compared_on_its_pairs_with_parts_by_fold() -> None:
    identities, current, candidate = _two_models(n_ids=30, per_id=4)
    paths = [r.path for r in identities.records]
    rng = np.random.default_rng(1)
    pairs = []
    for k in range(400):
        same = k % 2 == 0
        i = int(rng.integers(30))
        j = i if same else (i + 1 + int(rng.integers(29))) % 30
        a, b = rng.choice(4, 2, replace=False)
        pairs.append(VerificationPair(paths[4 * i + a], paths[4 * j + b], same, fold=k % 10))
    dataset = Dataset("pairs", Path("/synthetic"), pairs=tuple(pairs))
    assert gallery_sizes(dataset) == ([], [])  # no identities: no rank-1

    def report_of(emb: EmbeddingSet):  # type: ignore[no-untyped-def]
        return evaluate(dataset, emb, Thresholds(0.5, 0.6))

    row = fusion_row("both", dataset, current, candidate, report_of, seed=3, sizes=[])
    assert row.fusion is not None and row.fusion["parts"] == 5
    assert "protocol folds" in row.fusion["rule"]
    acc = row.figures["accuracy_10fold"]
    assert acc is not None and acc.n == 400
    assert row.report.verification.n_genuine == 200  # type: ignore[union-attr]
    assert not any(name.startswith("rank1") for name in row.figures)
