"""The vector index: maps vector ids (equal to catalog face ids) to L2-normalised embeddings.

The catalog is the source of truth; the index is a derived structure that can always be
rebuilt from the embeddings stored in the catalog. Scores are cosine similarities (inner
products of unit vectors).

`VectorIndex` is the interface the pipeline and search use; `FlatVectorIndex` is the exact
implementation (FAISS ``IDMap2,Flat`` with inner product).
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.errors import IndexCorruptError

INDEX_FILE = "vectors.faiss"
META_FILE = "vectors.json"


@dataclass(frozen=True)
class SearchHits:
    """Top-k results for a batch of queries; ``ids`` is -1 where fewer than k exist."""

    scores: np.ndarray  # (n, k) float32, cosine similarity, descending per row
    ids: np.ndarray  # (n, k) int64


class VectorIndex(ABC):
    """What the pipeline and search need from a vector index."""

    model_key: str
    dim: int

    @abstractmethod
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add unit vectors (n, dim) float32 under int64 ids; re-adding an id replaces it."""

    @abstractmethod
    def remove(self, ids: np.ndarray) -> int:
        """Remove ids at once from results; returns how many were present."""

    @abstractmethod
    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> SearchHits:
        """Top-k by cosine similarity; ``allowed_ids`` restricts results to those ids."""

    @abstractmethod
    def ids(self) -> np.ndarray:
        """All live ids, int64, sorted."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The structure and parameters of this index (FAISS factory string etc.)."""

    @abstractmethod
    def to_bytes(self) -> bytes: ...

    def save(self, directory: Path) -> None:
        """Write the index atomically: data file then metadata, each write-fsync-rename."""
        directory.mkdir(parents=True, exist_ok=True)
        payload = self.to_bytes()
        meta = {
            "model_key": self.model_key,
            "dim": self.dim,
            "count": len(self),
            "sha256": hashlib.sha256(payload).hexdigest(),
            **self.describe(),
        }
        atomic_write(directory / INDEX_FILE, payload)
        atomic_write(directory / META_FILE, json.dumps(meta, indent=2).encode())


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _as_ids(ids: np.ndarray | list[int]) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))


def _as_vectors(vectors: np.ndarray, dim: int) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got {arr.shape[1]}")
    return arr


class FlatVectorIndex(VectorIndex):
    """Exact inner-product search over all vectors (FAISS IndexIDMap2 over IndexFlatIP)."""

    factory = "IDMap2,Flat"

    def __init__(self, model_key: str, dim: int, index: Any = None) -> None:
        import faiss

        self.model_key = model_key
        self.dim = dim
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = _as_ids(ids)
        vectors = _as_vectors(vectors, self.dim)
        if len(ids) != len(vectors):
            raise ValueError("ids and vectors differ in length")
        if len(ids) == 0:
            return
        self.remove(ids)
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        import faiss

        ids = _as_ids(ids)
        if len(ids) == 0 or self._index.ntotal == 0:
            return 0
        return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> SearchHits:
        import faiss

        queries = _as_vectors(queries, self.dim)
        n = len(queries)
        if k <= 0 or self._index.ntotal == 0:
            return SearchHits(np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64))
        params = None
        if allowed_ids is not None:
            allowed = _as_ids(allowed_ids)
            if len(allowed) == 0:
                return SearchHits(np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64))
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        kk = min(k, self._index.ntotal)
        scores, ids = self._index.search(queries, kk, params=params)
        return SearchHits(scores.astype(np.float32), ids.astype(np.int64))

    def ids(self) -> np.ndarray:
        import faiss

        return np.sort(faiss.vector_to_array(self._index.id_map).astype(np.int64))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def describe(self) -> dict[str, Any]:
        return {"kind": "flat", "factory": self.factory, "metric": "inner_product", "params": {}}

    def to_bytes(self) -> bytes:
        import faiss

        return bytes(faiss.serialize_index(self._index))

    @classmethod
    def from_bytes(cls, model_key: str, dim: int, payload: bytes) -> FlatVectorIndex:
        import faiss

        index = faiss.deserialize_index(np.frombuffer(payload, dtype=np.uint8))
        return cls(model_key, dim, index)


def load_index(directory: Path) -> VectorIndex | None:
    """Load a saved index; None if there is none. Raises IndexCorruptError if damaged."""
    meta_path, data_path = directory / META_FILE, directory / INDEX_FILE
    if not meta_path.exists() or not data_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        payload = data_path.read_bytes()
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"cannot read vector index in {directory}: {exc}") from exc
    if hashlib.sha256(payload).hexdigest() != meta.get("sha256"):
        raise IndexCorruptError(f"vector index in {directory} does not match its metadata")
    kind = meta.get("kind")
    if kind == "flat":
        return FlatVectorIndex.from_bytes(meta["model_key"], int(meta["dim"]), payload)
    raise IndexCorruptError(f"unknown vector index kind {kind!r} in {directory}")


def new_index(model_key: str, dim: int, expected_size: int = 0) -> VectorIndex:
    """The index structure suited to a gallery of ``expected_size`` vectors."""
    return FlatVectorIndex(model_key, dim)
