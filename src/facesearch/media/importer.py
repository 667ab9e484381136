"""The media import run: enumerate, hash, eliminate known material, find faces, store.

Like gallery ingest (and reusing its sources and face pipeline), but into the case's media
set, never into the gallery: files are read from folders, zip and tar archives and single
files; every file gets MD5, SHA-1 and SHA-256 here and PDQ in a worker; a file whose exact hash
is in a hash set, or whose PDQ is near a trusted one, is stored as *eliminated* (with the set,
category and how it matched) and never goes through face detection; the rest have their faces
found, embedded and stored with crops. Work commits in groups of files; a killed run leaves
whole files only and re-running skips every path already stored in the set (resume), so
nothing is lost or doubled. Every unreadable file is kept in ``media_failures`` with its reason.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from facesearch.engine.pipeline import FacePipeline, PipelineSettings
from facesearch.ingest.batches import BatchRunner, process_pool
from facesearch.ingest.sources import SourceItem, source_label
from facesearch.media.elimination import EliminationSettings, PdqIndex, code_rows
from facesearch.media.hashing import FileHashes, file_hashes
from facesearch.media.payload import MediaBatchOut, MediaItem, MediaOut
from facesearch.media.schema import (
    HashEntry,
    HashSet,
    MediaFace,
    MediaFailure,
    MediaFile,
    MediaTrack,
)
from facesearch.media.sniff import SNIFF_BYTES, media_kind
from facesearch.media.sources import iter_media
from facesearch.media.vectors import seal_face_vector
from facesearch.media.video import VideoSettings
from facesearch.media.worker import init_media_worker, process_media_batch
from facesearch.store.crypto import Cipher
from facesearch.store.ports import BlobStore, Executor, InlineExecutor

SessionFactory = Callable[[], Session]
#: Starts the workers of an import (worker count, the pool's initializer and its arguments);
#: None: the local process pool. A dying worker fails its batch with ``BrokenProcessPool``.
MediaExecutorFactory = Callable[[int, Callable[..., None], tuple[Any, ...]], Executor]


@dataclass
class MediaProgress:
    files_total: int
    files_done: int = 0
    faces: int = 0
    eliminated: int = 0


MediaProgressCallback = Callable[[MediaProgress], None]


@dataclass
class MediaImportReport:
    import_id: int
    case: str
    media_set: str
    files_read: int = 0
    files_new: int = 0
    already_imported: int = 0  # paths stored by an earlier (or interrupted) run: skipped
    duplicates: int = 0  # same bytes as another file of the set: recorded, not reprocessed
    eliminated: int = 0
    eliminated_by_category: dict[str, int] = field(default_factory=dict)
    eliminated_by_match: dict[str, int] = field(default_factory=dict)  # md5, sha1, sha256, pdq
    without_face: int = 0
    faces: int = 0
    faces_flagged: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    videos: int = 0
    video_frames: dict[str, int] = field(default_factory=dict)  # decoded, sampled
    worker_crashes: int = 0  # batches lost to a dying worker and retried file by file

    def counts(self) -> dict[str, Any]:
        return {
            "files_read": self.files_read,
            "files_new": self.files_new,
            "already_imported": self.already_imported,
            "duplicates": self.duplicates,
            "eliminated": self.eliminated,
            "eliminated_by_category": dict(sorted(self.eliminated_by_category.items())),
            "eliminated_by_match": dict(sorted(self.eliminated_by_match.items())),
            "without_face": self.without_face,
            "faces": self.faces,
            "faces_flagged": self.faces_flagged,
            "failures": len(self.failures),
            "videos": self.videos,
            "worker_crashes": self.worker_crashes,
        }


@dataclass
class _PendingFile:
    path: str
    source: str
    hashes: FileHashes
    exact: dict[str, Any] | None  # the elimination by an exact hash, if any
    kind: str = "image"  # by content (victim/sniff.py): image | video


def set_path(root: Path, item: SourceItem) -> str:
    """The file's path inside the media set: relative to the folder given (prefixed with the
    folder's name), ``archive.zip!member`` for archive members (shown so; the item keeps the
    archive and the member apart, nothing parses the label), the name for single files."""
    text, root_text = item.path, str(root)
    if text == root_text:
        shown = root.name
    elif text.startswith(root_text.rstrip("/") + "/"):
        rel = text[len(root_text.rstrip("/")) + 1 :]
        shown = f"{root.name}/{rel}" if root.name else rel
    else:
        shown = text
    return source_label(shown, item.member)


class MediaImportRun:
    def __init__(
        self,
        session_factory: SessionFactory,
        blobs: BlobStore,
        *,
        case_id: int,
        set_id: int,
        import_id: int,
        case: str,
        set_name: str,
        paths: Sequence[Path],
        model: str,
        pipeline_settings: PipelineSettings,
        pipeline: Callable[[], FacePipeline],
        elimination: EliminationSettings,
        workers: int | None = None,
        batch_size: int = 8,
        commit_every: int = 64,
        on_progress: MediaProgressCallback | None = None,
        video: VideoSettings | None = None,
        executor: MediaExecutorFactory | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.blobs = blobs
        self.cipher = cipher  # seals the faces' vectors (media/vectors.py)
        self.case_id, self.set_id, self.import_id = case_id, set_id, import_id
        self.paths = [Path(p) for p in paths]
        self.model = model
        self.pipeline_settings = pipeline_settings
        self.pipeline = pipeline
        self.elimination = elimination
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.batch_size = batch_size
        self.commit_every = commit_every
        self.on_progress = on_progress
        self.video = video or VideoSettings()
        self.report = MediaImportReport(import_id, case, set_name)
        self._pending: dict[int, _PendingFile] = {}
        self._waiting: dict[str, list[_PendingFile]] = defaultdict(list)  # same bytes, in flight
        self._to_store: list[tuple[_PendingFile, MediaOut]] = []
        self._next_key = 0
        self.executor_factory = executor
        self._runner: BatchRunner[MediaItem, MediaBatchOut] | None = None

    # --- set-up -------------------------------------------------------------------------------
    def _load_state(self) -> None:
        with self.session_factory() as s:
            rows = s.execute(
                select(MediaFile.id, MediaFile.path, MediaFile.sha256).where(
                    MediaFile.set_id == self.set_id
                )
            ).all()
            self._known_paths = {r.path for r in rows}
            self._by_sha: dict[str, int] = {}
            for r in rows:
                self._by_sha.setdefault(r.sha256, r.id)
            pdq_rows = s.execute(
                select(
                    HashEntry.id,
                    HashEntry.pdq,
                    HashEntry.pdq_crops,
                    HashSet.name,
                    HashEntry.category,
                )
                .join(HashSet, HashSet.id == HashEntry.set_id)
                .where(
                    HashEntry.pdq.is_not(None),
                    HashEntry.pdq_quality >= self.elimination.min_pdq_quality,
                )
                .order_by(HashEntry.id)
            ).all()
        self._pdq_info = {r.id: (r.name, r.category) for r in pdq_rows}
        # an entry's own hash and its crops' (hashing.PDQ_CROPS), all codes of the entry
        self._pdq_codes, self._pdq_ids, self._pdq_crop_of = code_rows(
            [(r.id, r.pdq, r.pdq_crops) for r in pdq_rows]
        )

    def _new_executor(self) -> Executor:
        if self.workers <= 0:
            return InlineExecutor()
        initargs = (
            self.pipeline_settings,
            self._pdq_codes,
            self._pdq_ids,
            self.elimination,
            self._pdq_crop_of,
        )
        if self.executor_factory is not None:
            return self.executor_factory(self.workers, init_media_worker, initargs)
        return process_pool(self.workers, init_media_worker, initargs)

    def _task(self, executor: Executor) -> Callable[[list[MediaItem]], MediaBatchOut]:
        if isinstance(executor, InlineExecutor):
            index = PdqIndex(self._pdq_codes, self._pdq_ids, self.elimination, self._pdq_crop_of)
            return partial(
                process_media_batch, pipeline=self.pipeline(), pdq=index, video=self.video
            )
        return partial(process_media_batch, video=self.video)

    # --- the run ------------------------------------------------------------------------------
    def run(self) -> MediaImportReport:
        start = time.perf_counter()
        self._load_state()
        total = sum(1 for root in self.paths for _ in self._iter(root))
        self.progress = MediaProgress(files_total=total)
        self._emit()
        self._runner = BatchRunner(
            self._new_executor, self._task, max_in_flight=3 * max(1, self.workers)
        )
        try:
            for outcome in self._runner.run(self._batches()):
                if outcome.result is None:  # a file that killed its worker on its own
                    self._fail_item(outcome.items[0][0], outcome.error)
                else:
                    self._collect(outcome.result)
                self._store(force=False)
        except KeyboardInterrupt:
            self.report.interrupted = True
        finally:
            self._runner.shutdown()
            self.report.worker_crashes = self._runner.crashes
            self._store(force=True)
            self.report.seconds = round(time.perf_counter() - start, 3)
        return self.report

    def _batches(self) -> Iterator[list[MediaItem]]:
        """The files to process: photos in batches, each video alone; read, hashed, and
        skipped when already imported or the same bytes as another file."""
        batch: list[MediaItem] = []
        for root in self.paths:
            for item in self._iter(root):
                self.report.files_read += 1
                path = set_path(root, item)
                if path in self._known_paths:
                    self.report.already_imported += 1
                    self._advance(1)
                    continue
                data = self._read(item, path)
                if data is None:
                    continue
                self._known_paths.add(path)
                hashes = file_hashes(data)
                pending = _PendingFile(path, item.label, hashes, None)
                if hashes.sha256 in self._waiting or hashes.sha256 in self._by_sha:
                    self._waiting[hashes.sha256].append(pending)
                    if hashes.sha256 in self._by_sha:
                        self._store_duplicates([hashes.sha256])
                    continue
                pending.exact = self._exact_match(hashes)
                key = self._next_key
                self._next_key += 1
                self._pending[key] = pending
                self._waiting[hashes.sha256] = []
                eliminated = pending.exact is not None
                if media_kind(data[:SNIFF_BYTES]) == "video":
                    pending.kind = "video"
                    yield [(key, data, eliminated, "video")]
                    continue
                batch.append((key, data, eliminated, "image"))
                if len(batch) >= self.batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _iter(self, root: Path) -> Iterator[SourceItem]:
        return iter_media(root, self.video.max_bytes)

    def _read(self, item: SourceItem, path: str) -> bytes | None:
        if item.error is not None or item.read is None:
            self._fail(path, item.error or "unreadable")
            return None
        try:
            data = item.read()
        except Exception as exc:
            self._fail(path, f"cannot read: {exc}")
            return None
        if not data:
            self._fail(path, "empty file (0 bytes)")
            return None
        return data

    def _exact_match(self, h: FileHashes) -> dict[str, Any] | None:
        with self.session_factory() as s:
            row = s.execute(
                select(HashEntry, HashSet.name)
                .join(HashSet, HashSet.id == HashEntry.set_id)
                .where(
                    or_(
                        HashEntry.md5 == h.md5,
                        HashEntry.sha1 == h.sha1,
                        HashEntry.sha256 == h.sha256,
                    )
                )
                .order_by(HashEntry.id)
                .limit(1)
            ).first()
        if row is None:
            return None
        entry, set_name = row
        how = "sha256" if entry.sha256 == h.sha256 else "sha1" if entry.sha1 == h.sha1 else "md5"
        return {"hash_set": set_name, "category": entry.category, "match": how, "entry": entry.id}

    def _fail(self, path: str, reason: str) -> None:
        self.report.failures.append((path, reason))
        with self.session_factory() as s, s.begin():
            s.add(MediaFailure(import_id=self.import_id, path=path, reason=reason))
        self._advance(1)

    def _advance(self, files: int, faces: int = 0, eliminated: int = 0) -> None:
        self.progress.files_done += files
        self.progress.faces += faces
        self.progress.eliminated += eliminated
        self._emit()

    def _emit(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)

    def _collect(self, out: MediaBatchOut) -> None:
        for stage, secs in out.timings.items():
            if stage.startswith("frames_"):  # videos' frame counts, not seconds
                name = stage.removeprefix("frames_")
                self.report.video_frames[name] = self.report.video_frames.get(name, 0) + int(secs)
                continue
            self.report.stage_seconds[stage] = self.report.stage_seconds.get(stage, 0.0) + secs
        for item in out.items:
            if not item.ok:
                self._fail_item(item.key, item.reason)
                continue
            self._to_store.append((self._pending.pop(item.key), item))

    def _fail_item(self, key: int, reason: str) -> None:
        """A file the workers could not process: it fails, with every copy of its bytes."""
        pending = self._pending.pop(key)
        self._known_paths.discard(pending.path)
        self._fail(pending.path, reason)
        for dup in self._waiting.pop(pending.hashes.sha256, []):
            self._known_paths.discard(dup.path)
            self._fail(dup.path, f"{reason} (same bytes as {pending.path})")

    # --- storing ------------------------------------------------------------------------------
    def _elimination(self, pending: _PendingFile, out: MediaOut) -> dict[str, Any] | None:
        if pending.exact is not None:
            return pending.exact
        if out.pdq_match is None:
            return None
        set_name, category = self._pdq_info[out.pdq_match.entry_id]
        return {
            "hash_set": set_name,
            "category": category,
            "match": "pdq",
            "entry": out.pdq_match.entry_id,
            "distance": out.pdq_match.distance,
            "variant": out.pdq_match.variant,
        }

    def _store(self, force: bool) -> None:
        if not self._to_store or (len(self._to_store) < self.commit_every and not force):
            return
        t0 = time.perf_counter()
        items, self._to_store = self._to_store, []
        faces_total = eliminated_total = 0
        sealed: list[tuple[MediaFace, Any]] = []  # faces whose vectors are sealed by id
        with self.session_factory() as s, s.begin():
            for pending, out in items:
                elim = self._elimination(pending, out)
                searchable = [f for f in out.faces if not f.flags]
                status = "eliminated" if elim else ("faces" if out.faces else "no_face")
                row = self._file_row(pending, out, status, elim)
                row.thumbnail = self.blobs.put(out.thumbnail_jpeg) if out.thumbnail_jpeg else None
                row.face_count = len(out.faces)
                s.add(row)
                s.flush()
                self._by_sha[pending.hashes.sha256] = row.id
                if out.kind == "video":
                    self.report.videos += 1
                    for t in out.tracks:
                        s.add(
                            MediaTrack(
                                file_id=row.id,
                                case_id=self.case_id,
                                track=t.track,
                                start_ms=t.start_ms,
                                end_ms=t.end_ms,
                                frames=t.frames,
                            )
                        )
                for i, f in enumerate(out.faces):
                    face = MediaFace(
                        file_id=row.id,
                        case_id=self.case_id,
                        frame_ms=f.frame_ms,
                        track=f.track,
                        face_index=i,
                        x=f.bbox[0],
                        y=f.bbox[1],
                        w=f.bbox[2],
                        h=f.bbox[3],
                        landmarks=f.landmarks,
                        detector_score=f.detector_score,
                        quality=f.quality,
                        flags=",".join(f.flags),
                        searchable=not f.flags,
                        model=self.model,
                        # with a key: sealed below, once the row has its id
                        embedding=b""
                        if self.cipher is not None
                        else np.asarray(f.embedding, "<f4").tobytes(),
                        crop=self.blobs.put(f.crop_jpeg),
                    )
                    s.add(face)
                    if self.cipher is not None:
                        sealed.append((face, f.embedding))
                self.report.files_new += 1
                if elim:
                    self._count_elimination(elim)
                    eliminated_total += 1
                elif not out.faces:
                    self.report.without_face += 1
                self.report.faces += len(out.faces)
                self.report.faces_flagged += len(out.faces) - len(searchable)
                faces_total += len(out.faces)
            if sealed:
                s.flush()  # the faces get their ids; their vectors are bound to them
                for face, vec in sealed:
                    face.embedding = seal_face_vector(self.cipher, vec, face.id, self.model)
        self.report.stage_seconds["store"] = (
            self.report.stage_seconds.get("store", 0.0) + time.perf_counter() - t0
        )
        self._advance(len(items), faces_total, eliminated_total)
        self._store_duplicates([p.hashes.sha256 for p, _ in items])

    def _count_elimination(self, elim: dict[str, Any]) -> None:
        self.report.eliminated += 1
        cat = str(elim.get("category") or "uncategorised")
        self.report.eliminated_by_category[cat] = self.report.eliminated_by_category.get(cat, 0) + 1
        how = str(elim["match"])
        self.report.eliminated_by_match[how] = self.report.eliminated_by_match.get(how, 0) + 1

    def _file_row(
        self, pending: _PendingFile, out: MediaOut, status: str, elim: dict[str, Any] | None
    ) -> MediaFile:
        h = pending.hashes
        return MediaFile(
            set_id=self.set_id,
            import_id=self.import_id,
            path=pending.path,
            source=pending.source,
            kind=out.kind,
            duration_ms=out.duration_ms,
            size=h.size,
            md5=h.md5,
            sha1=h.sha1,
            sha256=h.sha256,
            pdq=out.pdq.hex if out.pdq else None,
            pdq_quality=out.pdq.quality if out.pdq else None,
            pdq_crops=" ".join(out.pdq.crops) if out.pdq and out.pdq.crops else None,
            width=out.width or None,
            height=out.height or None,
            format=out.format or None,
            exif_datetime=out.metadata.exif_datetime,
            camera_make=out.metadata.camera_make,
            camera_model=out.metadata.camera_model,
            status=status,
            category=(elim or {}).get("category"),
            elimination=elim,
        )

    def _store_duplicates(self, shas: Sequence[str]) -> None:
        """Record files whose bytes are already stored in the set (they share its outcome)."""
        rows = []
        for sha in shas:
            waiting = self._waiting.pop(sha, [])
            if sha in self._by_sha and waiting:
                rows.append((self._by_sha[sha], waiting))
            elif waiting:
                self._waiting[sha] = waiting
        if not rows:
            return
        n = 0
        eliminated = 0
        with self.session_factory() as s, s.begin():
            for original_id, dups in rows:
                original = s.get(MediaFile, original_id)
                assert original is not None
                for dup in dups:
                    s.add(
                        MediaFile(
                            set_id=self.set_id,
                            import_id=self.import_id,
                            path=dup.path,
                            source=dup.source,
                            kind=original.kind,
                            duration_ms=original.duration_ms,
                            size=dup.hashes.size,
                            md5=dup.hashes.md5,
                            sha1=dup.hashes.sha1,
                            sha256=dup.hashes.sha256,
                            pdq=original.pdq,
                            pdq_quality=original.pdq_quality,
                            pdq_crops=original.pdq_crops,
                            width=original.width,
                            height=original.height,
                            format=original.format,
                            exif_datetime=original.exif_datetime,
                            camera_make=original.camera_make,
                            camera_model=original.camera_model,
                            status="duplicate",
                            category=original.category,
                            elimination=original.elimination,
                            duplicate_of=original.id,
                        )
                    )
                    self.report.files_new += 1
                    self.report.duplicates += 1
                    if original.elimination:
                        self._count_elimination(original.elimination)
                        eliminated += 1
                    n += 1
        self._advance(n, 0, eliminated)
