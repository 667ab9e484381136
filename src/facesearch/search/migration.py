"""The migration pass: every face of the gallery re-embedded with another recognizer.

``facesearch models migrate NEW`` (``app/model_migration.py``) runs it; the switch to the new
model (``app/model_switch.py``) comes after, once it is ``ready``. Like the second-vector pass
(``ingest/second_pass.py``), it works in batches on worker processes (one per core, each
loading the target recognizer once; or the configured executor: Ray actors with
``FACESEARCH_EXECUTOR=ray://...``), stores the vectors in grouped transactions and reports
progress.

Per image, the worker decodes the stored ORIGINAL photo (``images.original``), aligns each face
on its stored landmarks with the target model's alignment template and input size (no new
detection: face ids stay) and embeds all the batch's faces at once. An image whose original is
gone is re-embedded from each face's stored 160 px crop (the landmarks moved into the crop,
``ingest.worker.crop_origin``): the vector is stored with source "crop" and counted. A face
that cannot be re-embedded (original unreadable, crop missing, no landmarks) is recorded in
the migration's ``errors`` with why; running the pass again retries it.

Searches go on meanwhile on the current model: the pass writes ``face_vectors`` rows only and
never touches ``faces.embedding`` or the index. It holds the data directory's writer lock only
for each grouped commit (when another writer holds it, an ingest say, the finished vectors
wait in memory for the next commit), so ingest and removals go on too; faces ingested during
the pass arrive with the current model and are picked up by its later batches, and the pass
checks again at the end, so ``ready`` means every searchable face of the source model has a
vector of the target.

Resumable and idempotent by construction: the faces still to do are those without a target
vector, so a pass stopped at any point (Ctrl-C keeps the finished groups) leaves whole results
behind, and the next does only the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facesearch.engine.align import align_face
from facesearch.engine.decode import decode_bytes
from facesearch.engine.pipeline import PipelineSettings, embedding_model_key
from facesearch.engine.recognizers import make_recognizer
from facesearch.errors import FacesearchError
from facesearch.ingest.batches import BatchRunner, process_pool
from facesearch.ingest.worker import crop_origin, lower_priority
from facesearch.models.inference import InferenceSettings
from facesearch.models.manifest import Manifest, ModelSpec
from facesearch.models.runtime import set_threads
from facesearch.search.gallery import Gallery
from facesearch.store import face_vectors as fv
from facesearch.store import model_migrations as rows
from facesearch.store.ports import Executor, InlineExecutor
from facesearch.store.writer_lock import WriterBusyError

#: the kinds of manifest entries a gallery can search with
RECOGNIZER_KINDS = ("recognizer",)
WRITER = "model migration"


class MigrationError(FacesearchError):
    """The target cannot be migrated to (unknown, not a recognizer, already active)."""


def target_of(manifest: Manifest, target: str, settings: PipelineSettings) -> tuple[ModelSpec, str]:
    """The target's spec in the gallery's manifest (packaged + model store) and the key its
    vectors carry: exactly what an ingest with it as the gallery's recognizer would record."""
    spec = manifest.models.get(target)
    if spec is None:
        known = sorted(k for k, s in manifest.models.items() if s.kind in RECOGNIZER_KINDS)
        raise MigrationError(
            f"no model {target!r} in this gallery's manifest or model store (recognizers: "
            f"{', '.join(known)}); add it with 'facesearch models add'"
        )
    if spec.kind not in RECOGNIZER_KINDS:
        raise MigrationError(f"{target} is a {spec.kind}, not a recognizer a gallery searches")
    if spec.alignment_template is None:
        raise MigrationError(f"{target} has no alignment template")
    key = embedding_model_key(dataclasses.replace(manifest, default_recognizer=target), settings)
    return spec, key


# --- worker side --------------------------------------------------------------------------------
@dataclass(frozen=True)
class FaceJob:
    face_id: int
    landmarks: tuple[tuple[float, float], ...]  # in the photo's pixels, or the crop's
    crop: bytes | None = None  # the stored crop (JPEG) when the original is gone
    crop_size: tuple[int, int] | None = None  # the crop's size in photo pixels


@dataclass(frozen=True)
class ImageJob:
    """One image's faces to re-embed: from its original (``original``), else their crops."""

    image_id: int
    size: tuple[int, int]  # (width, height) of the photo as ingest decoded it
    original: bytes | None
    faces: tuple[FaceJob, ...]


@dataclass
class Reembedded:
    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    sources: dict[int, str] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0


class Reembedder:
    """The target recognizer and its geometry, in a worker (or this process)."""

    def __init__(
        self,
        spec: ModelSpec,
        inference: InferenceSettings | None,
        flip_fusion: bool = False,
        max_pixels: int | None = None,
    ) -> None:
        assert spec.alignment_template is not None  # target_of checked it
        self.embedder = make_recognizer(spec, flip_fusion=flip_fusion, inference=inference)
        self.embedder.load()
        self.template = np.asarray(spec.alignment_template, np.float32)
        self.size = (int(spec.input_size[0]), int(spec.input_size[1]))
        self.max_pixels = max_pixels or PipelineSettings().max_pixels

    def _from_original(self, job: ImageJob, out: Reembedded) -> list[tuple[int, np.ndarray]]:
        try:
            pixels = decode_bytes(job.original or b"", self.max_pixels).pixels
        except Exception as exc:  # reported per face, the run goes on
            for face in job.faces:
                out.errors[face.face_id] = f"cannot decode its original: {exc}"
            return []
        width, height = job.size
        scale = np.array([pixels.shape[1] / width, pixels.shape[0] / height], np.float32)
        chips = []
        for face in job.faces:
            if len(face.landmarks) != 5:
                out.errors[face.face_id] = "no landmarks stored for this face"
                continue
            points = np.asarray(face.landmarks, np.float32) * scale
            chips.append((face.face_id, align_face(pixels, points, self.template, self.size)))
            out.sources[face.face_id] = fv.FROM_PHOTO
        return chips

    def _from_crops(self, job: ImageJob, out: Reembedded) -> list[tuple[int, np.ndarray]]:
        import cv2

        chips = []
        for face in job.faces:
            if face.crop is None or face.crop_size is None:
                out.errors[face.face_id] = "its original and its crop are missing"
                continue
            if len(face.landmarks) != 5:
                out.errors[face.face_id] = "no landmarks stored for this face"
                continue
            pixels = cv2.imdecode(np.frombuffer(face.crop, np.uint8), cv2.IMREAD_COLOR)
            if pixels is None:
                out.errors[face.face_id] = "its original is gone and its crop is unreadable"
                continue
            cw, ch = face.crop_size
            scale = np.array([pixels.shape[1] / cw, pixels.shape[0] / ch], np.float32)
            points = np.asarray(face.landmarks, np.float32) * scale
            chips.append((face.face_id, align_face(pixels, points, self.template, self.size)))
            out.sources[face.face_id] = fv.FROM_CROP
        return chips

    def run(self, jobs: list[ImageJob]) -> Reembedded:
        t0 = time.perf_counter()
        out = Reembedded()
        chips: list[tuple[int, np.ndarray]] = []
        for job in jobs:
            if job.original is not None:
                chips += self._from_original(job, out)
            else:
                chips += self._from_crops(job, out)
        if chips:
            vectors = self.embedder.predict(np.stack([c for _, c in chips]))
            out.vectors = {face_id: vec for (face_id, _), vec in zip(chips, vectors, strict=True)}
        out.seconds = time.perf_counter() - t0
        return out


class _WorkerState:
    reembedder: Reembedder | None = None


_state = _WorkerState()


def init_reembedder(
    spec: ModelSpec,
    inference: InferenceSettings | None,
    flip_fusion: bool,
    max_pixels: int | None,
    threads: int = 1,
    nice: int = 0,
) -> None:
    """Worker set-up: load (and verify) the target recognizer, ``nice`` steps below the
    parent's CPU priority; Ctrl-C is the parent's."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lower_priority(nice)
    set_threads(threads)
    _state.reembedder = Reembedder(spec, inference, flip_fusion, max_pixels)


def reembed(jobs: list[ImageJob]) -> Reembedded:
    """The target vectors of the jobs' faces, in the worker set up by :func:`init_reembedder`."""
    if _state.reembedder is None:
        raise RuntimeError("migration worker used before init_reembedder")
    return _state.reembedder.run(jobs)


# --- the pass -----------------------------------------------------------------------------------
@dataclass
class MigrationProgress:
    total: int  # faces of the source model
    done: int = 0  # of which have a target vector
    from_crop: int = 0  # of which made from the stored crop (this run)
    failed: int = 0  # faces that could not be re-embedded (this run)


@dataclass
class MigrationReport:
    migration_id: int
    state: str = rows.RUNNING
    made: int = 0  # vectors made in this run
    from_crop: int = 0  # of which from the stored crop
    failed: dict[int, str] = field(default_factory=dict)
    missing: int = 0  # searchable faces still without a target vector at the end
    seconds: float = 0.0
    worker_seconds: float = 0.0
    interrupted: bool = False
    executor: str = ""

    @property
    def faces_per_second(self) -> float:
        return self.made / self.seconds if self.seconds > 0 else 0.0

    def counts(self) -> dict[str, Any]:
        return {
            "made": self.made,
            "from_crop": self.from_crop,
            "failed": len(self.failed),
            "missing": self.missing,
            "seconds": round(self.seconds, 2),
            "faces_per_second": round(self.faces_per_second, 1),
            "state": self.state,
        }


MigrationCallback = Callable[[MigrationProgress], None]
ExecutorFactory = Callable[[int, Callable[..., None], tuple[Any, ...]], Executor]


class MigrationPass:
    """Re-embed every face of ``source_model_key`` lacking a ``target_model_key`` vector;
    see the module docstring. ``migration_id``: its ``model_migrations`` row."""

    def __init__(
        self,
        gallery: Gallery,
        migration_id: int,
        target: ModelSpec,
        target_model_key: str,
        source_model_key: str,
        *,
        workers: int | None = None,
        batch_faces: int = 16,
        commit_every: int = 256,
        on_progress: MigrationCallback | None = None,
        executor: ExecutorFactory | None = None,
    ) -> None:
        self.gallery = gallery
        self.engine = gallery.catalog.engine
        self.migration_id = migration_id
        self.target = target
        self.target_key = target_model_key
        self.source_key = source_model_key
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.batch_faces = batch_faces
        self.commit_every = commit_every
        #: finished vectors kept in memory while another writer holds the lock, at most
        self.max_waiting = 8 * commit_every
        self.on_progress = on_progress
        self.executor_factory = executor
        settings = gallery.pipeline_settings
        self._initargs = (
            target,
            settings.inference,
            settings.flip_fusion,
            settings.max_pixels,
            1,
            gallery.settings.ingest_nice,
        )
        self._done = Reembedded()
        self._after = 0

    def _executor(self) -> Executor:
        if self.workers <= 0:
            if _state.reembedder is None or _state.reembedder.embedder.spec != self.target:
                _state.reembedder = Reembedder(*self._initargs[:4])
            return InlineExecutor()
        if self.executor_factory is not None:  # the same worker function on Ray actors
            return self.executor_factory(self.workers, init_reembedder, self._initargs)
        return process_pool(self.workers, init_reembedder, self._initargs)

    def run(self) -> MigrationReport:
        """Re-embed what is left; Ctrl-C (or an exception from ``on_progress``) stops it
        cleanly: the finished groups are kept, the row says ``interrupted``."""
        self.report = MigrationReport(self.migration_id)
        start = time.perf_counter()
        counts = fv.face_vector_counts(self.engine, self.target_key, of_model=self.source_key)
        self.progress = MigrationProgress(total=counts["faces"], done=counts["with"])
        with self.gallery.catalog.session() as s:
            rows.update_migration(
                s, self.migration_id, state=rows.RUNNING, total=counts["faces"],
                done=counts["with"], from_crop=counts["from_crop"],
            )  # fmt: skip
        error: BaseException | None = None
        try:
            self._emit()
            while self._round():  # again while faces arrived (an ingest) since the last
                pass
        except KeyboardInterrupt:
            self.report.interrupted = True
        except BaseException as exc:
            self.report.interrupted = True
            error = exc
        finally:
            self._finish(start)
        if error is not None:
            raise error
        return self.report

    def _round(self) -> bool:
        """One run of the workers over the faces left above the cursor; True when faces
        arrived meanwhile (another round is due)."""
        if not fv.pending_faces(self.engine, self.source_key, self.target_key, self._after, 1):
            return False
        runner: BatchRunner[ImageJob, Reembedded] = BatchRunner(
            self._executor,
            lambda executor: reembed,
            max_in_flight=2 * max(1, self.workers),
            crash_reason="worker process crashed while re-embedding this image",
        )
        executor = runner.executor
        self.report.executor = (
            "processes" if isinstance(executor, ProcessPoolExecutor) else type(executor).__name__
        )
        if isinstance(executor, InlineExecutor):
            self.report.executor = "inline"
        try:
            for outcome in runner.run(self._batches()):
                if outcome.result is None:  # an image that killed its worker on its own
                    result = Reembedded(
                        errors={f.face_id: outcome.error for f in outcome.items[0].faces}
                    )
                else:
                    result = outcome.result
                self._take(result)
                self._emit()
                if len(self._done.vectors) + len(self._done.errors) >= self.commit_every:
                    self._commit()
        finally:
            runner.shutdown()
        self._commit()
        return bool(fv.pending_faces(self.engine, self.source_key, self.target_key, self._after, 1))

    def _take(self, result: Reembedded) -> None:
        self._done.vectors.update(result.vectors)
        self._done.sources.update(result.sources)
        self._done.errors.update(result.errors)
        self.report.worker_seconds += result.seconds
        self.progress.done += len(result.vectors)
        self.progress.from_crop += sum(
            1 for i in result.vectors if result.sources.get(i) == fv.FROM_CROP
        )
        self.progress.failed += len(result.errors)

    def _batches(self) -> Iterator[list[ImageJob]]:
        """The faces left, by id, as jobs of whole images of about ``batch_faces`` faces,
        read as the workers need them."""
        while found := fv.pending_faces(
            self.engine, self.source_key, self.target_key, self._after, 16 * self.batch_faces
        ):
            self._after = found[-1].face_id
            by_image: dict[int, list[fv.PendingFace]] = {}
            for face in found:
                by_image.setdefault(face.image_id, []).append(face)
            batch: list[ImageJob] = []
            size = 0
            for faces in by_image.values():
                batch.append(self._job(faces))
                size += len(faces)
                if size >= self.batch_faces:
                    yield batch
                    batch, size = [], 0
            if batch:
                yield batch

    def _read(self, key: str | None) -> bytes | None:
        blobs = self.gallery.blobs
        if key is None:
            return None
        try:
            return blobs.get(key) if blobs.exists(key) else None
        except Exception:  # e.g. encrypted with another key: as if gone
            return None

    def _job(self, faces: list[fv.PendingFace]) -> ImageJob:
        first = faces[0]
        size = (first.image_width, first.image_height)
        original = self._read(first.original)
        if original is not None:
            jobs = tuple(FaceJob(f.face_id, f.landmarks) for f in faces)
            return ImageJob(first.image_id, size, original, jobs)
        crops = []
        for f in faces:
            (x0, y0), crop_size = crop_origin(size, f.bbox)
            points = tuple((x - x0, y - y0) for x, y in f.landmarks)
            crops.append(FaceJob(f.face_id, points, self._read(f.crop), crop_size))
        return ImageJob(first.image_id, size, None, tuple(crops))

    def _commit(self, final: bool = False) -> None:
        """Store the finished vectors and the row's figures in one transaction, under the
        writer lock: taken if free; waited for when this is the last commit or too many
        vectors wait; else the vectors wait for the next commit."""
        done = self._done
        if not (done.vectors or done.errors):
            return
        must = final or len(done.vectors) >= self.max_waiting
        writer = self.gallery.writer
        with contextlib.ExitStack() as stack:
            if must:  # the pass pauses until the other writer (a long ingest) is done
                while True:
                    try:
                        stack.enter_context(writer.hold(WRITER))
                        break
                    except WriterBusyError:
                        self._emit()
            elif not stack.enter_context(writer.try_hold(WRITER)):
                return
            made = {i: (v, done.sources.get(i, fv.FROM_PHOTO)) for i, v in done.vectors.items()}
            with self.gallery.catalog.session() as s:
                fv.store_face_vectors(s, self.gallery.cipher, self.target_key, made)
                rows.update_migration(
                    s, self.migration_id, done=self.progress.done, errors=done.errors
                )
        self._done = Reembedded()
        self.report.made += len(made)
        self.report.from_crop += sum(1 for _, src in made.values() if src == fv.FROM_CROP)
        self.report.failed.update(done.errors)

    def _finish(self, start: float) -> None:
        """The last commit, then the row's true figures and state."""
        try:
            self._commit(final=True)
        except KeyboardInterrupt:  # stopped while waiting for the writer lock: redone later
            self.report.interrupted = True
        counts = fv.face_vector_counts(self.engine, self.target_key, of_model=self.source_key)
        self.report.missing = fv.missing_faces(self.engine, self.source_key, self.target_key)
        if self.report.missing == 0:
            state = rows.READY
        elif self.report.interrupted:
            state = rows.INTERRUPTED
        else:
            state = rows.FAILED
        self.report.state = state
        self.report.seconds = time.perf_counter() - start
        with self.gallery.catalog.session() as s:
            rows.update_migration(
                s, self.migration_id, state=state, total=counts["faces"], done=counts["with"],
                from_crop=counts["from_crop"], finished=state != rows.INTERRUPTED,
            )  # fmt: skip
        self.progress.total, self.progress.done = counts["faces"], counts["with"]

    def _emit(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)
