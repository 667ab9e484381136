"""Ingest benchmark: the CFP photos (7,000 at about 250x250) into a fresh gallery.

Prints photos/s, faces/s, the time split by stage (decode, detect, align, embed, chip, encode,
store), the share of everything but model inference, and peak memory; then the second-vector
pass (dlib on every face's queued chip) and its faces/s. Also measures the raw models alone
(decode, detect, align, embed on one core, nothing stored) on a sample, side by side.

``--baseline SRC`` also ingests with another checkout's code (e.g. main, from
``git worktree add --detach /tmp/fs-main main``: ``--baseline /tmp/fs-main/src``), each run in
its own process, old and new back to back in the same run, so that the SFace pass of both is
compared on the same machine at the same moment.

    python benchmarks/ingest_cfp.py [--data ../shared/faces/cfp] [--workers 2] [--repeat 1]
        [--baseline /tmp/fs-main/src] [--second-pass-limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def raw_models(files: list[Path]) -> float:
    """Photos per second for decode+detect+align+embed on one core, nothing stored."""
    from facesearch.decode import decode_file
    from facesearch.models.runtime import set_threads
    from facesearch.pipeline import FacePipeline, PipelineSettings

    set_threads(1)
    pipe = FacePipeline.load(PipelineSettings(second_model=False))  # what ingest runs
    for f in files[:20]:  # warm-up
        pipe.process_image(decode_file(f))
    start = time.perf_counter()
    for f in files:
        pipe.process_image(decode_file(f))
    return len(files) / (time.perf_counter() - start)


def ingest_once(folder: Path, workers: int, second_pass_limit: int = 0) -> dict[str, float]:
    """One fresh ingest of ``folder`` with the code on ``sys.path`` (old or new), then, where
    that code has it, the second-vector pass (on at most ``second_pass_limit`` faces if set:
    the rest are left queued)."""
    from facesearch.gallery import Gallery

    tmp = Path(tempfile.mkdtemp(prefix="fs-bench-"))
    try:
        gallery = Gallery.open(tmp / "data")
        start = time.perf_counter()
        report = gallery.ingest([folder], workers=workers)
        wall = time.perf_counter() - start
        second: dict[str, float] = {}
        if hasattr(gallery, "second_pass"):
            second = second_pass(gallery, workers, second_pass_limit)
        gallery.close()
        stages = report.stage_seconds
        inference = stages.get("detect", 0.0) + stages.get("embed", 0.0)
        busy = wall * max(1, workers)
        return {
            **second,
            "photos": report.images_new,
            "faces": report.faces_indexed + report.faces_flagged_total,
            "failures": len(report.failures),
            "wall_s": wall,
            "photos_per_s": report.images_new / wall,
            "faces_per_s": (report.faces_indexed + report.faces_flagged_total) / wall,
            **{f"{k}_s": v for k, v in stages.items()},
            "inference_share": inference / busy,
            "non_inference_share": 1 - inference / busy,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def second_pass(gallery, workers: int, limit: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Time the second-vector pass; with ``limit``, stop it (as Ctrl-C would) after that many."""

    def stop_at_limit(progress):  # type: ignore[no-untyped-def]
        if limit and progress.done >= limit:
            raise KeyboardInterrupt

    start = time.perf_counter()
    report = gallery.second_pass(workers=workers, on_progress=stop_at_limit)
    wall = time.perf_counter() - start
    return {
        "second_pass_faces": report.described,
        "second_pass_left": report.remaining,
        "second_pass_wall_s": wall,
        "second_pass_faces_per_s": report.described / wall if wall else 0.0,
        "second_pass_worker_s": report.worker_seconds,
    }


def ingest_in_subprocess(
    src: Path, folder: Path, workers: int, second_pass_limit: int
) -> dict[str, float]:
    """:func:`ingest_once` in a fresh interpreter whose ``facesearch`` comes from ``src``."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import ingest_cfp as b; "
        "print(json.dumps(b.ingest_once(__import__('pathlib').Path(sys.argv[2]), "
        "int(sys.argv[3]), int(sys.argv[4]))))"
    )
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), str(folder), str(workers),
         str(second_pass_limit)],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_run(name: str, r: dict[str, float]) -> None:
    print(
        f"  {name}: {r['photos_per_s']:6.1f} photos/s, {r['faces_per_s']:6.1f} faces/s, "
        f"{r['wall_s']:.1f} s wall, {int(r['failures'])} failures"
    )
    print("    stage seconds (summed over workers): " + ", ".join(
        f"{stage} {r.get(stage + '_s', 0.0):.1f}"
        for stage in ("decode", "detect", "align", "embed", "chip", "encode", "store")
        if stage + "_s" in r
    ))  # fmt: skip
    print(
        f"    model inference share of worker time: {r['inference_share']:.1%}; "
        f"everything else: {r['non_inference_share']:.1%}"
    )
    if "second_pass_faces" in r:
        print(
            f"    second-vector pass: {int(r['second_pass_faces'])} faces in "
            f"{r['second_pass_wall_s']:.1f} s, {r['second_pass_faces_per_s']:.1f} faces/s "
            f"({int(r['second_pass_left'])} left queued)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "faces" / "cfp")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--raw-sample", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--baseline", type=Path, help="src folder of the code to compare with.")
    parser.add_argument("--second-pass-limit", type=int, default=0)
    args = parser.parse_args()
    images = args.data / "Data" / "Images"
    if not images.is_dir():
        sys.exit(f"CFP images not found at {images}")
    files = sorted(images.rglob("*.jpg"))
    step = max(1, len(files) // args.raw_sample)
    raw = raw_models(files[::step][: args.raw_sample])
    src = REPO / "src"
    runs, baseline = [], []
    for _ in range(args.repeat):  # old and new back to back, each in its own process
        if args.baseline:
            baseline.append(ingest_in_subprocess(args.baseline, images, args.workers, 0))
        runs.append(ingest_in_subprocess(src, images, args.workers, args.second_pass_limit))
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    old = {k: statistics.median(r[k] for r in baseline) for k in baseline[0]} if baseline else {}
    peak_main = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = {
        "photos_total": len(files),
        "workers": args.workers,
        "repeats": args.repeat,
        "raw_models_photos_per_s_one_core": raw,
        **median,
        "baseline": old or None,
        "peak_rss_children_mb": peak_worker,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"CFP ingest, {len(files)} photos, {args.workers} workers, median of {args.repeat}")
    print(f"  raw models alone (1 core, nothing stored): {raw:6.1f} photos/s")
    if old:
        print_run(f"baseline ({args.baseline})", old)
    print_run("this code", median)
    print(f"  peak RSS: main {peak_main:.0f} MB, largest child process {peak_worker:.0f} MB")


if __name__ == "__main__":
    main()
