"""Embed: SFace embeddings of aligned faces, L2-normalised, in batches."""

from __future__ import annotations

import numpy as np

from facesearch.models.base import InferenceModel
from facesearch.models.manifest import ModelSpec, verified_model_path
from facesearch.models.runtime import OpenCVDnnSession, Session


class SFaceEmbedder(InferenceModel[np.ndarray, np.ndarray]):
    """Aligned 112x112 BGR crops (n, 112, 112, 3) uint8 -> (n, 128) float32 unit vectors."""

    def __init__(self, spec: ModelSpec, batch_size: int = 32) -> None:
        super().__init__(spec)
        self.batch_size = batch_size
        self._session: Session | None = None

    @property
    def dim(self) -> int:
        return int(self.spec.embedding_size or 0)

    def _load(self) -> None:
        path = verified_model_path(self.spec)
        self._session = OpenCVDnnSession(path, self.spec.input_name or "data")

    def _predict(self, crops: np.ndarray) -> np.ndarray:
        assert self._session is not None
        crops = np.asarray(crops)
        if crops.ndim == 3:
            crops = crops[None]
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        out = []
        for start in range(0, len(crops), self.batch_size):
            batch = crops[start : start + self.batch_size]
            # BGR uint8 NHWC -> RGB float32 NCHW; mean and scale are inside the graph.
            tensor = batch[:, :, :, ::-1].transpose(0, 3, 1, 2).astype(np.float32)
            out.append(self._session.run(tensor).reshape(len(batch), -1))
        vectors = np.concatenate(out, axis=0).astype(np.float32)
        return normalise(vectors)


def normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
