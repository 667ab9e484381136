"""Backup and restore round trip: time, size, and the restored installation's answers.

Builds a gallery of --n synthetic faces (crops and thumbnails as blobs) plus the deepface test
photos of ../shared/faces through the real pipeline, optionally encrypted (--key), with two
administrators and an approved case. Then, in one run: ``Backups.backup`` while a thread
searches the gallery without pause (searches completed during the backup, errors), ``restore``
into a new folder (checks every file against the manifest, verifies the audit chain), and the
restored installation's figures and top-5 answers for every probe against the source's.

    python benchmarks/backup_roundtrip.py [--n 2000] [--key] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_e2e import synthetic_faces

from facesearch.app.backup import Backups, restore
from facesearch.app.service import SearchRequest, Service
from facesearch.settings import Settings
from facesearch.store.crypto import generate_key

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACESEARCH_SHARED_FACES", REPO.parent / "shared" / "faces"))
PHOTOS = SHARED / "deepface_tests"
PASSWORD = "benchmark password only"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def folder_size(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def answers(service: Service, probes: list[bytes]) -> list[list[tuple[int, float]]]:
    out = []
    for p in probes:
        result = service.searches.engine_search(p, 5, SearchRequest())
        out.append([(c.face_id, round(float(c.score), 4)) for c in result.candidates])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="Synthetic faces.")
    parser.add_argument("--key", action="store_true", help="Encrypted at rest.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    photos = sorted(PHOTOS.glob("img*.jpg"))
    if len(photos) < 8:
        sys.exit(f"needs the deepface test photos in {PHOTOS}")
    probes = [p.read_bytes() for p in photos[:4]]
    tmp = Path(tempfile.mkdtemp(prefix="fs-backup-bench-"))
    key = generate_key() if args.key else None
    settings = Settings(data_dir=tmp / "data", encryption_key=key)
    out: dict[str, Any] = {"n": args.n, "encrypted": bool(key)}
    try:
        log(f"building {args.n:,} synthetic faces + {len(photos) - 4} photos in {tmp / 'data'}")
        with Service(settings) as service:
            synthetic_faces(service.gallery, args.n)
            service.gallery.reindex()
            service.library.initialise([("admin", PASSWORD), ("admin2", PASSWORD)])
            admin = service.accounts.principal("admin", "cli")
            service.library.ingest(admin, photos[4:], workers=2)
            before_stats = service.library.stats(admin)
            before = answers(service, probes)

            stop, done, errors = threading.Event(), [0], []

            def searching() -> None:
                while not stop.is_set():
                    try:
                        service.searches.engine_search(probes[done[0] % 4], 5, SearchRequest())
                        done[0] += 1
                    except Exception as exc:  # counted, the benchmark goes on
                        errors.append(repr(exc))

            t = threading.Thread(target=searching)
            t.start()
            t0 = time.perf_counter()
            report = Backups(service.ctx).backup(admin, tmp / "backup")
            backup_s = time.perf_counter() - t0
            stop.set()
            t.join()
        files, size = folder_size(tmp / "backup")
        out["backup"] = {
            "seconds": round(backup_s, 2),
            "files": files,
            "mb": round(size / 2**20, 1),
            "searches_during": done[0],
            "search_errors": len(errors),
            "manifest_sha256": report.manifest_sha256,
        }
        log(f"  backup: {out['backup']}")
        t0 = time.perf_counter()
        restored = restore(
            tmp / "backup",
            tmp / "restored",
            settings=settings,
            expected_sha256=report.manifest_sha256,
        )
        out["restore"] = {"seconds": round(time.perf_counter() - t0, 2)}
        log(f"  restore: {out['restore']} {restored.to_dict()}")
        again = Settings(data_dir=tmp / "restored", encryption_key=key)
        with Service(again) as service:
            admin = service.accounts.principal("admin", "cli")
            after_stats = service.library.stats(admin)
            after = answers(service, probes)
        keys = ("images", "faces", "searchable_faces", "index_size")
        out["checks"] = {
            "same_figures": all(before_stats.get(k) == after_stats.get(k) for k in keys),
            "same_top5": before == after,
            "audit_chain_verified": True,  # restore raises when it does not verify
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(out))
        return
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "?",
    )
    b, r = out["backup"], out["restore"]
    print(f"{cpu}, {os.cpu_count()} cores; {args.n:,} synthetic faces + photos; key: {bool(key)}")
    print(
        f"backup {b['seconds']} s ({b['files']} files, {b['mb']} MB; {b['searches_during']} "
        f"searches during it, {b['search_errors']} errors); restore {r['seconds']} s; "
        f"checks {out['checks']}"
    )


if __name__ == "__main__":
    main()
