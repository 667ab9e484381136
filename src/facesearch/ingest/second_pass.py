"""The second-vector pass: the second recognizer (dlib's ResNet) on every queued face.

dlib costs about 120 ms per face on one core against SFace's 19 ms, so ingest does not run it:
ingest's workers align each face's chip on the full-resolution photo and queue it
(``second_vector_queue``). This pass describes the queued chips in batches in worker processes
(one per core; or on the configured executor: Ray actors with ``FACESEARCH_EXECUTOR=ray://...``,
each loading dlib once), stores the vectors in grouped transactions and deletes each chip once
its vector is committed. Search only ever reads the stored vectors.

Resumable and idempotent by construction: a face leaves the queue in the transaction that
stores its vector, so a pass killed at any point leaves only whole results behind, and the next
pass does what is left. A face queued without a chip (ingested before chips were kept) is
described from its stored 160 px crop, and its vector is recorded as made from the crop. A face
that cannot be described (its chip or crop missing or unreadable) stays in the queue with the
reason, out of later passes, and is counted.

Each pass first queues the faces whose stored second vector was made by another model than the
one in use (``Catalog.queue_stale_second``; e.g. plain dlib vectors once they are flip-averaged,
``PipelineSettings.second_flip``): search scores them with SFace alone (their vectors are never
fused with the new ones), and the pass remakes them from their stored crops.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facesearch.engine.align import align_face
from facesearch.engine.embed import DlibEmbedder
from facesearch.ingest.batches import BatchRunner, process_pool
from facesearch.ingest.worker import ChipGeometry, crop_origin, lower_priority
from facesearch.models.inference import InferenceSettings
from facesearch.models.manifest import ModelSpec
from facesearch.models.runtime import set_threads
from facesearch.store.ports import BlobStore, Catalog, Executor, InlineExecutor
from facesearch.store.records import FROM_CROP, FROM_PHOTO, PendingSecond


@dataclass(frozen=True)
class ChipJob:
    """One face to describe: a PNG chip aligned on the photo, or a JPEG crop to align."""

    face_id: int
    data: bytes
    # for a crop: the five landmarks relative to the crop's top-left corner, and the crop's
    # size in image pixels (the stored crop may have been downscaled)
    landmarks: tuple[tuple[float, float], ...] = ()
    crop_size: tuple[int, int] | None = None

    @property
    def from_crop(self) -> bool:
        return self.crop_size is not None


@dataclass
class ChipResults:
    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class SecondPassProgress:
    total: int  # faces pending when the pass started
    done: int = 0
    failed: int = 0


@dataclass
class SecondPassReport:
    described: int = 0
    from_crop: int = 0  # of which made from the stored crop (faces ingested before chips)
    failed: dict[int, str] = field(default_factory=dict)  # face id -> reason
    remaining: int = 0  # still queued (after Ctrl-C), failures not counted
    seconds: float = 0.0
    worker_seconds: float = 0.0  # recognizer time summed over the workers
    interrupted: bool = False
    executor: str = ""  # where the workers ran: "processes", "inline", or e.g. "RayExecutor"
    requeued: int = 0  # faces queued again because their second vector was of another model

    @property
    def faces_per_second(self) -> float:
        return self.described / self.seconds if self.seconds > 0 else 0.0

    def counts(self) -> dict[str, int | float]:
        return {
            "second_vectors_made": self.described,
            "second_vectors_from_crop": self.from_crop,
            "second_vectors_failed": len(self.failed),
            "second_vectors_remaining": self.remaining,
            "second_vectors_requeued": self.requeued,
            "second_pass_seconds": round(self.seconds, 2),
        }


SecondPassCallback = Callable[[SecondPassProgress], None]


# --- worker side ------------------------------------------------------------------------------
class _Describer:
    def __init__(self, spec: ModelSpec, inference: InferenceSettings) -> None:
        if spec.alignment_template is None:
            raise ValueError(f"second recognizer {spec.key} has no alignment template")
        self.embedder = DlibEmbedder(spec, inference=inference)
        self.embedder.load()
        self.geometry = ChipGeometry(
            np.asarray(spec.alignment_template, np.float32),
            (int(spec.input_size[0]), int(spec.input_size[1])),
        )

    def chip(self, job: ChipJob) -> np.ndarray:
        """The job's 150x150 BGR chip (raises ValueError if its image cannot be read)."""
        import cv2

        pixels = cv2.imdecode(np.frombuffer(job.data, np.uint8), cv2.IMREAD_COLOR)
        if pixels is None:
            raise ValueError("unreadable chip" if not job.from_crop else "unreadable crop")
        if job.crop_size is None:
            if pixels.shape[1::-1] != self.geometry.size:
                raise ValueError(f"chip of {pixels.shape[1::-1]} pixels, not {self.geometry.size}")
            return pixels
        if len(job.landmarks) != 5:
            raise ValueError("no landmarks stored for this face")
        cw, ch = job.crop_size
        scale = np.array([pixels.shape[1] / cw, pixels.shape[0] / ch], np.float32)
        points = np.asarray(job.landmarks, np.float32) * scale
        return align_face(pixels, points, self.geometry.template, self.geometry.size)

    def describe(self, jobs: list[ChipJob]) -> ChipResults:
        t0 = time.perf_counter()
        out = ChipResults()
        chips, ids = [], []
        for job in jobs:
            try:
                chips.append(self.chip(job))
                ids.append(job.face_id)
            except ValueError as exc:
                out.errors[job.face_id] = str(exc)
        if chips:
            vectors = self.embedder.predict(np.stack(chips))
            out.vectors = {face_id: vec for face_id, vec in zip(ids, vectors, strict=True)}
        out.seconds = time.perf_counter() - t0
        return out


class _DescriberState:
    describer: _Describer | None = None


_state = _DescriberState()


def init_describer(
    spec: ModelSpec, inference: InferenceSettings, threads: int = 1, nice: int = 0
) -> None:
    """Worker set-up: load (and verify) the second recognizer on the runtime ``inference``
    chooses, ``nice`` steps below the parent's CPU priority; Ctrl-C is the parent's."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lower_priority(nice)
    set_threads(threads)
    _state.describer = _Describer(spec, inference)


def describe_chips(jobs: list[ChipJob]) -> ChipResults:
    """Vectors of the jobs' faces, in the worker set up by :func:`init_describer`."""
    if _state.describer is None:
        raise RuntimeError("second-pass worker used before init_describer")
    return _state.describer.describe(jobs)


# --- the pass ---------------------------------------------------------------------------------
class SecondPass:
    """Describe every queued face with the second recognizer; see the module docstring."""

    def __init__(
        self,
        catalog: Catalog,
        blobs: BlobStore,
        spec: ModelSpec,
        inference: InferenceSettings,
        *,
        workers: int | None = None,
        batch_size: int = 16,
        commit_every: int = 128,
        on_progress: SecondPassCallback | None = None,
        executor: Callable[[int, Callable[..., None], tuple[Any, ...]], Executor] | None = None,
        nice: int = 0,
    ) -> None:
        self.catalog = catalog
        #: the workers' CPU priority below this process's (``ingest/worker.py``)
        self.nice = nice
        #: starts the workers (count, initializer, its arguments), e.g. Ray actors
        #: (``ingest/ray_executor.py``); None: the local process pool
        self.executor_factory = executor
        self.blobs = blobs
        self.spec = spec
        #: the runtime and model cache of the workers' recognizer (from the gallery's settings)
        self.inference = inference
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.batch_size = batch_size
        self.commit_every = commit_every
        self.on_progress = on_progress
        self._done = ChipResults()
        self._sources: dict[int, str] = {}

    def _executor(self) -> Executor:
        if self.workers <= 0:
            _state.describer = _state.describer or _Describer(self.spec, self.inference)
            return InlineExecutor()
        initargs = (self.spec, self.inference, 1, self.nice)
        if self.executor_factory is not None:  # the same worker function on Ray actors
            return self.executor_factory(self.workers, init_describer, initargs)
        return process_pool(self.workers, init_describer, initargs)

    def run(self) -> SecondPassReport:
        """Describe the queue; Ctrl-C stops it cleanly (finished batches are kept)."""
        self.report = SecondPassReport()
        start = time.perf_counter()
        self.report.requeued = self.catalog.queue_stale_second(self.spec.model_key)
        counts = self.catalog.second_vector_counts()
        self.progress = SecondPassProgress(total=counts["pending"])
        self._emit()
        if self.progress.total == 0:
            return self.report
        runner: BatchRunner[ChipJob, ChipResults] = BatchRunner(
            self._executor,
            lambda executor: describe_chips,
            max_in_flight=2 * max(1, self.workers),
            crash_reason="worker process crashed while describing this face",
        )
        executor = runner.executor
        self.report.executor = (
            "processes" if isinstance(executor, ProcessPoolExecutor) else type(executor).__name__
        )
        if isinstance(executor, InlineExecutor):
            self.report.executor = "inline"
        try:
            for outcome in runner.run(self._batches()):
                if outcome.result is None:  # a face whose chip killed its worker on its own
                    result = ChipResults(errors={outcome.items[0].face_id: outcome.error})
                else:
                    result = outcome.result
                self._done.vectors.update(result.vectors)
                self._done.errors.update(result.errors)
                self.report.worker_seconds += result.seconds
                self.progress.done += len(result.vectors)
                self.progress.failed += len(result.errors)
                self._emit()
                if len(self._done.vectors) + len(self._done.errors) >= self.commit_every:
                    self._commit()
        except KeyboardInterrupt:
            self.report.interrupted = True
        finally:
            runner.shutdown()
            self._commit()
            self.report.seconds = time.perf_counter() - start
            self.report.remaining = self.catalog.second_vector_counts()["pending"]
        return self.report

    def _batches(self) -> Iterator[list[ChipJob]]:
        """The queue, in batches of jobs, read as the workers need them."""
        after = 0
        while rows := self.catalog.pending_second(after, self.batch_size):
            after = rows[-1].face_id
            jobs = self._jobs(rows)
            if jobs:
                yield jobs

    def _jobs(self, rows: list[PendingSecond]) -> list[ChipJob]:
        """Read each face's chip (or crop); a face whose file is missing fails with the reason."""
        jobs = []
        for row in rows:
            key = row.chip or row.crop
            what = "chip" if row.chip else "crop"
            try:
                if key is None or not self.blobs.exists(key):
                    raise FileNotFoundError(f"its {what} is missing from the blob store")
                data = self.blobs.get(key)
            except Exception as exc:  # missing, or e.g. encrypted with another key
                reason = (
                    str(exc)
                    if isinstance(exc, FileNotFoundError)
                    else f"cannot read its {what}: {exc}"
                )
                self._done.errors[row.face_id] = reason
                self.progress.failed += 1
                continue
            if row.chip is not None:
                self._sources[row.face_id] = FROM_PHOTO
                jobs.append(ChipJob(row.face_id, data))
                continue
            (x0, y0), size = crop_origin((row.image_width, row.image_height), row.bbox)
            points = tuple((x - x0, y - y0) for x, y in row.landmarks)
            self._sources[row.face_id] = FROM_CROP
            jobs.append(ChipJob(row.face_id, data, landmarks=points, crop_size=size))
        return jobs

    def _commit(self) -> None:
        """Store the finished vectors (one transaction), then delete their chips."""
        done, self._done = self._done, ChipResults()
        if done.vectors:
            made = {
                face_id: (vec, self._sources.get(face_id, FROM_PHOTO))
                for face_id, vec in done.vectors.items()
            }
            for key in self.catalog.store_second_vectors(self.spec.model_key, made):
                self.blobs.delete(key)
            self.report.described += len(made)
            self.report.from_crop += sum(1 for _, src in made.values() if src == FROM_CROP)
        if done.errors:
            self.catalog.fail_second(done.errors)
            self.report.failed.update(done.errors)

    def _emit(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)
