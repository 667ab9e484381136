"""The vector store port's data types and its embedded backend (FAISS).

A :class:`~facesearch.store.ports.VectorStore` holds the searchable vectors (vector id = catalog
face id) and answers top-k searches with the search's filters pushed down into the scan:

* ``VectorFilter.collection``, ``captured_from``/``captured_to``, ``source_prefix``: a face
  matches when one of its provenance records (its :class:`Facet`) matches all of them, as in
  ``SqlCatalog.face_ids``;
* ``allowed_ids``: only these faces; ``excluded_ids``: never these (suppressed faces).

Backends:

``FaissVectorStore`` (embedded default)
    Today's FAISS :class:`~facesearch.store.vectors.index.VectorIndex`, unchanged, behind the
    port. It holds vectors only; a :data:`FacetResolver` (the catalog in a gallery, or an
    in-memory :class:`FacetTable`) turns the provenance part of a filter into the ids that
    FAISS's ID selector lets through during the scan.
``MilvusVectorStore`` (``store/milvus_store.py``)
    A Milvus collection per model key, facets stored beside each vector, filters as Milvus
    expressions, exact re-ranking of the shortlist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.errors import ModelMismatchError
from facesearch.store.vectors.index import SearchHits, VectorIndex, new_index

#: A face with no capture date: compared as SQL NULL (no date bound matches it).
NO_DATE = -(2**62)  # Milvus cannot parse int64 min; this is ~146,000 BC


@dataclass(frozen=True)
class Facet:
    """One provenance record of a face, as the store filters on it."""

    collection: str = ""
    captured_at: datetime | None = None
    source_url: str = ""


@dataclass(frozen=True)
class VectorFilter:
    """What a search may return. ``None`` fields do not restrict."""

    collection: str | None = None
    captured_from: datetime | None = None
    captured_to: datetime | None = None
    source_prefix: str | None = None
    allowed_ids: np.ndarray | None = None
    excluded_ids: np.ndarray | None = None

    @property
    def has_facet_terms(self) -> bool:
        return any(
            v is not None
            for v in (self.collection, self.captured_from, self.captured_to, self.source_prefix)
        )

    @property
    def empty(self) -> bool:
        return not self.has_facet_terms and self.allowed_ids is None and self.excluded_ids is None

    def matches(self, facet: Facet) -> bool:
        """Whether one provenance record satisfies the facet terms (the reference rule)."""
        if self.collection is not None and facet.collection != self.collection:
            return False
        ts = micros(facet.captured_at)
        if self.captured_from is not None and not (
            ts != NO_DATE and ts >= micros(self.captured_from)
        ):
            return False
        if self.captured_to is not None and not (ts != NO_DATE and ts <= micros(self.captured_to)):
            return False
        return self.source_prefix is None or facet.source_url.startswith(self.source_prefix)


def micros(when: datetime | None) -> int:
    """Microseconds since the epoch (naive datetimes are UTC, as the catalog stores them)."""
    if when is None:
        return int(NO_DATE)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True)
class StoreHealth:
    ok: bool
    backend: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "backend": self.backend, "detail": self.detail}


#: The ids of the faces that have a facet matching the filter's facet terms (sorted int64).
FacetResolver = Callable[[VectorFilter], np.ndarray]


def as_ids(ids: np.ndarray | Sequence[int]) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))


def check_vectors(vectors: np.ndarray, dim: int, model_key: str) -> np.ndarray:
    """(n, dim) float32, or ModelMismatchError for vectors of another width (another model)."""
    arr = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ModelMismatchError(
            f"this store holds {dim}-dimensional vectors of {model_key}; got shape {arr.shape}"
        )
    return arr


def check_model(model_key: str | None, store_key: str) -> None:
    if model_key is not None and model_key != store_key:
        raise ModelMismatchError(f"vectors of {model_key} offered to a store of {store_key}")


def check_batch(
    ids: np.ndarray | Sequence[int],
    vectors: np.ndarray,
    facets: Sequence[Sequence[Facet]] | None,
    model_key: str | None,
    store_key: str,
    dim: int,
) -> tuple[np.ndarray, np.ndarray]:
    """What every backend's ``add`` checks first: the model, the vectors' width, and ids,
    vectors and facets of one length. Returns the ids and vectors as the stores take them."""
    check_model(model_key, store_key)
    ids = as_ids(ids)
    vectors = check_vectors(vectors, dim, store_key)
    if len(ids) != len(vectors) or (facets is not None and len(facets) != len(ids)):
        raise ValueError("ids, vectors and facets differ in length")
    return ids, vectors


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

    def __call__(self, where: VectorFilter) -> np.ndarray:
        hits = [fid for fid, fs in self._facets.items() if any(where.matches(f) for f in fs)]
        return np.asarray(sorted(hits), np.int64)


class FaissVectorStore:
    """The embedded FAISS index behind the port (its structure and files are unchanged)."""

    backend = "faiss"
    pushes_filters = True

    def __init__(
        self,
        index: VectorIndex,
        resolver: FacetResolver | None = None,
        *,
        directory: Path | None = None,
    ) -> None:
        self.index = index
        self.model_key = index.model_key
        self.dim = index.dim
        self.directory = directory
        self._table = FacetTable() if resolver is None else None
        self._resolver: FacetResolver = resolver if resolver is not None else self._table  # type: ignore[assignment]

    @classmethod
    def new(cls, model_key: str, dim: int, expected_size: int = 0) -> FaissVectorStore:
        """An empty store with in-memory facets (the structure planned for the size)."""
        return cls(new_index(model_key, dim, expected_size))

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

    def health(self) -> StoreHealth:
        return StoreHealth(True, self.backend, f"{len(self.index)} vectors in memory")

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, **self.index.describe()}

    def iter_vectors(self, batch: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return self.index.iter_vectors(batch)

    def close(self) -> None:
        return None
