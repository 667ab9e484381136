"""A gallery's searchable vectors and their upkeep, through the ``VectorStore`` port only.

The catalog is the source of truth; the vector store (FAISS files in the data directory, or a
Milvus collection) is derived from it and repaired against it when they disagree (after a
crash between the two writes), rebuilt from it when its files are damaged or its structure no
longer suits the gallery's size. Every backend is driven the same way: the store says whether
it keeps each face's provenance facets itself (``keeps_facets``: then they go with every add
and are rewritten when a face gains provenance) or leaves the facet terms of a filter to the
catalog (the FAISS store asks :meth:`GalleryIndex.facet_ids`).

Other processes may change the faces of the same data directory (a CLI ingest or removal
while a server runs): every such commit raises the catalog's generation, and
:meth:`GalleryIndex.refresh` (run before each search when :meth:`GalleryIndex.stale`) brings
the store held in memory up to date: the faces added since are added, the faces removed are
removed. Writes to the store's files happen under the data directory's writer lock
(``store/writer_lock.py``), after such a refresh, so a saved index never drops another
process's faces.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facesearch.errors import IndexCorruptError, ModelMismatchError, StorageError
from facesearch.store.catalog import SearchFilters, SqlCatalog
from facesearch.store.vectors.port import Facet, SearchHits, VectorFilter, VectorStore
from facesearch.store.writer_lock import WriterLock

if TYPE_CHECKING:
    from facesearch.search.backends import Backends

log = logging.getLogger(__name__)

INDEX_SAVE_INTERVAL_S = 30.0


class GalleryIndex:
    """The vector store of one gallery's model, opened on first use and kept consistent
    with the catalog (``directory``: where the embedded store keeps its files)."""

    def __init__(
        self,
        catalog: SqlCatalog,
        backends: Backends,
        model_key: str,
        dim: int,
        directory: Path,
        lock: WriterLock | None = None,
    ) -> None:
        self.catalog = catalog
        self.backends = backends
        self.model_key = model_key
        self.dim = dim
        self.directory = directory
        #: the data directory's writer lock, held while the store's files are written
        self.lock = lock
        self._store: VectorStore | None = None
        #: the catalog's generation the store was last brought up to date with
        self._generation: int | None = None
        self._dirty = False
        self._saved_at = time.monotonic()
        #: what opening had to repair: {"added": n, "removed": n} or {"rebuilt": 1}
        self.repairs: dict[str, int] = {}

    # --- opening ----------------------------------------------------------------------------
    @property
    def store(self) -> VectorStore:
        """The vector store, opened on first use and reconciled with the catalog."""
        if self._store is None:
            generation = self.catalog.generation()  # read first: a later commit is caught up
            self._store = self._open()
            self._generation = generation
        return self._store

    def _open_store(self, *, load: bool = True) -> VectorStore:
        return self.backends.open_vector_store(
            self.model_key,
            self.dim,
            directory=self.directory,
            resolver=self.facet_ids,
            load=load,
            cipher=self.catalog.cipher,  # the index is encrypted as the catalog's vectors are
        )

    def _open(self) -> VectorStore:
        try:
            store = self._open_store()
        except IndexCorruptError as exc:
            log.warning("%s; rebuilding from the catalog", exc)
            self.repairs["rebuilt"] = 1
            return self._fill(self._open_store(load=False))
        except ModelMismatchError as exc:  # the gallery switched recognizer since it was saved
            log.info("%s; rebuilding from the catalog", exc)
            return self._fill(self._open_store(load=False))
        if store.fresh:  # nothing saved yet: the catalog's faces go in
            return self._fill(store)
        self._reconcile(store, repair=True)
        return store

    def facet_ids(self, where: VectorFilter) -> np.ndarray:
        """The searchable faces with a provenance record matching the filter's facet terms
        (the catalog answers them for a store that keeps no facets)."""
        filters = SearchFilters(
            where.collection, where.captured_from, where.captured_to, where.source_prefix
        )
        return self.catalog.face_ids(self.model_key, filters=filters)

    def _facets(self, store: VectorStore, ids: np.ndarray) -> list[list[Facet]] | None:
        return self.catalog.facets(ids) if store.keeps_facets else None

    # --- upkeep -------------------------------------------------------------------------------
    def _fill(self, store: VectorStore) -> VectorStore:
        """Empty ``store`` into the structure planned for the gallery's size and fill it from
        the catalog."""
        self._generation = self.catalog.generation()
        count, _ = self.catalog.searchable_summary(self.model_key)
        store.reset(count)
        chunk = 10_000 if store.keeps_facets else 50_000
        for ids, vectors in self.catalog.iter_embeddings(self.model_key, chunk=chunk):
            store.add(ids, vectors, self._facets(store, ids))
        store.seal()
        self._store = store
        self._dirty = True
        self._save_if_free()
        return store

    def _reconcile(self, store: VectorStore, *, repair: bool = False) -> tuple[int, int]:
        """Make the store hold exactly the catalog's searchable faces: after a crash
        (``repair``: logged as a repair and saved) or after other processes' commits. Returns
        how many faces were added and removed."""
        count, max_id = self.catalog.searchable_summary(self.model_key)
        last = store.last_id()
        if store.count() == count and (count == 0 or last is None or last == max_id):
            return 0, 0
        added = 0
        if last is not None and max_id > last:  # the faces added since: read them alone
            for ids, vectors in self.catalog.iter_embeddings(self.model_key, after=last):
                store.add(ids, vectors, self._facets(store, ids))
                added += len(ids)
            if store.count() == count:
                self._dirty = True
                return added, 0
        ids = store.ids()
        wanted = self.catalog.face_ids(self.model_key)
        missing = np.setdiff1d(wanted, ids, assume_unique=True)
        extra = np.setdiff1d(ids, wanted, assume_unique=True)
        if len(extra):
            store.remove(extra)
        if len(missing):
            store.add(missing, self.catalog.embeddings(missing), self._facets(store, missing))
        self._dirty = True
        if not repair:
            return added + len(missing), len(extra)
        self.repairs = {"added": len(missing), "removed": len(extra)}
        log.warning(
            "vector index disagreed with the catalog: added %d, removed %d",
            len(missing),
            len(extra),
        )
        self._store = store
        self._save_if_free()
        return len(missing), len(extra)

    @property
    def opened(self) -> bool:
        return self._store is not None

    def discard(self) -> None:
        """Close the store without saving it (the gallery switched to another recognizer:
        this model's index must not be saved over the new one's)."""
        if self._store is not None:
            self._store.close()
            self._store = None
        self._dirty = False

    # --- other processes' changes -----------------------------------------------------------
    def stale(self) -> bool:
        """True when the open store may miss faces another process added or removed since it
        was last brought up to date (one read of the catalog's generation). A store not yet
        opened is never stale: opening reconciles it; nor is one this process is writing to
        in another thread (its writer keeps it right, and holds off every other process)."""
        if self._store is None or self._writing_elsewhere():
            return False
        return self.catalog.generation() != self._generation

    def caught_up(self) -> None:
        """This process committed faces and put them in the open store, holding the writer
        lock (so no other process changed any face meanwhile): the store holds what the
        catalog holds, at the generation now (a later :meth:`refresh` has nothing to do)."""
        if self._store is not None and (self.lock is None or self.lock.held):
            self._generation = self.catalog.generation()

    def save_due(self) -> bool:
        """True when the store has unsaved changes older than the save interval."""
        return self._dirty and time.monotonic() - self._saved_at > INDEX_SAVE_INTERVAL_S

    def _writing_elsewhere(self) -> bool:
        return self.lock is not None and self.lock.held_by_another_thread

    def refresh(self) -> tuple[int, int]:
        """Bring the open store up to date with the catalog when its generation moved: the
        faces added since are added, the faces removed are removed. In memory only (the
        process that changed the catalog saves the index). Returns (added, removed). The
        caller keeps searches out meanwhile (the engine's write lock)."""
        store = self._store
        if store is None or self._writing_elsewhere():
            return 0, 0
        generation = self.catalog.generation()
        if generation == self._generation:
            return 0, 0
        added, removed = self._reconcile(store)
        self._generation = generation
        if added or removed:
            log.info(
                "vector index caught up with the catalog: added %d, removed %d", added, removed
            )
        return added, removed

    @contextmanager
    def _locked(self, what: str) -> Iterator[None]:
        """The writer lock held for ``what`` (re-entrant; nothing without a lock)."""
        with nullcontext() if self.lock is None else self.lock.hold(what):
            yield

    def _save_if_free(self) -> None:
        """Save unless another process is writing the data directory (it saves the index
        itself, and a later open repairs what this one could not save)."""
        if self.lock is None:
            self.save()
            return
        with self.lock.try_hold("index save") as held:
            if held:
                self.save()

    def rebuild(self) -> int:
        """Rebuild the store from the catalog, the source of truth (the saved one unread)."""
        store = self._store if self._store is not None else self._open_store(load=False)
        with self._locked("re-index"):
            return len(self._fill(store))

    def fit(self) -> None:
        """Rebuild from the catalog when the gallery has grown (or shrunk) past the size the
        store's structure was chosen for (``store/vectors/plan.py``)."""
        if self._store is not None and self._store.outgrown():
            with self._locked("re-index"):
                self._fill(self._store)

    def add(self, ids: Sequence[int], vectors: Sequence[np.ndarray]) -> None:
        if len(ids) == 0:
            return
        store = self.store
        arr = np.asarray(ids, np.int64)
        store.add(arr, np.stack(list(vectors)), self._facets(store, arr))
        self._dirty = True

    def remove(self, ids: np.ndarray) -> None:
        """Remove faces at once from results (compacting when a tenth are tombstones)."""
        store = self.store
        store.remove(ids)
        if store.n_removed > 0.1 * max(1, len(store)):
            store.compact()
        self._dirty = True
        self.save()

    def refresh_facets(self, image_ids: Sequence[int]) -> int:
        """After provenance was added to stored images: their faces' facets in a store that
        keeps them are rewritten. Returns how many faces were rewritten."""
        if not image_ids or not self.store.keeps_facets:
            return 0
        ids = self.catalog.image_face_ids(image_ids, self.model_key)
        if len(ids):
            self.store.add(ids, self.catalog.embeddings(ids), self.catalog.facets(ids))
        return len(ids)

    def compact(self) -> int:
        """Drop removed faces from the store's storage (they already leave results at once)."""
        dropped = self.store.compact()
        if dropped:
            self._dirty = True
            self.save()
        return dropped

    def save(self) -> None:
        """Write the store's changes, under the data directory's writer lock (waiting for
        another writer) and after catching up with the other processes' commits, so the
        saved index holds every face of the catalog."""
        if self._store is None or not self._dirty:
            return
        with self._locked("index save"):
            self.refresh()
            self._store.save()
            self._dirty = False
            self._saved_at = time.monotonic()

    def maybe_save(self) -> None:
        if time.monotonic() - self._saved_at > INDEX_SAVE_INTERVAL_S:
            self.save()

    def close(self) -> None:
        if self._dirty:
            try:
                self._save_if_free()
            except StorageError as exc:
                # the disk refused the save (full, read-only): the catalog holds every face,
                # and the next opening brings the saved index up to date from it
                log.info("vector index not saved on close: %s", exc)
        if self._store is not None:
            self._store.close()
            self._store = None

    # --- search ---------------------------------------------------------------------------------
    def search(
        self,
        queries: np.ndarray,
        n: int,
        *,
        collection: str | None = None,
        filters: SearchFilters | None = None,
    ) -> SearchHits:
        """The ``n`` best searchable faces for each row of ``queries``, the search filters
        pushed down into the store."""
        where = None
        if collection is not None or (filters is not None and not filters.empty):
            f = filters or SearchFilters()
            where = VectorFilter(
                collection=collection if collection is not None else f.collection,
                captured_from=f.captured_from,
                captured_to=f.captured_to,
                source_prefix=f.source_prefix,
            )
        return self.store.search(queries, n, where=where)
