"""The vector index: maps vector ids (equal to catalog face ids) to L2-normalised embeddings.

The catalog is the source of truth; the index is a derived structure that can always be
rebuilt from the embeddings stored in the catalog. Scores are cosine similarities (inner
products of unit vectors).

`VectorIndex` is the interface the pipeline and search use. Two structures implement it:

``FlatVectorIndex`` (kind ``flat``)
    Exact search (FAISS ``IDMap2,Flat``, inner product). Used while a gallery is small
    enough for an exact scan to answer one query in a few milliseconds.

``PQRefineVectorIndex`` (kind ``pq_refine``)
    An exhaustive scan of 4-bit product-quantised codes (FAISS ``PQ{m}x4fs``, "fast-scan")
    picks the ``rerank`` best candidates, which are then re-scored exactly against the full
    vectors kept beside the codes (float32, or float16 where memory needs it). Every vector
    is scanned, so no partition or graph can hide a mate; the candidate list only has to be
    long enough for the quantisation noise, and re-ranking makes the final order and scores
    those of exact search. Deletes are tombstones filtered at search time (with over-fetch)
    and dropped from the files at the next ``compact()``. The codes are split into
    ``shards`` (2 by default) that one query scans on as many threads at once, the shards'
    best candidates merged by PQ score as one index would rank them.

`index_plan` says which structure suits a gallery size; `new_index` creates it, `fit_index`
rebuilds an index when its gallery has outgrown (or shrunk far below) its structure, and
`build_index` builds one from batches of (ids, vectors) read from the catalog.

Why these structures (benchmarks/search_scale.py: 500 CFP mates among random distractors,
4,500 probes, one thread, 2 shared cores; details in benchmarks/README.md):

* < 200k: exact. 100k: p50 2.4 ms; exact search costs 24-29 ms at 1M.
* 1M, ``PQ64x4fs`` + re-rank 1000 (float32): p50 2.2 ms, 546 MB; the mate is kept wherever
  exact search has it at rank 1 for 4,500/4,500 probes (rank 20: 4,499). IVF-PQ kept only
  52-95% of rank-1 mates at nprobe up to 256 (isotropic distractors: a mate at cosine 0.6
  rarely shares the probe's nearest cells), HNSW 89-98.8% (reference run in the issue);
  ``PQ32x4fs`` needs ~10x longer re-rank lists for the same kept rate.
* 10M, ``PQ64x4fs`` + re-rank 1000 (float16): 2.98 GB, p50 18-22 ms, all rank-1 mates kept;
  ``PQ32x4fs`` was faster (11 ms) but lost 27 rank-1 mates (2 even re-ranking 10,000).

Files: ``vectors.faiss`` (data) and ``vectors.json`` (metadata: kind, FAISS factory string,
parameters, section layout, SHA-256 of the data file). Loading dispatches on the recorded
kind and checks the digest and every shape; nothing is guessed and nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from facesearch.errors import IndexCorruptError

log = logging.getLogger(__name__)

INDEX_FILE = "vectors.faiss"
META_FILE = "vectors.json"

#: ``search`` pads rows with this score (FAISS's -FLT_MAX) and id -1 where fewer than k exist.
MISSING_SCORE = float(np.finfo(np.float32).min)


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

    def iter_vectors(self, batch: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (ids, float32 vectors) of all live entries, ``batch`` at a time."""
        raise NotImplementedError(f"{type(self).__name__} cannot return its vectors")

    def save(self, directory: Path) -> None:
        """Write the index atomically: data file then metadata, each write-fsync-rename."""
        directory.mkdir(parents=True, exist_ok=True)
        digest, extra = self._write_data(directory / INDEX_FILE)
        meta = {
            "model_key": self.model_key,
            "dim": self.dim,
            "count": len(self),
            "sha256": digest,
            **self.describe(),
            **extra,
        }
        atomic_write(directory / META_FILE, json.dumps(meta, indent=2).encode())

    def _write_data(self, path: Path) -> tuple[str, dict[str, Any]]:
        """Write the data file; return its SHA-256 and extra metadata to record."""
        payload = self.to_bytes()
        atomic_write(path, payload)
        return hashlib.sha256(payload).hexdigest(), {}


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half."""
    atomic_write_stream(path, lambda fh: fh.write(data))


def atomic_write_stream(path: Path, writer: Callable[[BinaryIO], object]) -> None:
    """Like `atomic_write`, with ``writer(fh)`` producing the content (for large files)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
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
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got shape {arr.shape}")
    return arr


def _empty_hits(n: int) -> SearchHits:
    return SearchHits(np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64))


def _last_occurrence(ids: np.ndarray) -> np.ndarray:
    """Indices into ``ids`` keeping the last occurrence of each id, in input order."""
    _, first_in_reversed = np.unique(ids[::-1], return_index=True)
    return np.sort(len(ids) - 1 - first_in_reversed)


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
        if len(_sorted_unique(ids)) != len(ids):
            keep = _last_occurrence(ids)
            ids, vectors = ids[keep], np.ascontiguousarray(vectors[keep])
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
            return _empty_hits(n)
        params = None
        if allowed_ids is not None:
            allowed = _as_ids(allowed_ids)
            if len(allowed) == 0:
                return _empty_hits(n)
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


class _Rows:
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


_REFINE_DTYPES = {"float32": np.float32, "float16": np.float16}


@dataclass(frozen=True)
class _Failed:
    """An exception raised in a scan thread, carried back to the caller."""

    exc: BaseException


class PQRefineVectorIndex(VectorIndex):
    """Exhaustive 4-bit PQ fast-scan for candidates, exact re-ranking from full vectors.

    Vectors live at positions 0..n-1 (append order); the FAISS index holds one PQ code per
    position, ``_vecs`` the full vector, ``_pos_ids`` the catalog id and ``_live`` whether the
    position is current. A sorted map of live ids to positions serves removes, re-adds and
    ``allowed_ids``. Until ``train_size`` vectors have arrived (or `train` is called) the PQ
    codebooks are untrained and searches are exact scans of the full vectors.

    Search effort is ``rerank``: the number of live candidates re-scored exactly per query
    (fetched from the code scan with over-fetch for tombstones). With ``allowed_ids`` of at
    most ``max(exact_filter_max, sqrt(rerank * live) / 2)`` ids the search is exact over
    just those; larger allowed sets over-fetch from the code scan by ``live / allowed`` so
    that about ``rerank`` allowed candidates remain to re-rank.
    """

    kind_name = "pq_refine"

    def __init__(
        self,
        model_key: str,
        dim: int,
        *,
        pq_m: int = 64,
        rerank: int = 1000,
        refine_dtype: str = "float32",
        train_size: int = 65536,
        exact_filter_max: int = 4096,
        expected_size: int = 0,
        shards: int = 1,
        search_threads: int | None = None,
    ) -> None:
        if dim % pq_m:
            raise ValueError(f"pq_m={pq_m} must divide dim={dim}")
        if refine_dtype not in _REFINE_DTYPES:
            raise ValueError(f"refine_dtype must be one of {sorted(_REFINE_DTYPES)}")
        if not 1 <= int(shards) <= 64:
            raise ValueError(f"shards must be between 1 and 64, got {shards}")
        self.model_key = model_key
        self.dim = dim
        self.pq_m = pq_m
        self.rerank = int(rerank)
        self.refine_dtype = refine_dtype
        self.train_size = int(train_size)
        self.exact_filter_max = int(exact_filter_max)
        self.shards = int(shards)
        #: threads that scan the shards of one query at once (1: one after the other)
        self.search_threads = max(1, int(search_threads or min(self.shards, os.cpu_count() or 1)))
        # one FAISS fast-scan index per shard; `_shard_pos[j][i]` is the position of code i of
        # shard j (a position's code is in exactly one shard)
        self._codes: list[Any] = [self._new_faiss_index() for _ in range(self.shards)]
        self._shard_pos = [_Rows(np.int64) for _ in range(self.shards)]
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._trained = False
        self._vecs = _Rows(_REFINE_DTYPES[refine_dtype], dim)
        self._pos_ids = _Rows(np.int64)
        self._live = _Rows(np.bool_)
        self._n_live = 0
        self._key_ids = _Rows(np.int64)  # live ids, sorted
        self._key_pos = _Rows(np.int64)  # their positions
        if expected_size:
            self.reserve(expected_size)

    # -- structure --------------------------------------------------------------------- #
    @property
    def factory(self) -> str:
        return f"PQ{self.pq_m}x4fs"

    def _new_faiss_index(self) -> Any:
        import faiss

        return faiss.index_factory(self.dim, self.factory, faiss.METRIC_INNER_PRODUCT)

    def reserve(self, rows: int) -> None:
        """Pre-allocate room for ``rows`` vectors (avoids re-allocation while growing)."""
        for arr in (self._vecs, self._pos_ids, self._live, self._key_ids, self._key_pos):
            arr.reserve(rows)
        for sp in self._shard_pos:
            sp.reserve(-(-rows // self.shards))

    @property
    def is_trained(self) -> bool:
        return self._trained

    def train(self, sample: np.ndarray | None = None) -> None:
        """Train the PQ codebooks (on ``sample`` or on the stored vectors) and encode all."""
        if sample is None:
            stored = self._vecs.view
            if len(stored) == 0:
                raise ValueError("nothing to train on")
            step = max(1, len(stored) // self.train_size)
            sample = stored[::step][: self.train_size]
        sample = _as_vectors(sample, self.dim)
        import faiss

        index = self._new_faiss_index()
        index.train(sample)
        self._codes = [index] + [faiss.clone_index(index) for _ in range(self.shards - 1)]
        self._shard_pos = [_Rows(np.int64) for _ in range(self.shards)]
        self._trained = True
        for start in range(0, self._vecs.n, 262144):
            chunk = self._vecs.view[start : start + 262144]
            self._add_codes(np.ascontiguousarray(chunk, dtype=np.float32), start)

    def _add_codes(self, vectors: np.ndarray, start: int) -> None:
        """Encode ``vectors`` (positions ``start``...) into the shards, keeping them level."""
        sizes = [sp.n for sp in self._shard_pos]
        base, extra = divmod(sum(sizes) + len(vectors), self.shards)
        offset = 0
        for j, size in enumerate(sizes):
            take = min(max(0, base + (j < extra) - size), len(vectors) - offset)
            if take:
                self._codes[j].add(vectors[offset : offset + take])
                self._shard_pos[j].append(
                    np.arange(start + offset, start + offset + take, dtype=np.int64)
                )
                offset += take
        assert offset == len(vectors)

    def reshard(self, shards: int) -> None:
        """Spread the PQ codes over ``shards`` shards, without re-encoding a vector."""
        import faiss

        if not 1 <= int(shards) <= 64:
            raise ValueError(f"shards must be between 1 and 64, got {shards}")
        shards = int(shards)
        if shards == self.shards:
            return
        if self._trained:
            whole = self._codes[0]
            for other in self._codes[1:]:
                whole.merge_from(other, 0)
                _clear_tail(whole)
            pos = np.concatenate([sp.view for sp in self._shard_pos])
            bounds = [len(pos) * j // shards for j in range(shards + 1)]
            codes = []
            for j in range(shards):
                part = faiss.clone_index(whole) if j < shards - 1 else whole
                keep = faiss.IDSelectorRange(bounds[j], bounds[j + 1])
                part.remove_ids(faiss.IDSelectorNot(keep))
                _clear_tail(part)
                codes.append(part)
            self._codes = codes
            self._shard_pos = [
                _Rows(np.int64, data=pos[a:b]) for a, b in itertools.pairwise(bounds)
            ]
        else:
            self._codes = [self._new_faiss_index() for _ in range(shards)]
            self._shard_pos = [_Rows(np.int64) for _ in range(shards)]
        self.shards = shards
        self.search_threads = min(shards, os.cpu_count() or 1)

    # -- id map ------------------------------------------------------------------------ #
    def _lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For ``ids``: (mask of those live, their positions)."""
        keys = self._key_ids.view
        if len(keys) == 0 or len(ids) == 0:
            return np.zeros(len(ids), bool), np.zeros(0, np.int64)
        where = np.searchsorted(keys, ids)
        where_c = np.minimum(where, len(keys) - 1)
        found = keys[where_c] == ids
        return found, self._key_pos.view[where_c[found]]

    def _drop_keys(self, ids: np.ndarray) -> None:
        keys = self._key_ids.view
        where = np.searchsorted(keys, ids)
        keep = np.ones(len(keys), bool)
        keep[where] = False
        self._key_ids.replace(keys[keep])
        self._key_pos.replace(self._key_pos.view[keep])

    def _insert_keys(self, ids: np.ndarray, pos: np.ndarray) -> None:
        order = np.argsort(ids, kind="stable")
        ids, pos = ids[order], pos[order]
        keys = self._key_ids.view
        if len(keys) == 0 or ids[0] > keys[-1]:
            self._key_ids.append(ids)
            self._key_pos.append(pos)
            return
        where = np.searchsorted(keys, ids)
        self._key_ids.replace(np.insert(keys, where, ids))
        self._key_pos.replace(np.insert(self._key_pos.view, where, pos))

    # -- updates ----------------------------------------------------------------------- #
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = _as_ids(ids)
        vectors = _as_vectors(vectors, self.dim)
        if len(ids) != len(vectors):
            raise ValueError("ids and vectors differ in length")
        if len(ids) == 0:
            return
        if len(_sorted_unique(ids)) != len(ids):
            keep = _last_occurrence(ids)
            ids, vectors = ids[keep], np.ascontiguousarray(vectors[keep])
        self.remove(ids)
        start = self._vecs.n
        pos = np.arange(start, start + len(ids), dtype=np.int64)
        self._vecs.append(vectors)
        self._pos_ids.append(ids)
        self._live.append(np.ones(len(ids), bool))
        self._n_live += len(ids)
        self._insert_keys(ids, pos)
        if self._trained:
            self._add_codes(vectors, start)
        elif self._vecs.n >= self.train_size:
            self.train()

    def remove(self, ids: np.ndarray) -> int:
        ids = _sorted_unique(_as_ids(ids))
        found, pos = self._lookup(ids)
        if len(pos) == 0:
            return 0
        self._live.view[pos] = False
        self._n_live -= len(pos)
        self._drop_keys(ids[found])
        return len(pos)

    def compact(self) -> int:
        import faiss

        live = self._live.view
        dead = np.flatnonzero(~live)
        if len(dead) == 0:
            return 0
        new_pos = np.cumsum(live, dtype=np.int64) - 1
        if self._trained:
            # IndexFastScan.remove_ids keeps the remaining codes in order, so each shard's
            # position list stays aligned once its dead entries are dropped too.
            for codes, sp in zip(self._codes, self._shard_pos, strict=True):
                alive = live[sp.view]
                gone = np.flatnonzero(~alive)
                if len(gone):
                    codes.remove_ids(faiss.IDSelectorBatch(gone.astype(np.int64)))
                    _clear_tail(codes)
                    sp.replace(new_pos[sp.view[alive]])
                else:
                    sp.replace(new_pos[sp.view])
        self._vecs.replace(self._vecs.view[live])
        self._pos_ids.replace(self._pos_ids.view[live])
        self._live.replace(np.ones(self._n_live, bool))
        self._key_pos.replace(new_pos[self._key_pos.view])
        return len(dead)

    # -- search ------------------------------------------------------------------------ #
    def search(
        self,
        queries: np.ndarray,
        k: int,
        allowed_ids: np.ndarray | None = None,
        *,
        rerank: int | None = None,
    ) -> SearchHits:
        queries = _as_vectors(queries, self.dim)
        n = len(queries)
        if k <= 0 or self._n_live == 0:
            return _empty_hits(n)
        effort = max(int(rerank if rerank is not None else self.rerank), k)
        kk = min(k, self._n_live)  # as FAISS: width min(k, size), padded where filtered
        allowed: np.ndarray | None = None
        pool = self._n_live
        if allowed_ids is not None:
            allowed = _sorted_unique(_as_ids(allowed_ids))
            if len(allowed) == 0:
                return _empty_hits(n)
            m = len(allowed)
            # exact over the allowed vectors costs ~m; the code scan needs ~effort*n/m
            # candidates, which beats it once m > sqrt(effort*n)/2 (measured at 1M: ~16k)
            if not self._trained or m <= self.exact_filter_max or 4 * m * m < effort * pool:
                return self._exact(queries, kk, self._allowed_positions(allowed))
            # Over-fetch so that about `effort` allowed candidates survive the filter. The
            # allowed ids are taken to be live (they come from the catalog); where fewer
            # than k survive, the query falls back to an exact scan of the allowed ids.
            pool = min(len(allowed), self._n_live)
        elif not self._trained:
            return self._exact(queries, kk, None)
        ntotal = self._vecs.n
        fetch = min(ntotal, math.ceil(effort * ntotal / pool))
        cand = self._scan(queries, fetch)
        scores = np.full((n, kk), MISSING_SCORE, np.float32)
        out = np.full((n, kk), -1, np.int64)
        live, vecs, pos_ids = self._live.view, self._vecs.view, self._pos_ids.view
        for row in range(n):
            c = cand[row]
            c = c[c >= 0]
            c = c[live[c]]
            if allowed is not None:
                c = c[_member(pos_ids[c], allowed)]
                if len(c) < kk and fetch < ntotal:
                    hits = self._exact(queries[row : row + 1], kk, self._allowed_positions(allowed))
                    scores[row], out[row] = hits.scores[0], hits.ids[0]
                    continue
            s = _dot(vecs[c], queries[row : row + 1])[0]
            top = _top_k(s, kk)
            m = len(top)
            scores[row, :m] = s[top]
            out[row, :m] = pos_ids[c[top]]
        return SearchHits(scores, out)

    def _scan(self, queries: np.ndarray, fetch: int) -> np.ndarray:
        """Positions (n, <= fetch) of the ``fetch`` best codes per query, -1 padded.

        Each shard returns its own best ``fetch`` (the overall best may all sit in one) and
        the union is cut back to the ``fetch`` best PQ scores, as one index over every code
        would return them (all shards share the codebooks, so their scores compare). One
        query scans the shards on up to ``search_threads`` threads at once (FAISS releases
        the GIL), each thread taking the next shard nobody has started: when the machine is
        busy and a helper thread is not scheduled in time, the calling thread scans that
        shard itself, so a query is never slower than one thread by more than the merge. A
        batch scans the shards one after the other, each over the queries on FAISS's OpenMP
        threads.
        """
        pairs = zip(self._codes, self._shard_pos, strict=True)
        jobs = [(c, sp.view, min(fetch, sp.n)) for c, sp in pairs]
        jobs = [job for job in jobs if job[2] > 0]

        def one(job: tuple[Any, np.ndarray, int]) -> tuple[np.ndarray, np.ndarray]:
            codes, pos, f = job
            d, local = codes.search(queries, f)
            return d, np.where(local >= 0, pos[np.maximum(local, 0)], -1)

        if len(jobs) > 1 and len(queries) == 1 and self.search_threads > 1:
            parts = self._run_shared(one, jobs)
        else:
            parts = [one(job) for job in jobs]
        if len(parts) == 1:
            return parts[0][1]
        d = np.concatenate([p[0] for p in parts], axis=1)
        cand = np.concatenate([p[1] for p in parts], axis=1)
        if cand.shape[1] <= fetch:
            return cand
        d = np.where(cand >= 0, d, -np.inf)
        best = np.argpartition(-d, fetch - 1, axis=1)[:, :fetch]
        return np.take_along_axis(cand, best, axis=1)

    def _run_shared(self, fn: Callable[[Any], Any], jobs: list[Any]) -> list[Any]:
        """``[fn(job) for job in jobs]``, the calling thread and the scan pool taking turns."""
        results: list[Any] = [None] * len(jobs)
        done = [threading.Event() for _ in jobs]
        claim = threading.Lock()
        following = iter(range(len(jobs)))

        def work() -> None:
            while True:
                with claim:
                    j = next(following, None)
                if j is None:
                    return
                try:
                    results[j] = fn(jobs[j])
                except BaseException as exc:  # re-raised in the calling thread
                    results[j] = _Failed(exc)
                finally:
                    done[j].set()

        pool = self._scan_pool()
        for _ in range(min(self.search_threads, len(jobs)) - 1):
            pool.submit(work)
        work()
        for event in done:  # only jobs a helper has started are still running
            event.wait()
        for r in results:
            if isinstance(r, _Failed):
                raise r.exc
        return results

    def _scan_pool(self) -> ThreadPoolExecutor:
        """This index's scan threads, made on first use (again in a forked child)."""
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool = ThreadPoolExecutor(self.search_threads - 1, "facesearch-scan")
            self._pool_pid = os.getpid()
        return self._pool

    def _allowed_positions(self, allowed: np.ndarray) -> np.ndarray:
        """Sorted positions of the live ids among sorted, unique ``allowed``."""
        return np.sort(self._lookup(allowed)[1])

    def _exact(self, queries: np.ndarray, k: int, pos: np.ndarray | None) -> SearchHits:
        """Exact top-k over the live positions ``pos`` (all live positions if None)."""
        n, width = len(queries), k
        vecs, live = self._vecs.view, self._live.view
        total = len(vecs) if pos is None else len(pos)
        k = min(k, self._n_live if pos is None else len(pos))
        best_s = np.full((n, 0), MISSING_SCORE, np.float32)
        best_p = np.zeros((n, 0), np.int64)
        for start in range(0, total, 131072):
            if pos is None:  # every position, tombstones scored below anything real
                p = np.arange(start, min(start + 131072, total), dtype=np.int64)
                block = vecs[start : start + 131072]
            else:
                p = pos[start : start + 131072]
                block = vecs[p]
            s = _dot(block, queries)
            if pos is None:
                s[:, ~live[start : start + 131072]] = -np.inf
            part = np.argpartition(-s, k - 1, axis=1)[:, :k] if s.shape[1] > k else None
            if part is not None:
                s = np.take_along_axis(s, part, axis=1)
                cp = p[part]
            else:
                cp = np.broadcast_to(p, s.shape)
            best_s = np.concatenate([best_s, s], axis=1)
            best_p = np.concatenate([best_p, cp], axis=1)
            if best_s.shape[1] > k:
                sel = np.argpartition(-best_s, k - 1, axis=1)[:, :k]
                best_s = np.take_along_axis(best_s, sel, axis=1)
                best_p = np.take_along_axis(best_p, sel, axis=1)
        order = np.argsort(-best_s, axis=1, kind="stable")
        best_s = np.take_along_axis(best_s, order, axis=1).astype(np.float32)
        best_p = np.take_along_axis(best_p, order, axis=1)
        scores = np.full((n, width), MISSING_SCORE, np.float32)
        out = np.full((n, width), -1, np.int64)
        scores[:, :k], out[:, :k] = best_s, self._pos_ids.view[best_p]
        return SearchHits(scores, out)

    # -- introspection ----------------------------------------------------------------- #
    def ids(self) -> np.ndarray:
        return self._key_ids.view.copy()

    def __len__(self) -> int:
        return self._n_live

    @property
    def n_removed(self) -> int:
        """Tombstoned positions still held (dropped by `compact`)."""
        return self._vecs.n - self._n_live

    def nbytes(self) -> int:
        codes = self._vecs.n * self.pq_m // 2 if self._trained else 0
        arrays = (self._vecs, self._pos_ids, self._live, self._key_ids, self._key_pos)
        return codes + sum(a.nbytes for a in (*arrays, *self._shard_pos))

    def iter_vectors(self, batch: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        keys, pos = self._key_ids.view, self._key_pos.view
        for start in range(0, len(keys), batch):
            p = pos[start : start + batch]
            yield keys[start : start + batch].copy(), self._vecs.view[p].astype(np.float32)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind_name,
            "factory": self.factory,
            "metric": "inner_product",
            "params": {
                "pq_m": self.pq_m,
                "pq_nbits": 4,
                "rerank": self.rerank,
                "refine_dtype": self.refine_dtype,
                "train_size": self.train_size,
                "exact_filter_max": self.exact_filter_max,
                "shards": self.shards,
                "trained": self._trained,
            },
        }

    # -- persistence ------------------------------------------------------------------- #
    def _sections(self) -> list[tuple[str, np.ndarray]]:
        import faiss

        shards: list[tuple[str, np.ndarray]] = []
        for j, (codes, sp) in enumerate(zip(self._codes, self._shard_pos, strict=True)):
            raw = faiss.serialize_index(codes) if self._trained else np.zeros(0, np.uint8)
            shards.append((f"faiss.{j}", np.ascontiguousarray(raw, dtype=np.uint8)))
            shards.append((f"positions.{j}", sp.view))
        return [
            *shards,
            ("ids", self._pos_ids.view),
            ("live", self._live.view.view(np.uint8)),
            ("vectors", self._vecs.view),
        ]

    def _layout(self, sections: list[tuple[str, np.ndarray]]) -> list[dict[str, Any]]:
        layout, offset = [], 0
        for name, arr in sections:
            layout.append(
                {
                    "name": name,
                    "offset": offset,
                    "nbytes": int(arr.nbytes),
                    "dtype": arr.dtype.str,
                    "shape": list(arr.shape),
                }
            )
            offset += int(arr.nbytes)
        return layout

    def to_bytes(self) -> bytes:
        return b"".join(np.ascontiguousarray(a).tobytes() for _, a in self._sections())

    def _write_data(self, path: Path) -> tuple[str, dict[str, Any]]:
        sections = self._sections()
        digest = hashlib.sha256()

        def writer(fh: BinaryIO) -> None:
            for _, arr in sections:
                flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
                for start in range(0, len(flat), 1 << 26):
                    chunk = flat[start : start + (1 << 26)].data
                    digest.update(chunk)
                    fh.write(chunk)

        atomic_write_stream(path, writer)
        return digest.hexdigest(), {"sections": self._layout(sections)}

    @classmethod
    def _load(cls, meta: dict[str, Any], path: Path) -> PQRefineVectorIndex:
        params = meta.get("params") or {}
        dim = int(meta["dim"])
        try:
            # files written before shards existed hold one "faiss" section and no "shards"
            legacy = "shards" not in params
            index = cls(
                str(meta["model_key"]),
                dim,
                pq_m=int(params["pq_m"]),
                rerank=int(params["rerank"]),
                refine_dtype=str(params["refine_dtype"]),
                train_size=int(params["train_size"]),
                exact_filter_max=int(params["exact_filter_max"]),
                shards=1 if legacy else int(params["shards"]),
            )
            trained = bool(params["trained"])
            layout = {s["name"]: s for s in meta["sections"]}
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexCorruptError(f"bad pq_refine metadata: {exc}") from exc
        arrays = _read_sections(path, meta["sections"], str(meta.get("sha256")))
        try:
            ids, live, vecs = arrays["ids"], arrays["live"].view(np.bool_), arrays["vectors"]
            n = len(ids)
            if legacy:
                shard_data = [(arrays["faiss"], np.arange(n, dtype=np.int64))]
            else:
                shard_data = [
                    (arrays[f"faiss.{j}"], arrays[f"positions.{j}"]) for j in range(index.shards)
                ]
        except KeyError as exc:
            raise IndexCorruptError(f"pq_refine data lacks section {exc}") from exc
        want_vec_dtype = np.dtype(_REFINE_DTYPES[index.refine_dtype])
        if (
            ids.dtype != np.int64
            or live.shape != (n,)
            or vecs.shape != (n, dim)
            or vecs.dtype != want_vec_dtype
            or int(live.sum()) != int(meta.get("count", -1))
            or layout["ids"]["shape"] != [n]
        ):
            raise IndexCorruptError("pq_refine sections disagree in shape or dtype")
        if trained:
            index._codes = index._load_shards(shard_data, n)
            index._shard_pos = [_Rows(np.int64, data=pos) for _, pos in shard_data]
            index._trained = True
        elif any(len(raw) or (len(pos) and not legacy) for raw, pos in shard_data):
            raise IndexCorruptError("an untrained pq_refine index holds PQ codes")
        index._vecs.replace(vecs)
        index._pos_ids.replace(ids)
        index._live.replace(live)
        index._n_live = int(live.sum())
        live_pos = np.flatnonzero(live)
        live_ids = ids[live_pos]
        order = np.argsort(live_ids, kind="stable")
        if len(order) > 1 and np.any(np.diff(live_ids[order]) == 0):
            raise IndexCorruptError("pq_refine data holds a live id twice")
        index._key_ids.replace(live_ids[order])
        index._key_pos.replace(live_pos[order])
        if legacy:
            planned = int(index_plan(max(n, FLAT_MAX), dim).params.get("shards", 1))
            if planned != index.shards:
                log.info("vector index in %s: spreading its codes over %d shards", path, planned)
                index.reshard(planned)
        return index

    def _load_shards(self, shard_data: list[tuple[np.ndarray, np.ndarray]], n: int) -> list[Any]:
        """The shards' FAISS indexes, checked against each other and the positions."""
        import faiss

        codes, seen, ref = [], np.zeros(n, np.bool_), None
        for raw, pos in shard_data:
            try:
                fi = faiss.deserialize_index(raw)
            except RuntimeError as exc:
                raise IndexCorruptError(f"cannot deserialise PQ codes: {exc}") from exc
            if fi.d != self.dim or not isinstance(fi, faiss.IndexPQFastScan):
                raise IndexCorruptError("PQ code index does not match the vectors")
            if self.pq_m != fi.pq.M:
                raise IndexCorruptError("PQ code index does not match the recorded pq_m")
            centroids = faiss.vector_to_array(fi.pq.centroids)
            if ref is None:
                ref = centroids
            elif not np.array_equal(ref, centroids):
                raise IndexCorruptError("PQ shards were trained apart")
            if pos.dtype != np.int64 or pos.ndim != 1 or fi.ntotal != len(pos):
                raise IndexCorruptError("PQ code index does not match its positions")
            if len(pos) and (pos.min() < 0 or pos.max() >= n or seen[pos].any()):
                raise IndexCorruptError("PQ shards do not hold each position once")
            seen[pos] = True
            _clear_tail(fi)  # files written before the fix may carry stale nibbles there
            codes.append(fi)
        if not seen.all():
            raise IndexCorruptError("PQ shards do not hold each position once")
        return codes


def _clear_tail(codes: Any) -> None:
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


def _dot(block: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Inner products (n_queries, n_rows) of float32 queries with float32/16 rows.

    One query goes through ``einsum`` (single-threaded SIMD): a BLAS matrix-vector product
    above a few thousand rows wakes OpenBLAS's thread pool, which on a busy 2-core machine
    took 8 ms for what one thread does in 0.4 ms. Batches use BLAS.
    """
    block = block.astype(np.float32, copy=False)
    if len(queries) == 1:
        return np.einsum("ij,j->i", block, queries[0])[None, :]
    return np.asarray(queries @ block.T)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` for int64 ids, without a copy when they already are sorted and unique."""
    if len(values) < 2 or bool(np.all(values[1:] > values[:-1])):
        return values
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


def _member(values: np.ndarray, sorted_pool: np.ndarray) -> np.ndarray:
    """Mask of ``values`` present in ``sorted_pool`` (non-empty, sorted ascending)."""
    where = np.minimum(np.searchsorted(sorted_pool, values), len(sorted_pool) - 1)
    return np.asarray(sorted_pool[where] == values)


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first."""
    if len(scores) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.argsort(-scores[part], kind="stable")]
    return np.argsort(-scores, kind="stable")


def _read_sections(path: Path, layout: list[dict[str, Any]], sha256: str) -> dict[str, np.ndarray]:
    """Read the sections of a data file into arrays, verifying its SHA-256 on the way."""
    digest = hashlib.sha256()
    arrays: dict[str, np.ndarray] = {}
    try:
        size = path.stat().st_size
        expected = 0
        with open(path, "rb") as fh:
            for sec in layout:
                if int(sec["offset"]) != expected:
                    raise IndexCorruptError("sections are not contiguous")
                dtype = np.dtype(str(sec["dtype"]))
                if dtype.hasobject:
                    raise IndexCorruptError("object arrays are not allowed")
                shape = tuple(int(s) for s in sec["shape"])
                nbytes = int(sec["nbytes"])
                if math.prod(shape) * dtype.itemsize != nbytes or expected + nbytes > size:
                    raise IndexCorruptError(f"section {sec['name']!r} does not fit the file")
                arr = np.empty(shape, dtype)
                flat = arr.reshape(-1).view(np.uint8)
                got = 0
                while got < nbytes:
                    chunk = flat[got : got + (1 << 26)]
                    r = fh.readinto(chunk.data)
                    if not r:
                        raise IndexCorruptError("vector index file is truncated")
                    digest.update(chunk[:r].data)
                    got += r
                arrays[str(sec["name"])] = arr
                expected += nbytes
        if expected != size:
            raise IndexCorruptError("vector index file has trailing data")
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(f"cannot read vector index {path}: {exc}") from exc
    if digest.hexdigest() != sha256:
        raise IndexCorruptError(f"vector index {path} does not match its metadata")
    return arrays


def load_index(directory: Path) -> VectorIndex | None:
    """Load a saved index; None if there is none. Raises IndexCorruptError if damaged."""
    meta_path, data_path = directory / META_FILE, directory / INDEX_FILE
    if not meta_path.exists() or not data_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict):
            raise ValueError("metadata is not an object")
        kind = meta.get("kind")
        model_key, dim, count = str(meta["model_key"]), int(meta["dim"]), int(meta["count"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexCorruptError(f"cannot read vector index in {directory}: {exc}") from exc
    if kind == PQRefineVectorIndex.kind_name:
        return PQRefineVectorIndex._load(meta, data_path)
    if kind != "flat":
        raise IndexCorruptError(f"unknown vector index kind {kind!r} in {directory}")
    try:
        payload = data_path.read_bytes()
    except OSError as exc:
        raise IndexCorruptError(f"cannot read vector index in {directory}: {exc}") from exc
    if hashlib.sha256(payload).hexdigest() != meta.get("sha256"):
        raise IndexCorruptError(f"vector index in {directory} does not match its metadata")
    index = FlatVectorIndex.from_bytes(model_key, dim, payload)
    if len(index) != count:
        raise IndexCorruptError(f"vector index in {directory} holds {len(index)}, not {count}")
    return index


# -- choosing a structure ------------------------------------------------------------- #

#: Below this many vectors exact search answers one query in about 5 ms or less on one core
#: (measured 2.4-2.9 ms at 100k, 24-29 ms at 1M; see benchmarks/README.md).
FLAT_MAX = 200_000
#: From this size the re-ranking vectors are kept as float16: float32 costs 544 B a vector
#: (2.2 GB at 4M, 5.4 GB at 10M), float16 288 B (3.0 GB measured at 10M, < 4 GB to ~13M).
FLOAT16_FROM = 4_000_000
#: The PQ codes are split into this many shards, which one query scans on as many threads
#: at once (the scan is ~90% of a query's time; see benchmarks/README.md).
SCAN_SHARDS = 2


@dataclass(frozen=True)
class IndexPlan:
    """Which structure (``kind``) and parameters suit a gallery size."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)


def index_plan(expected_size: int, dim: int = 128) -> IndexPlan:
    """The structure for a gallery of ``expected_size`` vectors (figures in the module doc).

    ``flat`` below `FLAT_MAX`; above, ``pq_refine`` with ``PQ64x4fs`` codes and 1,000
    candidates re-ranked against float32 vectors, float16 from `FLOAT16_FROM`.
    """
    if expected_size < FLAT_MAX:
        return IndexPlan("flat")
    refine = "float16" if expected_size >= FLOAT16_FROM else "float32"
    pq_m = 64 if dim % 64 == 0 else next(m for m in (32, 16, 8, 4, 2, 1) if dim % m == 0)
    return IndexPlan(
        PQRefineVectorIndex.kind_name,
        {"pq_m": pq_m, "rerank": 1000, "refine_dtype": refine, "shards": SCAN_SHARDS},
    )


def new_index(model_key: str, dim: int, expected_size: int = 0) -> VectorIndex:
    """The index structure suited to a gallery of ``expected_size`` vectors."""
    plan = index_plan(expected_size, dim)
    if plan.kind == "flat":
        return FlatVectorIndex(model_key, dim)
    return PQRefineVectorIndex(model_key, dim, expected_size=expected_size, **plan.params)


def _plan_of(index: VectorIndex) -> IndexPlan:
    desc = index.describe()
    if desc["kind"] == "flat":
        return IndexPlan("flat")
    p = desc["params"]
    return IndexPlan(desc["kind"], {"pq_m": p["pq_m"], "refine_dtype": p["refine_dtype"]})


def _structure(plan: IndexPlan) -> IndexPlan:
    """The plan less what changes without a rebuild: ``rerank`` (search time) and ``shards``
    (`PQRefineVectorIndex.reshard` moves codes without re-encoding)."""
    return IndexPlan(
        plan.kind, {k: v for k, v in plan.params.items() if k not in ("rerank", "shards")}
    )


def needs_rebuild(index: VectorIndex, size: int | None = None) -> bool:
    """Whether ``index`` should be rebuilt for a gallery of ``size`` (default: its own size).

    Grows as soon as the plan for ``size`` differs; shrinks only when the plan for twice
    ``size`` differs too, so a gallery hovering near a threshold is not rebuilt back and forth.
    """
    size = len(index) if size is None else size
    current = _plan_of(index)
    return all(_structure(index_plan(s, index.dim)) != current for s in (size, 2 * size))


def build_index(
    model_key: str,
    dim: int,
    batches: Iterable[tuple[np.ndarray, np.ndarray]],
    expected_size: int,
) -> VectorIndex:
    """Build the planned index from (ids, vectors) batches, e.g. read from the catalog."""
    index = new_index(model_key, dim, expected_size)
    for ids, vectors in batches:
        index.add(ids, vectors)
    if isinstance(index, PQRefineVectorIndex) and not index.is_trained and len(index):
        index.train()
    return index


def fit_index(index: VectorIndex, size: int | None = None) -> VectorIndex:
    """``index`` itself, or a rebuild of it (from its own vectors) that suits ``size``.

    A float16 index rebuilt as float32 carries float16-rounded vectors; where that matters,
    rebuild from the catalog with `build_index` instead.
    """
    if not needs_rebuild(index, size):
        if isinstance(index, PQRefineVectorIndex):
            index.reshard(int(index_plan(max(len(index), FLAT_MAX), index.dim).params["shards"]))
        return index
    if isinstance(index, PQRefineVectorIndex):
        index.compact()
    target = len(index) if size is None else size
    return build_index(index.model_key, index.dim, index.iter_vectors(), target)
