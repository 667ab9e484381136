"""The FAISS vector index structures' common interface and helpers.

The vector index maps vector ids (equal to catalog face ids) to L2-normalised embeddings. The
catalog is the source of truth; the index is a derived structure that can always be rebuilt
from the embeddings stored in the catalog. Scores are cosine similarities (inner products of
unit vectors).

`VectorIndex` is what ``FaissVectorStore`` (the port's embedded backend) runs. Two structures
implement it: ``flat.FlatVectorIndex`` (exact) and ``pq_refine.PQRefineVectorIndex`` (4-bit
PQ fast-scan with exact re-ranking); ``plan.py`` says which suits a gallery's size, and
``files.py`` and ``load.py`` write and read them.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.store.crypto import Cipher
from facesearch.store.private import private_dir
from facesearch.store.vectors.files import INDEX_FILE, META_FILE, atomic_write, index_aad
from facesearch.store.vectors.port import SearchHits


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

    @property
    def kind(self) -> str:
        """The recorded kind (``describe()["kind"]``) that ``load_index`` dispatches on."""
        return str(self.describe()["kind"])

    def compact(self) -> int:
        """Drop removed vectors from memory (and so from the next ``save``); returns how many."""
        return 0

    def nbytes(self) -> int:
        """Approximate memory held by the index's arrays, in bytes."""
        return 0

    @property
    def n_removed(self) -> int:
        """Removed entries still held in memory (dropped by `compact`)."""
        return 0

    def iter_vectors(self, batch: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (ids, float32 vectors) of all live entries, ``batch`` at a time."""
        raise NotImplementedError(f"{type(self).__name__} cannot return its vectors")

    def save(self, directory: Path, cipher: Cipher | None = None) -> None:
        """Write the index atomically: data file then metadata, each write-fsync-rename;
        the data file encrypted with ``cipher`` (``files.py``)."""
        private_dir(directory)
        digest, extra = self._write_data(directory / INDEX_FILE, cipher)
        meta = {
            "model_key": self.model_key,
            "dim": self.dim,
            "count": len(self),
            "sha256": digest,
            **self.describe(),
            **extra,
        }
        if cipher is not None:
            meta["encrypted"] = {"key_id": cipher.key_id.hex(), "format": "FSS1"}
        atomic_write(directory / META_FILE, json.dumps(meta, indent=2).encode())

    def _write_data(self, path: Path, cipher: Cipher | None) -> tuple[str, dict[str, Any]]:
        """Write the data file; return its plaintext's SHA-256 and extra metadata to record."""
        payload = self.to_bytes()
        atomic_write(path, payload, cipher, index_aad(self.model_key))
        return hashlib.sha256(payload).hexdigest(), {}


def as_ids(ids: np.ndarray | list[int]) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))


def as_vectors(vectors: np.ndarray, dim: int) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got shape {arr.shape}")
    return arr


def empty_hits(n: int) -> SearchHits:
    return SearchHits(np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64))


def last_occurrence(ids: np.ndarray) -> np.ndarray:
    """Indices into ``ids`` keeping the last occurrence of each id, in input order."""
    _, first_in_reversed = np.unique(ids[::-1], return_index=True)
    return np.sort(len(ids) - 1 - first_in_reversed)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` for int64 ids, without a copy when they already are sorted and unique."""
    if len(values) < 2 or bool(np.all(values[1:] > values[:-1])):
        return values
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


class Rows:
    """A growable array (amortised appends) of a fixed dtype and row shape."""

    def __init__(self, dtype: Any, width: int = 0, data: np.ndarray | None = None) -> None:
        self.dtype = np.dtype(dtype)
        self.width = width
        if data is not None:
            self._buf = np.ascontiguousarray(data, dtype=self.dtype)
            self.n = len(data)
        else:
            self._buf = np.empty(self._shape(0), self.dtype)
            self.n = 0

    def _shape(self, rows: int) -> tuple[int, ...]:
        return (rows, self.width) if self.width else (rows,)

    @property
    def view(self) -> np.ndarray:
        return self._buf[: self.n]

    def reserve(self, rows: int) -> None:
        if rows > len(self._buf):
            buf = np.empty(self._shape(rows), self.dtype)
            buf[: self.n] = self._buf[: self.n]
            self._buf = buf

    def append(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self._buf):
            self.reserve(max(need, int(len(self._buf) * 1.5) + 1024))
        self._buf[self.n : need] = values
        self.n = need

    def replace(self, values: np.ndarray) -> None:
        self._buf = np.ascontiguousarray(values, dtype=self.dtype)
        self.n = len(values)

    @property
    def nbytes(self) -> int:
        return int(self._buf.nbytes)


def clear_tail(codes: Any) -> None:
    """Zero the unused slots of a fast-scan index's last block of 32 codes.

    FAISS's ``IndexFastScan.add`` ORs new 4-bit codes into that block, while ``remove_ids``
    and ``merge_from`` leave removed (or uninitialised) nibbles in the slots past ``ntotal``:
    codes added after a removal would be corrupted (faiss 1.15.1; seen as re-added vectors
    that the scan no longer finds). Called after every remove, merge and load.
    """
    import faiss

    if codes.ntotal2 <= codes.ntotal:
        return
    packer = codes.get_CodePacker()
    packer.thisown = True  # a new object the caller owns
    zero = np.zeros(packer.code_size, np.uint8)
    for i in range(codes.ntotal, codes.ntotal2):
        packer.pack_1_c(faiss.swig_ptr(zero), i, codes.codes.get())


def dot(block: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Inner products (n_queries, n_rows) of float32 queries with float32/16 rows.

    One query goes through ``einsum`` (single-threaded SIMD): a BLAS matrix-vector product
    above a few thousand rows wakes OpenBLAS's thread pool, which on a busy 2-core machine
    took 8 ms for what one thread does in 0.4 ms. Batches use BLAS.
    """
    block = block.astype(np.float32, copy=False)
    if len(queries) == 1:
        return np.einsum("ij,j->i", block, queries[0])[None, :]
    return np.asarray(queries @ block.T)


def member(values: np.ndarray, sorted_pool: np.ndarray) -> np.ndarray:
    """Mask of ``values`` present in ``sorted_pool`` (non-empty, sorted ascending)."""
    where = np.minimum(np.searchsorted(sorted_pool, values), len(sorted_pool) - 1)
    return np.asarray(sorted_pool[where] == values)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first."""
    if len(scores) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.argsort(-scores[part], kind="stable")]
    return np.argsort(-scores, kind="stable")
