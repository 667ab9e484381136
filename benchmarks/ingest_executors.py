"""Ingest on Ray actors against the local process pool, same photos, same run (by hand).

Each configuration ingests the same CFP frontal photos into a fresh embedded gallery (SQLite,
FAISS, files; the SFace pass only, as ``facesearch ingest`` does before the second-vector
pass) and prints photos/s and faces/s. The configurations take turns (``--rounds``), so the
machine's load falls on all of them alike. The Ray cluster is local (``ray.init`` with
``--cpus``), started once before timing; its actors are started inside each timed run, as the
pool's processes are (both load the models there).

    python benchmarks/ingest_executors.py --photos 300
    python benchmarks/ingest_executors.py --photos 300 --workers 1 --workers 2 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from facesearch.search.backends import Backends  # noqa: E402
from facesearch.search.gallery import Gallery  # noqa: E402


def photos(cfp_root: Path, n: int) -> list[Path]:
    found = sorted((cfp_root / "Data" / "Images").glob("*/frontal/*.jpg"))
    if not found:
        raise SystemExit(f"no CFP frontal photos under {cfp_root}")
    step = max(1, len(found) // n)
    return found[::step][:n]


def one(paths: list[Path], executor: str, workers: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="fs-ingest-bench-"))
    try:
        with Gallery.open(root, backends=Backends.parse(executor=executor)) as g:
            t0 = time.perf_counter()
            report = g.ingest(paths, workers=workers)
            seconds = time.perf_counter() - t0
            blobs = sum(f.stat().st_size for f in (root / "blobs").rglob("*") if f.is_file())
        # the SQLite catalog with its write-ahead log (checkpointed when the gallery closes)
        catalog = sum(f.stat().st_size for f in root.glob("catalog.db*"))
        return {
            "executor": executor,
            "workers": workers,
            "seconds": round(seconds, 2),
            "photos": report.images_new,
            "faces": report.faces_indexed,
            "photos_per_s": round(report.images_new / seconds, 2),
            "faces_per_s": round(report.faces_indexed / seconds, 2),
            "failures": len(report.failures),
            # crops, thumbnails and the second recognizer's chips (deleted by the second pass)
            "blob_bytes_per_face": round(blobs / max(1, report.faces_indexed)),
            "catalog_bytes_per_face": round(catalog / max(1, report.faces_indexed)),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=300)
    ap.add_argument("--workers", type=int, action="append", help="worker counts (repeatable)")
    ap.add_argument("--rounds", type=int, default=1, help="turns of every configuration")
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2, help="local Ray CPUs")
    ap.add_argument("--cfp-root", default=str(REPO.parent / "shared/faces/cfp"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import ray

    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    paths = photos(Path(args.cfp_root), args.photos)
    counts = args.workers or [1, 2]
    rows: list[dict[str, Any]] = []
    for rnd in range(args.rounds):
        for workers in counts:
            for executor in ("local", "ray://local"):
                row = one(paths, executor, workers)
                row["round"] = rnd
                rows.append(row)
                print(json.dumps(row) if args.json else _line(row), flush=True)
    ray.shutdown()
    if not args.json:
        print(f"\n{len(paths)} CFP frontal photos; 1-minute load {os.getloadavg()[0]:.1f}")
        for workers in counts:
            by = {
                ex: sum(
                    r["photos_per_s"]
                    for r in rows
                    if (r["executor"], r["workers"]) == (ex, workers)
                )
                / args.rounds
                for ex in ("local", "ray://local")
            }
            print(
                f"  {workers} worker(s): process pool {by['local']:.1f} photos/s, Ray "
                f"{by['ray://local']:.1f} photos/s ({100 * by['ray://local'] / by['local']:.0f}%)"
            )


def _line(r: dict[str, Any]) -> str:
    return (
        f"round {r['round']} {r['executor']:>12} x{r['workers']}: {r['photos']} photos, "
        f"{r['faces']} faces in {r['seconds']:.1f} s = {r['photos_per_s']:.1f} photos/s "
        f"({r['failures']} failures; blobs {r['blob_bytes_per_face']} B/face, catalog "
        f"{r['catalog_bytes_per_face']} B/face)"
    )


if __name__ == "__main__":
    main()
