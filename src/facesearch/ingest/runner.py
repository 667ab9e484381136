"""The ingest run: enumerate sources, hash, skip what is stored, process in workers, store.

Writes are grouped into transactions; a run killed at any point leaves the catalog with whole
images only (an image, its faces and its provenance commit together), and the vector index is
reconciled with the catalog when the gallery is next opened. Re-running skips every image whose
SHA-256 is already stored, so an interrupted run resumes with nothing lost and nothing doubled.

The run writes through an :class:`~facesearch.ingest.sink.IngestSink` and is told what to make
by an :class:`~facesearch.ingest.sink.IngestPlan`; it does not know the gallery.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facesearch.errors import storage_error
from facesearch.ingest.archives import DEFAULT_LIMITS, ArchiveLimits
from facesearch.ingest.batches import BatchRunner, process_pool
from facesearch.ingest.second_pass import SecondPassReport
from facesearch.ingest.sink import IngestPlan, IngestSink, SuppressionPredicate
from facesearch.ingest.sources import SourceItem, iter_sources
from facesearch.ingest.worker import BatchOut, ImageOut, WorkItem, init_worker, process_batch
from facesearch.store.ports import Executor, InlineExecutor
from facesearch.store.records import (
    ORIGINAL_TOO_LARGE,
    FaceRecord,
    ImageRecord,
    ProvenanceRecord,
    source_label,
)

if TYPE_CHECKING:
    from facesearch.engine.embed import DlibEmbedder

DEFAULT_COLLECTION = "default"
log = logging.getLogger(__name__)


@dataclass
class IngestProgress:
    files_total: int
    files_done: int = 0
    faces: int = 0
    run_id: int | None = None  # the run in the catalog's ingest_runs (a job links to it)


@dataclass
class IngestReport:
    run_id: int
    files_read: int = 0
    images_new: int = 0
    images_already_stored: int = 0
    duplicates: int = 0  # same bytes as another file: stored once, provenance added
    images_without_face: int = 0
    faces_indexed: int = 0
    faces_flagged: dict[str, int] = field(default_factory=dict)  # by reason
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    faces_suppressed: int = 0  # faces of people on the suppression list: not stored
    worker_crashes: int = 0  # batches lost to a dying worker and retried image by image
    originals_kept: int = 0  # originals stored in the blob store (IngestPlan.originals)
    original_bytes: int = 0  # and their bytes (as read; sealing adds 28 bytes each)
    originals_too_large: int = 0  # over the size limit: read from their path instead

    faces_flagged_total: int = 0  # faces kept in the catalog but not searched
    # where second vectors were made ("ingest", "pass" or "off"; ingest/second_vectors.py)
    second_vectors: str = "off"
    second_vectors_made: int = 0  # stored with their face, made in the workers
    second_vectors_queued: int = 0  # chips queued for the second-vector pass
    second_errors: list[str] = field(default_factory=list)  # the runtime's errors, if any
    second_pass: SecondPassReport | None = None  # the second-vector pass run after this one
    # what the application ran on the new faces afterwards (standing queries: their counts)
    followups: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "files_read": self.files_read,
            "images_new": self.images_new,
            "images_already_stored": self.images_already_stored,
            "duplicates": self.duplicates,
            "images_without_face": self.images_without_face,
            "faces_indexed": self.faces_indexed,
            "faces_flagged": self.faces_flagged_total,
            "failures": len(self.failures),
            "faces_suppressed": self.faces_suppressed,
            "worker_crashes": self.worker_crashes,
            "second_vectors_at_ingest": self.second_vectors_made,
            "second_vectors_queued": self.second_vectors_queued,
            "originals_kept": self.originals_kept,
            "original_bytes": self.original_bytes,
            "originals_too_large": self.originals_too_large,
        }


ProgressCallback = Callable[[IngestProgress], None]
#: Starts the workers of a run (worker count, and the pool's own initializer and its arguments,
#: which each worker runs once); None: the local process pool. An executor whose worker died
#: fails that batch's future with ``BrokenProcessPool`` (retried below).
ExecutorFactory = Callable[[int, Callable[..., None], tuple[Any, ...]], Executor]


@dataclass
class _PendingImage:
    sha256: str
    path: str  # the label shown in failures
    provenance: ProvenanceRecord


@dataclass
class _Ready:
    """A processed image waiting for its transaction: the faces kept (suppressed people
    left out) and its original's blob key, or why it has none."""

    pending: _PendingImage
    image: ImageOut
    kept: list[FaceRecord]
    original: str | None
    original_state: str | None


class IngestRun:
    def __init__(
        self,
        sink: IngestSink,
        paths: list[Path],
        *,
        plan: IngestPlan,
        suppressed: SuppressionPredicate | None = None,
        collection: str | None = None,
        manifest: Path | None = None,
        workers: int | None = None,
        batch_size: int = 8,
        commit_every: int = 64,
        commit_seconds: float = 5.0,
        on_progress: ProgressCallback | None = None,
        executor: ExecutorFactory | None = None,
        roots: Sequence[Path] | None = None,
        archives: ArchiveLimits = DEFAULT_LIMITS,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.sink = sink
        # what to show (provenance, failures, the run's sources) for a path given: an upload's
        # temporary file is named as the administrator uploaded it
        self.names = dict(names or {})
        self.roots = roots
        self.archives = archives
        self.executor_factory = executor
        self.plan = plan
        self.suppressed = suppressed
        self.paths = [Path(p) for p in paths]
        self.collection = collection
        self.manifest = manifest
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.batch_size = max(1, min(batch_size, commit_every))  # a group holds whole batches
        #: a group is committed at ``commit_every`` images, or when its first image has
        #: waited ``commit_seconds`` (a face is searchable seconds after it was processed)
        self.commit_every = commit_every
        self.commit_seconds = commit_seconds
        self._group_started = time.monotonic()
        self.on_progress = on_progress
        self._dup_waiting: dict[str, list[ProvenanceRecord]] = defaultdict(list)
        self._pending: dict[int, _PendingImage] = {}
        self._to_store: list[_Ready] = []
        self._next_key = 0
        self._runner: BatchRunner[WorkItem, BatchOut] | None = None
        self._inline_second: DlibEmbedder | None = None

    def _sources(self) -> Iterator[SourceItem]:
        return iter_sources(self.paths, self.manifest, self.roots, self.archives)

    def count(self) -> int:
        return sum(1 for _ in self._sources())

    def run(self) -> IngestReport:
        sink = self.sink
        given = [str(p) for p in self.paths] + ([str(self.manifest)] if self.manifest else [])
        sources = [self.shown(p) for p in given]
        run_id = sink.start_run(sources, self.collection)
        self.report = IngestReport(run_id=run_id)
        if self.plan.second_vectors is not None:
            self.report.second_vectors = self.plan.second_vectors.at
        self.progress = IngestProgress(files_total=self.count(), run_id=run_id)
        self._emit()
        start = time.perf_counter()
        self._runner = BatchRunner(
            self._new_executor, self._task, max_in_flight=3 * max(1, self.workers)
        )
        failure: Exception | None = None
        try:
            try:
                self._run()
                status = "completed"
            except KeyboardInterrupt:
                self.report.interrupted = True
                status = "interrupted"
            finally:
                self._runner.shutdown()
                self.report.worker_crashes = self._runner.crashes
            self._store(force=True)
            sink.finish()
        except Exception as exc:
            # a refused write (disk full, read-only, locked) or any other error: what was
            # stored is kept whole and the run is marked failed, so that a rerun resumes
            failure, status = exc, "failed"
            self._reclaim()
        self.report.seconds = time.perf_counter() - start
        self._finish_run(run_id, status, failure)
        if failure is not None:
            self._save_after_failure()
            told = storage_error(failure, "the gallery")
            if told is None or told is failure:
                raise failure
            raise told from failure
        return self.report

    def _reclaim(self) -> None:
        """After a failure: nothing more is stored (the next write would most likely be
        refused the same way), and the blobs written for images that were not stored are
        deleted; on a full disk their space is what lets the run be marked failed."""
        self._to_store.clear()
        try:
            self.sink.discard_unstored_blobs()
        except Exception as exc:  # the run's own error is the one told (info: not on stderr)
            log.info("blobs of the images not stored were not deleted: %s", exc)

    def _save_after_failure(self) -> None:
        """The index of what was stored is saved if the storage lets it (else the next
        opening of the gallery brings it up to date from the catalog)."""
        try:
            self.sink.finish()
        except Exception as exc:
            log.info("the vector index was not saved after the failed run: %s", exc)

    def _finish_run(self, run_id: int, status: str, failure: BaseException | None) -> None:
        """Record how the run ended. After a failure this is best effort: a catalog that
        refuses this write too leaves the run 'running', and the first error is the one told."""
        try:
            self.sink.finish_run(run_id, status, self.report.counts())
        except Exception as exc:
            if failure is None:
                raise
            log.info("ingest run %d could not be marked %s (%s)", run_id, status, exc)

    # --- main loop ------------------------------------------------------------------------
    def _new_executor(self) -> Executor:
        if self.workers <= 0:
            return InlineExecutor()
        plan = self.plan
        initargs = (plan.worker_settings, 1, plan.chips, plan.second, plan.nice, plan.manifest)
        if self.executor_factory is not None:  # e.g. Ray actors (ingest/ray_executor.py)
            return self.executor_factory(self.workers, init_worker, initargs)
        return process_pool(self.workers, init_worker, initargs)

    def _task(self, executor: Executor) -> Callable[[list[WorkItem]], BatchOut]:
        """The batch function for the executor: in-process runs pass their own models."""
        plan = self.plan
        if isinstance(executor, InlineExecutor):
            if self._inline_second is None and plan.second is not None:
                load = plan.second_in_process or plan.second.load
                self._inline_second = load()
            return partial(
                process_batch,
                pipeline=plan.pipeline(),
                chips=plan.chips,
                second=self._inline_second,
            )
        return process_batch

    def _run(self) -> None:
        assert self._runner is not None
        for outcome in self._runner.run(self._batches()):
            self.report.worker_crashes = self._runner.crashes
            if outcome.result is None:  # one image that killed its worker on its own
                self._fail_crashed(outcome.items[0], outcome.error)
            else:
                self._collect(outcome.result, outcome.items)
            self._store(force=False)

    def _batches(self) -> Iterator[list[WorkItem]]:
        """The images to process, in batches: read, hashed, and skipped when stored."""
        batch: list[WorkItem] = []
        for item in self._sources():
            data = self._read(item)
            if data is None:
                continue
            sha = hashlib.sha256(data).hexdigest()
            prov = self._provenance(item)
            label = source_label(prov.path, prov.member)
            if sha in self._dup_waiting:  # same bytes already being processed in this run
                self._dup_waiting[sha].append(prov)
                continue
            image_id = self.sink.image_id_by_sha(sha)
            if image_id is not None:
                if self.sink.add_provenance(image_id, prov, self.report.run_id):
                    self.report.duplicates += 1
                else:
                    self.report.images_already_stored += 1
                self._advance(1)
                continue
            key = self._next_key
            self._next_key += 1
            self._pending[key] = _PendingImage(sha, label, prov)
            self._dup_waiting[sha] = []
            batch.append((key, sha, data))
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _fail_crashed(self, item: WorkItem, reason: str) -> None:
        """An image that killed its worker again when run alone: it fails, with its copies."""
        pending = self._pending.pop(item[0])
        self._fail(pending.path, reason)
        for dup in self._dup_waiting.pop(pending.sha256, []):
            self._fail(
                source_label(dup.path, dup.member),
                f"worker process crashed (same bytes as {pending.path})",
            )

    def shown(self, path: str) -> str:
        """``path`` as people are shown it: under a name given in ``names`` (an upload's file
        name instead of its temporary path), else as it is."""
        if path in self.names:
            return self.names[path]
        for given, name in self.names.items():
            if path.startswith(given.rstrip("/") + "/"):
                return name + path[len(given.rstrip("/")) :]
        return path

    def _read(self, item: SourceItem) -> bytes | None:
        self.report.files_read += 1
        label = source_label(self.shown(item.path), item.member)
        if item.error is not None or item.read is None:
            self._fail(label, item.error or "unreadable")
            return None
        try:
            data = item.read()
        except Exception as exc:
            self._fail(label, f"cannot read: {exc}")
            return None
        if not data:
            self._fail(label, "empty file (0 bytes)")
            return None
        return data

    def _provenance(self, item: SourceItem) -> ProvenanceRecord:
        return ProvenanceRecord(
            path=self.shown(item.path),
            member=item.member,
            collection=item.collection or self.collection or DEFAULT_COLLECTION,
            source_url=item.source_url,
            page_url=item.page_url,
            title=item.title,
            captured_at=item.captured_at,
        )

    def _fail(self, path: str, reason: str) -> None:
        self.report.failures.append((path, reason))
        self.sink.add_failure(self.report.run_id, path, reason)
        self._advance(1)

    def _advance(self, files: int, faces: int = 0) -> None:
        self.progress.files_done += files
        self.progress.faces += faces
        self._emit()

    def _emit(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)

    def _collect(self, out: BatchOut, items: Sequence[WorkItem] = ()) -> None:
        """Take a finished batch: failed images are reported, the others queued to store,
        each with its original (``items``: the batch as sent, the photos' bytes, still held
        here whatever executor ran it) stored in the blob store at once."""
        data = {key: raw for key, _, raw in items}
        for stage, secs in out.timings.items():
            self.report.stage_seconds[stage] = self.report.stage_seconds.get(stage, 0.0) + secs
        if out.second_error and len(self.report.second_errors) < 10:
            self.report.second_errors.append(out.second_error)
        for image in out.images:
            pending = self._pending.pop(image.key)
            if not image.ok:
                waiting = self._dup_waiting.pop(pending.sha256, [])
                self._fail(pending.path, image.reason)
                for dup in waiting:
                    self._fail(
                        source_label(dup.path, dup.member),
                        f"{image.reason} (same bytes as {pending.path})",
                    )
                continue
            kept = [
                f
                for f in image.faces
                if self.suppressed is None or not self.suppressed(f.embedding)
            ]
            original, state = self._original(data.get(image.key), kept)
            self._to_store.append(_Ready(pending, image, kept, original, state))

    def _original(
        self, data: bytes | None, kept: list[FaceRecord]
    ) -> tuple[str | None, str | None]:
        """The original's blob key, or why it is not kept: only photos with a face stored
        (a photo whose every face is suppressed keeps no picture), within the plan's limit;
        none at all when the plan keeps no originals (``FACESEARCH_KEEP_ORIGINALS=false``)."""
        most = self.plan.originals
        if most is None or data is None or not kept:
            return None, None
        if len(data) > most:
            self.report.originals_too_large += 1
            return None, ORIGINAL_TOO_LARGE
        key = self.sink.put_blob(data)
        self.report.originals_kept += 1
        self.report.original_bytes += len(data)
        return key, None

    # --- storing --------------------------------------------------------------------------
    def _store(self, force: bool) -> None:
        if not self._to_store:
            self._group_started = time.monotonic()
            return
        due = len(self._to_store) >= self.commit_every or (
            time.monotonic() - self._group_started >= self.commit_seconds
        )
        if not (due or force):
            return
        self._group_started = time.monotonic()
        t0 = time.perf_counter()
        sink, plan = self.sink, self.plan
        items, self._to_store = self._to_store, []
        records = []
        for ready in items:
            pending, image, kept = ready.pending, ready.image, ready.kept
            self.report.faces_suppressed += len(image.faces) - len(kept)
            if plan.second_model is not None:
                made = sum(1 for f in kept if f.second_embedding is not None)
                self.report.second_vectors_made += made
                self.report.second_vectors_queued += sum(
                    1 for f in kept if f.second_embedding is None and f.second_chip_png is not None
                )
            faces = [
                replace(
                    f,
                    face_index=i,
                    model=plan.model,
                    crop=sink.put_blob(f.crop_jpeg),
                    crop_jpeg=b"",
                    second_model=plan.second_model,
                    second_chip=None
                    if f.second_chip_png is None or plan.second_model is None
                    else sink.put_blob(f.second_chip_png),
                    second_chip_png=None,
                )
                for i, f in enumerate(kept)
            ]
            records.append(
                ImageRecord(
                    sha256=image.sha256,
                    size_bytes=image.size_bytes,
                    width=image.width,
                    height=image.height,
                    format=image.format,
                    path=pending.provenance.path,
                    member=pending.provenance.member,
                    original=ready.original,
                    original_state=ready.original_state,
                    # no picture is kept of an image whose every face is suppressed
                    thumbnail=None
                    if image.faces and not kept
                    else sink.put_blob(image.thumbnail_jpeg),
                    faces=faces,
                    provenance=pending.provenance,
                )
            )
        with sink.batch():  # committed and searchable together; searches wait only for this
            face_ids = sink.add_images(records, self.report.run_id)
            ids, vectors = [], []
            for record, created in zip(records, face_ids, strict=True):
                for face, face_id in zip(record.faces, created, strict=True):
                    if face.searchable:
                        ids.append(face_id)
                        vectors.append(face.embedding)
            sink.index_add(ids, vectors)
        for record in records:
            for face in record.faces:
                if not face.searchable:
                    for flag in face.flags:
                        self.report.faces_flagged[flag] = self.report.faces_flagged.get(flag, 0) + 1
                    self.report.faces_flagged_total += 1
            if not record.faces:
                self.report.images_without_face += 1
        self.report.faces_indexed += len(ids)
        self.report.images_new += len(records)
        # duplicates of these images seen while they were in flight
        files = len(records)
        for record, ready in zip(records, items, strict=True):
            waiting = self._dup_waiting.pop(ready.pending.sha256, [])
            if not waiting:
                continue
            image_id = sink.image_id_by_sha(record.sha256)
            for prov in waiting:
                if image_id is not None and sink.add_provenance(image_id, prov, self.report.run_id):
                    self.report.duplicates += 1
                else:
                    self.report.images_already_stored += 1
                files += 1
        self.report.stage_seconds["store"] = (
            self.report.stage_seconds.get("store", 0.0) + time.perf_counter() - t0
        )
        self._advance(files, sum(len(r.faces) for r in records))
        sink.checkpoint()
