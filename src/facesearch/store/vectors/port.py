"""The vector store port: what search and index maintenance need from the searchable vectors.

A :class:`VectorStore` holds the searchable vectors (vector id = catalog face id) and answers
top-k searches with the search's filters pushed down into the scan:

* ``VectorFilter.collection``, ``captured_from``/``captured_to``, ``source_prefix``: a face
  matches when one of its provenance records (its :class:`Facet`) matches all of them, as in
  ``SqlCatalog.face_ids``;
* ``allowed_ids``: only these faces; ``excluded_ids``: never these (suppressed faces).

Backends: ``store.vectors.faiss_store.FaissVectorStore`` (embedded, the default: the FAISS
structures of ``flat.py`` and ``pq_refine.py``, files in the data directory) and
``store.vectors.milvus.MilvusVectorStore``; ``tests/store/test_vector_store_conformance.py`` holds
both to an exact brute-force oracle. ``store.backends`` opens the one the settings name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from facesearch.errors import ModelMismatchError

#: ``search`` pads rows with this score (FAISS's -FLT_MAX) and id -1 where fewer than k exist.
MISSING_SCORE = float(np.finfo(np.float32).min)
#: A face with no capture date: compared as SQL NULL (no date bound matches it).
NO_DATE = -(2**62)  # Milvus cannot parse int64 min; this is ~146,000 BC


@dataclass(frozen=True)
class SearchHits:
    """Top-k results for a batch of queries; ``ids`` is -1 where fewer than k exist."""

    scores: np.ndarray  # (n, k) float32, cosine similarity, descending per row
    ids: np.ndarray  # (n, k) int64


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


class VectorStore(Protocol):
    """The searchable vectors (vector id = face id), filters pushed down into the search.

    ``add`` with vectors of another model (another dimension, or ``model_key`` given and
    different) raises ``ModelMismatchError``; a face removed is never returned once ``remove``
    has returned. ``keeps_facets``: the store keeps each face's facets beside its vector, so
    ``add`` needs them (and they are rewritten when a face gains provenance); a store that
    does not resolves the facet terms of a filter elsewhere (the catalog). ``last_id`` is the
    highest id held, or None where a backend cannot tell it cheaply (then only ``count`` is
    compared with the catalog's).

    Maintenance (the gallery's, through this port only): ``reset`` empties the store into the
    structure planned for a size, ``seal`` finishes a bulk load, ``outgrown`` says that the
    structure no longer suits the size, ``compact`` drops removed vectors from storage,
    ``save`` makes the writes durable, ``close`` lets go of the store.
    """

    model_key: str
    dim: int
    backend: str
    keeps_facets: bool
    fresh: bool  # created empty by this open: nothing was saved before (fill it)

    def add(
        self,
        ids: np.ndarray,
        vectors: np.ndarray,
        facets: Sequence[Sequence[Facet]] | None = None,
        *,
        model_key: str | None = None,
    ) -> None: ...
    def remove(self, ids: np.ndarray) -> int: ...
    def search(
        self,
        queries: np.ndarray,
        k: int,
        allowed_ids: np.ndarray | None = None,
        *,
        where: VectorFilter | None = None,
    ) -> SearchHits: ...
    def count(self) -> int: ...
    def ids(self) -> np.ndarray: ...
    def last_id(self) -> int | None: ...
    def health(self) -> StoreHealth: ...
    def describe(self) -> dict[str, Any]: ...
    def __len__(self) -> int: ...

    # maintenance
    @property
    def n_removed(self) -> int: ...
    def reset(self, expected_size: int = 0) -> None: ...
    def seal(self) -> None: ...
    def outgrown(self) -> bool: ...
    def compact(self) -> int: ...
    def save(self, directory: Path | None = None) -> None: ...
    def close(self) -> None: ...


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
