"""Ingest benchmark: the CFP photos (7,000 at about 250x250) into a fresh gallery.

Prints photos/s, faces/s, the time split by stage (decode, detect, align, embed, encode,
store), the share of everything but model inference, and peak memory. Also measures the raw
models alone (decode, detect, align, embed on one core, nothing stored) on a sample, side by
side in the same run.

    python benchmarks/ingest_cfp.py [--data ../shared/faces/cfp] [--workers 2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
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


def ingest_once(folder: Path, workers: int) -> dict[str, float]:
    from facesearch.gallery import Gallery

    tmp = Path(tempfile.mkdtemp(prefix="fs-bench-"))
    try:
        gallery = Gallery.open(tmp / "data")
        start = time.perf_counter()
        report = gallery.ingest([folder], workers=workers)
        wall = time.perf_counter() - start
        gallery.close()
        stages = report.stage_seconds
        inference = stages.get("detect", 0.0) + stages.get("embed", 0.0)
        busy = wall * max(1, workers)
        return {
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "faces" / "cfp")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--raw-sample", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    images = args.data / "Data" / "Images"
    if not images.is_dir():
        sys.exit(f"CFP images not found at {images}")
    files = sorted(images.rglob("*.jpg"))
    step = max(1, len(files) // args.raw_sample)
    raw = raw_models(files[::step][: args.raw_sample])
    runs = [ingest_once(images, args.workers) for _ in range(args.repeat)]
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    peak_main = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = {
        "photos_total": len(files),
        "workers": args.workers,
        "repeats": args.repeat,
        "raw_models_photos_per_s_one_core": raw,
        **median,
        "peak_rss_main_mb": peak_main,
        "peak_rss_worker_mb": peak_worker,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"CFP ingest, {len(files)} photos, {args.workers} workers, median of {args.repeat}")
    print(f"  raw models alone (1 core, nothing stored): {raw:6.1f} photos/s")
    print(
        f"  ingest: {median['photos_per_s']:6.1f} photos/s, {median['faces_per_s']:6.1f} faces/s, "
        f"{median['wall_s']:.1f} s wall, {int(median['failures'])} failures"
    )
    print("  stage seconds (summed over workers):")
    for stage in ("decode", "detect", "align", "embed", "encode", "store"):
        print(f"    {stage:7s} {median.get(stage + '_s', 0.0):8.1f}")
    print(
        f"  model inference share of worker time: {median['inference_share']:.1%}; "
        f"everything else: {median['non_inference_share']:.1%}"
    )
    print(f"  peak RSS: main {peak_main:.0f} MB, largest worker {peak_worker:.0f} MB")


if __name__ == "__main__":
    main()
