"""Reading a saved vector index back: dispatch on the recorded kind, check everything.

``vectors.json`` records the kind, the parameters, the section layout and the SHA-256 of
``vectors.faiss`` (``files.py``); loading checks the digest and every shape and dtype, and
refuses anything that disagrees with :class:`~facesearch.errors.IndexCorruptError` (the
gallery then rebuilds the index from the catalog).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.errors import IndexCorruptError
from facesearch.store.crypto import Cipher, Keyring
from facesearch.store.vectors.base import VectorIndex, clear_tail
from facesearch.store.vectors.files import (
    INDEX_FILE,
    META_FILE,
    index_aad,
    open_data,
    read_sections,
)
from facesearch.store.vectors.flat import FlatVectorIndex
from facesearch.store.vectors.plan import planned_shards
from facesearch.store.vectors.pq_refine import REFINE_DTYPES, PQRefineVectorIndex

log = logging.getLogger(__name__)


def load_index(directory: Path, keys: Cipher | Keyring | None = None) -> VectorIndex | None:
    """Load a saved index; None if there is none. Raises IndexCorruptError if damaged, and
    EncryptionError if it is not encrypted as ``keys`` expect (``files.open_data``)."""
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
        return load_pq_refine(meta, data_path, keys)
    if kind != "flat":
        raise IndexCorruptError(f"unknown vector index kind {kind!r} in {directory}")
    try:
        with open_data(data_path, keys, index_aad(model_key)) as (fh, _):
            payload = fh.read()
    except OSError as exc:
        raise IndexCorruptError(f"cannot read vector index in {directory}: {exc}") from exc
    if hashlib.sha256(payload).hexdigest() != meta.get("sha256"):
        raise IndexCorruptError(f"vector index in {directory} does not match its metadata")
    index = FlatVectorIndex.from_bytes(model_key, dim, payload)
    if len(index) != count:
        raise IndexCorruptError(f"vector index in {directory} holds {len(index)}, not {count}")
    return index


def load_pq_refine(
    meta: dict[str, Any], path: Path, keys: Cipher | Keyring | None = None
) -> PQRefineVectorIndex:
    """A ``pq_refine`` index from its metadata and data file (files written before shards
    existed hold one "faiss" section: their codes are spread over the planned shards)."""
    params = meta.get("params") or {}
    dim = int(meta["dim"])
    try:
        legacy = "shards" not in params
        index = PQRefineVectorIndex(
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
    arrays = read_sections(
        path, meta["sections"], str(meta.get("sha256")), keys, index_aad(index.model_key)
    )
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
    want_vec_dtype = np.dtype(REFINE_DTYPES[index.refine_dtype])
    if (
        ids.dtype != np.int64
        or live.shape != (n,)
        or vecs.shape != (n, dim)
        or vecs.dtype != want_vec_dtype
        or int(live.sum()) != int(meta.get("count", -1))
        or layout["ids"]["shape"] != [n]
    ):
        raise IndexCorruptError("pq_refine sections disagree in shape or dtype")
    codes = None
    if trained:
        codes = _pq_shards(index, shard_data, n)
    elif any(len(raw) or (len(pos) and not legacy) for raw, pos in shard_data):
        raise IndexCorruptError("an untrained pq_refine index holds PQ codes")
    index.restore(codes, [pos for _, pos in shard_data], vecs, ids, live)
    if legacy:
        planned = planned_shards(n, dim)
        if planned != index.shards:
            log.info("vector index in %s: spreading its codes over %d shards", path, planned)
            index.reshard(planned)
    return index


def _pq_shards(
    index: PQRefineVectorIndex, shard_data: list[tuple[np.ndarray, np.ndarray]], n: int
) -> list[Any]:
    """The shards' FAISS indexes, checked against each other and the positions."""
    import faiss

    codes, seen, ref = [], np.zeros(n, np.bool_), None
    for raw, pos in shard_data:
        try:
            fi = faiss.deserialize_index(raw)
        except RuntimeError as exc:
            raise IndexCorruptError(f"cannot deserialise PQ codes: {exc}") from exc
        if fi.d != index.dim or not isinstance(fi, faiss.IndexPQFastScan):
            raise IndexCorruptError("PQ code index does not match the vectors")
        if index.pq_m != fi.pq.M:
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
        clear_tail(fi)  # files written before the fix may carry stale nibbles there
        codes.append(fi)
    if not seen.all():
        raise IndexCorruptError("PQ shards do not hold each position once")
    return codes
