"""The Milvus vector store (pymilvus 2.4): a collection per model key, filters pushed down.

Layout: one collection per model key (``{prefix}_{model slug}_{sha1[:8]}``; the full key and
the dimension are recorded in the collection's description and checked on open, so vectors of
another model are refused). One row per (face, provenance record): ``face_id``, ``collection``
(the **partition key**, so a search in one collection reads only its partitions),
``captured`` (epoch microseconds, :data:`~facesearch.store.vectors.port.NO_DATE` when
unknown), ``source`` (the source URL), ``lead`` (true on one row per face: what ``count``
counts) and ``vec`` (the full float32 vector). A face with several provenance records has
several rows, so that "one record matches every filter" is exactly what Milvus evaluates.

Consistency: the collection is created with, and every read asks for, ``Strong``
consistency by default, so a search issued after ``remove`` returned sees the deletion; each
such search waits for the server's time tick (measured 200-400 ms per query on the standalone
here). ``MilvusConfig.consistency="Bounded"`` (``?consistency=Bounded``) searches without that
wait; counts, id listings and removals stay ``Strong``.

Filters are Milvus boolean expressions built by :class:`Expr` from typed values with
parameter templates (``{name}`` placeholders and ``filter_params``, Milvus 2.5+). Servers that
predate templates (the 2.3.5 standalone used in the tests) get the same expression with each
parameter rendered by :func:`literal`, which accepts only int64s and escapes strings
completely (JSON string syntax); no user text is ever spliced into an expression.

Search: the ANN index (``IVF_FLAT``, ``IVF_SQ8``, ``HNSW``, ``DISKANN`` on a cluster, or
``FLAT``) returns a shortlist of ``rerank`` candidates (at least k) with their full vectors;
the shortlist is re-scored exactly in numpy, de-duplicated by face and post-checked against
the filter, so mates found by the shortlist are ranked and scored exactly as exact search does.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facesearch.errors import ConfigError, FacesearchError, ModelMismatchError
from facesearch.store.vectors.port import (
    MISSING_SCORE,
    NO_DATE,
    Facet,
    SearchHits,
    StoreHealth,
    VectorFilter,
    as_ids,
    check_batch,
    check_vectors,
    micros,
)

MAX_TOPK = 16384  # Milvus's limit on one search's limit
SOURCE_MAX = 4096  # stored source URL length (longer ones are cut; the post-check uses them)
COLLECTION_MAX = 255
ID_CHUNK = 4096  # allowed ids per search expression; larger sets are searched in chunks
INSERT_CHUNK = 2000
CONSISTENCY_LEVELS = frozenset({"Strong", "Bounded", "Session", "Eventually"})
REPLY_BYTES = 24 * 2**20  # the shortlists with vectors of one search request, at most

INDEX_DEFAULTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # index type: (build params, search params)
    "FLAT": ({}, {}),
    "IVF_FLAT": ({"nlist": 1024}, {"nprobe": 64}),
    "IVF_SQ8": ({"nlist": 1024}, {"nprobe": 64}),
    # ef 4096: mate rank 1 and 20 equal to exact search at 100k (benchmarks/README.md, 2026-12-03;
    # ef 256 lost 4.4-4.8% of the rank-1 mates, ef 1024 0.16%), p50 24.9 ms vs 14.6 ms (Bounded)
    "HNSW": ({"M": 16, "efConstruction": 200}, {"ef": 4096}),
    "DISKANN": ({}, {"search_list": 200}),
}


class MilvusError(FacesearchError):
    """The Milvus server refused or failed a request."""


@dataclass(frozen=True)
class MilvusConfig:
    """Where the server is and how the collection is indexed and searched."""

    uri: str = "http://127.0.0.1:19530"
    token: str = ""
    prefix: str = "facesearch"
    index_type: str = "HNSW"
    index_params: dict[str, Any] = field(default_factory=dict)
    search_params: dict[str, Any] = field(default_factory=dict)
    rerank: int = 200  # shortlist re-ranked exactly from the full vectors
    num_partitions: int = 64
    # consistency of searches: "Strong" (a removed face is never returned once remove has
    # returned; each search waits for the server's time tick, ~200 ms on a standalone) or
    # "Bounded" (a few hundred ms of staleness; a gallery still never shows a removed face,
    # since it checks every candidate against the catalog before showing it)
    consistency: str = "Strong"

    def __post_init__(self) -> None:
        if self.index_type not in INDEX_DEFAULTS:
            raise ConfigError(
                f"unknown Milvus index type {self.index_type!r}: one of {sorted(INDEX_DEFAULTS)}"
            )
        if self.consistency not in CONSISTENCY_LEVELS:
            raise ConfigError(
                f"unknown consistency {self.consistency!r}: one of {sorted(CONSISTENCY_LEVELS)}"
            )
        if not 1 <= self.rerank <= MAX_TOPK:
            raise ConfigError(f"rerank must be 1..{MAX_TOPK}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", self.prefix):
            raise ConfigError(f"bad Milvus collection prefix {self.prefix!r}")

    @property
    def build_params(self) -> dict[str, Any]:
        return {**INDEX_DEFAULTS[self.index_type][0], **self.index_params}

    @property
    def query_params(self) -> dict[str, Any]:
        return {**INDEX_DEFAULTS[self.index_type][1], **self.search_params}


def collection_name(prefix: str, model_key: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_]", "_", model_key)[:120]
    return f"{prefix}_{slug}_{hashlib.sha1(model_key.encode()).hexdigest()[:8]}"


# --- expressions --------------------------------------------------------------------------- #


def literal(value: object) -> str:
    """One template parameter as a Milvus literal: int64, a string, or a list of int64s."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        v = int(value)
        if not -(2**63) <= v < 2**63:
            raise ValueError("integer out of int64 range")
        return str(v)
    if isinstance(value, str):
        # JSON escaping: backslash, quote and every control character; Milvus reads the same
        # escapes in its double-quoted strings. ensure_ascii keeps the expression plain ASCII.
        return json.dumps(value, ensure_ascii=True)
    if isinstance(value, list):
        return "[" + ",".join(literal(int(v)) for v in value) + "]"
    raise TypeError(f"no Milvus literal for {type(value).__name__}")


class Expr:
    """A conjunction of terms with ``{name}`` placeholders and their values."""

    def __init__(self) -> None:
        self.terms: list[str] = []
        self.params: dict[str, Any] = {}

    def add(self, template: str, **values: Any) -> None:
        for name in values:
            if f"{{{name}}}" not in template or name in self.params:
                raise ValueError(f"bad template parameter {name!r}")
        self.terms.append(template)
        self.params.update(values)

    def template(self) -> str:
        return " and ".join(f"({t})" for t in self.terms)

    def rendered(self) -> str:
        """The expression for servers without templates: every placeholder as a literal."""
        out = self.template()
        for name, value in self.params.items():
            out = out.replace(f"{{{name}}}", literal(value))
        return out


def like_prefix(prefix: str) -> str:
    """A ``like`` pattern for the prefix: Milvus has no escape for ``%``/``_``, so a prefix
    is cut at the first wildcard character (the shortlist is post-checked exactly)."""
    cut = min((i for i, ch in enumerate(prefix) if ch in "%_\\"), default=len(prefix))
    return prefix[:cut] + "%"


def filter_expr(where: VectorFilter | None, allowed_chunk: np.ndarray | None) -> Expr:
    expr = Expr()
    if where is not None:
        if where.collection is not None:
            expr.add("collection == {coll}", coll=where.collection)
        if where.captured_from is not None:
            expr.add("captured >= {dfrom}", dfrom=micros(where.captured_from))
        if where.captured_to is not None:
            expr.add(
                "captured <= {dto} and captured > {nodate}",
                dto=micros(where.captured_to),
                nodate=int(NO_DATE),
            )
        if where.source_prefix is not None:
            expr.add("source like {src}", src=like_prefix(where.source_prefix[:SOURCE_MAX]))
        if where.excluded_ids is not None and len(where.excluded_ids):
            expr.add("face_id not in {excl}", excl=as_ids(where.excluded_ids).tolist())
    if allowed_chunk is not None:
        expr.add("face_id in {allow}", allow=allowed_chunk.tolist())
    return expr


# --- the store ------------------------------------------------------------------------------ #


class MilvusVectorStore:
    """Vectors of one model in one Milvus collection (see the module doc)."""

    backend = "milvus"
    pushes_filters = True
    keeps_facets = True  # each row carries its face's provenance facets
    fresh = False  # the collection persists on the server; the gallery reconciles it

    def __init__(self, config: MilvusConfig, model_key: str, dim: int) -> None:
        from pymilvus import MilvusClient

        self.config = config
        self.model_key = model_key
        self.dim = int(dim)
        self.name = collection_name(config.prefix, model_key)
        try:
            self.client = MilvusClient(uri=config.uri, token=config.token)
            version = str(self.client.get_server_version())
        except Exception as exc:
            raise MilvusError(f"cannot reach Milvus at {config.uri}: {exc}") from exc
        self.server_version = version
        self.templates = _version(version) >= (2, 5)
        self._bulk = False  # filling an emptied collection: adds need not delete first
        self._open_collection()

    # -- collection ----------------------------------------------------------------------- #
    def _description(self) -> str:
        return json.dumps({"facesearch": 1, "model_key": self.model_key, "dim": self.dim})

    def _open_collection(self) -> None:
        from pymilvus import DataType, MilvusClient

        c = self.client
        if c.has_collection(self.name):
            desc = c.describe_collection(self.name)
            try:
                meta = json.loads(desc.get("description") or "{}")
            except ValueError:
                meta = {}
            if meta.get("model_key") != self.model_key or int(meta.get("dim", -1)) != self.dim:
                raise ModelMismatchError(
                    f"Milvus collection {self.name} holds {meta.get('model_key')!r} "
                    f"(dim {meta.get('dim')}), not {self.model_key} (dim {self.dim})"
                )
            c.load_collection(self.name)
            return
        schema = MilvusClient.create_schema(
            auto_id=True, enable_dynamic_field=False, description=self._description()
        )
        schema.add_field("pk", DataType.INT64, is_primary=True)
        schema.add_field("face_id", DataType.INT64)
        schema.add_field(
            "collection", DataType.VARCHAR, max_length=COLLECTION_MAX, is_partition_key=True
        )
        schema.add_field("captured", DataType.INT64)
        schema.add_field("source", DataType.VARCHAR, max_length=SOURCE_MAX)
        schema.add_field("lead", DataType.BOOL)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=self.dim)
        index = MilvusClient.prepare_index_params()
        index.add_index(
            field_name="vec",
            index_type=self.config.index_type,
            metric_type="IP",
            params=self.config.build_params,
        )
        index.add_index(field_name="face_id", index_type="STL_SORT")
        c.create_collection(
            self.name,
            schema=schema,
            index_params=index,
            consistency_level="Strong",
            num_partitions=self.config.num_partitions,
        )
        c.load_collection(self.name)

    def drop(self) -> None:
        """Delete the whole collection (tests, a migration started over)."""
        self.client.drop_collection(self.name)

    # -- requests --------------------------------------------------------------------------- #
    def _filter_kwargs(self, expr: Expr) -> dict[str, Any]:
        if not expr.terms:
            return {"filter": ""}
        if self.templates:
            return {"filter": expr.template(), "filter_params": expr.params}
        return {"filter": expr.rendered()}

    def _query(self, expr: Expr, fields: list[str], limit: int | None = None) -> list[dict]:
        kwargs = self._filter_kwargs(expr)
        if limit is not None:
            kwargs["limit"] = limit
        try:
            return list(
                self.client.query(
                    self.name, output_fields=fields, consistency_level="Strong", **kwargs
                )
            )
        except Exception as exc:
            raise MilvusError(f"Milvus query on {self.name} failed: {exc}") from exc

    # -- writes ----------------------------------------------------------------------------- #
    def add(
        self,
        ids: np.ndarray | Sequence[int],
        vectors: np.ndarray,
        facets: Sequence[Sequence[Facet]] | None = None,
        *,
        model_key: str | None = None,
        replace: bool = True,
    ) -> None:
        """Insert vectors (re-adding an id replaces its rows and facets).

        ``replace=False`` skips deleting the ids' existing rows first (one delete round trip
        per 4,096 ids): only for ids known to be absent, e.g. filling a new collection
        (as every add does between ``reset`` and ``seal``)."""
        ids, vectors = check_batch(ids, vectors, facets, model_key, self.model_key, self.dim)
        if len(ids) == 0:
            return
        last: dict[int, int] = {int(fid): row for row, fid in enumerate(ids.tolist())}
        if replace and not self._bulk:
            self._delete_ids(np.fromiter(last, np.int64, len(last)))
        rows: list[dict[str, Any]] = []
        as_lists = vectors.tolist()  # one conversion for the batch, not one per face
        for fid, row in last.items():
            face_facets = list(facets[row]) if facets is not None and facets[row] else [Facet()]
            vec = as_lists[row]
            seen: set[tuple[str, int, str]] = set()
            for facet in face_facets:
                key = (
                    facet.collection[:COLLECTION_MAX],
                    micros(facet.captured_at),
                    facet.source_url[:SOURCE_MAX],
                )
                if key in seen:
                    continue
                seen.add(key)
                rows.append(
                    {
                        "face_id": fid,
                        "collection": key[0],
                        "captured": key[1],
                        "source": key[2],
                        "lead": not rows or rows[-1]["face_id"] != fid,
                        "vec": vec,
                    }
                )
        try:
            for start in range(0, len(rows), INSERT_CHUNK):
                self.client.insert(self.name, rows[start : start + INSERT_CHUNK])
        except Exception as exc:
            raise MilvusError(f"Milvus insert into {self.name} failed: {exc}") from exc

    def _delete_ids(self, ids: np.ndarray) -> None:
        for start in range(0, len(ids), ID_CHUNK):
            expr = Expr()
            expr.add("face_id in {ids}", ids=ids[start : start + ID_CHUNK].tolist())
            try:
                self.client.delete(self.name, **self._filter_kwargs(expr))
            except Exception as exc:
                raise MilvusError(f"Milvus delete from {self.name} failed: {exc}") from exc

    def remove(self, ids: np.ndarray | Sequence[int]) -> int:
        """Delete faces; when this returns, no search returns them. Returns how many existed."""
        ids = np.unique(as_ids(ids))
        if len(ids) == 0:
            return 0
        present = 0
        for start in range(0, len(ids), ID_CHUNK):
            expr = Expr()
            expr.add(
                "face_id in {ids} and lead == true", ids=ids[start : start + ID_CHUNK].tolist()
            )
            present += len(self._query(expr, ["face_id"]))
        self._delete_ids(ids)
        return present

    # -- reads ------------------------------------------------------------------------------ #
    def search(
        self,
        queries: np.ndarray,
        k: int,
        allowed_ids: np.ndarray | None = None,
        *,
        where: VectorFilter | None = None,
    ) -> SearchHits:
        queries = check_vectors(queries, self.dim, self.model_key)
        n = len(queries)
        allowed = None if allowed_ids is None else np.unique(as_ids(allowed_ids))
        if where is not None and where.allowed_ids is not None:
            extra = np.unique(as_ids(where.allowed_ids))
            allowed = extra if allowed is None else np.intersect1d(allowed, extra)
        if k <= 0 or (allowed is not None and len(allowed) == 0):
            return SearchHits(np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64))
        k = min(k, MAX_TOPK)
        chunks: list[np.ndarray | None] = (
            [None]
            if allowed is None
            else [allowed[s : s + ID_CHUNK] for s in range(0, len(allowed), ID_CHUNK)]
        )
        best: list[dict[int, float]] = [{} for _ in range(n)]
        for chunk in chunks:
            for qi, found in enumerate(self._search_chunk(queries, k, where, chunk)):
                for fid, score in found.items():
                    if score > best[qi].get(fid, MISSING_SCORE):
                        best[qi][fid] = score
        width = max((min(k, len(b)) for b in best), default=0)
        scores = np.full((n, width), MISSING_SCORE, np.float32)
        out = np.full((n, width), -1, np.int64)
        for qi, found in enumerate(best):
            top = sorted(found.items(), key=lambda p: (-p[1], p[0]))[:width]
            for j, (fid, score) in enumerate(top):
                scores[qi, j], out[qi, j] = score, fid
        return SearchHits(scores, out)

    def _search_chunk(
        self, queries: np.ndarray, k: int, where: VectorFilter | None, chunk: np.ndarray | None
    ) -> list[dict[int, float]]:
        """Per query: up to k faces (id -> exact score) matching the filter in this chunk."""
        expr = filter_expr(where, chunk)
        results: list[dict[int, float]] = [{} for _ in queries]
        # one request carries each query's shortlist with full vectors: keep it well under
        # gRPC's 64 MB message limit by sending the queries in groups
        per_query = max(k, self.config.rerank) * (self.dim * 4 + 128)
        group = max(1, REPLY_BYTES // per_query)
        for start in range(0, len(queries), group):
            part = list(range(start, min(start + group, len(queries))))
            self._search_group(queries, k, expr, where, part, results)
        return results

    def _search_group(
        self,
        queries: np.ndarray,
        k: int,
        expr: Expr,
        where: VectorFilter | None,
        pending: list[int],
        results: list[dict[int, float]],
    ) -> None:
        limit = min(MAX_TOPK, max(k, self.config.rerank))
        excluded = (
            set(as_ids(where.excluded_ids).tolist())
            if where is not None and where.excluded_ids is not None
            else set()
        )
        while pending:
            params = dict(self.config.query_params)
            if self.config.index_type == "HNSW":
                params["ef"] = max(int(params.get("ef", 0)), limit)
            try:
                raw = self.client.search(
                    self.name,
                    data=queries[pending].tolist(),
                    limit=limit,
                    output_fields=["face_id", "collection", "captured", "source", "vec"],
                    search_params={"metric_type": "IP", "params": params},
                    consistency_level=self.config.consistency,
                    **self._filter_kwargs(expr),
                )
            except Exception as exc:
                raise MilvusError(f"Milvus search on {self.name} failed: {exc}") from exc
            again = []
            for qi, hits in zip(pending, raw, strict=True):
                found: dict[int, float] = {}
                q = queries[qi]
                for hit in hits:
                    ent = hit["entity"]
                    facet = Facet(str(ent["collection"]), None, str(ent["source"]))
                    if where is not None and not _post_check(where, facet, int(ent["captured"])):
                        continue
                    fid = int(ent["face_id"])
                    if fid in excluded:
                        continue
                    if fid not in found:  # exact re-score from the stored full vector
                        found[fid] = float(np.dot(np.asarray(ent["vec"], np.float32), q))
                results[qi] = found
                if len(found) < k and len(hits) >= limit and limit < MAX_TOPK:
                    again.append(qi)  # rows of the same face or post-check misses: widen
            if not again:
                break
            pending, limit = again, min(MAX_TOPK, limit * 4)

    def count(self) -> int:
        expr = Expr()
        expr.add("lead == {lead}", lead=True)
        rows = self._query(expr, ["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def __len__(self) -> int:
        return self.count()

    def ids(self) -> np.ndarray:
        """All face ids, sorted (a full scan of the collection's lead rows)."""
        found: list[int] = []
        last = -(2**62)
        while True:
            expr = Expr()
            expr.add("lead == true and face_id > {after}", after=last)
            rows = self._query(expr, ["face_id"], limit=MAX_TOPK)
            if not rows:
                break
            batch = sorted(int(r["face_id"]) for r in rows)
            found.extend(batch)
            last = batch[-1]
            if len(rows) < MAX_TOPK:
                break
        return np.unique(np.asarray(found, np.int64))

    def iter_vectors(self, batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        ids = self.ids()
        for start in range(0, len(ids), batch):
            expr = Expr()
            chunk = ids[start : start + batch]
            expr.add("lead == true and face_id in {ids}", ids=chunk.tolist())
            rows = self._query(expr, ["face_id", "vec"])
            rows.sort(key=lambda r: int(r["face_id"]))
            yield (
                np.asarray([int(r["face_id"]) for r in rows], np.int64),
                np.asarray([r["vec"] for r in rows], np.float32).reshape(-1, self.dim),
            )

    def health(self) -> StoreHealth:
        try:
            version = self.client.get_server_version()
            rows = self.client.get_collection_stats(self.name).get("row_count", "?")
        except Exception as exc:
            return StoreHealth(False, self.backend, f"{self.config.uri}: {exc}")
        return StoreHealth(
            True, self.backend, f"Milvus {version} at {self.config.uri}, {self.name}: {rows} rows"
        )

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "kind": "milvus",
            "uri": self.config.uri,
            "collection": self.name,
            "server": self.server_version,
            "index_type": self.config.index_type,
            "params": self.config.build_params,
            "search_params": self.config.query_params,
            "rerank": self.config.rerank,
            "consistency": self.config.consistency,
            "filter_templates": self.templates,
        }

    def close(self) -> None:
        self.client.close()

    def last_id(self) -> int | None:
        """Not tracked: finding it means listing every id (the gallery compares counts)."""
        return None

    # -- maintenance (the port's) ----------------------------------------------------------- #
    def reset(self, expected_size: int = 0) -> None:
        """Drop the collection and create it again, empty; adds until ``seal`` skip the
        delete round trip (nothing to replace)."""
        self.drop()
        self._open_collection()
        self._bulk = True

    def seal(self) -> None:
        self._bulk = False

    def outgrown(self) -> bool:  # Milvus sizes its own segments and index
        return False

    n_removed = 0  # Milvus compacts deleted rows itself

    def save(self, directory: object = None) -> None:
        """Milvus persists each write itself."""

    def compact(self) -> int:
        return 0

    def nbytes(self) -> int:
        return 0


def _post_check(where: VectorFilter, facet: Facet, captured: int) -> bool:
    """The filter's facet terms, checked exactly on a returned row (the ``like`` pattern can be
    wider than the prefix)."""
    if where.collection is not None and facet.collection != where.collection:
        return False
    if where.captured_from is not None and not (
        captured != NO_DATE and captured >= micros(where.captured_from)
    ):
        return False
    if where.captured_to is not None and not (
        captured != NO_DATE and captured <= micros(where.captured_to)
    ):
        return False
    return where.source_prefix is None or facet.source_url.startswith(where.source_prefix)


def _version(text: str) -> tuple[int, int]:
    m = re.search(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)
