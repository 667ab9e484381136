"""Runtimes and derived model files: dlib's ResNet as ONNX matches dlib; a corrupted derived file
is rebuilt, and one that cannot be rebuilt to its recorded hash is refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from facesearch.errors import ModelFileError
from facesearch.models.inference import InferenceSettings, cpu_has_int8_dot
from facesearch.models.manifest import load_manifest


def _chips(pipeline, astronaut, other_faces):  # type: ignore[no-untyped-def]
    from facesearch.engine.align import align_face
    from facesearch.engine.decode import decode_array

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
    from facesearch.engine.embed import DlibEmbedder, second_model_spec

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


def test_openvino_sessions_do_not_pin_threads_to_cores(tmp_path: Path) -> None:
    """OpenVINO pins threads by default, and then each process's one inference thread lands on
    the same core: two ingest workers ran SFace on one core of two. Sessions turn it off."""
    from facesearch.models.derive import DerivedFiles
    from facesearch.models.manifest import verified_model_path
    from facesearch.models.runtime import OPENVINO, OPENVINO_BF16, open_session

    spec = load_manifest().models["sface-2021dec-int8bq"]
    path = DerivedFiles(tmp_path).path(
        spec.key, spec.derived["fp32"], spec.derived, lambda: verified_model_path(spec)
    )
    for engine in (OPENVINO, OPENVINO_BF16):
        session = open_session(engine, path, spec.input_name, threads=1)
        assert session.cpu_pinning is False  # type: ignore[attr-defined]
        assert session.run(np.zeros((1, 3, 112, 112), np.float32)).shape == (1, 128)


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
# int8 on a CPU without an int8 dot-product instruction (AVX2 only): the u8 x s8 kernels can
# saturate, so the vectors are much further from the reference (measured on an AMD EPYC with
# AVX2 only, 2026-12-03: dlib min 0.957 / 0.938, SFace min 0.614 / 0.493) and the runtime says so
NO_INT8_DOT_BOUND = {
    ("sface-2021dec-int8bq", "onnxruntime-int8"): 0.4,
    ("sface-2021dec-int8bq", "openvino-int8"): 0.4,
    ("dlib-resnet-v1", "onnxruntime-int8"): 0.9,
    ("dlib-resnet-v1", "openvino-int8"): 0.9,
}
REFERENCE = {"recognizer": "opencv", "recognizer-secondary": "dlib", "detector": "opencv"}


@pytest.fixture(scope="module")
def runtime_cache(tmp_path_factory):  # type: ignore[no-untyped-def]
    return InferenceSettings(tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="module")
def cfp_photos(shared_faces):  # type: ignore[no-untyped-def]
    from facesearch.engine.decode import decode_file

    files = sorted((shared_faces / "cfp" / "Data" / "Images").glob("0[01]?/*/01.jpg"))[:24]
    return [decode_file(f).pixels for f in files]


@pytest.fixture(scope="module")
def cfp_chips(pipeline, cfp_photos):  # type: ignore[no-untyped-def]
    from facesearch.engine.align import align_face
    from facesearch.engine.decode import decode_array

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
    from facesearch.engine.embed import DlibEmbedder, SFaceEmbedder

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
def test_recognizer_runtime_matches_reference(model, runtime, runtime_cache, cfp_chips, capsys):  # type: ignore[no-untyped-def]
    spec = load_manifest().models[model]
    assert set(COSINE_BOUND) >= {(model, r) for r in spec.runtimes}, "a runtime without a test"
    chips = cfp_chips[spec.kind]
    if model not in _references:
        _references[model] = _embed(spec, REFERENCE[spec.kind], runtime_cache, chips)
    capsys.readouterr()
    got = _embed(spec, runtime, runtime_cache, chips)
    said = capsys.readouterr().err
    assert got.shape == (len(chips), 128)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = (got * _references[model]).sum(axis=1)
    bound = COSINE_BOUND[(model, runtime)]
    if (model, runtime) in NO_INT8_DOT_BOUND and cpu_has_int8_dot() is False:
        bound = NO_INT8_DOT_BOUND[(model, runtime)]
        assert "no int8 dot-product instruction" in said, said
    else:
        assert "no int8 dot-product instruction" not in said, said
    assert cos.min() >= bound, (runtime, cos.min())


def test_cpu_int8_dot_product_read_from_cpuinfo(tmp_path: Path) -> None:
    avx2 = tmp_path / "avx2"
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\n")
    vnni = tmp_path / "vnni"
    vnni.write_text("flags\t\t: fpu avx2 avx512f avx512_vnni avx512_bf16\n")
    arm = tmp_path / "arm"
    arm.write_text("Features\t: fp asimd evtstrm asimddp\n")
    assert cpu_has_int8_dot(avx2) is False
    assert cpu_has_int8_dot(vnni) is True
    assert cpu_has_int8_dot(arm) is True
    assert cpu_has_int8_dot(tmp_path / "missing") is None


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
    from facesearch.engine.detect import YuNetDetector

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
