"""Ingest benchmark: the CFP photos (7,000 at about 250x250) into a fresh gallery.

Prints photos/s, faces/s, the time split by stage (decode, detect, align, embed, chip, second,
encode, store), the share of everything but model inference, and peak memory; then the
second-vector pass (the second recognizer on every face's queued chip, if any) and its
faces/s. Also measures the raw models alone (decode, detect, align, embed on one core, nothing
stored) on a sample, side by side.

This code is run once per ``--modes`` entry (``--second-vectors`` of ``facesearch ingest``):
``ingest`` (both vectors made in the workers, the default with a fast second runtime) and
``pass`` (SFace and chips at ingest, then the pass). ``--baseline SRC`` also ingests with
another checkout's code (e.g. ``git worktree add --detach /tmp/fs-base e951adb``:
``--baseline /tmp/fs-base/src``), with its own defaults. Every run is in its own process;
with ``--repeat N`` the runs alternate (baseline, then each mode, N times), so that old and new
are compared on the same machine at the same moment; medians are printed, with each run's own
figures and the load average (1 min) before and after each run, since the machine is shared.
``--baseline-second-pass-limit`` stops the baseline's pass after that many faces (its dlib pass
is slow); its faces/s is measured on those, and the time until every face has both vectors is
then extrapolated (stated as such).

    python benchmarks/ingest_cfp.py [--data ../shared/faces/cfp] [--workers 2] [--repeat 1]
        [--modes ingest,pass] [--baseline /tmp/fs-base/src] [--baseline-second-pass-limit N]
        [--second-pass-limit N] [--limit N] [--baseline-last]
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
    from facesearch.engine.decode import decode_file
    from facesearch.engine.pipeline import FacePipeline, PipelineSettings
    from facesearch.models.inference import InferenceSettings
    from facesearch.models.runtime import set_threads
    from facesearch.settings import Settings

    set_threads(1)
    inference = InferenceSettings.from_settings(Settings.load())
    pipe = FacePipeline.load(PipelineSettings(second_model=False, inference=inference))
    for f in files[:20]:  # warm-up
        pipe.process_image(decode_file(f))
    start = time.perf_counter()
    for f in files:
        pipe.process_image(decode_file(f))
    return len(files) / (time.perf_counter() - start)


def ingest_once(
    folder: Path, workers: int, second_pass_limit: int = 0, mode: str = "", limit: int = 0
) -> dict[str, float]:
    """One fresh ingest of ``folder`` (its first ``limit`` photos if set) with the code on
    ``sys.path`` (old or new; ``mode``: its ``second_vectors``, empty for the code's own
    default), then, where that code has it, the second-vector pass (on at most
    ``second_pass_limit`` faces if set: the rest are left queued)."""
    from facesearch.search.gallery import Gallery

    tmp = Path(tempfile.mkdtemp(prefix="fs-bench-"))
    try:
        if limit:  # a subset: copies of the first photos, in a folder of its own
            subset = tmp / "photos"
            for i, f in enumerate(sorted(folder.rglob("*.jpg"))[:limit]):
                (subset / f"{i // 1000:02d}").mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, subset / f"{i // 1000:02d}" / f"{i:05d}.jpg")
            folder = subset
        gallery = Gallery.open(tmp / "data")
        kwargs = {"second_vectors": mode} if mode else {}
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        report = gallery.ingest([folder], workers=workers, **kwargs)
        wall = time.perf_counter() - start
        second: dict[str, float] = {}
        if hasattr(gallery, "second_pass"):
            second = second_pass(gallery, workers, second_pass_limit)
        gallery.close()
        stages = report.stage_seconds
        # model inference: the detector, SFace and (made at ingest) the second recognizer
        inference = sum(stages.get(k, 0.0) for k in ("detect", "embed", "second"))
        busy = wall * max(1, workers)
        counts = report.counts()
        return {
            **second,
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
            "second_at_ingest": counts.get("second_vectors_at_ingest", 0),
            # the old code queued every face (its report does not count them)
            "second_queued": counts.get(
                "second_vectors_queued",
                second.get("second_pass_faces", 0) + second.get("second_pass_left", 0),
            ),
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
    src: Path, folder: Path, workers: int, second_pass_limit: int, mode: str = "", limit: int = 0
) -> dict[str, float]:
    """:func:`ingest_once` in a fresh interpreter whose ``facesearch`` comes from ``src``."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import ingest_cfp as b; "
        "print(json.dumps(b.ingest_once(__import__('pathlib').Path(sys.argv[2]), "
        "int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]))))"
    )
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), str(folder), str(workers),
         str(second_pass_limit), mode, str(limit)],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def all_vectors_s(r: dict[str, float]) -> float:
    """Seconds until every face has both vectors: ingest, then the pass on what it queued
    (the rest extrapolated at the pass's measured faces/s when it was stopped early)."""
    total = r["wall_s"] + r.get("second_pass_wall_s", 0.0)
    left = r.get("second_pass_left", 0.0)
    if left:
        rate = r.get("second_pass_faces_per_s", 0.0)
        total += left / rate if rate else float("inf")
    return total


def print_run(name: str, r: dict[str, float], each: list[dict[str, float]] | None = None) -> None:
    print(
        f"  {name}: {r['photos_per_s']:6.1f} photos/s, {r['faces_per_s']:6.1f} faces/s, "
        f"{r['wall_s']:.1f} s wall, {int(r['failures'])} failures"
    )
    if "second_at_ingest" in r:
        print(
            f"    second vectors: {int(r['second_at_ingest'])} made at ingest, "
            f"{int(r['second_queued'])} queued for the pass"
        )
    for i, one in enumerate(each or []):
        print(
            f"    run {i + 1}: {one['photos_per_s']:6.1f} photos/s, "
            f"load average {one.get('load_before', 0.0):.2f} -> {one.get('load_after', 0.0):.2f}"
        )
    print("    stage seconds (summed over workers): " + ", ".join(
        f"{stage} {r.get(stage + '_s', 0.0):.1f}"
        for stage in ("decode", "detect", "align", "embed", "chip", "second", "encode", "store")
        if stage + "_s" in r
    ))  # fmt: skip
    print(
        f"    model inference share of worker time: {r['inference_share']:.1%}; "
        f"everything else: {r['non_inference_share']:.1%}"
    )
    if r.get("second_pass_faces"):
        print(
            f"    second-vector pass: {int(r['second_pass_faces'])} faces in "
            f"{r['second_pass_wall_s']:.1f} s, {r['second_pass_faces_per_s']:.1f} faces/s "
            f"({int(r['second_pass_left'])} left queued)"
        )
    if "second_queued" in r:
        extrapolated = r.get("second_pass_left", 0) > 0
        print(
            f"    every face with both vectors after {all_vectors_s(r):.1f} s"
            + (" (the rest of the pass extrapolated)" if extrapolated else "")
        )


def run_baseline(args: argparse.Namespace, images: Path) -> dict[str, float]:
    return ingest_in_subprocess(
        args.baseline, images, args.workers, args.baseline_second_pass_limit, "", args.limit
    )


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "faces" / "cfp")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--raw-sample", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--baseline", type=Path, help="src folder of the code to compare with.")
    parser.add_argument("--modes", default="ingest", help="this code's --second-vectors runs.")
    parser.add_argument("--second-pass-limit", type=int, default=0)
    parser.add_argument("--baseline-second-pass-limit", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="ingest only the first N photos.")
    parser.add_argument(
        "--baseline-last", action="store_true", help="in each repeat, run the baseline last."
    )
    args = parser.parse_args()
    images = args.data / "Data" / "Images"
    if not images.is_dir():
        sys.exit(f"CFP images not found at {images}")
    files = sorted(images.rglob("*.jpg"))
    photos = min(len(files), args.limit) if args.limit else len(files)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    step = max(1, len(files) // args.raw_sample)
    load_start = os.getloadavg()
    raw = raw_models(files[::step][: args.raw_sample])
    src = REPO / "src"
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    baseline: list[dict[str, float]] = []
    for _ in range(args.repeat):  # old and new alternating, each in its own process
        if args.baseline and not args.baseline_last:
            baseline.append(run_baseline(args, images))
        for mode in modes:
            runs[mode].append(
                ingest_in_subprocess(
                    src, images, args.workers, args.second_pass_limit, mode, args.limit
                )
            )
        if args.baseline and args.baseline_last:
            baseline.append(run_baseline(args, images))
    medians = {m: median_of(r) for m, r in runs.items()}
    old = median_of(baseline) if baseline else {}
    load_end = os.getloadavg()
    peak_main = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = {
        "photos_total": photos,
        "workers": args.workers,
        "repeats": args.repeat,
        "load_average_start": load_start,
        "load_average_end": load_end,
        "raw_models_photos_per_s_one_core": raw,
        "modes": medians,
        "baseline": old or None,
        "peak_rss_children_mb": peak_worker,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"CFP ingest, {photos} photos, {args.workers} workers, median of {args.repeat}")
    print(
        "  load average (1, 5, 15 min) at start "
        + " ".join(f"{x:.2f}" for x in load_start)
        + ", at end "
        + " ".join(f"{x:.2f}" for x in load_end)
    )
    print(f"  raw models alone (1 core, SFace only, nothing stored): {raw:6.1f} photos/s")
    if old:
        print_run(f"baseline ({args.baseline}, its defaults)", old, baseline)
    for mode, median in medians.items():
        print_run(f"this code, --second-vectors {mode}", median, runs[mode])
        if old:
            print(
                f"    vs baseline: ingest {median['photos_per_s'] / old['photos_per_s']:.2f}x "
                f"photos/s; every face with both vectors "
                f"{all_vectors_s(old) / all_vectors_s(median):.2f}x sooner"
            )
    print(f"  peak RSS: main {peak_main:.0f} MB, largest child process {peak_worker:.0f} MB")


if __name__ == "__main__":
    main()
