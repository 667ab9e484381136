"""The catalog's bytes per face on PostgreSQL, measured table by table (run by hand).

Ingests CFP frontal photos (the default ingest: both vectors made in the workers) into a
gallery whose catalog is PostgreSQL, in a fresh schema of the given database (created here and
dropped at the end), in ``--steps`` equal parts. After each part it runs ``VACUUM ANALYZE``
and reads ``pg_total_relation_size`` (heap + indexes + TOAST) of every table in the schema.
Bytes per face are the slope between the first and the last measurement, so the fixed cost of
empty tables and index root pages does not count; the total divided by the faces is printed
too. The governance tables live in the same database but grow with searches and cases, not
faces.

    python benchmarks/catalog_size.py --photos 2000 --steps 2 \
        --database postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from ingest_executors import photos  # noqa: E402  (the same CFP frontal sample)

from facesearch.search.gallery import Gallery  # noqa: E402

SIZES = """
SELECT c.relname, pg_total_relation_size(c.oid),
       pg_relation_size(c.oid), pg_indexes_size(c.oid),
       COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relkind = 'r'
ORDER BY 2 DESC
"""


def measure(engine: Any, schema: str) -> dict[str, dict[str, int]]:
    import sqlalchemy as sa

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        rows = conn.execute(sa.text(SIZES), {"schema": schema}).all()
        out = {}
        for name, *_ in rows:
            conn.execute(sa.text(f'VACUUM ANALYZE "{schema}"."{name}"'))
            count = conn.execute(sa.text(f'SELECT count(*) FROM "{schema}"."{name}"')).scalar()
            out[name] = {"rows": int(count or 0)}
        # sizes after VACUUM (the free-space and visibility maps are then counted too)
        for name, total, heap, index, toast in conn.execute(sa.text(SIZES), {"schema": schema}):
            out[name].update(total=int(total), heap=int(heap), index=int(index), toast=int(toast))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=2, help="measure after each of this many parts")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--database",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="a PostgreSQL database; a fresh schema is made in it and dropped afterwards",
    )
    ap.add_argument("--cfp-root", default=str(REPO.parent / "shared/faces/cfp"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import sqlalchemy as sa

    paths = photos(Path(args.cfp_root), args.photos)
    schema = f"size_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(args.database)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in args.database else "?"
    url = f"{args.database}{sep}options=-csearch_path%3D{schema}"
    root = Path(tempfile.mkdtemp(prefix="fs-catalog-size-"))
    points: list[dict[str, Any]] = []
    try:
        with Gallery.open(root, database_url=url) as g:
            parts = [paths[i :: args.steps] for i in range(args.steps)]
            faces = 0
            for part in parts:
                t0 = time.perf_counter()
                report = g.ingest(part, workers=args.workers)
                faces += report.faces_indexed
                tables = measure(engine, schema)
                points.append(
                    {
                        "photos": sum(p["photos_step"] for p in points) + report.images_new,
                        "photos_step": report.images_new,
                        "faces": faces,
                        "faces_rows": tables.get("faces", {}).get("rows", 0),
                        "seconds": round(time.perf_counter() - t0, 1),
                        "tables": tables,
                        "total": sum(t["total"] for t in tables.values()),
                    }
                )
                print(
                    f"{faces} faces ({points[-1]['photos']} photos): catalog "
                    f"{points[-1]['total'] / 2**20:.2f} MB in {len(tables)} tables",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
        shutil.rmtree(root, ignore_errors=True)
    first, last = points[0], points[-1]
    dfaces = max(1, last["faces"] - first["faces"])
    per_table = {
        name: {
            "bytes_per_face": round(
                (t["total"] - first["tables"].get(name, {}).get("total", 0)) / dfaces, 1
            ),
            "heap_per_face": round(
                (t["heap"] - first["tables"].get(name, {}).get("heap", 0)) / dfaces, 1
            ),
            "index_per_face": round(
                (t["index"] - first["tables"].get(name, {}).get("index", 0)) / dfaces, 1
            ),
            "rows": t["rows"],
            "total": t["total"],
        }
        for name, t in last["tables"].items()
    }
    result = {
        "database": engine.url.render_as_string(hide_password=True),
        "photos": last["photos"],
        "faces": last["faces"],
        "bytes_per_face_slope": round((last["total"] - first["total"]) / dfaces, 1),
        "bytes_per_face_total": round(last["total"] / max(1, last["faces"]), 1),
        "tables": per_table,
        "points": [{k: v for k, v in p.items() if k != "tables"} for p in points],
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"PostgreSQL catalog: {result['faces']} faces from {result['photos']} CFP photos; "
        f"{result['bytes_per_face_slope']:.0f} B/face (slope between {first['faces']} and "
        f"{last['faces']} faces), {result['bytes_per_face_total']:.0f} B/face overall "
        f"(total {last['total'] / 2**20:.2f} MB); 1-minute load {result['loadavg_1m']}"
    )
    for name, t in sorted(per_table.items(), key=lambda kv: -kv[1]["total"]):
        if t["rows"] == 0 or t["bytes_per_face"] == 0:
            continue
        print(
            f"  {name:<28} {t['rows']:>7} rows {t['total'] / 2**10:>9.0f} KB; per face "
            f"{t['bytes_per_face']:>7.1f} B (heap+TOAST "
            f"{t['bytes_per_face'] - t['index_per_face']:.1f}, indexes {t['index_per_face']:.1f})"
        )


if __name__ == "__main__":
    main()
