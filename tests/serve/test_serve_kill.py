"""A real ``facesearch serve`` killed with SIGKILL during an ingest job (issue 22): its worker
processes and multiprocessing's resource tracker die with it, and after a restart the job is
listed ``interrupted``, its run is no longer "running", the browser session still works, and
Resume completes the job with nothing doubled (the photos stored before the kill are skipped,
the rest added once)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from tests.support.api import PASSWORD

from facesearch.app import Service
from facesearch.serve.api.security import CSRF_HEADER
from facesearch.settings import Settings

pytestmark = pytest.mark.slow

PHOTOS = 80  # ten batches of 8; ingest commits (and counts as done) every 64 photos
KILL_AFTER = 64  # photos done: the first 64 committed, the rest not yet


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat(pid: int) -> tuple[str, int, str] | None:
    """(state, parent pid, start time) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    return fields[0], int(fields[1]), fields[19]


def _children(parent: int) -> dict[int, str]:
    """The processes whose parent is ``parent``: pid -> start time."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None and st[1] == parent:
                found[int(entry.name)] = st[2]
    return found


def _alive(pid: int, started: str) -> bool:
    st = _stat(pid)
    return st is not None and st[2] == started and st[0] != "Z"


@contextmanager
def serve(data: Path, roots: Path, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    env = {
        **os.environ,
        "FACESEARCH_ENVIRONMENT": "development",
        "FACESEARCH_INGEST_ROOTS": json.dumps([str(roots)]),
        "FACESEARCH_INGEST_WORKERS": "1",
        "FACESEARCH_SEARCH_WORKERS": "1",
    }
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "facesearch", "serve"),
            *("--port", str(port), "--data-dir", str(data)),
        ],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.e2e
def test_a_killed_server_leaves_no_worker_and_its_job_resumes(
    tmp_path: Path, other_faces: list[np.ndarray]
) -> None:
    roots = tmp_path / "roots"
    photos = roots / "photos"
    photos.mkdir(parents=True)
    for i, face in enumerate(other_faces[1 : PHOTOS + 1]):  # one face each (LFW crops)
        Image.fromarray(face).resize((160, 160)).save(photos / f"p{i:03}.jpg")
    data = tmp_path / "data"
    with Service.for_cli(Settings(data_dir=data)) as service:
        service.library.initialise("admin", PASSWORD)
    log = tmp_path / "serve.log"

    client = httpx.Client(timeout=30)
    with serve(data, roots, log) as (proc, url):
        r = client.post(
            f"{url}/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        client.headers[CSRF_HEADER] = r.json()["csrf_token"]
        r = client.post(f"{url}/api/v1/ingest/jobs", json={"path": str(photos)})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        workers: dict[int, str] = {}
        deadline = time.monotonic() + 60
        while True:
            job = client.get(f"{url}/api/v1/ingest/jobs/{job_id}").json()
            workers.update(_children(proc.pid))
            if job["files_done"] >= KILL_AFTER:
                break
            assert job["status"] in ("queued", "running"), job
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        assert job["files_done"] < PHOTOS, "the job ended before the kill: use more photos"
        assert workers, "no worker process seen"  # the ingest worker and the resource tracker
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while any(_alive(pid, started) for pid, started in workers.items()):
            assert time.monotonic() < deadline, {
                pid: Path(f"/proc/{pid}/cmdline").read_bytes()
                for pid, started in workers.items()
                if _alive(pid, started)
            }
            time.sleep(0.1)

    with serve(data, roots, log) as (proc, url):
        # the restart kept the browser session (it is a row of the catalog)
        assert client.get(f"{url}/api/v1/auth/me").status_code == 200
        job = client.get(f"{url}/api/v1/ingest/jobs/{job_id}").json()
        assert job["status"] == "interrupted" and job["resumable"], job
        runs = client.get(f"{url}/api/v1/ingest/runs").json()["items"]
        run = next(r for r in runs if r["id"] == job["run_id"])
        assert run["status"] == "interrupted" and f"job {job_id}" in run["reason"]

        r = client.post(f"{url}/api/v1/ingest/jobs/{job_id}/resume")
        assert r.status_code == 202, r.text
        new_id = r.json()["id"]
        assert new_id > job_id
        deadline = time.monotonic() + 90
        while (new := client.get(f"{url}/api/v1/ingest/jobs/{new_id}").json())["status"] in (
            "queued",
            "running",
        ):
            assert time.monotonic() < deadline, new
            time.sleep(0.2)
        assert new["status"] == "completed" and new["resumes"] == job_id, new
        counts: dict[str, Any] = new["counts"]
        stored_before = counts["images_already_stored"]
        assert 64 <= stored_before < PHOTOS  # what the killed job had committed: skipped
        assert counts["images_new"] == PHOTOS - stored_before
        stats = client.get(f"{url}/api/v1/stats").json()
        # as an uninterrupted ingest of the folder: every photo once, one face each
        assert stats["images"] == PHOTOS and stats["faces"] == PHOTOS, stats
        listed = client.get(f"{url}/api/v1/ingest/jobs").json()["items"]
        assert {j["id"]: j["resumed_by"] for j in listed}[job_id] == new_id
