"""MultiFusion: the N-recognizer score fusion (engine/fusion.py).

Its arithmetic is checked on seeded random records: a 2-member MultiFusion scores exactly as
the shipped ScoreFusion (which computes with the same function), a perfect pair scores 1, the
impostor means map to the primary's, scores rise with every member's cosine, and the
missing-member rule (the primary alone, not fused) holds.
"""

from __future__ import annotations

import numpy as np
import pytest

from facesearch.engine.embed import ScoreFusion, manifest_fusion
from facesearch.engine.fusion import Member, MultiFusion, is_multi_record
from facesearch.errors import ConfigError
from facesearch.models.manifest import load_manifest


def _random_multi(rng: np.random.Generator, n_members: int, normalisation: str) -> MultiFusion:
    w = rng.dirichlet(np.ones(n_members))
    members = tuple(
        Member(
            f"model-{i}",
            float(rng.uniform(-0.2, 0.6)),
            float(rng.uniform(0.02, 0.2)),
            float(w[i]),
        )
        for i in range(n_members)
    )
    return MultiFusion(members, normalisation)


@pytest.mark.parametrize("normalisation", ["z", "unit"])
def test_two_members_score_exactly_as_score_fusion(normalisation: str) -> None:
    rng = np.random.default_rng(25)
    for _ in range(30):
        w = float(rng.uniform(0, 1))
        sf = ScoreFusion(
            w,
            float(rng.uniform(-0.2, 0.5)),
            float(rng.uniform(0.02, 0.2)),
            float(rng.uniform(0.0, 0.9)),
            float(rng.uniform(0.01, 0.2)),
            normalisation=normalisation,
        )
        mf = MultiFusion(
            (
                Member("sface", sf.primary_mean, sf.primary_std, 1.0 - w),
                Member("dlib", sf.secondary_mean, sf.secondary_std, w),
            ),
            normalisation,
        )
        p, s = rng.uniform(-1, 1, 400), rng.uniform(-1, 1, 400)
        expected = sf.fuse(p, s)
        got = mf.fuse(np.column_stack([p, s]))
        np.testing.assert_array_equal(got, expected)  # bit for bit: one source of truth
        assert mf.fused_mask(np.column_stack([p, s])).all()


def test_the_shipped_fusion_as_two_members() -> None:
    sf = manifest_fusion(load_manifest())
    assert sf is not None
    mf = MultiFusion(
        (
            Member("sface", sf.primary_mean, sf.primary_std, 1.0 - sf.weight),
            Member("dlib", sf.secondary_mean, sf.secondary_std, sf.weight),
        ),
        sf.normalisation,
    )
    rng = np.random.default_rng(3)
    p, s = rng.uniform(-1, 1, 200), rng.uniform(-1, 1, 200)
    np.testing.assert_array_equal(mf.fuse(np.column_stack([p, s])), sf.fuse(p, s))


@pytest.mark.parametrize("n_members", [2, 3, 5])
@pytest.mark.parametrize("normalisation", ["z", "unit"])
def test_perfect_pair_one_means_to_primary_mean_and_monotone(
    n_members: int, normalisation: str
) -> None:
    rng = np.random.default_rng(n_members * 10 + len(normalisation))
    for _ in range(10):
        f = _random_multi(rng, n_members, normalisation)
        assert f.fuse(np.ones((3, n_members))) == pytest.approx(1.0, abs=1e-12)
        means = np.array([[m.mean for m in f.members]])
        assert f.fuse(means)[0] == pytest.approx(f.members[0].mean, abs=1e-12)
        x = rng.uniform(-1, 1, (300, n_members))
        base = f.fuse(x)
        for j in range(n_members):
            up = x.copy()
            up[:, j] += rng.uniform(1e-3, 0.3, 300)
            if f.members[j].weight > 1e-9:
                assert (f.fuse(up) > base).all()
        assert MultiFusion.from_dict(f.to_dict()) == f
        assert is_multi_record(f.to_dict())


def test_a_missing_member_leaves_the_primary_alone_and_unfused() -> None:
    f = _random_multi(np.random.default_rng(9), 3, "z")
    x = np.array(
        [
            [0.4, 0.5, 0.6],
            [0.4, np.nan, 0.6],  # no second member's vector: the primary's cosine
            [0.4, 0.5, np.nan],
            [np.nan, 0.5, 0.6],  # no primary: no score
        ]
    )
    out = f.fuse(x)
    assert out[0] == pytest.approx(float(f.fuse(x[:1])[0]))
    assert out[1] == 0.4 and out[2] == 0.4
    assert np.isnan(out[3])
    assert f.fused_mask(x).tolist() == [True, False, False, False]
    # the complete-only rule of evaluation: NaN wherever a member is missing
    assert np.isnan(f.fuse_complete(x)[1:]).all()
    # renormalised (study only): with only the primary present it is the primary's cosine
    only_primary = np.array([[0.37, np.nan, np.nan]])
    assert f.renormalised(only_primary)[0] == pytest.approx(0.37, abs=1e-12)
    assert f.renormalised(np.ones((1, 3)))[0] == pytest.approx(1.0)


def test_invalid_records_are_refused() -> None:
    a, b = Member("a", 0.1, 0.1, 0.5), Member("b", 0.2, 0.1, 0.5)
    with pytest.raises(ConfigError, match="sum to 1"):
        MultiFusion((a, Member("b", 0.2, 0.1, 0.6)))
    with pytest.raises(ConfigError, match="twice"):
        MultiFusion((a, Member("a", 0.2, 0.1, 0.5)))
    with pytest.raises(ConfigError, match="at least two"):
        MultiFusion((Member("a", 0.1, 0.1, 1.0),))
    with pytest.raises(ConfigError, match="normalisation"):
        MultiFusion((a, b), "minmax")
    with pytest.raises(ValueError, match="shape"):
        MultiFusion((a, b)).fuse(np.zeros((4, 3)))


def test_scoring_reads_a_recorded_fusion_and_refuses_one_of_another_file() -> None:
    import dataclasses

    from facesearch.search.scoring import Bands, Scoring

    manifest = load_manifest()
    spec = manifest.recognizer
    other = manifest.models["dlib-resnet-v1"].model_key
    f = MultiFusion((Member(spec.model_key, 0.05, 0.09, 0.7), Member(other, 0.8, 0.04, 0.3)))
    record = {**f.to_dict(), "thresholds": {"match": 0.3, "strong": 0.4}}
    with_fusion = dataclasses.replace(spec, calibration={"fusion": record})
    m = dataclasses.replace(manifest, models={**manifest.models, spec.key: with_fusion})
    scoring = Scoring.from_manifest(m)
    assert scoring.multi == f and scoring.fusion is None
    assert scoring.fused_bands == Bands(0.3, 0.4) and scoring.member_models == (other,)
    assert Scoring.from_manifest(m, fusion=False).multi is None  # the primary alone
    rng = np.random.default_rng(5)
    probe = rng.normal(size=16)
    probe /= np.linalg.norm(probe)
    others = rng.normal(size=(3, 16))
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    others[2] = np.nan  # a gallery face without the member's vector
    primary = np.array([0.5, 0.3, 0.2])
    scores, fused = scoring.scores_multi(primary, {other: probe}, {other: others})
    assert fused.tolist() == [True, True, False] and scores[2] == 0.2
    want = f.fuse(np.column_stack([primary[:2], others[:2] @ probe]))
    np.testing.assert_allclose(scores[:2], want)
    one, was_fused = scoring.score_multi(
        np.array([1.0, 0.0]), np.array([0.5, 0.866]), {other: probe}, {other: others[0]}
    )
    assert was_fused and one == pytest.approx(
        float(f.fuse(np.array([[0.5, others[0] @ probe]]))[0]), abs=1e-3
    )
    stale = {**record, "members": [{**record["members"][0], "model": "x@2"}, record["members"][1]]}
    bad = dataclasses.replace(spec, calibration={"fusion": stale})
    gone = {**record, "members": [record["members"][0], {**record["members"][1], "model": "y@3"}]}
    removed = dataclasses.replace(spec, calibration={"fusion": gone})
    with pytest.raises(ConfigError, match="names y@3, not among"):
        Scoring.from_manifest(
            dataclasses.replace(manifest, models={**manifest.models, spec.key: removed})
        )
    with pytest.raises(ConfigError, match="chosen for x@2"):
        Scoring.from_manifest(
            dataclasses.replace(manifest, models={**manifest.models, spec.key: bad})
        )


def test_members_of_weight_zero_are_left_out_but_the_primary_stays() -> None:
    f = MultiFusion(
        (Member("p", 0.1, 0.1, 0.0), Member("a", 0.2, 0.1, 0.5), Member("b", 0.3, 0.1, 0.5))
    )
    assert f.without_idle() is f  # the primary stays whatever its weight
    g = MultiFusion(
        (Member("p", 0.1, 0.1, 0.6), Member("a", 0.2, 0.1, 0.0), Member("b", 0.3, 0.1, 0.4))
    )
    h = g.without_idle()
    assert h.models == ("p", "b")
    x = np.random.default_rng(2).uniform(-1, 1, (50, 3))
    np.testing.assert_allclose(h.fuse(x[:, [0, 2]]), g.fuse(x))
