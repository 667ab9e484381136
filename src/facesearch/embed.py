"""Embed: SFace embeddings of aligned faces, L2-normalised, in batches.

Flip fusion (the default): each aligned crop is embedded as it is and mirrored left to right,
and the two unit vectors are averaged and renormalised. A face and its mirror image are the
same person, so the average cancels part of what is specific to one view (pose, lighting
from one side) and keeps what identifies the person. It costs a second pass of the
recognizer per face; docs/accuracy.md has the measured gain and cost.
"""

from __future__ import annotations

import numpy as np

from facesearch.models.base import InferenceModel
from facesearch.models.manifest import ModelSpec, verified_model_path
from facesearch.models.runtime import OpenCVDnnSession, Session

FLIP_FUSION = "flip-fusion"
SINGLE = "single"


def variant_name(flip_fusion: bool) -> str:
    """The name recorded with evaluations and calibrations for an embedding variant."""
    return FLIP_FUSION if flip_fusion else SINGLE


class SFaceEmbedder(InferenceModel[np.ndarray, np.ndarray]):
    """Aligned 112x112 BGR crops (n, 112, 112, 3) uint8 -> (n, 128) float32 unit vectors."""

    def __init__(self, spec: ModelSpec, batch_size: int = 32, flip_fusion: bool = True) -> None:
        super().__init__(spec)
        self.batch_size = batch_size
        self.flip_fusion = flip_fusion
        self._session: Session | None = None

    @property
    def dim(self) -> int:
        return int(self.spec.embedding_size or 0)

    @property
    def variant(self) -> str:
        return variant_name(self.flip_fusion)

    def _load(self) -> None:
        path = verified_model_path(self.spec)
        self._session = OpenCVDnnSession(path, self.spec.input_name or "data")

    def _predict(self, crops: np.ndarray) -> np.ndarray:
        crops = np.asarray(crops)
        if crops.ndim == 3:
            crops = crops[None]
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        vectors = normalise(self.features(crops))
        if self.flip_fusion:
            vectors = normalise(vectors + normalise(self.features(crops[:, :, ::-1])))
        return vectors

    def features(self, crops: np.ndarray) -> np.ndarray:
        """The recognizer's raw (not normalised) output for (n, 112, 112, 3) BGR crops."""
        assert self._session is not None, "call load() first"
        out = []
        for start in range(0, len(crops), self.batch_size):
            batch = crops[start : start + self.batch_size]
            # BGR uint8 NHWC -> RGB float32 NCHW; mean and scale are inside the graph.
            tensor = batch[:, :, :, ::-1].transpose(0, 3, 1, 2).astype(np.float32)
            out.append(self._session.run(tensor).reshape(len(batch), -1))
        return np.concatenate(out, axis=0).astype(np.float32)


def normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
