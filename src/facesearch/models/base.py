"""One small base class per model kind: ``load()`` once, then ``predict()`` many times."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from facesearch.models.inference import InferenceSettings
from facesearch.models.manifest import ModelSpec, RuntimeSpec

In = TypeVar("In")
Out = TypeVar("Out")


class InferenceModel(ABC, Generic[In, Out]):
    """A model described by a manifest entry. Nothing is loaded until ``load()``.

    ``inference`` says which runtime runs it and where derived files live (default: the
    manifest's choice and the default cache; never the environment).
    """

    def __init__(self, spec: ModelSpec, inference: InferenceSettings | None = None) -> None:
        self.spec = spec
        self._inference = inference
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def inference(self) -> InferenceSettings:
        if self._inference is None:  # the manifest's runtimes, the default cache
            self._inference = InferenceSettings()
        return self._inference

    @property
    def runtime(self) -> RuntimeSpec:
        """The runtime this model runs on (engine, precision, file)."""
        return self.inference.runtime_for(self.spec)

    def resolve_file(self, shipped: Callable[[], Path]) -> tuple[RuntimeSpec, Path]:
        """The chosen runtime and its verified model file (derived files built if needed)."""
        runtime = self.runtime
        return runtime, self.inference.model_file(self.spec, runtime, shipped)

    def load(self) -> None:
        if not self._loaded:
            self._load()
            self._loaded = True

    @abstractmethod
    def _load(self) -> None: ...

    def predict(self, inputs: In) -> Out:
        self.load()
        return self._predict(inputs)

    @abstractmethod
    def _predict(self, inputs: In) -> Out: ...
