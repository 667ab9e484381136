"""The gallery as an ingest run's sink: what ``ingest/runner.py`` writes goes into the
gallery's catalog, blob store and vector index.

Searches go on during an ingest: each group of images is committed to the catalog and added to
the index under the engine's write lock, alone (:meth:`GallerySink.batch`), so a search waits
at most for one group's commit and sees every group committed before it started; pictures are
put in the blob store before, outside it (content-addressed: nothing refers to them yet)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import numpy as np

from facesearch.store.blobs import FileBlobStore
from facesearch.store.catalog import ImageRecord, ProvenanceRecord

if TYPE_CHECKING:
    from facesearch.search.gallery import Gallery

# Stored images that gained provenance during an ingest (a re-ingest into another collection)
# have their faces' facets rewritten in a store that keeps them this many images at a time, and
# when the run ends (also when interrupted); until then a search filtered on the new collection
# does not see them there. `facesearch reindex` rewrites every face's facets.
FACET_REFRESH_IMAGES = 1000


class GallerySink:
    """The gallery as an ingest run's :class:`~facesearch.ingest.sink.IngestSink`: rows into
    the catalog, crops, thumbnails and chips into the blob store, vectors into the index
    (and, into a store that keeps them, the facets of stored images that gained provenance)."""

    def __init__(self, gallery: Gallery) -> None:
        self._gallery = gallery
        self._catalog = gallery.catalog
        self._blobs = gallery.blobs
        # stored images that gained provenance in this run, whose faces' facets in a store on
        # a server are rewritten together (see flush_facets)
        self._stale_facets: set[int] = set()
        # blob files written since the last stored group of images
        self._track_new = isinstance(self._blobs, FileBlobStore)
        self._unstored: list[str] = []

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
        if not image_ids or not self._gallery.vectors.store.keeps_facets:
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
        if self._track_new:  # new files since the last stored group: see discard_unstored_blobs
            key = self._blobs.name(data)
            if not self._blobs.exists(key):
                self._unstored.append(key)
        return self._blobs.put(data)

    def discard_unstored_blobs(self) -> int:
        """Delete the blob files written since the last stored group of images (a failed run:
        no row refers to them). Only a blob store on files is tracked (one stat per blob):
        its disk is the one that fills; the data directory's writer lock keeps other writers
        out meanwhile."""
        keys, self._unstored = self._unstored, []
        return sum(1 for key in keys if self._blobs.delete(key))

    def add_images(self, records: Sequence[ImageRecord], run_id: int | None) -> list[list[int]]:
        created = self._catalog.add_images(records, run_id)
        self._unstored.clear()
        if self._gallery.vectors.store.keeps_facets:  # stored images may have gained provenance
            first = {r.sha256 for r, ids in zip(records, created, strict=True) if ids}
            known = {r.sha256 for r in records if r.faces and r.sha256 not in first}
            image_ids = [self._catalog.image_id_by_sha(sha) for sha in sorted(known)]
            self._facets_changed([i for i in image_ids if i is not None])
        return created

    def index_add(self, ids: Sequence[int], vectors: Sequence[np.ndarray]) -> None:
        self._gallery.index_add(ids, vectors)

    def batch(self) -> AbstractContextManager[None]:
        """One group of images committed and added to the index, alone: searches wait for
        it (the engine's write lock, ``Gallery.changing``) and run between groups."""
        return self._gallery.changing()

    def checkpoint(self) -> None:
        """Save the index now and then: a reader of the vectors (searches go on; this run is
        the only thread changing them, holding the writer lock)."""
        if self._gallery.vectors.save_due():
            with self._gallery.engine_lock.read():
                self._gallery.save_index()

    def finish(self) -> None:
        self.flush_facets()
        with self._gallery.changing():
            self._gallery.fit_index()
        with self._gallery.engine_lock.read():
            self._gallery.save_index()
