"""The long fuzzing run (``make fuzz``): every harness in turn, one at a time, from freshly
generated seeds, with a table of what each did.

    python fuzz/run.py [--seconds 600] [--out fuzz-artifacts] [TARGET ...]

Each target runs under libFuzzer (``nice -n 10``: the CPU is shared) for ``--seconds`` with
``-rss_limit_mb=2048 -timeout=10``; its log and any crashing input (``<target>-crash-*``)
go to ``--out``; the corpus it grows stays in ``fuzz/corpus/<target>`` (git-ignored) for the
next run. The table gives executions, executions per second, new corpus entries, peak RSS
(libFuzzer's) and crashes per target; the exit status is 1 if any target crashed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from _harness import own_peak_rss
from seeds import DEFAULT_ROOT, TARGETS  # constants only: this process stays small

HERE = Path(__file__).resolve().parent


def _stat(log: str, name: str) -> str:
    found = re.findall(rf"stat::{name}:\s*(\d+)", log)
    return found[-1] if found else "?"


def run_target(target: str, seconds: int, out: Path) -> dict[str, str]:
    corpus = DEFAULT_ROOT / target
    before = len(list(corpus.iterdir()))
    command = own_peak_rss([
        "nice", "-n", "10", sys.executable, str(HERE / f"fuzz_{target}.py"), str(corpus),
        f"-max_total_time={seconds}", "-rss_limit_mb=2048", "-timeout=10",
        f"-artifact_prefix={out}/{target}-", "-print_final_stats=1",
    ])  # fmt: skip
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    log = run.stdout + run.stderr
    (out / f"{target}.log").write_text(log)
    crashes = sorted(p.name for p in out.glob(f"{target}-*") if not p.name.endswith(".log"))
    return {
        "target": target,
        "seconds": f"{time.monotonic() - started:.0f}",
        "executions": _stat(log, "number_of_executed_units"),
        "exec/s": _stat(log, "average_exec_per_sec"),
        "new inputs": str(len(list(corpus.iterdir())) - before),
        "peak RSS MB": _stat(log, "peak_rss_mb"),
        "crashes": ", ".join(crashes) if crashes else "0",
        "exit": str(run.returncode),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=list(TARGETS))
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--out", type=Path, default=Path("fuzz-artifacts"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    # in a process of their own, so that this one stays small (see own_peak_rss)
    subprocess.run([sys.executable, str(HERE / "seeds.py"), str(DEFAULT_ROOT)], check=True)
    rows = []
    for target in args.targets:
        row = run_target(target, args.seconds, args.out)
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        rows.append(row)
    print("\n| " + " | ".join(rows[0]) + " |\n|" + " --- |" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(row.values()) + " |")
    return 1 if any(r["crashes"] != "0" or r["exit"] != "0" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
