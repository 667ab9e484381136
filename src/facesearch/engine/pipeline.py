"""The face pipeline: decode, detect, align, assess quality, embed.

Ingest, search, compare and evaluation all go through ``FacePipeline`` so that a face is
processed the same way wherever it comes from.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facesearch.engine.align import align_face
from facesearch.engine.decode import DEFAULT_MAX_PIXELS, DecodedImage, decode_bytes, decode_file
from facesearch.engine.detect import Detection, DetectorSettings, YuNetDetector
from facesearch.engine.embed import DlibEmbedder, second_model_spec, second_vectors_manifest
from facesearch.engine.quality import QualityReport, QualitySettings, assess
from facesearch.engine.recognizers import make_recognizer
from facesearch.models.inference import InferenceSettings
from facesearch.models.manifest import Manifest, load_manifest


@dataclass(frozen=True)
class PipelineSettings:
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    max_pixels: int = DEFAULT_MAX_PIXELS
    batch_size: int = 32
    # Also embed each aligned face's mirror image and average the two (see embed.py). Off:
    # measured on CFP with the 10-fold protocol it did not help (docs/accuracy.md).
    flip_fusion: bool = False
    # Also describe each face with the second recognizer (dlib's ResNet, on a chip aligned on
    # the same YuNet landmarks), so that scores can be fused (search.Scoring). On: it lifts
    # CFP frontal-profile 10-fold accuracy from 94.3% to 95.1% (docs/accuracy.md), at about
    # 120 ms more per face on one core. Off gives the fast SFace-only pipeline (ingest).
    second_model: bool = True
    # Flip averaging for the second recognizer: its vector of a face is normalise(v + v_mirror)
    # of the chip and the chip mirrored (one batch; about 7 ms more per face on ONNX Runtime).
    # On (the default): chosen with the fusion by leave-one-dataset-out (docs/accuracy.md).
    # These vectors have their own model key (dlib-resnet-v1-flip@...), fusion and fused
    # bands; off gives the plain vectors with theirs (embed.second_vectors_manifest).
    second_flip: bool = True
    # Which runtime runs each model and where derived model files are built (None: the
    # manifest's choices and the default cache, never the environment: callers pass
    # InferenceSettings.from_settings(settings); models/inference.py).
    inference: InferenceSettings | None = None


@dataclass(frozen=True)
class Face:
    """One face found in an image, with everything the catalog stores about it."""

    index: int  # 0 = largest face in the image
    bbox: tuple[float, float, float, float]  # x, y, w, h in original pixels
    landmarks: np.ndarray  # (5, 2) original pixels
    detector_score: float
    quality: QualityReport
    aligned: np.ndarray  # 112 x 112 x 3 BGR crop the recognizer saw
    embedding: np.ndarray  # (dim,) float32, unit norm
    model: str  # model key of the recognizer
    second: np.ndarray | None = None  # the second recognizer's unit vector, when it ran

    @property
    def searchable(self) -> bool:
        return self.quality.searchable


@dataclass(frozen=True)
class ProcessedImage:
    image: DecodedImage
    faces: list[Face]


class FacePipeline:
    def __init__(self, manifest: Manifest, settings: PipelineSettings | None = None) -> None:
        self.settings = settings or PipelineSettings()
        if self.settings.second_model:  # the second recognizer's vectors, key and fusion
            manifest = second_vectors_manifest(manifest, self.settings.second_flip)
        self.manifest = manifest
        inference = self.settings.inference or InferenceSettings()
        self.inference = inference
        self.detector = YuNetDetector(manifest.detector, self.settings.detector, inference)
        # the primary recognizer: SFace, or the model the gallery switched to (an agency's own,
        # added with a card: engine/recognizers.py)
        self.embedder = make_recognizer(
            manifest.recognizer,
            batch_size=self.settings.batch_size,
            flip_fusion=self.settings.flip_fusion,
            inference=inference,
        )
        template = manifest.recognizer.alignment_template
        if template is None:
            raise ValueError(f"recognizer {manifest.recognizer.key} has no alignment template")
        self.template = np.asarray(template, dtype=np.float32)
        self.input_size = manifest.recognizer.input_size
        self.second: DlibEmbedder | None = None
        self.second_template: np.ndarray | None = None
        self.second_size: tuple[int, int] = (0, 0)
        spec = second_model_spec(manifest) if self.settings.second_model else None
        if spec is not None:
            if spec.alignment_template is None:
                raise ValueError(f"second recognizer {spec.key} has no alignment template")
            self.second = DlibEmbedder(spec, self.settings.batch_size, inference)
            self.second_template = np.asarray(spec.alignment_template, dtype=np.float32)
            self.second_size = spec.input_size

    @classmethod
    def load(cls, settings: PipelineSettings | None = None) -> FacePipeline:
        """Build the pipeline from the shipped manifest and load (and verify) both models."""
        pipe = cls(load_manifest(), settings)
        pipe.load_models()
        return pipe

    def load_models(self) -> None:
        """Load (and verify) every model the pipeline runs."""
        self.detector.load()
        self.embedder.load()
        if self.second is not None:
            self.second.load()

    @property
    def model_key(self) -> str:
        return embedding_model_key(self.manifest, self.settings)

    @property
    def dim(self) -> int:
        return self.embedder.dim

    # --- single images -------------------------------------------------------------------
    def process_bytes(self, data: bytes) -> ProcessedImage:
        return self.process_image(decode_bytes(data, self.settings.max_pixels))

    def process_file(self, path: Path | str) -> list[Face]:
        """Faces in the file, largest first (raises DecodeError for unreadable files)."""
        return self.process_image(decode_file(Path(path), self.settings.max_pixels)).faces

    def process_image(self, image: DecodedImage) -> ProcessedImage:
        return self.process_many([image])[0]

    # --- batches ----------------------------------------------------------------------------
    def detect(self, image: DecodedImage) -> list[Detection]:
        return self.detector.predict(image.pixels)

    def process_many(
        self, images: Sequence[DecodedImage], timings: dict[str, float] | None = None
    ) -> list[ProcessedImage]:
        """Detect and align in every image, then embed all faces in batches.

        ``timings``, when given, accumulates seconds spent in detect, align and embed.
        """
        clock = timings if timings is not None else {}
        pending: list[tuple[int, Detection, np.ndarray, QualityReport]] = []
        for i, image in enumerate(images):
            t0 = time.perf_counter()
            detections = self.detect(image)
            t1 = time.perf_counter()
            for det in detections:
                aligned = align_face(image.pixels, det.landmarks, self.template, self.input_size)
                report = assess(det.bbox, det.landmarks, det.score, aligned, self.settings.quality)
                pending.append((i, det, aligned, report))
            t2 = time.perf_counter()
            clock["detect"] = clock.get("detect", 0.0) + (t1 - t0)
            clock["align"] = clock.get("align", 0.0) + (t2 - t1)
        t0 = time.perf_counter()
        vectors = (
            self.embedder.predict(np.stack([p[2] for p in pending]))
            if pending
            else np.zeros((0, self.dim), np.float32)
        )
        seconds: list[np.ndarray | None] = [None] * len(pending)
        if self.second is not None and self.second_template is not None and pending:
            chips = np.stack(
                [
                    align_face(
                        images[i].pixels, det.landmarks, self.second_template, self.second_size
                    )
                    for i, det, _, _ in pending
                ]
            )
            seconds = list(self.second.predict(chips))
        clock["embed"] = clock.get("embed", 0.0) + (time.perf_counter() - t0)
        per_image: list[list[Face]] = [[] for _ in images]
        for (i, det, aligned, report), vec, second in zip(pending, vectors, seconds, strict=True):
            per_image[i].append(
                Face(
                    index=len(per_image[i]),
                    bbox=det.bbox,
                    landmarks=det.landmarks,
                    detector_score=det.score,
                    quality=report,
                    aligned=aligned,
                    embedding=vec,
                    model=self.model_key,
                    second=second,
                )
            )
        return [
            ProcessedImage(image, faces) for image, faces in zip(images, per_image, strict=True)
        ]

    def embed_aligned(self, crops: np.ndarray) -> np.ndarray:
        return self.embedder.predict(crops)


def embedding_model_key(manifest: Manifest, settings: PipelineSettings | None = None) -> str:
    """The key stored with every vector: the recognizer, plus the embedding variant when it is
    not the plain one (flip-fused vectors must never be compared with plain ones)."""
    key = manifest.recognizer.model_key
    return f"{key}+flip-fusion" if settings is not None and settings.flip_fusion else key
