"""Embedding a data set once: each image through the face pipeline, the scored face kept.

Workers run on the one batch runner (:mod:`facesearch.ingest.batches`), as ingest's do; an image
that kills its worker is a failure to enrol with the reason, and the run goes on.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from facesearch.engine.decode import decode_file
from facesearch.engine.embed import manifest_fusion
from facesearch.engine.pipeline import FacePipeline
from facesearch.errors import DecodeError
from facesearch.ingest.batches import BatchRunner, process_pool
from facesearch.ingest.worker import init_worker, worker_pipeline
from facesearch.models.manifest import load_manifest
from facesearch.search.compare import LARGEST, choose_face, probe_face

if TYPE_CHECKING:
    from facesearch.engine.decode import DecodedImage
    from facesearch.engine.embed import ScoreFusion
    from facesearch.engine.pipeline import Face, FacePipeline, PipelineSettings
    from facesearch.models.manifest import Manifest


NO_FACE = "no face found"
ProgressFn = Callable[[int, int], None]
T = TypeVar("T")


# ------------------------------------------------------------------------ embedding


@dataclass(frozen=True)
class ImageResult:
    """What the pipeline made of one image: the scored face's embedding, or why not."""

    path: Path
    embedding: np.ndarray | None  # unit vector of the scored face; None = failure to enrol
    quality: float  # that face's quality score; NaN without a face
    flags: tuple[str, ...]
    n_faces: int
    sha256: str  # "" when the file could not be read
    error: str  # "" when enrolled; "no face found" or the decode error otherwise
    second: np.ndarray | None = None  # the second model's vector of that face (fusion runs)
    face: int | None = None  # index of the face scored (0 = largest); None without a face
    ambiguous: bool = False  # its two largest faces are of similar size (verify)
    yaw: float = math.nan  # that face's yaw estimate from YuNet's landmarks (quality.yaw)
    detector_score: float = math.nan  # YuNet's score for that face
    face_size: float = math.nan  # sqrt(w * h) of its box, in original pixels

    @property
    def enrolled(self) -> bool:
        return self.embedding is not None


@dataclass
class EmbeddingSet:
    """Per-path results of one embedding pass, with the model that made them."""

    results: dict[Path, ImageResult]
    model_key: str
    variant: str
    dim: int
    seconds: float = 0.0
    workers: int = 0
    fusion: ScoreFusion | None = None  # set when a second model's vectors are fused in
    face_rule: str = LARGEST  # which face of each image was embedded (verify.FACE_RULES)

    def __getitem__(self, path: Path) -> ImageResult:
        return self.results[path]

    @property
    def has_second(self) -> bool:
        return any(r.second is not None for r in self.results.values())

    def matrix(self, paths: Sequence[Path], *, second: bool = False) -> np.ndarray:
        """(n, dim) float32 embeddings (or the second model's), NaN rows without a face."""
        vectors = [self.results[p].second if second else self.results[p].embedding for p in paths]
        dim = next((v.size for v in vectors if v is not None), self.dim)
        out = np.full((len(paths), dim), np.nan, np.float32)
        for i, vec in enumerate(vectors):
            if vec is not None:
                out[i] = vec
        return out

    def quality(self, paths: Sequence[Path]) -> np.ndarray:
        return np.array([self.results[p].quality for p in paths], np.float64)

    def yaw(self, paths: Sequence[Path]) -> np.ndarray:
        """Yaw of each path's scored face (NaN without one): the fusion's pose term."""
        return np.array([self.results[p].yaw for p in paths], np.float64)

    def failures(self) -> list[ImageResult]:
        return sorted(
            (r for r in self.results.values() if not r.enrolled), key=lambda r: str(r.path)
        )


def embed_one(pipeline: FacePipeline, path: Path, face_rule: str = LARGEST) -> ImageResult:
    """Decode ``path`` and run it through the pipeline; the face ``face_rule`` picks is kept
    (``verify.choose_face``), with the second recognizer's vector when the pipeline runs it."""
    return embed_one_face(pipeline, path, face_rule)[0]


def embed_one_face(
    pipeline: FacePipeline, path: Path, face_rule: str = LARGEST
) -> tuple[ImageResult, Face | None, DecodedImage | None]:
    """:func:`embed_one`, with the scored pipeline face and the decoded image (None when there
    is none), for studies that describe the same face again (``featurecache``'s flips)."""

    try:
        decoded = decode_file(path, pipeline.settings.max_pixels)
    except DecodeError as exc:
        return ImageResult(path, None, math.nan, (), 0, "", str(exc)), None, None
    faces = pipeline.process_image(decoded).faces
    if not faces:
        return ImageResult(path, None, math.nan, (), 0, decoded.sha256, NO_FACE), None, decoded
    choice = choose_face(
        [probe_face(f) for f in faces], decoded.width, decoded.height, rule=face_rule
    )
    face = faces[choice.used]
    second = None if face.second is None else np.asarray(face.second, np.float32)
    result = ImageResult(
        path=path,
        embedding=np.asarray(face.embedding, np.float32),
        quality=float(face.quality.score),
        flags=tuple(face.quality.flags),
        n_faces=len(faces),
        sha256=decoded.sha256,
        error="",
        second=second,
        face=choice.used,
        ambiguous=choice.ambiguous,
        yaw=float(face.quality.yaw),
        detector_score=float(face.detector_score),
        face_size=float(math.sqrt(max(face.bbox[2], 0.0) * max(face.bbox[3], 0.0))),
    )
    return result, face, decoded


def init_eval_worker(settings: PipelineSettings | None, manifest: Manifest | None = None) -> None:
    """Set up as ingest's workers are (one OpenCV thread, Ctrl-C left to the parent), running
    ``manifest``'s recognizer (None: the packaged one)."""

    init_worker(settings, 1, manifest=manifest)


def eval_worker_pipeline() -> FacePipeline:
    """The pipeline :func:`init_eval_worker` loaded in this worker process."""

    return worker_pipeline()


def _embed_chunk(paths: list[Path], face_rule: str = LARGEST) -> list[ImageResult]:
    pipeline = eval_worker_pipeline()
    return [embed_one(pipeline, p, face_rule) for p in paths]


def embed_in_workers(
    chunks: Sequence[list[Path]],
    chunk_fn: Callable[[list[Path]], list[T]],
    settings: PipelineSettings | None,
    workers: int,
    failed: Callable[[Path, str], T],
    manifest: Manifest | None = None,
) -> Iterator[list[T]]:
    """Each chunk's results, in order, from ``workers`` processes set up by
    :func:`init_eval_worker` running ``chunk_fn``; an image that kills its worker on its own
    comes back as ``failed(path, reason)``."""
    runner: BatchRunner[Path, list[T]] = BatchRunner(
        partial(process_pool, workers, init_eval_worker, (settings, manifest)),
        lambda executor: chunk_fn,
        max_in_flight=2 * workers,
        ordered=True,
        crash_reason="worker process crashed while reading this image",
    )
    for outcome in runner.run(chunks):
        if outcome.result is None:
            yield [failed(outcome.items[0], outcome.error)]
        else:
            yield outcome.result


def failed_image(path: Path, reason: str) -> ImageResult:
    """The result of an image that could not be embedded (``reason``)."""
    return ImageResult(path, None, math.nan, (), 0, "", reason)


def default_workers(n_images: int) -> int:
    """One worker per core (at most 2 below 200 images); 0 (in-process) for tiny sets."""
    cores = os.cpu_count() or 1
    if n_images < 40 or cores < 2:
        return 0
    return min(cores, 2) if n_images < 200 else cores


def embed_images(
    paths: Sequence[Path],
    *,
    pipeline: FacePipeline | None = None,
    settings: PipelineSettings | None = None,
    workers: int | None = None,
    on_progress: ProgressFn | None = None,
    chunk_size: int = 16,
    fusion: ScoreFusion | None = None,
    face_rule: str = LARGEST,
    manifest: Manifest | None = None,
) -> EmbeddingSet:
    """Embed every distinct path once, keeping the face ``face_rule`` picks in each.

    ``workers=0`` runs in this process (with ``pipeline`` if given); otherwise a spawn pool
    of ``workers`` processes, each with its own pipeline and one OpenCV thread (as ingest's
    workers). ``workers=None`` picks :func:`default_workers`. When the pipeline runs the
    second recognizer (``PipelineSettings.second_model``, the default), every score is
    fused, with ``fusion`` or else the manifest's recorded fusion, as search and ``compare``
    score; ``PipelineSettings(second_model=False)`` measures SFace alone. ``manifest`` runs
    another recognizer (e.g. a model of the data directory's model store as its
    ``default_recognizer``); None: the packaged manifest's.
    """

    unique = list(dict.fromkeys(Path(p) for p in paths))
    n_workers = default_workers(len(unique)) if workers is None else max(0, int(workers))
    start = time.perf_counter()
    results: dict[Path, ImageResult] = {}
    done = 0
    if on_progress:
        on_progress(0, len(unique))
    if n_workers == 0:
        pipe = pipeline or _loaded(manifest, settings)
        for path in unique:
            results[path] = embed_one(pipe, path, face_rule)
            done += 1
            if on_progress:
                on_progress(done, len(unique))
        key, variant, dim = pipe.model_key, _variant(pipe), pipe.dim
    else:
        chosen = settings if settings is not None else (pipeline.settings if pipeline else None)
        chunks = [unique[i : i + chunk_size] for i in range(0, len(unique), chunk_size)]
        task = partial(_embed_chunk, face_rule=face_rule)
        batches = embed_in_workers(chunks, task, chosen, n_workers, failed_image, manifest)
        for chunk_results in batches:
            for r in chunk_results:
                results[r.path] = r
            done += len(chunk_results)
            if on_progress:
                on_progress(done, len(unique))
        pipe = pipeline or FacePipeline(manifest or load_manifest(), chosen)
        key, variant, dim = pipe.model_key, _variant(pipe), pipe.dim
    if pipe.second is None:
        fusion = None
    elif fusion is None:
        fusion = manifest_fusion(pipe.manifest)
    return EmbeddingSet(
        results=results,
        model_key=key,
        variant=variant + ("+dlib-fusion" if fusion is not None else ""),
        dim=dim,
        seconds=time.perf_counter() - start,
        workers=n_workers,
        fusion=fusion,
        face_rule=face_rule,
    )


def _loaded(manifest: Manifest | None, settings: PipelineSettings | None) -> FacePipeline:
    if manifest is None:
        return FacePipeline.load(settings)
    pipe = FacePipeline(manifest, settings)
    pipe.load_models()
    return pipe


def _variant(pipeline: FacePipeline) -> str:
    return str(getattr(pipeline.embedder, "variant", "single"))
