"""The models read no environment: a programmatic ``Settings`` reaches the second-vector
pass's workers and the evaluation pipeline with the environment cleared, and runtimes named
only in the environment do not reach models given a ``Settings`` built without them
(``tests/search/test_gallery_settings.py`` holds the gallery itself to the same)."""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import pytest

from facesearch.app import evaluation
from facesearch.engine.embed import DlibEmbedder, second_model_spec
from facesearch.engine.pipeline import FacePipeline, PipelineSettings
from facesearch.evaluate.datasets import Dataset
from facesearch.ingest import second_pass
from facesearch.ingest.second_pass import SecondPass
from facesearch.models.inference import InferenceSettings
from facesearch.models.manifest import load_manifest
from facesearch.search.gallery import Gallery
from facesearch.settings import Settings
from facesearch.store.ports import InlineExecutor

RUNTIME_VARIABLES = (
    "FACESEARCH_DETECTOR_RUNTIME",
    "FACESEARCH_RECOGNIZER_RUNTIME",
    "FACESEARCH_SECOND_RUNTIME",
    "FACESEARCH_MODEL_CACHE_DIR",
)


@pytest.fixture
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in RUNTIME_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_settings_reach_the_second_pass_workers(tmp_path: Path, no_environment: None) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", model_cache_dir=tmp_path / "models", second_runtime="dlib"
    )
    with Gallery.open(settings=settings) as g:
        spec = second_model_spec(g.manifest)
        assert spec is not None
        assert g.pipeline_inference.cache_dir == tmp_path / "models"
        assert ("recognizer-secondary", "dlib") in g.pipeline_inference.overrides
        started: list[tuple[Any, ...]] = []

        def executor(workers: int, init: Any, initargs: tuple[Any, ...]) -> Executor:
            started.append((init, initargs))
            return InlineExecutor()

        run = SecondPass(
            g.catalog, g.blobs, spec, g.pipeline_inference, workers=2, executor=executor
        )
        run._executor()
        # each worker is set up with the settings' inference, not the environment's
        ((init, initargs),) = started
        # (the last: the workers' CPU priority below this process's, none when not asked)
        assert init is second_pass.init_describer
        assert initargs == (spec, g.pipeline_inference, 1, 0)
        try:
            init(*initargs)  # what a worker runs: its recognizer on the settings' runtime
            describer = second_pass._state.describer
            assert describer is not None
            assert describer.embedder.inference == g.pipeline_inference
            assert describer.embedder.runtime.name == "dlib"
        finally:
            second_pass._state.describer = None


def test_settings_reach_the_evaluation_pipeline(
    tmp_path: Path, no_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", model_cache_dir=tmp_path / "models", second_runtime="dlib"
    )
    given: dict[str, PipelineSettings] = {}

    def run_evaluation(dataset: Dataset, **kwargs: Any) -> str:
        given["evaluate"] = kwargs["settings"]
        return "report"

    def embed_images(paths: Any, **kwargs: Any) -> None:
        given["calibrate"] = kwargs["settings"]
        raise RuntimeError("stop after the settings are seen")

    monkeypatch.setattr(evaluation, "run_evaluation", run_evaluation)
    monkeypatch.setattr(evaluation, "embed_images", embed_images)
    dataset = Dataset("pairs", tmp_path)
    common: dict[str, Any] = {"workers": 0, "on_progress": None, "note": lambda _: None}
    report = evaluation.evaluate(
        dataset, settings=settings, flip=False, fusion=True, seed=1, max_impostors=None, **common
    )
    assert report == "report"
    with pytest.raises(RuntimeError, match="stop"):
        evaluation.calibrate(
            dataset, settings=settings, output=None, fusion=True, include=(), dry_run=True, **common
        )
    want = InferenceSettings.from_settings(settings)
    for chosen in given.values():
        assert chosen.inference == want
        pipe = FacePipeline(load_manifest(), chosen)  # not loaded: nothing read
        assert pipe.second is not None and pipe.second.runtime.name == "dlib"
        assert pipe.embedder.inference.cache_dir == tmp_path / "models"
    assert set(given) == {"evaluate", "calibrate"}


def test_runtimes_in_the_environment_do_not_reach_the_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACESEARCH_DETECTOR_RUNTIME", "opencv")
    monkeypatch.setenv("FACESEARCH_RECOGNIZER_RUNTIME", "opencv")
    monkeypatch.setenv("FACESEARCH_SECOND_RUNTIME", "dlib")
    manifest = load_manifest()
    spec = second_model_spec(manifest)
    assert spec is not None
    # models and pipelines given no inference settings: the manifest's runtimes
    pipe = FacePipeline(manifest, PipelineSettings())
    assert pipe.inference == InferenceSettings()
    assert pipe.detector.runtime.name == manifest.detector.runtime
    assert pipe.embedder.runtime.name == manifest.recognizer.runtime
    assert pipe.second is not None and pipe.second.runtime.name == spec.runtime != "dlib"
    assert DlibEmbedder(spec).runtime.name == spec.runtime
    # a Settings object built without runtimes: its models do not pick the environment's up
    settings = Settings(
        data_dir=tmp_path / "data",
        detector_runtime=None,
        recognizer_runtime=None,
        second_runtime=None,
    )
    inference = InferenceSettings.from_settings(settings)
    assert inference.overrides == ()
    pipe = FacePipeline(manifest, PipelineSettings(inference=inference))
    assert pipe.detector.runtime.name == manifest.detector.runtime
    assert pipe.second is not None and pipe.second.runtime.name == spec.runtime
    with Gallery.open(settings=settings) as g:
        assert g.pipeline_inference.overrides == ()
        assert g.second_vectors_plan().at != "pass" or spec.runtime == "dlib"


def test_settings_reach_the_clis_embed_tool(
    tmp_path: Path, no_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``facesearch embed`` (app/tools.py) loads its pipeline with the settings' runtimes."""
    from facesearch.app import tools

    settings = Settings(data_dir=tmp_path / "data", second_runtime="dlib")
    loaded: list[PipelineSettings | None] = []

    def load(chosen: PipelineSettings | None = None) -> FacePipeline:
        loaded.append(chosen)
        raise RuntimeError("stop after the settings are seen")

    monkeypatch.setattr(tools.FacePipeline, "load", staticmethod(load))
    with pytest.raises(RuntimeError, match="stop"):
        next(tools.embed_rows(settings, [tmp_path / "a.jpg"]))
    (chosen,) = loaded
    assert chosen is not None and chosen.inference == InferenceSettings.from_settings(settings)
