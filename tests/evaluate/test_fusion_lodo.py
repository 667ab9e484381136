"""The score fusion's properties and its leave-one-dataset-out selection.

Properties are checked on the shipped record and on seeded random ones: a perfect pair (both
cosines 1, a photo compared with itself) scores exactly 1, scores rise with each cosine, the
impostor means map to SFace's, and the shipped bands belong to the shipped fusion. The
selection (``evaluate.lodo``) is checked against a brute-force oracle on small seeded score
sets: the same rule recomputed candidate by candidate, never a hard-coded answer.
"""

from __future__ import annotations

import numpy as np
import pytest

from facesearch.engine.embed import ScoreFusion, manifest_fusion, pair_pose, second_model_spec
from facesearch.errors import ConfigError
from facesearch.evaluate import lodo
from facesearch.evaluate.calibrate import far_key, round_up
from facesearch.evaluate.featurecache import FeatureCache
from facesearch.models.manifest import load_manifest
from facesearch.search.scoring import Scoring


def _random_fusions(n: int = 40) -> list[ScoreFusion]:
    rng = np.random.default_rng(14)
    out = []
    for i in range(n):
        pose: dict[str, float] = {}
        if i % 2:
            start = float(rng.uniform(0.0, 0.4))
            pose = dict(
                profile_weight=float(rng.uniform(0, 1)),
                pose_start=start,
                pose_full=start + float(rng.uniform(0.05, 0.5)),
            )
        out.append(
            ScoreFusion(
                float(rng.uniform(0, 1)),
                float(rng.uniform(-0.2, 0.5)),
                float(rng.uniform(0.02, 0.2)),
                float(rng.uniform(0.0, 0.9)),
                float(rng.uniform(0.01, 0.2)),
                normalisation=("z", "unit")[i % 3 == 0],
                **pose,  # type: ignore[arg-type]
            )
        )
    return out


def test_the_shipped_fusion_scores_a_perfect_pair_one() -> None:
    fusion = manifest_fusion(load_manifest())
    assert fusion is not None and fusion.output == "unit"
    poses = np.array([np.nan, 0.0, 0.2, 0.5, 1.5])
    perfect = fusion.fuse(np.ones(5), np.ones(5), poses)
    assert perfect == pytest.approx(np.ones(5), abs=1e-12)
    # a photo against itself in float32, as search and compare compute it
    v = np.random.default_rng(1).normal(size=128).astype(np.float32)
    v /= np.linalg.norm(v)
    assert float(fusion.fuse(np.dot(v, v), np.dot(v, v))) >= 0.99


@pytest.mark.parametrize("fusion", _random_fusions(), ids=lambda f: f"w{f.weight:.2f}")
def test_fusion_is_one_at_a_perfect_pair_and_rises_with_each_cosine(fusion: ScoreFusion) -> None:
    rng = np.random.default_rng(7)
    pose = rng.uniform(0, 1, 500)
    assert fusion.fuse(np.ones(500), np.ones(500), pose) == pytest.approx(1.0, abs=1e-9)
    p, s = rng.uniform(-1, 1, 500), rng.uniform(-1, 1, 500)
    step = rng.uniform(1e-4, 0.3, 500)
    base = fusion.fuse(p, s, pose)
    assert (fusion.fuse(p + step, s, pose) > base).all()
    assert (fusion.fuse(p, s + step, pose) >= base).all()  # weight 0 ignores the second
    at_means = fusion.fuse(fusion.primary_mean, fusion.secondary_mean, pose)
    assert at_means == pytest.approx(fusion.primary_mean, abs=1e-9)
    assert ScoreFusion.from_dict(fusion.to_dict()) == fusion


def test_unit_output_keeps_the_order_of_the_old_z_score_fusion() -> None:
    """For a constant weight the new score is an increasing affine map of the old one (so
    the old order, and FAR at mapped thresholds, are unchanged). The record of plain dlib
    vectors (the one made when the scale changed; PipelineSettings(second_flip=False))."""
    from facesearch.engine.embed import second_vectors_manifest

    fusion = manifest_fusion(second_vectors_manifest(load_manifest(), False))
    assert fusion is not None and not fusion.pose_dependent
    old = ScoreFusion.from_dict({k: v for k, v in fusion.to_dict().items() if k != "output"})
    assert old.output == "sface"  # a record without "output" is a pre-2026-12 record
    rng = np.random.default_rng(3)
    p, s = rng.uniform(-0.3, 1, 2000), rng.uniform(0.6, 1, 2000)
    slope, intercept = np.polyfit(old.fuse(p, s), fusion.fuse(p, s), 1)
    assert slope > 0
    assert np.abs(slope * old.fuse(p, s) + intercept - fusion.fuse(p, s)).max() < 1e-9
    assert float(old.fuse(1.0, 1.0)) < 0.8  # what a photo searched for itself scored before


def test_the_manifest_fusion_and_fused_bands_are_consistent() -> None:
    manifest = load_manifest()
    spec = second_model_spec(manifest)
    assert spec is not None
    record = spec.calibration
    fusion = manifest_fusion(manifest)
    assert fusion is not None and fusion == ScoreFusion.from_dict(record["fusion"])
    scoring = Scoring.from_manifest(manifest)
    bands = scoring.bands_for(True)
    fused = record["fused_thresholds"]
    assert bands.match == fused["match"] == round_up(fused[far_key(1e-3)])
    assert bands.strong == fused["strong"] == round_up(fused[far_key(1e-4)])
    ladder = [fused[far_key(f)] for f in (1e-2, 1e-3, 1e-4, 1e-5)]
    assert ladder == sorted(ladder) and ladder[-1] < 1.0
    tar = record["fused_tar"]
    assert [tar[far_key(f)] for f in (1e-2, 1e-3, 1e-4, 1e-5)] == sorted(tar.values(), reverse=True)
    # a photo compared with itself is in the strong band, with fusion and without
    assert bands.band(float(fusion.fuse(1.0, 1.0))) == "strong"
    assert "lodo" in record and record["lodo"]["decision"]["accepted"] in (True, False)


def test_bad_fusion_parameters_are_refused() -> None:
    with pytest.raises(ConfigError, match="weights"):
        ScoreFusion(1.5, 0.0, 0.1, 0.8, 0.04)
    with pytest.raises(ConfigError, match="normalisation"):
        ScoreFusion(0.5, 0.0, 0.1, 0.8, 0.04, normalisation="rank")
    with pytest.raises(ConfigError, match="below 1"):
        ScoreFusion(0.5, 1.0, 0.1, 0.8, 0.04)
    with pytest.raises(ConfigError, match="pose_full"):
        ScoreFusion(0.5, 0.0, 0.1, 0.8, 0.04, profile_weight=0.9, pose_start=0.5, pose_full=0.2)


def test_pose_dependent_weight_moves_from_frontal_to_profile() -> None:
    f = ScoreFusion(0.2, 0.0, 0.1, 0.8, 0.05, profile_weight=0.8, pose_start=0.1, pose_full=0.5)
    assert f.pose_dependent
    assert f.pair_weight(np.array([np.nan, 0.0, 0.1, 0.3, 0.5, 2.0])) == pytest.approx(
        [0.2, 0.2, 0.2, 0.5, 0.8, 0.8]
    )
    assert pair_pose([-0.6, 0.1], [0.2, np.nan]).tolist()[0] == pytest.approx(0.6)


# ------------------------------------------------------------------ LODO selection


def _set(
    name: str, rng: np.random.Generator, n: int, help2: float, group: str = ""
) -> lodo.ScoredSet:
    """Seeded pairs where the second model's evidence is worth ``help2`` (0: noise)."""
    labels = np.arange(n) % 2 == 0
    signal = labels.astype(float)
    s1 = 0.1 + 0.35 * signal + rng.normal(0, 0.12, n)
    s2 = 0.83 + 0.05 * help2 * signal + rng.normal(0, 0.04, n)
    folds = (rng.permutation(n) % 10 + 1).astype(np.int64)
    pose = rng.uniform(0, 0.8, n)
    return lodo.ScoredSet(name, s1, s2, labels, folds, pose, group=group)


@pytest.fixture(scope="module")
def seeded_sets() -> list[lodo.ScoredSet]:
    rng = np.random.default_rng(2016)
    return [
        _set("a", rng, 400, 2.0, group="a+b"),
        _set("b", rng, 300, 1.0, group="a+b"),
        _set("c", rng, 200, 0.0),
        _set("d", rng, 240, 1.5),
    ]


def _oracle(train: list[lodo.ScoredSet], candidates: list[lodo.FusionCandidate]) -> int:
    """The selection rule, recomputed by brute force: most training sets where the fusion is
    no worse than the better single model, then mean accuracy, then mean EER, then the
    first candidate."""
    stats = lodo.impostor_statistics(train)
    best_single = {
        s.name: max(lodo.score_set(s.primary, s).accuracy, lodo.score_set(s.secondary, s).accuracy)
        for s in train
    }
    rows = []
    for i, c in enumerate(candidates):
        f = c.fusion(stats)
        per = [lodo.score_set(lodo.fused_scores(f, s), s) for s in train]
        ok = sum(p.accuracy >= best_single[s.name] - 1e-9 for p, s in zip(per, train, strict=True))
        rows.append((ok, np.mean([p.accuracy for p in per]), np.mean([p.eer for p in per]), i))
    feasible = [r for r in rows if r[0] == max(x[0] for x in rows)]
    top = max(r[1] for r in feasible)
    tied = [r for r in feasible if r[1] >= top - 1e-9]
    low = min(r[2] for r in tied)
    return min(r[3] for r in tied if r[2] <= low + 1e-9)


def test_select_matches_a_brute_force_oracle(seeded_sets: list[lodo.ScoredSet]) -> None:
    grid = (0.1, 0.3, 0.5, 0.7, 0.9)
    candidates = lodo.candidate_grid(grid, profile_weights=(0.2, 0.8))
    chosen = lodo.select(seeded_sets, candidates)
    assert candidates.index(chosen.candidate) == _oracle(seeded_sets, candidates)
    assert chosen.trained_on == ("a", "b", "c", "d") and chosen.n_candidates == len(candidates)
    # the chosen fusion's statistics are the training sets' (each set counted once)
    assert chosen.fusion.primary_mean == pytest.approx(
        np.mean([s.impostors()[0].mean() for s in seeded_sets])
    )


def test_leave_one_out_never_trains_on_the_held_out_set(seeded_sets: list[lodo.ScoredSet]) -> None:
    candidates = lodo.candidate_grid((0.2, 0.5, 0.8), normalisations=("z",))
    for by_group in (False, True):
        results = lodo.leave_one_out(seeded_sets, candidates, by_group=by_group)
        assert [r.name for r in results] == ["a", "b", "c", "d"]
        for r, held in zip(results, seeded_sets, strict=True):
            train = [s for s in seeded_sets if s.name != held.name]
            if by_group:
                train = [s for s in train if s.key != held.key]
            assert r.selection.trained_on == tuple(s.name for s in train)
            assert candidates.index(r.selection.candidate) == _oracle(train, candidates)
            want = lodo.score_set(lodo.fused_scores(r.selection.fusion, held), held)
            assert r.fused == want
    grouped = lodo.leave_one_out(seeded_sets, candidates, by_group=True)
    assert "b" not in grouped[0].selection.trained_on  # a and b share photos


def test_accept_names_every_held_out_set_where_fusion_lost(
    seeded_sets: list[lodo.ScoredSet],
) -> None:
    # a fusion that trusts pure noise (set c: the second model carries nothing) must lose
    # there to SFace alone, and the decision must say so
    noisy = lodo.candidate_grid((0.95,), normalisations=("z",))
    results = lodo.leave_one_out(seeded_sets, noisy)
    lost = [r.name for r in results if r.fused.accuracy < r.best_single - 1e-9]
    assert "c" in lost
    decision = lodo.accept(results)
    assert not decision.accepted and decision.failures == lost


def test_impostor_statistics_count_each_set_once() -> None:
    rng = np.random.default_rng(5)

    def one(name: str, n: int, m1: float, m2: float) -> lodo.ScoredSet:
        labels = np.zeros(n, bool)
        labels[:2] = True
        return lodo.ScoredSet(
            name,
            rng.normal(m1, 0.1, n),
            rng.normal(m2, 0.05, n),
            labels,
            np.arange(n) % 2,
            np.zeros(n),
        )

    big, small = one("big", 20_000, 0.0, 0.8), one("small", 200, 0.2, 0.9)
    m1, s1, m2, _ = lodo.impostor_statistics([big, small])
    assert m1 == pytest.approx(0.1, abs=0.01) and m2 == pytest.approx(0.85, abs=0.01)
    assert s1 > 0.1  # the spread between the two sets' means counts


def test_feature_cache_round_trip_and_merge(tmp_path) -> None:
    rng = np.random.default_rng(9)

    def cache(names: list[str]) -> FeatureCache:
        n = len(names)
        v = rng.normal(size=(n, 4)).astype(np.float32)
        v[0] = np.nan  # a photo without a face
        return FeatureCache(
            paths=np.array(names),
            primary=v,
            secondary=v[:, ::-1].copy(),
            yaw=rng.uniform(-1, 1, n),
            detector_score=rng.uniform(0.6, 1, n),
            face_size=rng.uniform(20, 200, n),
            quality=rng.uniform(0, 1, n),
            sha256=np.array([f"{i:064x}" for i in range(n)]),
            model_key="m1",
            second_model_key="m2",
        )

    first, second = cache(["x/1.jpg", "x/2.jpg"]), cache(["x/2.jpg", "y/3.jpg"])
    path = first.merge(second).save(tmp_path / "c.npz")
    back = FeatureCache.load(path)
    assert back.paths.tolist() == ["x/1.jpg", "x/2.jpg", "y/3.jpg"]
    assert np.array_equal(back.primary[1], second.primary[0], equal_nan=True)  # newer wins
    assert back.enrolled.tolist() == [False, False, True]
    other = cache(["z.jpg"])
    with pytest.raises(ValueError, match="different models"):
        back.merge(FeatureCache(**{**vars(other), "model_key": "another"}))


def test_search_and_compare_weigh_the_second_model_by_the_pairs_pose() -> None:
    from facesearch.search.scoring import Bands

    f = ScoreFusion(0.2, 0.04, 0.09, 0.83, 0.04, profile_weight=0.8)
    scoring = Scoring(Bands(0.33, 0.39), f, Bands(0.35, 0.42), "a", "b")
    rng = np.random.default_rng(4)
    probe = rng.normal(size=8)
    probe /= np.linalg.norm(probe)
    others = rng.normal(size=(3, 8))
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    primary = np.array([0.5, 0.3, 0.2])
    yaws = np.array([0.0, 0.6, np.nan])
    scores, fused = scoring.scores(primary, probe, others, 0.1, yaws)
    want = f.fuse(primary, others @ probe, pair_pose(0.1, yaws))
    assert fused.all() and scores == pytest.approx(want)
    assert scores[1] != pytest.approx(float(f.fuse(primary[1], others[1] @ probe, 0.0)))
    one, is_fused = scoring.score(np.eye(2)[0], np.eye(2)[0], probe, others[1], -0.7, 0.0)
    assert is_fused and one == pytest.approx(float(f.fuse(1.0, others[1] @ probe, 0.7)))


def test_paired_test_counts_pairs_decided_differently() -> None:
    a = np.array([True] * 10 + [False] * 2 + [True] * 5)
    b = np.array([False] * 10 + [True] * 2 + [True] * 5)
    t = lodo.PairedTest.of(a, b)
    assert (t.only_first_right, t.only_second_right) == (10, 2)
    # exact two-sided binomial: 2 * P(X <= 2), X ~ Bin(12, 1/2)
    assert t.p_value == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert lodo.PairedTest.of(a, a).p_value == 1.0
