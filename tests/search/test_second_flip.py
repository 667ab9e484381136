"""Flip averaging for the second recognizer (dlib's ResNet), the shipped default.

Real models, a real SQLite catalog and blob store. The oracle for a flipped vector is dlib's
own code (not the ONNX graph the pipeline runs) on the chip and on the chip mirrored, each
described separately.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from tests.conftest import write_image

from facesearch.engine.align import align_face
from facesearch.engine.decode import decode_array
from facesearch.engine.embed import (
    DLIB_ENGINE,
    DlibEmbedder,
    manifest_fusion,
    normalise,
    second_model_spec,
    second_vectors_manifest,
)
from facesearch.engine.pipeline import FacePipeline, PipelineSettings
from facesearch.models.manifest import load_manifest
from facesearch.search.scoring import Scoring

FLIP_KEY = "dlib-resnet-v1-flip@55533b28a958"
PLAIN_KEY = "dlib-resnet-v1@55533b28a958"


def _spec(flip: bool):  # type: ignore[no-untyped-def]
    spec = second_model_spec(second_vectors_manifest(load_manifest(), flip))
    assert spec is not None
    return spec


def test_the_default_second_vectors_are_flip_averaged_with_their_own_key() -> None:
    manifest = load_manifest()
    assert _spec(True).model_key == FLIP_KEY == second_model_spec(manifest).model_key  # type: ignore[union-attr]
    assert _spec(False).model_key == PLAIN_KEY
    assert PipelineSettings().second_flip
    flip, plain = (
        Scoring.from_manifest(manifest),
        Scoring.from_manifest(second_vectors_manifest(manifest, False)),
    )
    assert (flip.second_model, plain.second_model) == (FLIP_KEY, PLAIN_KEY)
    # each variant has its own fusion and fused bands; SFace's bands are the same
    assert flip.fusion != plain.fusion and flip.fused_bands != plain.fused_bands
    assert flip.bands == plain.bands
    assert plain.fused_bands is not None and plain.fusion is not None
    assert (plain.fused_bands.match, plain.fused_bands.strong) == (0.3572, 0.4208)
    assert plain.fusion.weight == 0.4
    assert manifest_fusion(manifest) == flip.fusion
    # a pipeline with second_flip=False runs (and scores) the plain vectors
    pipe = FacePipeline(manifest, PipelineSettings(second_flip=False))
    assert pipe.second is not None and not pipe.second.flip
    assert second_model_spec(pipe.manifest).model_key == PLAIN_KEY  # type: ignore[union-attr]


def test_a_flipped_vector_is_the_mean_of_the_chip_and_its_mirror(pipeline, astronaut) -> None:
    decoded = decode_array(astronaut)
    face = pipeline.process_image(decoded).faces[0]
    assert pipeline.second is not None and pipeline.second.flip
    assert face.second is not None
    chip = align_face(
        decoded.pixels, face.landmarks, pipeline.second_template, pipeline.second_size
    )
    # dlib's own code, one chip at a time: an oracle independent of the ONNX graph and batch
    inference = pipeline.inference.with_runtime("recognizer-secondary", DLIB_ENGINE)
    reference = DlibEmbedder(_spec(False), inference=inference)
    reference.load()
    v = reference.predict(chip[None])[0]
    v_mirror = reference.predict(np.ascontiguousarray(chip[:, ::-1])[None])[0]
    want = normalise((v + v_mirror)[None])[0]
    assert float(face.second @ want) > 0.99999
    # and it is not the plain vector (the mirror changes it)
    assert float(face.second @ v) < 0.999
    assert float(v @ v_mirror) < 0.999
    # a batch of several faces gives each face its own average (chip i with mirror i)
    two = pipeline.second.predict(np.stack([chip, np.ascontiguousarray(chip[::-1])]))
    assert float(two[0] @ face.second) > 0.99999
    assert float(two[1] @ face.second) < 0.9


def test_old_key_second_vectors_are_not_fused_and_the_pass_remakes_them(
    gallery, tmp_path, astronaut, other_faces, pipeline
) -> None:
    folder = tmp_path / "photos"
    write_image(folder / "astronaut.png", astronaut)
    for i, img in enumerate(other_faces[:3]):
        write_image(folder / f"other_{i}.png", img)
    gallery.ingest([folder], workers=0, second_vectors="ingest")
    assert gallery.scoring.second_model == FLIP_KEY
    # a gallery made before the flip: plain dlib vectors under the old key
    plain = FacePipeline.load(PipelineSettings(second_flip=False))
    old = plain.process_image(decode_array(astronaut)).faces[0].second
    assert old is not None
    with gallery.catalog.engine.begin() as conn:
        conn.execute(
            sa.text("update faces set second_model = :m, second_embedding = :v"),
            {"m": PLAIN_KEY, "v": old.astype(np.float32).tobytes()},
        )
    n = gallery.catalog.second_vector_counts()["with"]
    assert gallery.stats()["second_vectors"]["other_model"] == n > 0
    result = gallery.search(astronaut, k=3)
    # never fused with the old vectors: SFace's score and bands
    assert result.candidates and not any(c.fused for c in result.candidates)
    top = result.candidates[0]
    assert top.band == gallery.scoring.bands.band(top.score)
    # the pass queues and remakes them (from the stored crops: the chips are gone)
    report = gallery.second_pass(workers=0)
    assert report.requeued == n and report.described == n and report.from_crop == n
    assert gallery.stats()["second_vectors"]["other_model"] == 0
    stored = gallery.catalog.faces([top.face_id])[top.face_id]
    assert stored.second_model == FLIP_KEY
    probe = pipeline.process_image(decode_array(astronaut)).faces[0].second
    assert float(stored.second_embedding @ probe) > 0.95
    again = gallery.search(astronaut, k=3)
    assert again.candidates[0].fused and again.candidates[0].face_id == top.face_id
    # and a second pass has nothing left to do
    assert gallery.second_pass(workers=0).requeued == 0


def test_a_user_calibration_of_another_fusion_keeps_its_sface_bands(tmp_path) -> None:
    """A calibration.json made before the flip: its SFace bands apply, its fused ones are
    replaced by the packaged fused bands (with a warning), and the gallery still opens."""
    from facesearch.evaluate.calibrate import Calibration, apply_calibration

    manifest = load_manifest()
    plain = second_vectors_manifest(manifest, False)
    spec = manifest.recognizer
    raw = {
        "model_key": spec.model_key,
        "embedding": "single",
        "match": 0.31,
        "strong": 0.38,
        "dataset": "mine",
        "date": "2026-11-30",
        "fused": {
            "model": "dlib-resnet-v1",
            "fusion": manifest_fusion(plain).to_dict(),  # type: ignore[union-attr]
            "match": 0.35,
            "strong": 0.41,
        },
    }
    calibration = Calibration.from_dict(raw)
    applied = apply_calibration(manifest, calibration)
    assert applied.recognizer.thresholds["match"] == 0.31
    fused = Scoring.from_manifest(applied).bands_for(True)
    packaged = Scoring.from_manifest(manifest).bands_for(True)
    assert fused == packaged
    # with the plain vectors it is the fusion the file was made with: its fused bands apply
    again = Scoring.from_manifest(apply_calibration(plain, calibration)).bands_for(True)
    assert (again.match, again.strong) == (0.35, 0.41)


def test_the_feature_cache_pipeline_describes_plain_vectors() -> None:
    """The LODO cache holds plain vectors and their mirrors (flip averaging is made from
    them), so it refuses a pipeline that already flips."""
    from facesearch.evaluate.featurecache import describe_with_flips

    pipe = FacePipeline(load_manifest(), PipelineSettings())
    with pytest.raises(ValueError, match="without flip averaging"):
        describe_with_flips(pipe, Path("unused.jpg"))
