"""Which FAISS structure suits a gallery's size, and (re)building one.

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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facesearch.store.vectors.base import VectorIndex
from facesearch.store.vectors.flat import FlatVectorIndex
from facesearch.store.vectors.pq_refine import PQRefineVectorIndex

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
            index.reshard(planned_shards(len(index), index.dim))
        return index
    if isinstance(index, PQRefineVectorIndex):
        index.compact()
    target = len(index) if size is None else size
    return build_index(index.model_key, index.dim, index.iter_vectors(), target)


def planned_shards(size: int, dim: int) -> int:
    """How many shards the plan gives a ``pq_refine`` index of ``size`` vectors."""
    return int(index_plan(max(size, FLAT_MAX), dim).params.get("shards", 1))
