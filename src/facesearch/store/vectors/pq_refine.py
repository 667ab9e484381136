"""The compressed vector index for large galleries: kind ``pq_refine``.

An exhaustive scan of 4-bit product-quantised codes (FAISS ``PQ{m}x4fs``, "fast-scan") picks
the ``rerank`` best candidates, which are then re-scored exactly against the full vectors kept
beside the codes (float32, or float16 where memory needs it). Every vector is scanned, so no
partition or graph can hide a mate; the candidate list only has to be long enough for the
quantisation noise, and re-ranking makes the final order and scores those of exact search.
Deletes are tombstones filtered at search time (with over-fetch) and dropped from the files at
the next ``compact()``. The codes are split into ``shards`` (2 by default) that one query scans
on as many threads at once, the shards' best candidates merged by PQ score as one index would
rank them. Why these parameters: ``plan.py``. Reading the files back: ``load.py``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from facesearch.errors import IndexCorruptError
from facesearch.store.crypto import Cipher
from facesearch.store.vectors.base import (
    Rows,
    VectorIndex,
    as_ids,
    as_vectors,
    clear_tail,
    dot,
    empty_hits,
    last_occurrence,
    member,
    sorted_unique,
    top_k,
)
from facesearch.store.vectors.files import atomic_write_stream, index_aad, section_layout
from facesearch.store.vectors.port import MISSING_SCORE, SearchHits

REFINE_DTYPES = {"float32": np.float32, "float16": np.float16}


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
        if refine_dtype not in REFINE_DTYPES:
            raise ValueError(f"refine_dtype must be one of {sorted(REFINE_DTYPES)}")
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
        self._shard_pos = [Rows(np.int64) for _ in range(self.shards)]
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._trained = False
        self._vecs = Rows(REFINE_DTYPES[refine_dtype], dim)
        self._pos_ids = Rows(np.int64)
        self._live = Rows(np.bool_)
        self._n_live = 0
        self._key_ids = Rows(np.int64)  # live ids, sorted
        self._key_pos = Rows(np.int64)  # their positions
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
        sample = as_vectors(sample, self.dim)
        import faiss

        index = self._new_faiss_index()
        index.train(sample)
        self._codes = [index] + [faiss.clone_index(index) for _ in range(self.shards - 1)]
        self._shard_pos = [Rows(np.int64) for _ in range(self.shards)]
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
                clear_tail(whole)
            pos = np.concatenate([sp.view for sp in self._shard_pos])
            bounds = [len(pos) * j // shards for j in range(shards + 1)]
            codes = []
            for j in range(shards):
                part = faiss.clone_index(whole) if j < shards - 1 else whole
                keep = faiss.IDSelectorRange(bounds[j], bounds[j + 1])
                part.remove_ids(faiss.IDSelectorNot(keep))
                clear_tail(part)
                codes.append(part)
            self._codes = codes
            self._shard_pos = [Rows(np.int64, data=pos[a:b]) for a, b in itertools.pairwise(bounds)]
        else:
            self._codes = [self._new_faiss_index() for _ in range(shards)]
            self._shard_pos = [Rows(np.int64) for _ in range(shards)]
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
        ids = sorted_unique(as_ids(ids))
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
                    clear_tail(codes)
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
        queries = as_vectors(queries, self.dim)
        n = len(queries)
        if k <= 0 or self._n_live == 0:
            return empty_hits(n)
        effort = max(int(rerank if rerank is not None else self.rerank), k)
        kk = min(k, self._n_live)  # as FAISS: width min(k, size), padded where filtered
        allowed: np.ndarray | None = None
        pool = self._n_live
        if allowed_ids is not None:
            allowed = sorted_unique(as_ids(allowed_ids))
            if len(allowed) == 0:
                return empty_hits(n)
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
                c = c[member(pos_ids[c], allowed)]
                if len(c) < kk and fetch < ntotal:
                    hits = self._exact(queries[row : row + 1], kk, self._allowed_positions(allowed))
                    scores[row], out[row] = hits.scores[0], hits.ids[0]
                    continue
            s = dot(vecs[c], queries[row : row + 1])[0]
            top = top_k(s, kk)
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
            s = dot(block, queries)
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

    def restore(
        self,
        codes: list[Any] | None,
        positions: list[np.ndarray],
        vectors: np.ndarray,
        ids: np.ndarray,
        live: np.ndarray,
    ) -> None:
        """Take the state read back from files (``load.py`` has checked it): each shard's
        code index and positions (``codes`` None: untrained), and every position's vector,
        id and live flag."""
        if codes is not None:
            self._codes = codes
            self._shard_pos = [Rows(np.int64, data=pos) for pos in positions]
            self._trained = True
        self._vecs.replace(vectors)
        self._pos_ids.replace(ids)
        self._live.replace(live)
        self._n_live = int(live.sum())
        live_pos = np.flatnonzero(live)
        live_ids = ids[live_pos]
        order = np.argsort(live_ids, kind="stable")
        if len(order) > 1 and np.any(np.diff(live_ids[order]) == 0):
            raise IndexCorruptError("pq_refine data holds a live id twice")
        self._key_ids.replace(live_ids[order])
        self._key_pos.replace(live_pos[order])

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

    def to_bytes(self) -> bytes:
        return b"".join(np.ascontiguousarray(a).tobytes() for _, a in self._sections())

    def _write_data(self, path: Path, cipher: Cipher | None) -> tuple[str, dict[str, Any]]:
        sections = self._sections()
        digest = hashlib.sha256()

        def writer(fh: BinaryIO) -> None:
            for _, arr in sections:
                flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
                for start in range(0, len(flat), 1 << 26):
                    chunk = flat[start : start + (1 << 26)].data
                    digest.update(chunk)
                    fh.write(chunk)

        atomic_write_stream(path, writer, cipher, index_aad(self.model_key))
        return digest.hexdigest(), {"sections": section_layout(sections)}
