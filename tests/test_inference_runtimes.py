"""Runtimes and derived model files: dlib's ResNet as ONNX matches dlib; a corrupted derived file
is rebuilt, and one that cannot be rebuilt to its recorded hash is refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from facesearch.errors import ModelFileError
from facesearch.models.inference import InferenceSettings
from facesearch.models.manifest import load_manifest


def _chips(pipeline, astronaut, other_faces):  # type: ignore[no-untyped-def]
    from facesearch.align import align_face
    from facesearch.decode import decode_array

    chips = []
    for img in [astronaut, *other_faces[:8]]:
        image = decode_array(img)
        faces = pipeline.process_image(image).faces
        if faces:
            chips.append(
                align_face(
                    image.pixels, faces[0].landmarks, pipeline.second_template, pipeline.second_size
                )
            )
    return np.stack(chips)


def test_dlib_onnx_matches_dlib(tmp_path, pipeline, astronaut, other_faces):  # type: ignore[no-untyped-def]
    from facesearch.embed import DlibEmbedder, second_model_spec

    spec = second_model_spec(load_manifest())
    assert spec is not None
    chips = _chips(pipeline, astronaut, other_faces)
    assert len(chips) >= 5
    inference = InferenceSettings(tmp_path / "cache")
    reference = DlibEmbedder(spec, inference=inference.with_runtime(spec.kind, "dlib"))
    converted = DlibEmbedder(spec, inference=inference.with_runtime(spec.kind, "onnxruntime-fp32"))
    cos = (reference.predict(chips) * converted.predict(chips)).sum(axis=1)
    assert cos.min() >= 0.9999, cos


def test_corrupted_derived_file_is_rebuilt_or_refused(tmp_path: Path) -> None:
    from facesearch.models.derive import DerivedFiles
    from facesearch.models.manifest import verified_model_path

    spec = load_manifest().models["yunet-2023mar-int8bq"]
    derived = spec.derived["fp32"]
    cache = DerivedFiles(tmp_path)
    path = cache.path(spec.key, derived, spec.derived, lambda: verified_model_path(spec))
    good = path.read_bytes()
    path.write_bytes(good[:-10] + b"0123456789")  # corrupted in place
    messages: list[str] = []
    rebuilt = DerivedFiles(tmp_path, messages.append).path(
        spec.key, derived, spec.derived, lambda: verified_model_path(spec)
    )
    assert rebuilt.read_bytes() == good
    assert any("does not match its recorded SHA-256" in m for m in messages)
    wrong = dataclasses.replace(derived, sha256="0" * 64)
    with pytest.raises(ModelFileError, match="manifest records 0000"):
        cache.path(spec.key, wrong, spec.derived, lambda: verified_model_path(spec))
