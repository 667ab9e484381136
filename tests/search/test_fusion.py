"""Score fusion of the two recognizers, as search, compare and eval use it.

Every fused score is checked against an oracle computed here from the raw vectors and the
manifest's fusion record: ``z = (1 - w) * z_sface + w * z_dlib``, mapped to
``m1 + (1 - m1) * z / z(1, 1)`` (a perfect pair scores 1).
"""

from __future__ import annotations

import numpy as np
import pytest

from facesearch.engine.embed import ScoreFusion, manifest_fusion
from facesearch.models.manifest import load_manifest
from facesearch.search.scoring import Bands, Scoring


def _oracle(fusion: ScoreFusion, sface: float, dlib: float, pose: float = 0.0) -> float:
    w = float(fusion.pair_weight(pose))
    if fusion.normalisation == "z":
        scale1, scale2 = fusion.primary_std, fusion.secondary_std
    else:
        scale1, scale2 = 1 - fusion.primary_mean, 1 - fusion.secondary_mean
    z1 = (sface - fusion.primary_mean) / scale1
    z2 = (dlib - fusion.secondary_mean) / scale2
    z = (1 - w) * z1 + w * z2
    perfect = (1 - w) * (1 - fusion.primary_mean) / scale1 + w * (
        1 - fusion.secondary_mean
    ) / scale2
    return fusion.primary_mean + (1 - fusion.primary_mean) * z / perfect


def test_scores_fuse_where_both_vectors_exist_and_fall_back_elsewhere() -> None:
    rng = np.random.default_rng(7)
    fusion = ScoreFusion(0.4, 0.04, 0.09, 0.83, 0.04)
    scoring = Scoring(Bands(0.33, 0.39), fusion, Bands(0.29, 0.34), "a", "b")
    primary = np.array([0.5, 0.2, 0.1])
    probe = rng.normal(size=8)
    probe /= np.linalg.norm(probe)
    others = rng.normal(size=(3, 8))
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    others[1] = np.nan  # a gallery face without the second vector
    scores, fused = scoring.scores(primary, probe, others)
    assert fused.tolist() == [True, False, True]
    assert scores[1] == primary[1]
    for i in (0, 2):
        assert scores[i] == pytest.approx(_oracle(fusion, primary[i], float(others[i] @ probe)))
    # no probe vector: nothing fused
    plain, none = scoring.scores(primary, None, others)
    assert plain.tolist() == primary.tolist() and not none.any()
    # one pair: fused bands with both vectors, SFace bands without
    a, b = others[0], others[2]
    score, fused_pair = scoring.score(np.array([1.0, 0.0]), np.array([0.6, 0.8]), a, b)
    assert scoring.bands_for(fused_pair) == Bands(0.29, 0.34)
    assert score == pytest.approx(_oracle(fusion, 0.6, float(a @ b)))
    score, fused_pair = scoring.score(np.array([1.0, 0.0]), np.array([0.6, 0.8]), a, None)
    assert (score, scoring.bands_for(fused_pair)) == (pytest.approx(0.6), Bands(0.33, 0.39))


def test_pipeline_describes_each_face_with_both_models(pipeline, astronaut) -> None:
    from facesearch.engine.decode import decode_array
    from facesearch.engine.pipeline import FacePipeline, PipelineSettings

    face = pipeline.process_image(decode_array(astronaut)).faces[0]
    assert face.second is not None and face.second.shape == (128,)
    assert np.linalg.norm(face.second) == pytest.approx(1.0, abs=1e-5)
    mirrored = pipeline.process_image(decode_array(astronaut[:, ::-1].copy())).faces[0]
    assert float(face.second @ mirrored.second) > 0.9  # dlib: same person, same photo mirrored
    fast = FacePipeline(load_manifest(), PipelineSettings(second_model=False))
    assert fast.second is None


def test_compare_and_search_give_the_same_fused_score(gallery, astronaut, other_faces, tmp_path):
    from tests.conftest import write_image

    from facesearch.engine.decode import decode_array

    folder = tmp_path / "photos"
    write_image(folder / "astronaut.png", astronaut)
    for i, img in enumerate(other_faces[:30]):
        write_image(folder / f"other_{i:03d}.png", img)
    gallery.ingest([folder], workers=0, second_vectors="pass")  # chips queued, no vector yet
    assert gallery.catalog.faces([1])[1].second_embedding is None
    made = gallery.second_pass(workers=0)  # the pass after ingest, from each photo
    assert made.described == gallery.catalog.stats()["faces"] and not made.failed
    probe = np.clip(astronaut.astype(int) - 40, 0, 255).astype(np.uint8)[:, ::-1].copy()
    result = gallery.search(probe, k=5)
    top = result.candidates[0]
    assert top.image_path.endswith("astronaut.png") and top.fused
    assert result.thresholds["match"] == gallery.scoring.bands_for(True).match
    assert result.thresholds["sface_match"] == gallery.scoring.bands.match
    stored = gallery.catalog.faces([c.face_id for c in result.candidates])
    kept = stored[top.face_id].second_embedding
    assert kept is not None and stored[top.face_id].second_model == gallery.scoring.second_model
    # ... what the pipeline makes from the original photo (the chip was aligned on it)
    pf = gallery.pipeline.process_image(decode_array(probe)).faces[0]
    gf = gallery.pipeline.process_image(decode_array(astronaut)).faces[0]
    assert float(kept @ gf.second) == pytest.approx(1.0, abs=1e-4)  # bf16: batch-dependent rounding
    # the oracle: the fusion record applied to the raw vectors
    fusion = manifest_fusion(load_manifest())
    assert fusion is not None
    want = _oracle(fusion, float(pf.embedding @ gf.embedding), float(pf.second @ kept))
    assert top.score == pytest.approx(want, abs=2e-4)
    comparison = gallery.compare(probe, astronaut)  # from the photos themselves
    # within 1e-3: a bf16 dlib runtime (FACESEARCH_SECOND_RUNTIME) rounds differently by batch
    assert comparison.fused and comparison.score == pytest.approx(top.score, abs=1e-3)
    assert comparison.threshold == gallery.scoring.bands_for(True).match
    # candidates are ranked by fused score
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True)


def test_gallery_faces_without_second_vectors_keep_their_sface_score(tmp_path, astronaut):
    """A gallery ingested with the second model off is searched with SFace scores only, and
    so is it once fusion is on, until the pass has described its faces."""
    from tests.conftest import write_image

    from facesearch.engine.pipeline import PipelineSettings
    from facesearch.search.gallery import Gallery

    folder = tmp_path / "photos"
    write_image(folder / "astronaut.png", astronaut)
    data = tmp_path / "data"
    with Gallery.open(data, pipeline_settings=PipelineSettings(second_model=False)) as fast:
        fast.ingest([folder], workers=0)
        assert fast.catalog.second_vector_counts()["pending"] == 0  # no chip queued
        assert fast.second_pass(workers=0).described == 0
        sface_only = fast.search(astronaut, k=1).candidates[0]
    assert not sface_only.fused
    with Gallery.open(data) as fused_gallery:  # fusion on, but this face has no second vector
        top = fused_gallery.search(astronaut, k=1).candidates[0]
    assert not top.fused and top.score == pytest.approx(sface_only.score, abs=1e-4)
    assert top.band == fused_gallery.scoring.bands.band(top.score)


def test_second_vectors_can_be_made_in_the_ingest_workers(gallery, tmp_path, astronaut, pipeline):
    from tests.conftest import write_image

    from facesearch.engine.decode import decode_array

    folder = tmp_path / "photos"
    write_image(folder / "astronaut.png", astronaut)
    gallery.ingest([folder], workers=0, second_vectors="ingest")
    stored = gallery.catalog.faces([1])[1]
    want = pipeline.process_image(decode_array(astronaut)).faces[0].second
    assert stored.second_embedding is not None
    assert float(stored.second_embedding @ want) == pytest.approx(1.0, abs=1e-4)
    counts = gallery.catalog.second_vector_counts()
    assert counts["from_photo"] == 1 and counts["pending"] == 0  # nothing left for the pass
