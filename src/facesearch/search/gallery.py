"""The gallery: a data directory holding a catalog, a vector index and a blob store.

This is the library's front door::

    gallery = Gallery.open("facesearch-data")
    gallery.ingest(["photos/"], collection="case-files")
    result = gallery.search("probe.jpg", k=20)
    comparison = gallery.compare("a.jpg", "b.jpg")
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facesearch.engine.decode import DecodedImage, ImageInput, decode_any
from facesearch.engine.pipeline import Face, FacePipeline, PipelineSettings, embedding_model_key
from facesearch.errors import (
    FacesearchError,
    IndexCorruptError,
    ModelMismatchError,
)
from facesearch.ingest.runner import IngestReport, IngestRun, ProgressCallback
from facesearch.ingest.second_pass import SecondPass, SecondPassCallback, SecondPassReport
from facesearch.ingest.second_vectors import SecondVectors, SecondVectorsPlan
from facesearch.ingest.second_vectors import resolve as resolve_second_vectors
from facesearch.ingest.sink import IngestPlan, SuppressionPredicate
from facesearch.ingest.worker import ChipGeometry, SecondRecognizer
from facesearch.models.manifest import Manifest, load_manifest
from facesearch.search.backends import Backends
from facesearch.search.compare import Verifier, probe_face
from facesearch.search.scoring import Bands, Candidate, Comparison, ProbeFace, Scoring, SearchResult
from facesearch.settings import resolve_data_dir, resolve_database_url
from facesearch.store.blobs import BlobStore
from facesearch.store.catalog import (
    ImageRecord,
    ProvenanceRecord,
    SearchFilters,
    SqlCatalog,
    StoredFace,
)
from facesearch.store.crypto import Cipher
from facesearch.store.vectors.faiss_store import VectorFilter
from facesearch.store.vectors.index import (
    SearchHits,
    VectorIndex,
    build_index,
    load_index,
    needs_rebuild,
)

if TYPE_CHECKING:
    from facesearch.engine.embed import DlibEmbedder
    from facesearch.store.s3_blobs import S3BlobStore
    from facesearch.store.vectors.milvus import MilvusVectorStore

log = logging.getLogger(__name__)

GALLERY_FILE = "gallery.json"
FORMAT_VERSION = 1
INDEX_SAVE_INTERVAL_S = 30.0
# Stored images that gained provenance during an ingest (a re-ingest into another collection)
# have their faces' facets rewritten in a store on a server this many images at a time, and
# when the run ends (also when interrupted); until then a search filtered on the new collection
# does not see them there. `facesearch reindex` rewrites every face's facets.
FACET_REFRESH_IMAGES = 1000
# With score fusion, the index's best max(k, this) candidates are re-ranked by fused score, from
# the second vectors stored in the catalog (made at ingest or by the pass after it; search never
# makes one): a candidate without one keeps its SFace score and SFace's bands.
FUSION_CANDIDATES = 20


class Gallery:
    def __init__(
        self,
        data_dir: Path,
        catalog: SqlCatalog,
        *,
        manifest: Manifest | None = None,
        pipeline_settings: PipelineSettings | None = None,
        backends: Backends | None = None,
    ) -> None:
        from facesearch.evaluate.calibrate import calibrated_manifest

        self.data_dir = data_dir
        self.catalog = catalog
        # vector store, blob store and ingest executor (default: FAISS, files, local processes)
        self.backends = backends or Backends()
        self.pipeline_settings = pipeline_settings or PipelineSettings()
        # the packaged manifest, with this data directory's own calibration if it has one
        self.manifest = calibrated_manifest(
            data_dir, manifest or load_manifest(), self.pipeline_settings
        )
        self.blobs: BlobStore | S3BlobStore = self.backends.open_blobs(data_dir, Cipher.from_env())
        self.scoring = Scoring.from_manifest(
            self.manifest, fusion=self.pipeline_settings.second_model
        )
        self._pipeline: FacePipeline | None = None
        self._ingest_pipelines: dict[PipelineSettings, FacePipeline] = {}
        self._index: VectorIndex | MilvusVectorStore | None = None
        self._index_dirty = False
        self._index_saved_at = time.monotonic()
        self.index_repairs: dict[str, int] = {}

    # --- opening ------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        data_dir: Path | str | None = None,
        *,
        database_url: str | None = None,
        pipeline_settings: PipelineSettings | None = None,
        backends: Backends | None = None,
    ) -> Gallery:
        """Open (creating if needed) the gallery in ``data_dir``.

        ``data_dir`` defaults to $FACESEARCH_DATA or ./facesearch-data; the catalog to SQLite
        in that folder unless ``database_url`` or $FACESEARCH_DATABASE_URL names another.
        ``backends`` (``facesearch.search.backends``, from the settings' URLs) chooses the vector
        store, the blob store and the ingest executor; the data directory still holds the
        gallery's small files (format, policy, calibration).
        """
        root = resolve_data_dir(data_dir)
        root.mkdir(parents=True, exist_ok=True)
        meta_path = root / GALLERY_FILE
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("format_version", 0) > FORMAT_VERSION:
                raise FacesearchError(
                    f"{root} was written by a newer facesearch (format {meta['format_version']})"
                )
        else:
            meta_path.write_text(json.dumps({"format_version": FORMAT_VERSION}, indent=2))
        if database_url is None and backends is not None:
            database_url = backends.database_url
        catalog = SqlCatalog(resolve_database_url(root, database_url))
        return cls(root, catalog, pipeline_settings=pipeline_settings, backends=backends)

    def close(self) -> None:
        if self._index_dirty:
            self.save_index()
        if self.remote_index and self._index is not None:
            self._index.close()  # type: ignore[union-attr]
            self._index = None
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

    def ingest_settings(self) -> PipelineSettings:
        """The pipeline settings of ingest workers: SFace only (the workers run the second
        recognizer themselves when it is made at ingest; ``ingest/worker.py``)."""
        return dataclasses.replace(self.pipeline_settings, second_model=False)

    def second_vectors_plan(self, mode: SecondVectors = "auto") -> SecondVectorsPlan:
        """Where ingest makes second vectors with ``mode`` (``ingest/second_vectors.py``):
        resolved against the runtime chosen for the second recognizer."""
        from facesearch.engine.embed import second_model_spec
        from facesearch.models.inference import InferenceSettings

        fusion = self.pipeline_settings.second_model and bool(self.scoring.second_model)
        spec = second_model_spec(self.manifest) if fusion else None
        inference = self.pipeline_settings.inference or InferenceSettings.from_environment()
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

    # --- the vector index -------------------------------------------------------------------
    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def index(self) -> VectorIndex | MilvusVectorStore:
        """The vector index, loaded on first use and reconciled with the catalog."""
        if self._index is None:
            self._index = self._open_index()
        return self._index

    @property
    def remote_index(self) -> bool:
        """Whether the vectors live on a server (Milvus) rather than in the data directory."""
        return self.backends.vector_store.kind != "faiss"

    def _open_index(self) -> VectorIndex | MilvusVectorStore:
        if self.remote_index:
            store = self.backends.open_vector_store(self.model_key, self.pipeline_dim)
            count, _ = self.catalog.searchable_summary(self.model_key)
            if store.count() != count:  # a crash between catalog and store: repair
                self._reconcile(store)
            return store
        try:
            index = load_index(self.index_dir)
        except IndexCorruptError as exc:
            log.warning("%s; rebuilding from the catalog", exc)
            self.index_repairs["rebuilt"] = 1
            return self._build_index()
        if index is None:
            return self._build_index()
        if index.model_key != self.model_key:
            raise ModelMismatchError(
                f"the vector index holds vectors of {index.model_key}, but this facesearch "
                f"uses {self.model_key}: run 'facesearch reindex' after re-embedding"
            )
        self._reconcile(index)
        return index

    def _build_index(self) -> VectorIndex | MilvusVectorStore:
        """The structure planned for the gallery's size, filled from the catalog."""
        if self.remote_index:
            store = self.backends.open_vector_store(self.model_key, self.pipeline_dim)
            store.drop()
            store = self.backends.open_vector_store(self.model_key, self.pipeline_dim)
            for ids, vectors in self.catalog.iter_embeddings(self.model_key, chunk=10_000):
                # a new, empty collection: nothing to replace, so no delete round trips
                store.add(ids, vectors, self.catalog.facets(ids), replace=False)
            self._index = store
            return store
        count, _ = self.catalog.searchable_summary(self.model_key)
        index = build_index(
            self.model_key,
            self.pipeline_dim,
            self.catalog.iter_embeddings(self.model_key),
            expected_size=count,
        )
        self._index_dirty = True
        self._index = index
        self.save_index()
        return index

    @property
    def pipeline_dim(self) -> int:
        return int(self.manifest.recognizer.embedding_size or 0)

    def _reconcile(self, index: VectorIndex | MilvusVectorStore) -> None:
        """Make the index hold exactly the catalog's searchable faces (after a crash)."""
        count, max_id = self.catalog.searchable_summary(self.model_key)
        ids = index.ids()
        if len(ids) == count and (count == 0 or int(ids[-1]) == max_id):
            return
        wanted = self.catalog.face_ids(self.model_key)
        missing = np.setdiff1d(wanted, ids, assume_unique=True)
        extra = np.setdiff1d(ids, wanted, assume_unique=True)
        if len(extra):
            index.remove(extra)
        if len(missing):
            self._add_vectors(index, missing, self.catalog.embeddings(missing))
        self.index_repairs = {"added": len(missing), "removed": len(extra)}
        log.warning(
            "vector index disagreed with the catalog: added %d, removed %d",
            len(missing),
            len(extra),
        )
        self._index = index
        self._index_dirty = True
        self.save_index()

    def index_add(self, ids: Sequence[int], vectors: Sequence[np.ndarray]) -> None:
        if len(ids) == 0:
            return
        self._add_vectors(self.index, np.asarray(ids, np.int64), np.stack(list(vectors)))
        self._index_dirty = True

    def _add_vectors(
        self, index: VectorIndex | MilvusVectorStore, ids: np.ndarray, vectors: np.ndarray
    ) -> None:
        """Vectors into the index; a store on a server also gets each face's provenance
        facets, so that search filters run inside the store (FAISS asks the catalog)."""
        if isinstance(index, VectorIndex):
            index.add(ids, vectors)
        else:
            index.add(ids, vectors, self.catalog.facets(ids))

    def refresh_facets(self, image_ids: Sequence[int]) -> int:
        """After provenance was added to stored images: their faces' facets in a store on a
        server are rewritten (FAISS keeps none). Returns how many faces were rewritten."""
        if not self.remote_index or not image_ids:
            return 0
        ids = self.catalog.image_face_ids(image_ids, self.model_key)
        if len(ids):
            self._add_vectors(self.index, ids, self.catalog.embeddings(ids))
        return len(ids)

    def search_index(
        self,
        queries: np.ndarray,
        n: int,
        *,
        collection: str | None = None,
        filters: SearchFilters | None = None,
    ) -> SearchHits:
        """The index's ``n`` best searchable faces for each row of ``queries``, with the search
        filters applied where they run: FAISS gets the catalog's allowed ids, a store on a server
        gets the filter terms as its own expression."""
        index = self.index
        if collection is None and (filters is None or filters.empty):
            return index.search(queries, n)
        if isinstance(index, VectorIndex):
            allowed = self.catalog.face_ids(self.model_key, collection=collection, filters=filters)
            return index.search(queries, n, allowed_ids=allowed)
        f = filters or SearchFilters()
        where = VectorFilter(
            collection=collection if collection is not None else f.collection,
            captured_from=f.captured_from,
            captured_to=f.captured_to,
            source_prefix=f.source_prefix,
        )
        return index.search(queries, n, where=where)

    def fit_index(self) -> None:
        """Rebuild the index from the catalog when the gallery has grown (or shrunk) past the
        size its structure was chosen for (exact search up to 200k faces, then compressed
        codes with exact re-ranking; see ``vector_index.index_plan``)."""
        if isinstance(self._index, VectorIndex) and needs_rebuild(self._index):
            self._index = None
            self._build_index()

    def compact_index(self) -> int:
        """Drop removed faces from the index's storage (they already leave results at once)."""
        dropped = self.index.compact()
        if dropped:
            self._index_dirty = True
            self.save_index()
        return dropped

    def save_index(self) -> None:
        if self._index is not None and self._index_dirty:
            self._index.save(self.index_dir)
            self._index_dirty = False
            self._index_saved_at = time.monotonic()

    def maybe_save_index(self) -> None:
        if time.monotonic() - self._index_saved_at > INDEX_SAVE_INTERVAL_S:
            self.save_index()

    def reindex(self) -> int:
        """Rebuild the vector index from the catalog, the source of truth."""
        self._index = None
        index = self._build_index()
        return len(index)

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
    ) -> IngestReport:
        """Add every face in the given files, folders, archives and manifest.

        ``suppressed`` says which faces belong to people on the suppression list (never
        stored; governance supplies it). With the second recognizer on, ``second_vectors``
        says where each face's second vector is made (see :meth:`second_vectors_plan`): in
        the workers, stored with the face ("ingest"; the default "auto" when the second
        recognizer's runtime is fast), or from a chip queued for :meth:`second_pass`
        ("pass"; "auto" with dlib's own runtime). Either way it is made from the photo.
        """
        self.index  # noqa: B018  (open and reconcile the index before adding to it)
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
        )
        return run.run()

    def ingest_plan(self, second_vectors: SecondVectors = "auto") -> IngestPlan:
        """What ingest's workers run and what the stored faces record (see :meth:`ingest`)."""
        settings = self.ingest_settings()
        where = self.second_vectors_plan(second_vectors)
        chips = ChipGeometry.from_manifest(self.manifest) if where.at != "off" else None
        second = None
        if where.in_workers and chips is not None:
            from facesearch.engine.embed import second_model_spec

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
        from facesearch.engine.embed import second_model_spec

        spec = second_model_spec(self.manifest) if self.scoring.fused else None
        if spec is None:
            return SecondPassReport()
        return SecondPass(
            self.catalog,
            self.blobs,
            spec,
            workers=workers,
            on_progress=on_progress,
            executor=self.backends.executor_factory(),
        ).run()

    # --- faces of an input ------------------------------------------------------------------
    def decode(self, image: ImageInput) -> DecodedImage:
        return decode_any(image, self.pipeline_settings.max_pixels)

    def embed(self, image: ImageInput) -> list[Face]:
        """Every face in ``image``, largest first, with quality and embedding."""
        return self.pipeline.process_image(self.decode(image)).faces

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.pipeline, self.scoring)

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
    ) -> SearchResult:
        """The k gallery faces most similar to the probe's face (the largest by default).

        ``collection`` (or ``filters``: collection, capture date range, source URL prefix)
        restricts the search to faces whose image has a matching provenance record.
        ``include_flagged`` also scans the faces kept out of the index for low quality (an
        exact scan of their embeddings in the catalog: slower, and their scores are less
        reliable). ``verifier`` finds and embeds the probe's faces (default: one on the
        gallery's pipeline; a server's search threads each pass their own).
        """
        if verifier is None:
            self.pipeline  # noqa: B018  (load the models before the clock starts)
            verifier = self.verifier
        start = time.perf_counter()
        decoded, faces, chosen = verifier.face(self.decode(probe), face)
        return self.search_embedding(
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
        probe_sha256: str = "",
        probe_faces: list[ProbeFace] | None = None,
        face: int = 0,
        started: float | None = None,
        include_flagged: bool = False,
    ) -> SearchResult:
        """The k gallery faces nearest to ``embedding``; with the probe's ``second`` vector
        and fusion on, the index's best :data:`FUSION_CANDIDATES` (at least k) are re-ranked
        by fused score from their stored second vectors (a face without one keeps its SFace
        score and SFace's bands, ``fused: False``). Reads only."""
        start = time.perf_counter() if started is None else started
        if k < 1:
            raise ValueError("k must be at least 1")
        index = self.index
        if model != index.model_key:
            raise ModelMismatchError(
                f"probe embedded with {model} but the gallery holds {index.model_key}"
            )
        query = np.asarray(embedding, np.float32)
        fuse = self.scoring.fused and second is not None
        shortlist = max(k, FUSION_CANDIDATES) if fuse else k
        hits = self.search_index(query[None, :], shortlist, collection=collection, filters=filters)
        allowed = None
        filtered = collection is not None or (filters is not None and not filters.empty)
        if include_flagged and filtered:  # flagged faces live only in the catalog
            allowed = self.catalog.face_ids(
                self.model_key, searchable_only=False, collection=collection, filters=filters
            )
        pairs = [
            (int(i), float(s)) for i, s in zip(hits.ids[0], hits.scores[0], strict=True) if i >= 0
        ]
        if include_flagged:
            pairs = sorted(
                pairs + self._flagged_hits(query, shortlist, allowed), key=lambda p: -p[1]
            )[:shortlist]
        stored = self.catalog.faces([i for i, _ in pairs])
        pairs = [(i, s) for i, s in pairs if i in stored]  # deleted after the index was written
        scored = (
            self._fused(pairs, stored, second, yaw) if fuse else [(i, s, False) for i, s in pairs]
        )
        candidates: list[Candidate] = []
        for face_id, score, fused in scored[:k]:
            sf = stored[face_id]
            candidates.append(
                Candidate(
                    rank=len(candidates) + 1,
                    face_id=face_id,
                    score=round(score, 4),
                    band=self.scoring.bands_for(fused).band(score),
                    fused=fused,
                    face_index=sf.face_index,
                    bbox=sf.bbox,
                    quality=sf.quality,
                    crop=sf.crop,
                    crop_path=str(self.blobs.path(sf.crop)) if sf.crop else None,
                    image_sha256=sf.image_sha256,
                    image_path=sf.image_path,
                    thumbnail=sf.thumbnail,
                    provenance=sf.provenance,
                )
            )
        spec = self.manifest.recognizer
        return SearchResult(
            probe_sha256=probe_sha256,
            model=index.model_key,
            model_sha256=spec.sha256,
            thresholds=self.scoring.thresholds(),
            k=k,
            face=face,
            probe_faces=probe_faces or [],
            candidates=candidates,
            gallery_size=len(index),
            seconds=round(time.perf_counter() - start, 4),
        )

    def _fused(
        self,
        pairs: list[tuple[int, float]],
        stored: dict[int, StoredFace],
        second: np.ndarray | None,
        yaw: float | None = None,
    ) -> list[tuple[int, float, bool]]:
        """Re-rank (id, SFace score) pairs by fused score, best first."""
        if not pairs:
            return []
        dim = len(second) if second is not None else 0
        others = np.full((len(pairs), dim), np.nan, np.float32)
        known = self._second_vectors([stored[face_id] for face_id, _ in pairs])
        for row, (face_id, _) in enumerate(pairs):
            if face_id in known:
                others[row] = known[face_id]
        others_yaw = None
        if self.scoring.fusion is not None and self.scoring.fusion.pose_dependent:
            from facesearch.engine.quality import estimate_yaw

            others_yaw = np.array(
                [
                    estimate_yaw(np.asarray(stored[i].landmarks)) if stored[i].landmarks else np.nan
                    for i, _ in pairs
                ]
            )
        scores, fused = self.scoring.scores(
            np.array([s for _, s in pairs]), second, others, yaw, others_yaw
        )
        order = np.argsort(-scores, kind="stable")
        return [(pairs[i][0], float(scores[i]), bool(fused[i])) for i in order]

    def _second_vectors(self, faces: Sequence[StoredFace]) -> dict[int, np.ndarray]:
        """The stored second-recognizer vector of each face that has one (of the model in
        use). Read only: search never makes a gallery vector and never writes."""
        model = self.scoring.second_model
        return {
            sf.face_id: sf.second_embedding
            for sf in faces
            if sf.second_embedding is not None and sf.second_model == model
        }

    def _flagged_hits(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        """Exact top-k among the flagged (low-quality) faces, which the index does not hold."""
        best: list[tuple[int, float]] = []
        for ids, vectors in self.catalog.iter_embeddings(self.model_key, flagged_only=True):
            if allowed is not None:
                keep = np.isin(ids, allowed)
                ids, vectors = ids[keep], vectors[keep]
            scores = vectors @ query
            top = np.argsort(-scores)[:k]
            best = sorted(
                best + [(int(ids[i]), float(scores[i])) for i in top], key=lambda p: -p[1]
            )
            best = best[:k]
        return best

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
        removed, orphans = self.catalog.remove_faces(ids.tolist())
        for key in orphans:
            self.blobs.delete(key)
        index = self.index
        index.remove(ids)
        if getattr(index, "n_removed", 0) > 0.1 * max(1, len(index)):
            index.compact()
        self._index_dirty = True
        self.save_index()
        return removed

    def stats(self) -> dict[str, Any]:
        stats = self.catalog.stats()
        if self.scoring.second_model:  # and how many second vectors are of another model
            stats["second_vectors"] = self.catalog.second_vector_counts(self.scoring.second_model)
        stats["indexed_faces"] = len(self.index)
        stats["index"] = self.index.describe()
        stats["backends"] = self.backends.describe()
        stats["model"] = self.model_key
        stats["data_dir"] = str(self.data_dir)
        return stats


class GallerySink:
    """The gallery as an ingest run's :class:`~facesearch.ingest.sink.IngestSink`: rows into
    the catalog, crops, thumbnails and chips into the blob store, vectors into the index."""

    def __init__(self, gallery: Gallery) -> None:
        self._gallery = gallery
        self._catalog = gallery.catalog
        self._blobs = gallery.blobs
        # stored images that gained provenance in this run, whose faces' facets in a store on
        # a server are rewritten together (see flush_facets)
        self._stale_facets: set[int] = set()

    def start_run(self, sources: list[str], collection: str | None) -> int:
        return self._catalog.start_run(sources, collection)

    def finish_run(self, run_id: int, status: str, counts: dict[str, int]) -> None:
        self._catalog.finish_run(run_id, status, counts)

    def add_failure(self, run_id: int, path: str, reason: str) -> None:
        self._catalog.add_failure(run_id, path, reason)

    def image_id_by_sha(self, sha256: str) -> int | None:
        return self._catalog.image_id_by_sha(sha256)

    def add_provenance(self, image_id: int, prov: ProvenanceRecord, run_id: int | None) -> bool:
        added = self._catalog.add_provenance(image_id, prov, run_id)
        if added:
            self._facets_changed([image_id])
        return added

    def _facets_changed(self, image_ids: Sequence[int]) -> None:
        if not self._gallery.remote_index or not image_ids:
            return
        self._stale_facets.update(image_ids)
        if len(self._stale_facets) >= FACET_REFRESH_IMAGES:
            self.flush_facets()

    def flush_facets(self) -> None:
        """Rewrite the facets of the faces of every image that gained provenance since the last
        flush, in one store write (a re-ingest of stored photos into another collection used to
        rewrite them one image at a time: one delete and one insert round trip each)."""
        if self._stale_facets:
            image_ids = sorted(self._stale_facets)
            self._stale_facets.clear()
            self._gallery.refresh_facets(image_ids)

    def put_blob(self, data: bytes) -> str:
        return self._blobs.put(data)

    def add_images(self, records: Sequence[ImageRecord], run_id: int | None) -> list[list[int]]:
        created = self._catalog.add_images(records, run_id)
        if self._gallery.remote_index:  # images already stored may have gained provenance
            first = {r.sha256 for r, ids in zip(records, created, strict=True) if ids}
            known = {r.sha256 for r in records if r.faces and r.sha256 not in first}
            image_ids = [self._catalog.image_id_by_sha(sha) for sha in sorted(known)]
            self._facets_changed([i for i in image_ids if i is not None])
        return created

    def index_add(self, ids: Sequence[int], vectors: Sequence[np.ndarray]) -> None:
        self._gallery.index_add(ids, vectors)

    def checkpoint(self) -> None:
        self._gallery.maybe_save_index()

    def finish(self) -> None:
        self.flush_facets()
        self._gallery.fit_index()
        self._gallery.save_index()
