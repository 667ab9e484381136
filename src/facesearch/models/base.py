"""One small base class per model kind: ``load()`` once, then ``predict()`` many times."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from facesearch.models.manifest import ModelSpec

In = TypeVar("In")
Out = TypeVar("Out")


class InferenceModel(ABC, Generic[In, Out]):
    """A model described by a manifest entry. Nothing is loaded until ``load()``."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

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
