"""Pool workers die with the process that started them, even when it is killed with SIGKILL
(``ingest/batches.py:die_with_parent``), and so does multiprocessing's resource tracker: a
server killed during an ingest leaves no worker holding its models' memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PARENT = """
import os, sys, time
from facesearch.ingest.batches import process_pool
if __name__ == "__main__":
    pool = process_pool(2)
    pids = {pool.submit(os.getpid).result() for _ in range(8)}
    print(" ".join(map(str, sorted(pids))), flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_and_the_resource_tracker_die_with_a_killed_parent(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert workers and all(_alive(p) for p in workers)
        children = [
            int(e.name)
            for e in Path("/proc").iterdir()
            if e.name.isdigit()
            and _alive(int(e.name))
            and Path(f"/proc/{e.name}/stat").read_text().rpartition(")")[2].split()[1]
            == str(parent.pid)
        ]
        assert set(workers) < set(children)  # the workers, and the resource tracker
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in children):
        assert time.monotonic() < deadline, [p for p in children if _alive(p)]
        time.sleep(0.05)
