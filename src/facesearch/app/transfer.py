"""Move an embedded gallery (SQLite, FAISS, files) onto distributed backends, and prove it.

``facesearch migrate --to-database URL --to-vector-store URL [--to-blobs URL]`` runs
:func:`migrate_gallery`:

1. **Catalog**: the target database is created or upgraded with the same Alembic migrations,
   then every table (gallery, governance with its audit chain, victim identification) is
   copied row by row with its ids, parents before children, in chunks of one transaction each.
   A table resumes after the largest id already in the target, so a migration stopped at any
   point continues where it stopped when run again; PostgreSQL sequences are moved past the
   copied ids. The audit chain's one-row head (updated in place) is copied whole each run.
2. **Blobs** (with ``--to-blobs``): every stored object (crops, thumbnails, chips, media) is
   copied as stored (still encrypted when a key is in use; same content-addressed key), skipping
   objects already there. Without ``--to-blobs`` the blobs stay in the data directory.
3. **Vectors**: every searchable face's vector, from the catalog (the source of truth), into the
   target vector store under the same face id, skipping ids already there.
4. **Verification**: row counts of every table, the number of vectors, the number of blobs, and
   on sampled probes (stored faces' own vectors, seeded) the top-k face ids of the source's
   FAISS index against the target store. Only when all agree is the migration reported done.

Migrate a gallery that is not being written to (stop ingest and the server): rows changed in
the source after they were copied are not copied again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, Table, func, insert, literal, select, text, tuple_

from facesearch.errors import FacesearchError
from facesearch.store.catalog import SqlCatalog
from facesearch.store.schema import Base

#: (stage, done, total): called as each stage advances.
MigrateProgress = Callable[[str, int, int], None]

ROW_CHUNK = 2000
#: Tables whose rows change in place on every write elsewhere (the audit chain's head moves
#: with each entry, this migration's own included): copied whole on every run.
REPLACED_TABLES = frozenset({"gov_audit_head"})
VECTOR_CHUNK = 5000


class MigrationError(FacesearchError):
    """The copy did not verify: the target differs from the source."""


@dataclass
class MigrationReport:
    tables: dict[str, tuple[int, int]] = field(default_factory=dict)  # name: (source, target)
    rows_copied: int = 0
    vectors: tuple[int, int] = (0, 0)  # (source searchable faces, target vectors)
    vectors_copied: int = 0
    blobs: tuple[int, int] | None = None  # (source, target); None: blobs not moved
    blobs_copied: int = 0
    probes: int = 0
    k: int = 0
    topk_equal: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows_copied": self.rows_copied,
            "vectors_copied": self.vectors_copied,
            "blobs_copied": self.blobs_copied,
            "tables": {k: {"source": a, "target": b} for k, (a, b) in self.tables.items()},
            "vectors": {"source": self.vectors[0], "target": self.vectors[1]},
            "blobs": None
            if self.blobs is None
            else {"source": self.blobs[0], "target": self.blobs[1]},
            "probes": self.probes,
            "k": self.k,
            "topk_equal": self.topk_equal,
            "problems": self.problems,
        }


def _tables() -> list[Table]:
    import facesearch.migrations.tables  # noqa: F401  (every table on Base.metadata)

    return list(Base.metadata.sorted_tables)


def _pk(table: Table) -> list[Any]:
    """The table's key columns, in order: rows are copied in this order and resumed after
    the last one the target holds (a composite key compares as a row value)."""
    cols = list(table.primary_key.columns)
    if not cols:
        raise MigrationError(f"table {table.name} has no key to resume on")
    return cols


def _key(cols: list[Any]) -> Any:
    return cols[0] if len(cols) == 1 else tuple_(*cols)


def _bound(cols: list[Any], last: tuple[Any, ...]) -> Any:
    """The value of the key ``last`` to compare ``_key(cols)`` with."""
    return last[0] if len(cols) == 1 else tuple_(*(literal(v) for v in last))


def _count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def copy_catalog(
    source: Engine,
    target: Engine,
    on_progress: MigrateProgress | None = None,
    *,
    chunk: int = ROW_CHUNK,
) -> int:
    """Copy every table's rows the target lacks (by id); returns how many rows were copied."""
    copied = 0
    tables = _tables()
    total = sum(_count(source, t) for t in tables)
    done = 0
    for table in tables:
        cols = _pk(table)
        key = _key(cols)
        if table.name in REPLACED_TABLES:  # small tables updated in place: copied whole
            with source.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(select(table).order_by(*cols))]
            with target.begin() as conn:
                conn.execute(table.delete())
                if rows:
                    conn.execute(insert(table), rows)
            copied += len(rows)
            done += len(rows)
            continue
        with target.connect() as conn:
            found = conn.execute(select(*cols).order_by(*(c.desc() for c in cols)).limit(1)).first()
        after: tuple[Any, ...] | None = None if found is None else tuple(found)
        if after is not None:
            with source.connect() as conn:
                done += int(
                    conn.scalar(
                        select(func.count()).select_from(table).where(key <= _bound(cols, after))
                    )
                    or 0
                )
        while True:
            q = select(table).order_by(*cols).limit(chunk)
            if after is not None:
                q = q.where(key > _bound(cols, after))
            with source.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(q)]
            if not rows:
                break
            with target.begin() as conn:
                conn.execute(insert(table), rows)
            after = tuple(rows[-1][c.name] for c in cols)
            copied += len(rows)
            done += len(rows)
            if on_progress:
                on_progress("catalog", done, total)
        if target.dialect.name == "postgresql" and len(cols) == 1:
            pk = cols[0]
            with target.begin() as conn:
                seq = conn.scalar(
                    text("SELECT pg_get_serial_sequence(:t, :c)"),
                    {"t": table.name, "c": pk.name},
                )
                if seq:
                    conn.execute(
                        text(f"SELECT setval(:s, (SELECT COALESCE(MAX({pk.name}), 0) + 1 "
                             f"FROM {table.name}), false)"),
                        {"s": seq},
                    )  # fmt: skip
    if on_progress:
        on_progress("catalog", total, total)
    return copied


def local_blob_keys(root: Path) -> list[str]:
    """Every blob key in a local blob store (``root/ab/cd/<sha256>``)."""
    return sorted(
        p.name for p in root.glob("*/*/*") if len(p.name) == 64 and not p.name.startswith(".")
    )


def copy_blobs(
    source_root: Path, target: Any, on_progress: MigrateProgress | None = None
) -> tuple[int, int]:
    """Copy stored objects as they are (ciphertext stays ciphertext) into an S3 blob store,
    skipping those already there. Returns (source count, copied)."""
    keys = local_blob_keys(source_root)
    present = set(target.keys())
    copied = 0
    for i, key in enumerate(keys, 1):
        if key not in present:
            target.put_stored(key, (source_root / key[:2] / key[2:4] / key).read_bytes())
            copied += 1
        if on_progress and (i % 200 == 0 or i == len(keys)):
            on_progress("blobs", i, len(keys))
    return len(keys), copied


def copy_vectors(
    catalog: Any, model: str, target: Any, on_progress: MigrateProgress | None = None
) -> int:
    """Every searchable face's vector into ``target`` (ids it lacks only); returns the count."""
    total, _ = catalog.searchable_summary(model)
    present = target.ids()
    done = copied = 0
    for ids, vectors in catalog.iter_embeddings(model, chunk=VECTOR_CHUNK):
        keep = ~np.isin(ids, present, assume_unique=True)
        if keep.any():
            target.add(ids[keep], vectors[keep], catalog.facets(ids[keep]))  # filters pushed down
            copied += int(keep.sum())
        done += len(ids)
        if on_progress:
            on_progress("vectors", done, total)
    return copied


def sample_probes(catalog: Any, model: str, n: int, seed: int = 13) -> np.ndarray:
    """Up to ``n`` stored faces' vectors, chosen at random (seeded), as search probes."""
    ids = catalog.face_ids(model)
    if len(ids) == 0 or n <= 0:
        return np.zeros((0, 0), np.float32)
    chosen = np.random.default_rng(seed).choice(ids, size=min(n, len(ids)), replace=False)
    vectors: np.ndarray = catalog.embeddings(np.sort(chosen))
    return vectors


def same_topk(
    a_ids: np.ndarray, a_scores: np.ndarray, b_ids: np.ndarray, b_scores: np.ndarray
) -> bool:
    """The same faces in the same order; faces with equal scores (to 1e-5) may swap."""
    a = [(round(float(s), 5), int(i)) for i, s in zip(a_ids, a_scores, strict=True) if i >= 0]
    b = [(round(float(s), 5), int(i)) for i, s in zip(b_ids, b_scores, strict=True) if i >= 0]
    if [i for _, i in a] == [i for _, i in b]:
        return True
    key = lambda p: (-p[0], p[1])  # noqa: E731
    return len(a) == len(b) and sorted(a, key=key) == sorted(b, key=key)


def migrate_gallery(
    source: Any,
    target_catalog_url: str,
    target_store: Any,
    target_blobs: Any | None = None,
    *,
    sample: int = 50,
    k: int = 10,
    on_progress: MigrateProgress | None = None,
) -> MigrationReport:
    """Copy the embedded gallery ``source`` (a :class:`~facesearch.search.gallery.Gallery`) to the
    target catalog, vector store and (optionally) blob store, then verify (see module doc)."""

    report = MigrationReport(k=k)
    # creates or upgrades the schema; rows are copied as stored (vectors stay encrypted)
    target = SqlCatalog(target_catalog_url, cipher=source.catalog.cipher)
    try:
        report.rows_copied = copy_catalog(source.catalog.engine, target.engine, on_progress)
        if target_blobs is not None:
            _, report.blobs_copied = copy_blobs(
                source.data_dir / "blobs", target_blobs, on_progress
            )
        model = source.model_key
        report.vectors_copied = copy_vectors(source.catalog, model, target_store, on_progress)

        # --- verification -------------------------------------------------------------------
        for table in _tables():
            a, b = _count(source.catalog.engine, table), _count(target.engine, table)
            report.tables[table.name] = (a, b)
            if a != b:
                report.problems.append(
                    f"table {table.name}: {a} rows in the source, {b} in the target"
                )
        searchable, _ = source.catalog.searchable_summary(model)
        report.vectors = (searchable, target_store.count())
        if report.vectors[0] != report.vectors[1]:
            report.problems.append(
                f"vectors: {report.vectors[0]} searchable faces, "
                f"{report.vectors[1]} in the target store"
            )
        if target_blobs is not None:
            report.blobs = (
                len(local_blob_keys(source.data_dir / "blobs")),
                len(target_blobs.keys()),
            )
            if report.blobs[1] < report.blobs[0]:
                report.problems.append(
                    f"blobs: {report.blobs[0]} in the source, {report.blobs[1]} in the target"
                )
        probes = sample_probes(source.catalog, model, sample)
        report.probes = len(probes)
        if len(probes):
            want = source.index.search(probes, k)
            got = target_store.search(probes, k)
            for row in range(len(probes)):
                if same_topk(want.ids[row], want.scores[row], got.ids[row], got.scores[row]):
                    report.topk_equal += 1
            if report.topk_equal != report.probes:
                report.problems.append(
                    f"top-{k}: {report.probes - report.topk_equal} of {report.probes} sampled "
                    "probes differ between the source index and the target store"
                )
            if on_progress:
                on_progress("verify", report.probes, report.probes)
    finally:
        target.close()
    return report
