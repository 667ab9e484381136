"""The vector store port's embedded backend: the FAISS index in the data directory.

``FaissVectorStore`` runs the FAISS structures (``flat.py`` exact, ``pq_refine.py`` compressed
with exact re-ranking, chosen for the size by ``plan.py``) behind
:class:`~facesearch.store.vectors.port.VectorStore`, with their files (``files.py``,
``load.py``) in ``index/`` of the data directory. It holds vectors only: a
:data:`~facesearch.store.vectors.port.FacetResolver` (the catalog in a gallery, or an
in-memory :class:`FacetTable`) turns the provenance part of a filter into the ids that FAISS's
ID selector lets through during the scan.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.errors import ModelMismatchError
from facesearch.store.crypto import Cipher
from facesearch.store.vectors.base import VectorIndex
from facesearch.store.vectors.load import load_index
from facesearch.store.vectors.plan import needs_rebuild, new_index
from facesearch.store.vectors.port import (
    Facet,
    FacetResolver,
    SearchHits,
    StoreHealth,
    VectorFilter,
    as_ids,
    check_batch,
    check_vectors,
)
from facesearch.store.vectors.pq_refine import PQRefineVectorIndex


class FacetTable:
    """Facets held in memory (for a FAISS store without a catalog: tests, benchmarks)."""

    def __init__(self) -> None:
        self._facets: dict[int, tuple[Facet, ...]] = {}

    def set(self, ids: np.ndarray, facets: Sequence[Sequence[Facet]] | None) -> None:
        for i, fid in enumerate(ids.tolist()):
            self._facets[fid] = tuple(facets[i]) if facets is not None else ()

    def drop(self, ids: np.ndarray) -> None:
        for fid in ids.tolist():
            self._facets.pop(fid, None)

    def clear(self) -> None:
        self._facets.clear()

    def __call__(self, where: VectorFilter) -> np.ndarray:
        hits = [fid for fid, fs in self._facets.items() if any(where.matches(f) for f in fs)]
        return np.asarray(sorted(hits), np.int64)


class FaissVectorStore:
    """The embedded FAISS index behind the port (its structure and files are unchanged).

    ``directory``: where ``save`` writes the index (None: memory only). ``fresh``: this store
    was created empty because nothing was saved in its directory (the gallery then fills it
    from the catalog)."""

    backend = "faiss"
    pushes_filters = True

    def __init__(
        self,
        index: VectorIndex,
        resolver: FacetResolver | None = None,
        *,
        directory: Path | None = None,
        fresh: bool = False,
        cipher: Cipher | None = None,
    ) -> None:
        self.index = index
        #: the key the saved index is written (and was read) with: None, not encrypted
        self.cipher = cipher
        self.model_key = index.model_key
        self.dim = index.dim
        self.directory = directory
        self.fresh = fresh
        self._table = FacetTable() if resolver is None else None
        self._resolver: FacetResolver = resolver if resolver is not None else self._table  # type: ignore[assignment]
        #: facets go with each ``add`` only to the in-memory table; with a resolver they
        #: live elsewhere (the catalog)
        self.keeps_facets = self._table is not None

    @classmethod
    def new(cls, model_key: str, dim: int, expected_size: int = 0) -> FaissVectorStore:
        """An empty store with in-memory facets (the structure planned for the size)."""
        return cls(new_index(model_key, dim, expected_size))

    @classmethod
    def open(
        cls,
        directory: Path,
        model_key: str,
        dim: int,
        resolver: FacetResolver | None = None,
        *,
        cipher: Cipher | None = None,
    ) -> FaissVectorStore:
        """The index saved in ``directory``, or an empty one (``fresh``) where none is;
        with ``cipher`` it is decrypted into memory and saved encrypted.

        Raises ``IndexCorruptError`` for damaged files, ``ModelMismatchError`` for an index
        of another model and ``EncryptionError`` for one not encrypted with ``cipher``."""
        index = load_index(directory, cipher)
        if index is None:
            return cls(
                new_index(model_key, dim), resolver, directory=directory, fresh=True, cipher=cipher
            )
        if index.model_key != model_key:
            raise ModelMismatchError(
                f"the vector index holds vectors of {index.model_key}, but this facesearch "
                f"uses {model_key}: run 'facesearch reindex' after re-embedding"
            )
        return cls(index, resolver, directory=directory, cipher=cipher)

    # -- writes -------------------------------------------------------------------------- #
    def add(
        self,
        ids: np.ndarray | Sequence[int],
        vectors: np.ndarray,
        facets: Sequence[Sequence[Facet]] | None = None,
        *,
        model_key: str | None = None,
    ) -> None:
        ids, vectors = check_batch(ids, vectors, facets, model_key, self.model_key, self.dim)
        self.index.add(ids, vectors)
        if self._table is not None:
            self._table.set(ids, facets)

    def remove(self, ids: np.ndarray | Sequence[int]) -> int:
        ids = as_ids(ids)
        if self._table is not None:
            self._table.drop(ids)
        return self.index.remove(ids)

    # -- maintenance --------------------------------------------------------------------- #
    def reset(self, expected_size: int = 0) -> None:
        """Empty the store into the structure planned for ``expected_size`` vectors."""
        self.index = new_index(self.model_key, self.dim, expected_size)
        if self._table is not None:
            self._table.clear()

    def seal(self) -> None:
        """After a bulk load: a compressed index still untrained learns its codebooks now."""
        index = self.index
        if isinstance(index, PQRefineVectorIndex) and not index.is_trained and len(index):
            index.train()

    def outgrown(self) -> bool:
        """Whether the gallery has grown (or shrunk) past the size the structure was chosen
        for (``plan.needs_rebuild``)."""
        return needs_rebuild(self.index)

    @property
    def n_removed(self) -> int:
        return self.index.n_removed

    def compact(self) -> int:
        return self.index.compact()

    def save(self, directory: Path | None = None) -> None:
        """Write the index atomically into ``directory`` (default: its own; nothing without
        one)."""
        target = directory if directory is not None else self.directory
        if target is not None:
            self.index.save(target, self.cipher)

    def close(self) -> None:
        return None

    # -- reads --------------------------------------------------------------------------- #
    def search(
        self,
        queries: np.ndarray,
        k: int,
        allowed_ids: np.ndarray | None = None,
        *,
        where: VectorFilter | None = None,
    ) -> SearchHits:
        queries = check_vectors(queries, self.dim, self.model_key)
        allowed = self.allowed(where, allowed_ids)
        if allowed is not None and len(allowed) == 0:
            n = len(queries)
            return SearchHits(np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64))
        return self.index.search(queries, k, allowed_ids=allowed)

    def allowed(
        self, where: VectorFilter | None, allowed_ids: np.ndarray | None = None
    ) -> np.ndarray | None:
        """The filter as the id set FAISS's selector admits (None: everything)."""
        allowed = None if allowed_ids is None else np.unique(as_ids(allowed_ids))
        if where is None or where.empty:
            return allowed
        if where.allowed_ids is not None:
            extra = np.unique(as_ids(where.allowed_ids))
            allowed = extra if allowed is None else np.intersect1d(allowed, extra)
        if where.has_facet_terms:
            matched = np.unique(as_ids(self._resolver(where)))
            allowed = matched if allowed is None else np.intersect1d(allowed, matched)
        if where.excluded_ids is not None and len(where.excluded_ids):
            if allowed is None:
                allowed = self.index.ids()
            allowed = np.setdiff1d(allowed, as_ids(where.excluded_ids))
        return allowed

    def count(self) -> int:
        return len(self.index)

    def __len__(self) -> int:
        return len(self.index)

    def ids(self) -> np.ndarray:
        return self.index.ids()

    def last_id(self) -> int | None:
        ids = self.index.ids()
        return int(ids[-1]) if len(ids) else None

    def health(self) -> StoreHealth:
        return StoreHealth(True, self.backend, f"{len(self.index)} vectors in memory")

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, **self.index.describe()}

    def iter_vectors(self, batch: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return self.index.iter_vectors(batch)
