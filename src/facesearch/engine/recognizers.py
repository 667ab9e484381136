"""Every recognizer behind one small interface, whatever made it: the shipped SFace and dlib
ResNet (``engine/embed.py``) and any model an agency added with a card
(:class:`CardEmbedder`, ``models/card.py``). :func:`make_recognizer` picks the class for a spec.

A recognizer takes aligned faces, (n, h, w, 3) BGR uint8 crops made with its spec's
``alignment_template`` and ``input_size``, and gives (n, d) float32 unit vectors.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from facesearch.engine.embed import (
    DLIB_RECOGNIZER_KEY,
    DlibEmbedder,
    SFaceEmbedder,
    normalise,
)
from facesearch.errors import ModelFileError
from facesearch.models.base import InferenceModel
from facesearch.models.manifest import STORE, ModelSpec
from facesearch.models.runtime import Session, open_session
from facesearch.models.store import verified_store_file

if TYPE_CHECKING:
    from facesearch.models.inference import InferenceSettings


class Recognizer(Protocol):
    spec: ModelSpec

    @property
    def dim(self) -> int: ...

    def load(self) -> None: ...

    def predict(self, inputs: np.ndarray) -> np.ndarray: ...


def fixed_batch(path: Path) -> int | None:
    """The batch size an ONNX graph's first input is fixed to (None: any)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if dims and dims[0].HasField("dim_value") and dims[0].dim_value > 0:
        return int(dims[0].dim_value)
    return None


class CardEmbedder(InferenceModel[np.ndarray, np.ndarray]):
    """An agency's recognizer, run as its card says (:class:`~facesearch.models.manifest.
    Preprocess`): colour order, layout, mean and scale, L2 normalisation, flip averaging."""

    def __init__(
        self, spec: ModelSpec, batch_size: int = 32, inference: InferenceSettings | None = None
    ) -> None:
        super().__init__(spec, inference)
        if spec.preprocess is None:
            raise ModelFileError(f"{spec.key} has no card pre-processing")
        self.preprocess = spec.preprocess
        self.batch_size = batch_size
        self._session: Session | None = None
        self._fixed: int | None = None  # the batch size the graph is fixed to, if any

    @property
    def dim(self) -> int:
        return int(self.spec.embedding_size or 0)

    def _load(self) -> None:
        runtime, path = self.resolve_file(lambda: verified_store_file(self.spec))
        self._fixed = fixed_batch(path)
        if self._fixed is not None:
            self.batch_size = self._fixed
        self._session = open_session(runtime.engine, path, self.spec.input_name)

    def tensor(self, crops: np.ndarray) -> np.ndarray:
        """(n, h, w, 3) BGR uint8 crops -> the graph's input tensor."""
        p = self.preprocess
        pixels = crops[:, :, :, ::-1] if p.colour == "rgb" else crops
        x = (pixels.astype(np.float32) - np.asarray(p.mean, np.float32)) * np.asarray(
            p.scale, np.float32
        )
        return x.transpose(0, 3, 1, 2) if p.layout == "nchw" else x

    def features(self, crops: np.ndarray) -> np.ndarray:
        """The graph's output for these crops (normalised as the card says)."""
        assert self._session is not None, "call load() first"
        out = []
        for start in range(0, len(crops), self.batch_size):
            batch = crops[start : start + self.batch_size]
            n = len(batch)
            if self._fixed is not None and n < self._fixed:  # pad a fixed batch's last run
                batch = np.concatenate([batch, np.repeat(batch[-1:], self._fixed - n, 0)])
            out.append(self._session.run(self.tensor(batch)).reshape(len(batch), -1)[:n])
        vectors = np.concatenate(out, axis=0).astype(np.float32)
        if vectors.shape[1] != self.dim:
            raise ModelFileError(
                f"{self.spec.key} gave {vectors.shape[1]}-dimensional vectors, its card says "
                f"embedding_size = {self.dim}"
            )
        return normalise(vectors) if self.preprocess.l2 else vectors

    def _predict(self, crops: np.ndarray) -> np.ndarray:
        crops = np.asarray(crops)
        if crops.ndim == 3:
            crops = crops[None]
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        vectors = self.features(crops)
        if self.preprocess.flip:
            vectors = normalise(vectors + self.features(np.ascontiguousarray(crops[:, :, ::-1])))
        return vectors


def make_recognizer(
    spec: ModelSpec,
    *,
    batch_size: int = 32,
    flip_fusion: bool = False,
    inference: InferenceSettings | None = None,
) -> SFaceEmbedder | DlibEmbedder | CardEmbedder:
    """The embedder of a recognizer spec: an agency model's :class:`CardEmbedder`, dlib's
    ResNet, or SFace (``flip_fusion`` applies to SFace only: the others' flip averaging is
    part of their spec)."""
    if spec.source == STORE:
        return CardEmbedder(spec, batch_size, inference)
    if spec.key == DLIB_RECOGNIZER_KEY:
        return DlibEmbedder(spec, batch_size, inference)
    return SFaceEmbedder(spec, batch_size, flip_fusion, inference)
