"""Crash trials: each operation as a real ``facesearch`` process (or ``facesearch serve``
under a burst of governed searches), SIGKILLed with its process group at a seeded random
moment, run again to completion and compared with an uninterrupted run (issue 22).

What is compared, and how each operation is run: ``tests/support/trials.py``. Needs the
shared face data (the deepface test photos); ``migrate`` also needs PostgreSQL
(``FACESEARCH_TEST_POSTGRES_URL``, default 127.0.0.1:5432/test) and starts a Milvus
standalone server (the ``milvus`` package) once.

    python benchmarks/crash_trials.py [--trials 100] [--ops ingest,backup] [--seed 1]
                                      [--keep DIR] [--json]

Trials are spread evenly over the operations (``--trials`` in all), run one after another;
every failure is printed with what differed, and the exit code is 1 when any trial failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.trials import OPS, Bench, TrialResult, trial  # noqa: E402

SHARED = Path(os.environ.get("FACESEARCH_SHARED_FACES", REPO.parent / "shared" / "faces"))
POSTGRES_URL = os.environ.get(
    "FACESEARCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=100, help="Trials in all.")
    parser.add_argument("--ops", default=",".join(OPS), help=f"Some of: {','.join(OPS)}.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    unknown = set(ops) - set(OPS)
    if unknown:
        parser.error(f"unknown operations: {sorted(unknown)}")
    root = args.keep or Path(tempfile.mkdtemp(prefix="fs-crash-"))
    started = time.monotonic()
    log(f"preparing the data directory in {root}")
    bench = Bench(root / "work", SHARED, log=log)
    server = None
    if "migrate" in ops:
        from milvus import MilvusServer

        server = MilvusServer()
        server.set_base_dir(str(root / "milvus"))
        server.start()
        bench.milvus_uri = f"http://127.0.0.1:{server.listen_port}"
        bench.postgres_url = POSTGRES_URL
    results: list[TrialResult] = []
    # a SIGTERM stops the run like Ctrl-C, so that the Milvus server is stopped with it
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        for i in range(args.trials):
            name = ops[i % len(ops)]
            seed = args.seed * 100_000 + i
            r = trial(bench, name, seed)
            results.append(r)
            status = "ok" if r.ok else "FAILED"
            when = "mid-run" if r.killed_running else "after it ended"
            log(
                f"[{i + 1}/{args.trials}] {name} seed {seed}: killed at {r.kill_after:.1f} s"
                f" ({when}), {r.seconds:.1f} s, {status}"
            )
            for p in r.problems:
                log(f"    {p}")
    finally:
        if server is not None:
            server.stop()
    elapsed = time.monotonic() - started
    per_op: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"trials": 0, "killed_mid_run": 0, "failures": 0, "seconds": 0.0}
    )
    for r in results:
        row = per_op[r.op]
        row["trials"] += 1
        row["killed_mid_run"] += int(r.killed_running)
        row["failures"] += int(not r.ok)
        row["seconds"] += r.seconds
    out = {
        "trials": len(results),
        "failures": sum(not r.ok for r in results),
        "seconds": round(elapsed, 1),
        "cpus": os.cpu_count(),
        "seed": args.seed,
        "ops": {
            k: {**v, "seconds_per_trial": round(v["seconds"] / max(1, v["trials"]), 1)}
            for k, v in per_op.items()
        },
        "failed": [
            {"op": r.op, "seed": r.seed, "problems": r.problems} for r in results if not r.ok
        ],
    }
    for v in out["ops"].values():
        v.pop("seconds")
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{'operation':14} {'trials':>6} {'mid-run':>7} {'failures':>8} {'s/trial':>8}")
        for k, v in out["ops"].items():
            print(
                f"{k:14} {v['trials']:6d} {v['killed_mid_run']:7d} {v['failures']:8d}"
                f" {v['seconds_per_trial']:8.1f}"
            )
        print(f"{out['trials']} trials, {out['failures']} failures, {elapsed:.0f} s")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if out["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
