"""The gallery: a data directory holding a catalog, a vector index and a blob store.

This is the library's front door::

    gallery = Gallery.open("facesearch-data")
    gallery.ingest(["photos/"], collection="case-files")
    result = gallery.search("probe.jpg", k=20)
    comparison = gallery.compare("a.jpg", "b.jpg")

The typed :class:`~facesearch.settings.Settings` reach everything the gallery opens: the blob
store's encryption key, the models' runtimes and cache, the backends. The vectors live behind
the ``VectorStore`` port (``search/indexing.py`` keeps them, ``search/searcher.py`` searches
them); ingest writes through :class:`~facesearch.search.gallery_sink.GallerySink`.

Several processes may open one data directory (a server and CLI commands): every change to the
faces (ingest, removal, re-indexing, the second-vector pass) holds the data directory's
writer lock (:meth:`Gallery.writing`, ``store/writer_lock.py``), so a second writer waits; and
each search first brings the index held in memory up to date with the faces the others
committed (:meth:`Gallery.refresh_index`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facesearch.engine.decode import DecodedImage, ImageInput, decode_any
from facesearch.engine.embed import second_model_spec
from facesearch.engine.pipeline import Face, FacePipeline, PipelineSettings, embedding_model_key
from facesearch.errors import FacesearchError
from facesearch.ingest.archives import DEFAULT_LIMITS, ArchiveLimits
from facesearch.ingest.runner import IngestReport, IngestRun, ProgressCallback
from facesearch.ingest.second_pass import SecondPass, SecondPassCallback, SecondPassReport
from facesearch.ingest.second_vectors import SecondVectors, SecondVectorsPlan
from facesearch.ingest.second_vectors import resolve as resolve_second_vectors
from facesearch.ingest.sink import IngestPlan, SuppressionPredicate
from facesearch.ingest.worker import ChipGeometry, SecondRecognizer
from facesearch.models.inference import InferenceSettings
from facesearch.models.manifest import Manifest
from facesearch.search.backends import Backends
from facesearch.search.calibration import calibrated_manifest, gallery_manifest, index_directory
from facesearch.search.compare import Verifier, probe_face
from facesearch.search.engine_lock import ReadersWriterLock
from facesearch.search.gallery_sink import GallerySink
from facesearch.search.indexing import GalleryIndex
from facesearch.search.member_probe import MemberRecognizers
from facesearch.search.recognizer_reload import Followed, recognizer_moved, reload_recognizer
from facesearch.search.scoring import Bands, Comparison, Scoring, SearchResult
from facesearch.search.searcher import Searcher
from facesearch.settings import Settings
from facesearch.store import generation
from facesearch.store.catalog import SearchFilters, SqlCatalog
from facesearch.store.crypto import Cipher
from facesearch.store.member_vectors import member_vector_counts
from facesearch.store.originals import originals_summary
from facesearch.store.private import make_private, private_dir
from facesearch.store.vectors.port import SearchHits, VectorStore
from facesearch.store.writer_lock import WriterLock

if TYPE_CHECKING:
    from facesearch.engine.embed import DlibEmbedder
    from facesearch.store.blobs import FileBlobStore
    from facesearch.store.s3_blobs import S3BlobStore

__all__ = ["FORMAT_VERSION", "GALLERY_FILE", "Gallery", "GallerySink"]

GALLERY_FILE = "gallery.json"
FORMAT_VERSION = 1


class Gallery:
    def __init__(
        self,
        data_dir: Path,
        catalog: SqlCatalog,
        *,
        settings: Settings | None = None,
        manifest: Manifest | None = None,
        pipeline_settings: PipelineSettings | None = None,
        backends: Backends | None = None,
        pipeline: FacePipeline | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.catalog = catalog
        self.settings = settings if settings is not None else Settings.load(data_dir=data_dir)
        # vector store, blob store and ingest executor (default: FAISS, files, local processes)
        self.backends = backends or Backends()
        chosen = pipeline_settings or PipelineSettings()
        if chosen.inference is None:  # the models' runtimes and cache from the settings
            inference = InferenceSettings.from_settings(self.settings)
            chosen = dataclasses.replace(chosen, inference=inference)
        self.pipeline_settings = chosen
        self.base_manifest = manifest  # as given: a switch derives the new one from it
        # the packaged manifest with the model store's models, answering with the recognizer
        # the catalog names (store/recognizers.py), with this data directory's own
        # calibration if it has one
        self.manifest = calibrated_manifest(
            data_dir, gallery_manifest(data_dir, catalog, manifest), self.pipeline_settings
        )
        # encryption at rest: one cipher (key read once) for the blobs, the catalog's vectors
        # and the saved index (store/crypto.py); None: nothing is encrypted
        self.cipher = Cipher.from_settings(self.settings)
        catalog.cipher = self.cipher
        self.blobs: FileBlobStore | S3BlobStore = self.backends.open_blobs(data_dir, self.cipher)
        self.scoring = Scoring.from_manifest(
            self.manifest, fusion=self.pipeline_settings.second_model
        )
        # a pipeline given (already loaded) serves only a gallery of its recognizer
        same = pipeline is not None and pipeline.model_key == self.model_key
        self._pipeline: FacePipeline | None = pipeline if same else None
        # the other members of an N-recognizer fusion, for this gallery's own verifier
        self._members: MemberRecognizers | None = None
        self._ingest_pipelines: dict[PipelineSettings, FacePipeline] = {}
        self.followed = Followed()  # the recognizer switches followed (recognizer_reload.py)
        # one writer at a time on the data directory, across processes (store/writer_lock.py)
        self.writer = WriterLock(data_dir, timeout=self.settings.writer_wait)
        # searches read the vectors held in memory together; a change to them (an ingest
        # batch, a removal, catching up with another process) holds it alone
        # (search/engine_lock.py)
        self.engine_lock = ReadersWriterLock()
        self.vectors = GalleryIndex(
            catalog,
            self.backends,
            self.model_key,
            self.pipeline_dim,
            index_directory(data_dir, self.manifest),
            lock=self.writer,
        )

    # --- opening ------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        data_dir: Path | str | None = None,
        *,
        settings: Settings | None = None,
        database_url: str | None = None,
        pipeline_settings: PipelineSettings | None = None,
        backends: Backends | None = None,
        pipeline: FacePipeline | None = None,
    ) -> Gallery:
        """Open (creating if needed) the gallery in ``data_dir``.

        ``settings`` (default: ``Settings.load()``, the environment) give the data directory
        (``data_dir`` wins), the catalog URL (``database_url`` wins), the encryption key of
        the blobs and the models' runtimes. ``backends`` (``facesearch.search.backends``,
        from the settings' URLs) chooses the vector store, the blob store and the ingest
        executor (default: the embedded ones); the data directory still holds the gallery's
        small files (format, policy, calibration). ``pipeline``: a face pipeline already
        loaded (with this gallery's models) to use instead of loading one.
        """
        if settings is None:
            settings = Settings.load(data_dir=data_dir, database_url=database_url)
        root = Path(data_dir) if data_dir is not None else settings.data_dir
        private_dir(root)
        meta_path = root / GALLERY_FILE
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("format_version", 0) > FORMAT_VERSION:
                raise FacesearchError(
                    f"{root} was written by a newer facesearch (format {meta['format_version']})"
                )
        else:
            meta_path.write_text(json.dumps({"format_version": FORMAT_VERSION}, indent=2))
            make_private(meta_path)
        if database_url is None and backends is not None:
            database_url = backends.database_url
        url = (
            database_url or settings.database_url or f"sqlite:///{(root / 'catalog.db').resolve()}"
        )
        return cls(
            root,
            SqlCatalog(url),
            settings=settings,
            pipeline_settings=pipeline_settings,
            backends=backends,
            pipeline=pipeline,
        )

    def close(self) -> None:
        self.vectors.close()
        self.catalog.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- models ---------------------------------------------------------------------------
    @property
    def model_key(self) -> str:
        return embedding_model_key(self.manifest, self.pipeline_settings)

    @property
    def pipeline_inference(self) -> InferenceSettings:
        """The models' runtimes and cache, from this gallery's settings (the one source)."""
        return self.pipeline_settings.inference or InferenceSettings.from_settings(self.settings)

    @property
    def pipeline_dim(self) -> int:
        return int(self.manifest.recognizer.embedding_size or 0)

    @property
    def bands(self) -> Bands:
        """SFace's own bands (fused scores use ``scoring.bands_for(True)``)."""
        return self.scoring.bands

    @property
    def pipeline(self) -> FacePipeline:
        """The face pipeline, loaded (and its model files verified) on first use."""
        if self._pipeline is None:
            self._pipeline = FacePipeline(self.manifest, self.pipeline_settings)
            self._pipeline.load_models()
        return self._pipeline

    @pipeline.setter
    def pipeline(self, pipeline: FacePipeline | None) -> None:
        """Use a face pipeline already loaded (None: the manifest's, loaded on first use)."""
        self._pipeline, self._members = pipeline, None
        self._ingest_pipelines.clear()

    @property
    def loaded_pipeline(self) -> FacePipeline | None:
        return self._pipeline

    def ingest_settings(self) -> PipelineSettings:
        """The pipeline settings of ingest workers: SFace only (the workers run the second
        recognizer themselves when it is made at ingest; ``ingest/worker.py``)."""
        return dataclasses.replace(self.pipeline_settings, second_model=False)

    def second_vectors_plan(self, mode: SecondVectors = "auto") -> SecondVectorsPlan:
        """Where ingest makes second vectors with ``mode`` (``ingest/second_vectors.py``):
        resolved against the runtime chosen for the second recognizer."""

        fusion = self.pipeline_settings.second_model and bool(self.scoring.second_model)
        spec = second_model_spec(self.manifest) if fusion else None
        inference = self.pipeline_settings.inference
        assert inference is not None  # set from the settings in __init__
        return resolve_second_vectors(mode, None if spec is None else inference.runtime_for(spec))

    def ingest_pipeline(self, settings: PipelineSettings) -> FacePipeline:
        """The pipeline of in-process ingest with ``settings``, sharing the loaded models."""
        if settings == self.pipeline_settings:
            return self.pipeline
        if settings not in self._ingest_pipelines:
            pipe = FacePipeline(self.manifest, settings)
            pipe.detector, pipe.embedder = self.pipeline.detector, self.pipeline.embedder
            self._ingest_pipelines[settings] = pipe
        return self._ingest_pipelines[settings]

    # --- writers and the other processes -------------------------------------------------
    @contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """Hold the data directory's writer lock for ``what`` ("ingest", "removal", ...):
        another process's write is waited for (at most the settings' ``writer_wait``, then
        :class:`~facesearch.store.writer_lock.WriterBusyError`), and the index held in memory
        is brought up to date with the faces it committed before this write begins (under the
        engine's write lock, briefly). Searches go on meanwhile: a write that changes the
        vectors held in memory takes the engine's write lock for each change
        (:meth:`changing`) or for the whole of it (``AppContext.writing``). Re-entrant in the
        holding thread."""
        with self.writer.hold(what):
            with self.engine_lock.write():
                self.refresh_index()
            yield

    @contextmanager
    def changing(self) -> Iterator[None]:
        """The engine's write lock for one change of the vectors held in memory (an ingest
        batch's commit and index add), by a thread holding the writer lock: searches wait for
        it, and see the faces of every batch committed before they started."""
        with self.engine_lock.write():
            yield
            self.vectors.caught_up()

    def index_stale(self) -> bool:
        """True when another process changed the faces or switched the recognizer since the
        index held in memory was last brought up to date (reads the catalog's generation)."""
        return self.vectors.stale() or (not self.vectors.opened and recognizer_moved(self))

    def refresh_index(self) -> tuple[int, int]:
        """Bring the index held in memory up to date with the faces other processes added
        or removed (nothing when the catalog's generation has not moved). Returns (added,
        removed). A server runs it under its engine's write lock, before a search. After a
        recognizer switch, the model, scoring, pipeline and index change first
        (``search/recognizer_reload.py``)."""
        if (self.vectors.stale() or not self.vectors.opened) and recognizer_moved(self):
            reload_recognizer(self)
        return self.vectors.refresh()

    # --- the vector index (search/indexing.py) --------------------------------------------
    @property
    def index_dir(self) -> Path:
        return self.vectors.directory

    @property
    def index(self) -> VectorStore:
        """The vector store, opened on first use and reconciled with the catalog."""
        return self.vectors.store

    @property
    def index_repairs(self) -> dict[str, int]:
        return self.vectors.repairs

    def index_add(self, ids: Sequence[int], vectors: Sequence[np.ndarray]) -> None:
        self.vectors.add(ids, vectors)

    def refresh_facets(self, image_ids: Sequence[int]) -> int:
        """After provenance was added to stored images: their faces' facets in a store that
        keeps them are rewritten. Returns how many faces were rewritten."""
        return self.vectors.refresh_facets(image_ids)

    def search_index(
        self,
        queries: np.ndarray,
        n: int,
        *,
        collection: str | None = None,
        filters: SearchFilters | None = None,
    ) -> SearchHits:
        """The index's ``n`` best searchable faces for each row of ``queries``, with the search
        filters pushed down into the vector store."""
        return self.vectors.search(queries, n, collection=collection, filters=filters)

    def fit_index(self) -> None:
        """Rebuild the index from the catalog when the gallery has grown (or shrunk) past the
        size its structure was chosen for (``store/vectors/plan.py``)."""
        self.vectors.fit()

    def compact_index(self) -> int:
        """Drop removed faces from the index's storage (they already leave results at once)."""
        with self.writing("index compaction"):
            return self.vectors.compact()

    def save_index(self) -> None:
        self.vectors.save()

    def maybe_save_index(self) -> None:
        self.vectors.maybe_save()

    def reindex(self) -> int:
        """Rebuild the vector index from the catalog, the source of truth."""
        with self.writing("re-index"):
            rebuilt = self.vectors.rebuild()
            with self.catalog.session() as s:  # a new gallery version (the Art. 12 record)
                generation.bump(s)
            return rebuilt

    # --- ingest -----------------------------------------------------------------------------
    def ingest(
        self,
        paths: Sequence[Path | str],
        *,
        collection: str | None = None,
        manifest: Path | str | None = None,
        workers: int | None = None,
        on_progress: ProgressCallback | None = None,
        suppressed: SuppressionPredicate | None = None,
        second_vectors: SecondVectors = "auto",
        roots: Sequence[Path] | None = None,
        archives: ArchiveLimits = DEFAULT_LIMITS,
        commit_every: int = 64,
        names: Mapping[str, str] | None = None,
    ) -> IngestReport:
        """Add every face in the given files, folders, archives and manifest (with ``roots``,
        a manifest's rows must name files under them; an archive over the ``archives`` limits
        is refused before any member is read; ``ingest/sources.py``).

        ``suppressed`` says which faces belong to people on the suppression list (never
        stored; governance supplies it). With the second recognizer on, ``second_vectors``
        says where each face's second vector is made (see :meth:`second_vectors_plan`): in
        the workers, stored with the face ("ingest"; the default "auto" when the second
        recognizer's runtime is fast), or from a chip queued for :meth:`second_pass`
        ("pass"; "auto" with dlib's own runtime). Either way it is made from the photo.
        Holds the data directory's writer lock (:meth:`writing`): a second ingest waits.
        Searches go on: each group of ``commit_every`` images (or fewer, after a few seconds)
        is committed and made searchable under the engine's write lock, alone
        (``search/gallery_sink.py``).
        ``names``: what to call a path given in provenance and reports (an upload's name).
        """
        with self.writing("ingest"):
            with self.changing():
                self.vectors.store  # noqa: B018  (open and reconcile the index before adding)
            plan = self.ingest_plan(second_vectors)
            run = IngestRun(
                GallerySink(self),
                [Path(p) for p in paths],
                plan=plan,
                suppressed=suppressed,
                collection=collection,
                manifest=Path(manifest) if manifest else None,
                workers=workers,
                on_progress=on_progress,
                executor=self.backends.executor_factory(),
                roots=roots,
                archives=archives,
                commit_every=commit_every,
                names=names,
            )
            return run.run()

    def ingest_plan(self, second_vectors: SecondVectors = "auto") -> IngestPlan:
        """What ingest's workers run and what the stored faces record (see :meth:`ingest`)."""
        settings = self.ingest_settings()
        where = self.second_vectors_plan(second_vectors)
        chips = ChipGeometry.from_manifest(self.manifest) if where.at != "off" else None
        second = None
        if where.in_workers and chips is not None:
            spec = second_model_spec(self.manifest)
            assert spec is not None  # where.at is "off" without it
            second = SecondRecognizer(spec, self.pipeline_settings.inference)
        return IngestPlan(
            worker_settings=settings,
            model=self.model_key,
            second_model=self.scoring.second_model or None,
            chips=chips,
            pipeline=lambda: self.ingest_pipeline(settings),
            second=second,
            second_in_process=self._loaded_second,
            second_vectors=where,
            nice=self.settings.ingest_nice,
            originals=self.settings.max_original_bytes if self.settings.keep_originals else None,
            manifest=self.manifest,
        )

    def _loaded_second(self) -> DlibEmbedder:
        """The second recognizer of the gallery's own pipeline (in-process ingest)."""
        second = self.pipeline.second
        if second is None:
            raise FacesearchError("the second recognizer is off in this gallery's pipeline")
        return second

    def second_pass(
        self, *, workers: int | None = None, on_progress: SecondPassCallback | None = None
    ) -> SecondPassReport:
        """Make the second vector of every queued face (see ``ingest/second_pass.py``).

        Resumable: run it again after an interruption and it does what is left. Does nothing
        when the second recognizer is off."""

        spec = second_model_spec(self.manifest) if self.scoring.fused else None
        if spec is None:
            return SecondPassReport()
        with self.writing("second-vector pass"):
            return SecondPass(
                self.catalog,
                self.blobs,
                spec,
                self.pipeline_inference,
                workers=workers,
                on_progress=on_progress,
                executor=self.backends.executor_factory(),
                nice=self.settings.ingest_nice,
            ).run()

    # --- faces of an input ------------------------------------------------------------------
    def decode(self, image: ImageInput) -> DecodedImage:
        return decode_any(image, self.pipeline_settings.max_pixels)

    def embed(self, image: ImageInput) -> list[Face]:
        """Every face in ``image``, largest first, with quality and embedding."""
        return self.pipeline.process_image(self.decode(image)).faces

    @property
    def verifier(self) -> Verifier:
        if self.scoring.multi is not None and self._members is None:
            self._members = MemberRecognizers(
                self.manifest, self.scoring.multi, self.pipeline_settings.inference
            )
        return Verifier(self.pipeline, self.scoring, self._members)

    # --- search -----------------------------------------------------------------------------
    def search(
        self,
        probe: ImageInput,
        k: int = 20,
        *,
        face: int | None = None,
        collection: str | None = None,
        filters: SearchFilters | None = None,
        include_flagged: bool = False,
        verifier: Verifier | None = None,
        refresh: bool = True,
    ) -> SearchResult:
        """The k gallery faces most similar to the probe's face (the largest by default).

        ``collection`` (or ``filters``: collection, capture date range, source URL prefix)
        restricts the search to faces whose image has a matching provenance record.
        ``include_flagged`` also scans the faces kept out of the index for low quality (an
        exact scan of their embeddings in the catalog: slower, and their scores are less
        reliable). ``verifier`` finds and embeds the probe's faces (default: one on the
        gallery's pipeline; a server's search threads each pass their own). ``refresh``:
        first bring the index up to date with the faces other processes committed
        (:meth:`refresh_index`); a server does that itself, under its write lock, and passes
        False.
        """
        if refresh:
            self.refresh_index()
        if verifier is None:
            self.pipeline  # noqa: B018  (load the models before the clock starts)
            verifier = self.verifier
        start = time.perf_counter()
        decoded, faces, chosen = verifier.face(self.decode(probe), face)
        members = verifier.member_vectors(decoded, chosen)  # an N-recognizer fusion's
        return self.searcher.search_embedding(
            chosen.embedding,
            k,
            model=chosen.model,
            second=chosen.second,
            yaw=chosen.quality.yaw,
            collection=collection,
            filters=filters,
            include_flagged=include_flagged,
            probe_sha256=decoded.sha256,
            probe_faces=[probe_face(f) for f in faces],
            face=chosen.index,
            started=start,
            members=members,
        )

    @property
    def searcher(self) -> Searcher:
        return Searcher(
            self.vectors, self.catalog, self.scoring, self.blobs, self.manifest.recognizer.sha256
        )

    def search_embedding(
        self,
        embedding: np.ndarray,
        k: int = 20,
        *,
        model: str,
        second: np.ndarray | None = None,
        yaw: float | None = None,
        collection: str | None = None,
        filters: SearchFilters | None = None,
        include_flagged: bool = False,
        refresh: bool = True,
        members: Mapping[str, np.ndarray] | None = None,
    ) -> SearchResult:
        """The k gallery faces nearest to ``embedding`` (``Searcher.search_embedding``: the
        index's shortlist re-ranked by fused score with the probe's ``second`` vector);
        ``refresh`` as in :meth:`search`."""
        if refresh:
            self.refresh_index()
        return self.searcher.search_embedding(
            embedding,
            k,
            model=model,
            second=second,
            yaw=yaw,
            collection=collection,
            filters=filters,
            include_flagged=include_flagged,
            members=members,
        )

    def compare(
        self, a: ImageInput, b: ImageInput, *, face_a: int | None = None, face_b: int | None = None
    ) -> Comparison:
        """1:1 verification of the largest (or chosen) face in each image."""
        return self.verifier.compare(a, b, face_a=face_a, face_b=face_b)

    # --- removal and status -----------------------------------------------------------------
    def remove_faces(self, face_ids: Sequence[int]) -> int:
        """Delete faces from the catalog and, at once, from search results; their crops, and
        any image left without a face (its thumbnail and provenance), go too."""
        ids = np.asarray(list(face_ids), np.int64)
        with self.writing("removal"):
            removed, orphans = self.catalog.remove_faces(ids.tolist())
            for key in orphans:
                self.blobs.delete(key)
            self.vectors.remove(ids)
        return removed

    def stats(self) -> dict[str, Any]:
        stats = self.catalog.stats()
        stats["originals"] = originals_summary(self.catalog)  # kept photos and their bytes
        if self.scoring.second_model:  # and how many second vectors are of another model
            stats["second_vectors"] = self.catalog.second_vector_counts(self.scoring.second_model)
        if self.scoring.multi is not None:  # faces without a member's vector: primary alone
            with self.catalog.session() as s:
                stats["fusion_member_vectors"] = member_vector_counts(
                    s, self.model_key, self.scoring.member_models
                )
        stats["indexed_faces"] = len(self.index)
        stats["index"] = self.index.describe()
        stats["backends"] = self.backends.describe()
        stats["model"] = self.model_key
        stats["data_dir"] = str(self.data_dir)
        return stats
