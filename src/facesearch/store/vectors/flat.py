"""The exact vector index: FAISS ``IDMap2,Flat`` (inner product), kind ``flat``.

Used while a gallery is small enough for an exact scan to answer one query in a few
milliseconds (below ``plan.FLAT_MAX``; 100k: p50 2.4 ms, see ``plan.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from facesearch.errors import IndexCorruptError
from facesearch.store.vectors.base import (
    VectorIndex,
    as_ids,
    as_vectors,
    empty_hits,
    last_occurrence,
    sorted_unique,
)
from facesearch.store.vectors.port import SearchHits


class FlatVectorIndex(VectorIndex):
    """Exact inner-product search over all vectors (FAISS IndexIDMap2 over IndexFlatIP)."""

    factory = "IDMap2,Flat"

    def __init__(self, model_key: str, dim: int, index: Any = None) -> None:
        import faiss

        self.model_key = model_key
        self.dim = dim
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = as_ids(ids)
        vectors = as_vectors(vectors, self.dim)
        if len(ids) != len(vectors):
            raise ValueError("ids and vectors differ in length")
        if len(ids) == 0:
            return
        if len(sorted_unique(ids)) != len(ids):
            keep = last_occurrence(ids)
            ids, vectors = ids[keep], np.ascontiguousarray(vectors[keep])
        self.remove(ids)
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        import faiss

        ids = as_ids(ids)
        if len(ids) == 0 or self._index.ntotal == 0:
            return 0
        return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> SearchHits:
        import faiss

        queries = as_vectors(queries, self.dim)
        n = len(queries)
        if k <= 0 or self._index.ntotal == 0:
            return empty_hits(n)
        params = None
        if allowed_ids is not None:
            allowed = as_ids(allowed_ids)
            if len(allowed) == 0:
                return empty_hits(n)
            selector = faiss.IDSelectorBatch(allowed)  # kept alive until the search returns
            params = faiss.SearchParameters()
            params.sel = selector
        kk = min(k, self._index.ntotal)
        scores, ids = self._index.search(queries, kk, params=params)
        return SearchHits(scores.astype(np.float32), ids.astype(np.int64))

    def ids(self) -> np.ndarray:
        import faiss

        return np.sort(faiss.vector_to_array(self._index.id_map).astype(np.int64))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def nbytes(self) -> int:
        return int(self._index.ntotal) * (4 * self.dim + 8 + 16)

    def iter_vectors(self, batch: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        import faiss

        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        inner = faiss.downcast_index(self._index.index)
        for start in range(0, len(ids), batch):
            stop = min(start + batch, len(ids))
            yield ids[start:stop], inner.reconstruct_n(start, stop - start)

    def describe(self) -> dict[str, Any]:
        return {"kind": "flat", "factory": self.factory, "metric": "inner_product", "params": {}}

    def to_bytes(self) -> bytes:
        import faiss

        return bytes(faiss.serialize_index(self._index))

    @classmethod
    def from_bytes(cls, model_key: str, dim: int, payload: bytes) -> FlatVectorIndex:
        import faiss

        try:
            index = faiss.deserialize_index(np.frombuffer(payload, dtype=np.uint8))
        except RuntimeError as exc:
            raise IndexCorruptError(f"cannot deserialise flat vector index: {exc}") from exc
        if not isinstance(index, faiss.IndexIDMap2) or index.d != dim:
            raise IndexCorruptError("flat vector index file does not hold an IDMap2 of that dim")
        return cls(model_key, dim, index)
