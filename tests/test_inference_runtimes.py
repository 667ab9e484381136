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


# --------------------------------------------------------------------- every runtime x precision
# Each runtime of each model loads its verified file (derived files built from scratch into a
# temporary cache, so their recorded SHA-256 is checked) and is compared with the reference
# runtime on real faces (24 CFP photos, frontal and profile). The bounds are the measured
# minimum over 150 CFP faces (benchmarks/inference.py --cosine 150) with a margin; runtimes
# whose bound is 0.9999 or more make the reference's vectors (same model key).
COSINE_BOUND = {
    ("sface-2021dec-int8bq", "opencv"): 0.99999,
    ("sface-2021dec-int8bq", "onnxruntime-fp32"): 0.99999,
    ("sface-2021dec-int8bq", "openvino-fp32"): 0.99999,
    ("sface-2021dec-int8bq", "openvino-bf16"): 0.999,  # measured min 0.9996: not the same
    ("sface-2021dec-int8bq", "onnxruntime-int8"): 0.85,  # measured min 0.914, median 0.976
    ("sface-2021dec-int8bq", "openvino-int8"): 0.85,  # measured min 0.924, median 0.976
    ("dlib-resnet-v1", "dlib"): 0.99999,
    ("dlib-resnet-v1", "onnxruntime-fp32"): 0.9999,
    ("dlib-resnet-v1", "openvino-fp32"): 0.9999,
    ("dlib-resnet-v1", "opencv-fp32"): 0.9999,
    ("dlib-resnet-v1", "openvino-bf16"): 0.9999,  # measured min 0.99996
    ("dlib-resnet-v1", "onnxruntime-int8"): 0.99,  # measured min 0.9958, median 0.9995
    ("dlib-resnet-v1", "openvino-int8"): 0.99,  # measured min 0.9963, median 0.9996
}
# int8 on a CPU without VNNI (AVX2 only): ONNX Runtime's and OpenVINO's u8 x s8 kernels can
# saturate their 16-bit intermediate sums, so the int8 files' vectors are further from the
# reference there (measured on the AVX2-only AMD EPYC, these 24 faces: SFace int8 min 0.614 /
# 0.493, dlib int8 min 0.957 / 0.938); the bounds above were measured with AVX512-VNNI
COSINE_BOUND_WITHOUT_VNNI = {
    ("sface-2021dec-int8bq", "onnxruntime-int8"): 0.4,
    ("sface-2021dec-int8bq", "openvino-int8"): 0.4,
    ("dlib-resnet-v1", "onnxruntime-int8"): 0.9,
    ("dlib-resnet-v1", "openvino-int8"): 0.9,
}
REFERENCE = {"recognizer": "opencv", "recognizer-secondary": "dlib", "detector": "opencv"}


def _has_vnni() -> bool:
    """Whether this CPU has int8 dot-product instructions (AVX512-VNNI or AVX-VNNI)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return True  # unknown: hold the stricter bounds
    return "avx512_vnni" in flags or "avx_vnni" in flags


def _cosine_bound(model: str, runtime: str) -> float:
    if not _has_vnni() and (model, runtime) in COSINE_BOUND_WITHOUT_VNNI:
        return COSINE_BOUND_WITHOUT_VNNI[(model, runtime)]
    return COSINE_BOUND[(model, runtime)]


@pytest.fixture(scope="module")
def runtime_cache(tmp_path_factory):  # type: ignore[no-untyped-def]
    return InferenceSettings(tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="module")
def cfp_photos(shared_faces):  # type: ignore[no-untyped-def]
    from facesearch.decode import decode_file

    files = sorted((shared_faces / "cfp" / "Data" / "Images").glob("0[01]?/*/01.jpg"))[:24]
    return [decode_file(f).pixels for f in files]


@pytest.fixture(scope="module")
def cfp_chips(pipeline, cfp_photos):  # type: ignore[no-untyped-def]
    from facesearch.align import align_face
    from facesearch.decode import decode_array

    second = load_manifest().models["dlib-resnet-v1"]
    chips: dict[str, list[np.ndarray]] = {"recognizer": [], "recognizer-secondary": []}
    for pixels in cfp_photos:
        faces = pipeline.detect(decode_array(pixels, rgb=False))
        assert faces, "every one of these CFP photos has a face"
        lm = faces[0].landmarks
        chips["recognizer"].append(align_face(pixels, lm, pipeline.template, pipeline.input_size))
        template = np.array(second.alignment_template, np.float32)
        chips["recognizer-secondary"].append(align_face(pixels, lm, template, second.input_size))
    return {k: np.stack(v) for k, v in chips.items()}


_references: dict[str, np.ndarray] = {}


def _embed(spec, runtime: str, inference: InferenceSettings, chips: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    from facesearch.embed import DlibEmbedder, SFaceEmbedder

    chosen = inference.with_runtime(spec.kind, runtime)
    model = (
        SFaceEmbedder(spec, inference=chosen)
        if spec.kind == "recognizer"
        else DlibEmbedder(spec, inference=chosen)
    )
    assert model.runtime.name == runtime
    return model.predict(chips)


@pytest.mark.shared_data
@pytest.mark.parametrize(("model", "runtime"), sorted(COSINE_BOUND))
def test_recognizer_runtime_matches_reference(model, runtime, runtime_cache, cfp_chips):  # type: ignore[no-untyped-def]
    spec = load_manifest().models[model]
    assert set(COSINE_BOUND) >= {(model, r) for r in spec.runtimes}, "a runtime without a test"
    chips = cfp_chips[spec.kind]
    if model not in _references:
        _references[model] = _embed(spec, REFERENCE[spec.kind], runtime_cache, chips)
    got = _embed(spec, runtime, runtime_cache, chips)
    assert got.shape == (len(chips), 128)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = (got * _references[model]).sum(axis=1)
    assert cos.min() >= _cosine_bound(model, runtime), (runtime, cos.min())


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("runtime", "median_px"),
    [
        ("onnxruntime-fp32", 0.01),
        ("openvino-fp32", 0.01),
        ("openvino-bf16", 1.5),
        ("onnxruntime-int8", 4.0),
        ("openvino-int8", 4.0),
    ],
)
def test_detector_runtime_matches_reference(runtime, median_px, runtime_cache, cfp_photos):  # type: ignore[no-untyped-def]
    from facesearch.detect import YuNetDetector

    spec = load_manifest().detector

    def landmarks(name: str) -> list[np.ndarray]:
        det = YuNetDetector(spec, inference=runtime_cache.with_runtime(spec.kind, name))
        return [det.predict(p)[0].landmarks for p in cfp_photos]

    ref, got = landmarks(REFERENCE["detector"]), landmarks(runtime)
    distance = [float(np.abs(a - b).max()) for a, b in zip(ref, got, strict=True)]
    assert np.median(distance) <= median_px, (runtime, distance)


def test_int8_file_builds_to_its_recorded_hash_and_needs_its_ranges(tmp_path: Path) -> None:
    from facesearch.models.derive import DerivedFiles
    from facesearch.models.manifest import verified_model_path

    spec = load_manifest().recognizer
    int8 = spec.derived["int8"]
    assert int8.recipe == "quantize-int8" and not int8.reduce_range
    messages: list[str] = []
    cache = DerivedFiles(tmp_path, messages.append)
    path = cache.path(spec.key, int8, spec.derived, lambda: verified_model_path(spec))
    assert path.name == int8.file  # built (fp32 first, then int8) and matched its SHA-256
    assert [m.split(" (")[0] for m in messages] == [
        f"building {spec.derived['fp32'].file}",
        f"building {int8.file}",
    ]
    missing = dataclasses.replace(int8, file="other.onnx", calibration="calibration/nope.json")
    with pytest.raises(ModelFileError, match=r"activation ranges .*nope\.json.* missing"):
        cache.path(spec.key, missing, spec.derived, lambda: verified_model_path(spec))
