"""Moving a gallery to another recognizer: the migration pass against ingest, in one run.

Issue 25's targets: the migration pass (``facesearch models migrate NEW``) re-embeds at least
0.9x the faces per second the ingest of the same gallery managed, and search p50 during the
migration is at most 1.5x the idle p50.

The gallery: --faces real photos, one face each (CFP frontal photos; past the 5,000 there are,
copies of them with one pixel changed and saved again as PNG, so each is a new image with its own
original: ingest stores every one, and the pass re-embeds every one from its original). The
target: the test suite's second ONNX recognizer (dlib's ResNet re-exported with an NHWC input,
``tests/support/agency_model.py``), added to the gallery's model store with its card.

In one run, on one data directory:

1. ingest the photos (``Library.ingest``, --workers processes; the second-vector pass after it
   is not timed): faces/s = faces indexed / the ingest's own seconds;
2. search p50 idle: one thread searching (``Gallery.search``, k = 20, 20 probe photos in turn),
   a search every --every seconds, for --idle seconds;
3. the migration pass (``ModelMigrations.start_or_resume``, --workers processes):
   faces/s = vectors made / the pass's seconds, and search p50 during it.

The same search load runs during the ingest and during the pass, so both rates are measured
under it.

    python benchmarks/model_migration.py                    # 2,000 faces (small)
    python benchmarks/model_migration.py --faces 100000     # the real run (~1 GB of photos)

Prints the figures, the CPU and the settings; --json prints them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("FACESEARCH_SHARED_FACES", REPO.parent / "shared" / "faces"))
CFP = SHARED / "cfp" / "Data" / "Images"
DEEPFACE = SHARED / "deepface_tests"
PASSWORD = "correct horse battery staple"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} x {os.cpu_count()}"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} x {os.cpu_count()}"


def photos(n: int, folder: Path) -> tuple[list[Path], list[bytes]]:
    """``n`` one-face photos (CFP frontal; variants beyond those) and 20 probe photos (the
    last identities' frontal photos)."""
    import cv2

    frontal = sorted(CFP.glob("*/frontal/*.jpg"), key=lambda p: (int(p.parts[-3]), p.name))
    if not frontal:
        raise SystemExit(f"CFP not found under {CFP} (set FACESEARCH_SHARED_FACES)")
    out = frontal[:n]
    folder.mkdir(parents=True, exist_ok=True)
    copy = 0
    while len(out) < n:  # a variant: one pixel changed, saved as PNG (a new image)
        src = frontal[copy % len(frontal)]
        pixels = cv2.imread(str(src))
        pixels[0, 0, 0] = (int(pixels[0, 0, 0]) + 1 + copy // len(frontal)) % 256
        path = folder / f"variant_{copy:06d}.png"
        cv2.imwrite(str(path), pixels, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        out.append(path)
        copy += 1
    probes = [p.read_bytes() for p in frontal[-20:]]  # the last identities' (most galleries: new)
    return out, probes


def search_loop(
    gallery: Any, probes: list[bytes], stop: threading.Event, out: list[float], every: float
) -> None:
    """One investigator: a search every ``every`` seconds (back to back when a search takes
    longer), each latency in ms."""
    i = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        gallery.search(probes[i % len(probes)], 20)
        out.append((time.perf_counter() - t0) * 1000)
        i += 1
        stop.wait(max(0.0, every - (time.perf_counter() - t0)))


class Searching:
    """``search_loop`` in a thread for the time of a ``with`` block."""

    def __init__(self, gallery: Any, probes: list[bytes], every: float) -> None:
        self.ms: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=search_loop, args=(gallery, probes, self.stop, self.ms, every)
        )

    def __enter__(self) -> Searching:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def p50(ms: list[float]) -> float:
    return round(statistics.median(ms), 1) if ms else float("nan")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.support.agency_model import make_agency_model

    from facesearch.app.service import Service
    from facesearch.models.card import parse_card, read_card
    from facesearch.models.manifest import load_manifest
    from facesearch.models.store import ModelStore
    from facesearch.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="fs-migration-bench-", dir=args.tmp))
    try:
        data = work / "data"
        files, probes = photos(args.faces, work / "variants")
        onnx_path, card_path = make_agency_model(work / "model")
        card = parse_card(read_card(card_path), load_manifest())
        ModelStore.of(data).add(onnx_path, card)
        nice = {} if args.nice is None else {"ingest_nice": args.nice}
        with Service.for_cli(Settings(data_dir=data, **nice)) as ws:
            ws.library.initialise("admin", PASSWORD)
            admin = ws.accounts.principal("admin", "cli")
            gallery = ws.gallery
            for probe in probes[:3]:  # warm: models loaded
                gallery.search(probe, 20)
            log(f"ingest of {len(files)} photos, {args.workers} workers, searches going on ...")
            with Searching(gallery, probes, args.every) as during_ingest:
                ingest = ws.library.ingest(admin, files, workers=args.workers, second_pass=False)
            stored = int(gallery.stats()["faces"])  # searchable or not: the pass does all
            ingest_fps = stored / ingest.seconds
            log(f"  {stored} faces in {ingest.seconds:.1f} s: {ingest_fps:.1f}/s")
            for probe in probes[:3]:  # the index in memory holds every face
                gallery.search(probe, 20)
            with Searching(gallery, probes, args.every) as searching:
                time.sleep(args.idle)
            idle = searching.ms
            log(f"  idle searches: {len(idle)}, p50 {p50(idle)} ms")
            with Searching(gallery, probes, args.every) as searching:
                status = ws.migrations.start_or_resume(admin, card.name, workers=args.workers)
            during = searching.ms
            report = ws.migrations.last_report
            assert report is not None
            log(f"  migration: {report.made} faces in {report.seconds:.1f} s ({status.state})")
            return {
                "cpu": cpu(),
                "workers": args.workers,
                "nice": ws.settings.ingest_nice,
                "faces": stored,
                "faces_indexed": ingest.faces_indexed,
                # where ingest made dlib's second vectors (in its workers: counted in its rate)
                "second_vectors": gallery.second_vectors_plan(ws.settings.second_vectors).at,
                "ingest_seconds": round(ingest.seconds, 1),
                "ingest_faces_per_s": round(ingest_fps, 1),
                "migration_state": status.state,
                "migration_made": report.made,
                "migration_from_crop": report.from_crop,
                "migration_failed": len(report.failed),
                "migration_seconds": round(report.seconds, 1),
                "migration_faces_per_s": round(report.faces_per_second, 1),
                "migration_vs_ingest": round(report.faces_per_second / ingest_fps, 2),
                "search_every_s": args.every,
                "search_during_ingest_p50_ms": p50(during_ingest.ms),
                "search_idle_n": len(idle),
                "search_idle_p50_ms": p50(idle),
                "search_during_n": len(during),
                "search_during_p50_ms": p50(during),
                "search_during_p95_ms": round(float(np.percentile(during, 95)), 1)
                if during
                else float("nan"),
                "search_during_vs_idle": round(p50(during) / p50(idle), 2),
            }
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=2000, help="photos (one face each)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle searches")
    parser.add_argument(
        "--every", type=float, default=1.0, help="seconds between searches (in all three phases)"
    )
    parser.add_argument(
        "--nice", type=int, default=None, help="workers' nice (ingest and pass; default: setting)"
    )
    parser.add_argument("--tmp", default=None, help="where the data directory goes")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = run(args)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    width = max(len(k) for k in out)
    for key, value in out.items():
        print(f"{key:>{width}}  {value}")
    print(
        f"targets: migration >= 0.9x ingest ({out['migration_vs_ingest']}x), "
        f"search p50 during <= 1.5x idle ({out['search_during_vs_idle']}x)"
    )


if __name__ == "__main__":
    main()
