"""Flip averaging measured from the feature cache, and chosen by leave-one-dataset-out.

The mirrored vectors come from the real pipeline (the astronaut photo): the mirrored crop's
vector must describe the same face as the plain one, and the mirror photo's own plain vector.
The variant-level selection is checked against a brute-force oracle on seeded score sets.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import write_image

from facesearch.engine.embed import normalise
from facesearch.evaluate import lodo
from facesearch.evaluate.featurecache import FeatureCache, describe_with_flips


def test_mirrored_vectors_describe_the_same_face(tmp_path, astronaut) -> None:
    from facesearch.engine.pipeline import FacePipeline, PipelineSettings

    # the cache holds plain vectors and their mirrors (the shipped pipeline flips dlib's)
    pipeline = FacePipeline.load(PipelineSettings(second_flip=False))
    photo = write_image(tmp_path / "a.png", astronaut)
    mirror = write_image(tmp_path / "b.png", np.ascontiguousarray(astronaut[:, ::-1]))
    result, flip1, flip2 = describe_with_flips(pipeline, photo)
    mirrored, _, _ = describe_with_flips(pipeline, mirror)
    assert result.embedding is not None and result.second is not None
    assert flip1 is not None and flip2 is not None and mirrored.embedding is not None
    assert np.linalg.norm(flip1) == pytest.approx(1, abs=1e-5)
    assert np.linalg.norm(flip2) == pytest.approx(1, abs=1e-5)
    # the same face, not the same vector
    assert 0.8 < float(flip1 @ result.embedding) < 0.9999
    assert 0.8 < float(flip2 @ result.second) < 0.9999
    # the mirrored crop is (up to landmark noise) what the mirror photo gives
    assert float(flip1 @ mirrored.embedding) > float(result.embedding @ mirrored.embedding)
    assert mirrored.second is not None
    assert float(flip2 @ mirrored.second) > float(result.second @ mirrored.second)


def _cache(n: int = 5, seed: int = 3) -> FeatureCache:
    rng = np.random.default_rng(seed)

    def unit() -> np.ndarray:
        return normalise(rng.normal(size=(n, 4))).astype(np.float32)

    primary, secondary = unit(), unit()
    primary[0] = np.nan  # no face
    flip1, flip2 = unit(), unit()
    flip2[2] = np.nan  # a second vector made without its mirror
    return FeatureCache(
        paths=np.array([f"p/{i}.jpg" for i in range(n)]),
        primary=primary,
        secondary=secondary,
        yaw=rng.uniform(-1, 1, n),
        detector_score=rng.uniform(0.5, 1, n),
        face_size=rng.uniform(20, 200, n),
        quality=rng.uniform(0, 1, n),
        sha256=np.array([f"{i:064x}" for i in range(n)]),
        model_key="m1",
        second_model_key="m2",
        primary_flip=flip1,
        secondary_flip=flip2,
    )


def test_flip_averaging_from_the_cache_and_round_trip(tmp_path) -> None:
    cache = _cache()
    back = FeatureCache.load(cache.save(tmp_path / "c.npz"))
    assert np.array_equal(back.flipped(True), cache.flipped(True), equal_nan=True)
    assert not back.has_flips  # row 2 has a second vector without its mirror
    both = back.with_flip_averaging(True, True)
    want = normalise(cache.primary[1:] + cache.flipped(False)[1:])
    assert np.allclose(both.primary[1:], want) and np.isnan(both.primary[0]).all()
    assert np.isnan(both.secondary[2]).all()
    assert np.allclose(
        both.secondary[3], normalise(cache.secondary[3:4] + cache.flipped(True)[3:4])[0]
    )
    only = back.with_flip_averaging(True, False)
    assert np.array_equal(only.secondary, cache.secondary)
    # a cache without mirrored vectors reads as all-NaN mirrors
    plain = FeatureCache(**{**vars(cache), "primary_flip": None, "secondary_flip": None})
    assert np.isnan(FeatureCache.load(plain.save(tmp_path / "p.npz")).flipped(False)).all()
    merged = plain.merge(cache)
    assert np.array_equal(merged.flipped(False), cache.flipped(False), equal_nan=True)


def _variant_sets(seed: int) -> dict[str, list[lodo.ScoredSet]]:
    """Three sets; in the 'sface+flip' variant SFace separates better on the first two."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[lodo.ScoredSet]] = {"plain": [], "sface+flip": []}
    for k, name in enumerate(("a", "b", "c")):
        n = 400
        labels = np.arange(n) % 2 == 0
        p = np.where(labels, 0.5, 0.1) + rng.normal(0, 0.15, n)
        q = np.where(labels, 0.9, 0.8) + rng.normal(0, 0.04, n)
        better = np.where(labels, 0.55, 0.08) + rng.normal(0, 0.12 if k < 2 else 0.2, n)
        folds, pose = np.arange(n) % 5, np.zeros(n)
        out["plain"].append(lodo.ScoredSet(name, p, q, labels, folds, pose))
        out["sface+flip"].append(lodo.ScoredSet(name, better, q, labels, folds, pose))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_variant_choice_matches_a_brute_force_oracle(seed: int) -> None:
    variants = _variant_sets(seed)
    candidates = lodo.candidate_grid((0.1, 0.3, 0.6), ("z",))
    results = lodo.leave_one_out_variants(variants, candidates)
    options = lodo.single_options(variants)
    for r in results:
        train = [n for n in ("a", "b", "c") if n != r.name]
        # oracle: every (variant, candidate), fitted on the training sets, by the rule
        rows = []
        for variant, sets in variants.items():
            by = {s.name: s for s in sets}
            stats = lodo.impostor_statistics([by[n] for n in train])
            best_single = {
                n: max(lodo.score_set(v, by[n]).accuracy for v in options[n].values())
                for n in train
            }
            for cand in candidates:
                fusion = cand.fusion(stats)
                accs = {
                    n: lodo.score_set(lodo.fused_scores(fusion, by[n]), by[n]).accuracy
                    for n in train
                }
                ok = sum(accs[n] >= best_single[n] - 1e-9 for n in train)
                rows.append((ok, float(np.mean(list(accs.values()))), variant, cand))
        most = max(x[0] for x in rows)
        top = max(x[1] for x in rows if x[0] == most)
        winners = {(x[2], x[3]) for x in rows if x[0] == most and x[1] >= top - 1e-9}
        assert (r.variant, r.selection.candidate) in winners
        held = next(s for s in variants[r.variant] if s.name == r.name)
        want = lodo.score_set(lodo.fused_scores(r.selection.fusion, held), held)
        assert r.fused.accuracy == pytest.approx(want.accuracy)
        assert r.best_single == max(
            lodo.score_set(v, held).accuracy for v in options[r.name].values()
        )
        assert set(r.singles) == {"sface", "sface+flip", "second"}
        assert r.no_worse == (r.fused.accuracy >= r.best_single - 1e-9)
    decision = lodo.accept_variants(results)
    assert decision.failures == [r.name for r in results if not r.no_worse]
    assert decision.accepted == all(r.no_worse for r in results)


def test_variants_must_share_pairs_and_names_must_be_known() -> None:
    variants = _variant_sets(1)
    s = variants["sface+flip"][0]
    variants["sface+flip"][0] = lodo.ScoredSet(
        s.name, s.primary, s.secondary, ~s.labels, s.folds, s.pose
    )
    with pytest.raises(ValueError, match="other pairs or folds"):
        lodo.leave_one_out_variants(variants, lodo.candidate_grid((0.3,), ("z",)))
    with pytest.raises(ValueError, match="unknown embedding variant"):
        lodo.variant_flips("mirror")
