"""Typed settings passed down: a programmatic ``Settings`` reaches the gallery's blobs and models
without going through the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesearch.engine.pipeline import FacePipeline
from facesearch.search.gallery import Gallery
from facesearch.settings import Settings
from facesearch.store.crypto import ENV_VAR, Cipher, generate_key, is_encrypted, parse_key

pytest.importorskip("cryptography")


def test_programmatic_settings_reach_the_blobs_and_the_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (ENV_VAR, "FACESEARCH_SECOND_RUNTIME", "FACESEARCH_MODEL_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    key = generate_key()
    settings = Settings(
        data_dir=tmp_path / "data",
        encryption_key=key,
        model_cache_dir=tmp_path / "models",
        second_runtime="dlib",
    )
    with Gallery.open(settings=settings) as g:
        assert g.data_dir == tmp_path / "data"
        # the blobs: encrypted with the settings' key, though the environment names none
        assert g.blobs.cipher is not None
        assert g.blobs.cipher.key_id == Cipher(parse_key(key)).key_id
        stored = g.blobs.put(b"a crop")
        assert is_encrypted(g.blobs.path(stored).read_bytes())
        assert g.blobs.get(stored) == b"a crop"
        # the models: runtimes and cache of the settings, in the pipeline and in each model
        inference = g.pipeline_settings.inference
        assert inference is not None and inference.cache_dir == tmp_path / "models"
        assert ("recognizer-secondary", "dlib") in inference.overrides
        pipe = FacePipeline(g.manifest, g.pipeline_settings)  # not loaded: nothing read
        assert pipe.inference == inference
        assert pipe.second is not None and pipe.second.inference == inference
        assert pipe.second.runtime.name == "dlib"
        assert pipe.embedder.inference == inference
        # and where ingest makes second vectors follows that runtime (dlib's own: the pass)
        assert g.second_vectors_plan().at == "pass"
        assert g.ingest_settings().inference == inference  # the workers get them too


def test_the_environment_still_gives_the_default_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Gallery.open(data_dir)`` without settings builds them with ``Settings.load()``."""
    monkeypatch.setenv(ENV_VAR, generate_key())
    monkeypatch.delenv("FACESEARCH_SECOND_RUNTIME", raising=False)
    with Gallery.open(tmp_path / "data") as g:
        assert g.settings.data_dir == tmp_path / "data"
        assert g.blobs.cipher is not None
        assert is_encrypted(g.blobs.path(g.blobs.put(b"x")).read_bytes())


def test_models_are_injected_through_the_public_seam(tmp_path: Path, pipeline, astronaut) -> None:  # type: ignore[no-untyped-def]
    """``Gallery.open(..., pipeline=...)`` uses the given (loaded) pipeline instead of loading
    one; an open gallery takes one through its ``pipeline`` property."""
    with Gallery.open(tmp_path / "a", pipeline=pipeline) as g:
        assert g.pipeline is pipeline
        assert g.verifier.pipeline is pipeline
        assert len(g.embed(astronaut)) == 1
    with Gallery.open(tmp_path / "b") as g:
        g.pipeline = pipeline
        assert g.pipeline is pipeline and g.ingest_pipeline(g.pipeline_settings) is pipeline
