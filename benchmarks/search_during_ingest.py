"""Searches during an ingest, over HTTP: latency idle and while the server ingests 2,000 photos.

Issue 22's target: p50 search latency during a 2,000-photo ingest at most 2x the idle p50, no
search above 2 s, 0 errors. The server (``facesearch serve`` on 127.0.0.1, a child process)
holds a gallery of --base synthetic faces plus the deepface test photos; one investigator
searches one probe after another (upload, wait for the answer) for --idle seconds, then an
administrator submits an ingest job of --photos CFP frontal photos over the API (a folder under
the server's allowed ingest roots) and the investigator goes on searching until the job ends.
Every answer is counted: 201, or an error (any other status, a time-out).

Side by side in one run: ``--src DIR`` runs the
server from another checkout's ``src`` (e.g. a worktree of an older commit) on the same
gallery and photos.

    python benchmarks/search_during_ingest.py [--photos 2000] [--base 10000] [--src DIR]...
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import HOST, PASSWORD, free_port, log, percentiles

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACESEARCH_SHARED_FACES", REPO.parent / "shared" / "faces"))
CFP = SHARED / "cfp" / "Data" / "Images"
DEEPFACE = SHARED / "deepface_tests"
POLICY_ACCESS = """
[access]
session_idle_minutes = 30
session_absolute_hours = 12
searches_per_user_per_hour = 1000000
searches_per_user_per_day = 1000000
"""


def cfp_frontal(n: int, skip_ids: int = 0) -> list[Path]:
    """The first ``n`` CFP frontal photos, by identity, after ``skip_ids`` identities."""
    out: list[Path] = []
    for person in sorted(CFP.iterdir(), key=lambda p: int(p.name))[skip_ids:]:
        out += sorted((person / "frontal").glob("*.jpg"))
        if len(out) >= n:
            break
    return out[:n]


def build(root: Path, base: int, photos: list[Path]) -> dict[str, str]:
    """The gallery (synthetic faces, real photos), two administrators, a supervisor, an
    investigator with an approved case, and a token for the investigator and an administrator."""
    from importlib import resources

    from search_e2e import synthetic_faces

    from facesearch.app.service import Service
    from facesearch.settings import Settings

    root.mkdir(parents=True, exist_ok=True)
    text = (resources.files("facesearch.govern") / "default_policy.toml").read_text("utf-8")
    if "[access]" in text:
        text = text[: text.index("[access]")]
    (root / "policy.toml").write_text(text + POLICY_ACCESS, "utf-8")
    with Service.for_cli(Settings(data_dir=root)) as ws:
        synthetic_faces(ws.gallery, base)
        ws.gallery.reindex()
        ws.library.initialise([("admin", PASSWORD), ("admin2", PASSWORD)])
        admin = ws.accounts.principal("admin", "cli")
        ws.library.ingest(admin, photos, collection="real", workers=2)
        gov = ws.governance
        change = gov.add_user("admin", "sup", ["supervisor"])
        if change is not None:
            gov.approve_change("admin2", change.id)
        gov.add_user("admin", "inv", ["investigator"])
        gov.open_case("inv", "LOAD-1", "threat-to-life", "benchmark", "ingest benchmark case")
        gov.approve_case("sup", "LOAD-1", "ok")
        return {
            "inv": gov.create_token("inv", "inv", "benchmark")[0],
            "admin": gov.create_token("admin", "admin", "benchmark")[0],
        }


class Server:
    """``facesearch serve`` from ``src`` on ``root``, ingest allowed under ``roots``."""

    def __init__(self, root: Path, src: Path, ingest_root: Path) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "FACESEARCH_DATA_DIR": str(root),
            "FACESEARCH_SEARCH_WORKERS": "2",
            "FACESEARCH_INGEST_ROOTS": json.dumps([str(ingest_root)]),
            "FACESEARCH_INGEST_WORKERS": "2",
            "PYTHONPATH": str(src),
        }
        self.log = tempfile.NamedTemporaryFile(prefix="fs-serve-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "facesearch", "serve", "--host", HOST, "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.url = f"http://{HOST}:{self.port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/api/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the server did not start within 180 s (log: {self.log.name})")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)


def search_loop(
    url: str, token: str, probes: list[bytes], stop: threading.Event, out: list[tuple[float, str]]
) -> None:
    """One investigator: search, wait for the answer, again, until ``stop``; (ms, status)."""
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as h:
        i = 0
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                r = h.post(
                    "/api/v1/cases/LOAD-1/searches",
                    files={"probe": ("probe.jpg", probes[i % len(probes)], "image/jpeg")},
                )
                status = str(r.status_code)
            except httpx.TimeoutException:
                status = "timeout"
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            ms = (time.perf_counter() - t0) * 1000
            out.append((ms, status))
            if ms > 1500:
                log(f"    slow search: {ms:.0f} ms, ended at {time.strftime('%H:%M:%S')}")
            i += 1


def summary(rows: list[tuple[float, str]]) -> dict[str, Any]:
    ok = [ms for ms, st in rows if st == "201"]
    return {
        "searches": len(rows),
        **percentiles(ok),
        "max_ms": round(max(ok), 1) if ok else float("nan"),
        "over_2s": sum(1 for ms in ok if ms > 2000),
        "errors": len(rows) - len(ok),
    }


def trial(
    root: Path, src: Path, folder: Path, tokens: dict[str, str], idle_s: float, probes: list[bytes]
) -> dict[str, Any]:
    server = Server(root, src, folder.parent)
    try:
        stop = threading.Event()
        warm: list[tuple[float, str]] = []
        stop_warm = threading.Event()
        t = threading.Thread(
            target=search_loop, args=(server.url, tokens["inv"], probes, stop_warm, warm)
        )
        t.start()
        time.sleep(5)  # models loaded in both search threads, caches warm
        stop_warm.set()
        t.join()
        idle: list[tuple[float, str]] = []
        t = threading.Thread(
            target=search_loop, args=(server.url, tokens["inv"], probes, stop, idle)
        )
        t.start()
        time.sleep(idle_s)
        stop.set()
        t.join()
        log(f"  idle: {summary(idle)}")

        admin = httpx.Client(
            base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {tokens['admin']}"}
        )
        r = admin.post("/api/v1/ingest/jobs", json={"path": str(folder), "collection": "cfp"})
        r.raise_for_status()
        job_id = r.json()["id"]
        during: list[tuple[float, str]] = []
        stop = threading.Event()
        t = threading.Thread(
            target=search_loop, args=(server.url, tokens["inv"], probes, stop, during)
        )
        t0 = time.perf_counter()
        t.start()
        job: dict[str, Any] = {}
        while True:
            job = admin.get(f"/api/v1/ingest/jobs/{job_id}").json()
            if job["status"] not in ("queued", "running"):
                break
            log(
                f"    {time.strftime('%H:%M:%S')} job {job['status']} "
                f"{job.get('files_done')}/{job.get('files_total')}"
            )
            time.sleep(1)
        ingest_s = time.perf_counter() - t0
        stop.set()
        t.join()
        log(f"  during: {summary(during)}; job {job['status']} in {ingest_s:.0f} s")
        return {
            "idle": summary(idle),
            "during": summary(during),
            "job": {
                "status": job["status"],
                "seconds": round(ingest_s, 1),
                "counts": job.get("counts"),
            },
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=2000, help="CFP frontal photos ingested.")
    parser.add_argument("--base", type=int, default=10_000, help="Synthetic faces to start.")
    parser.add_argument("--idle", type=float, default=60.0, help="Seconds of idle searches.")
    parser.add_argument(
        "--src",
        type=Path,
        action="append",
        default=[],
        help="Also run the server from this src folder (repeatable).",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not CFP.is_dir() or not DEEPFACE.is_dir():
        sys.exit(f"needs the CFP and deepface photos under {SHARED}")
    real = sorted(DEEPFACE.glob("img*.jpg"))
    probes = [p.read_bytes() for p in real[:4]]
    photos = cfp_frontal(args.photos, skip_ids=100)
    srcs = [REPO / "src", *args.src]
    out: dict[str, Any] = {"photos": len(photos), "base": args.base, "runs": []}
    for src in srcs:
        tmp = Path(tempfile.mkdtemp(prefix="fs-ingest-bench-"))
        try:
            folder = tmp / "incoming" / "cfp"
            folder.mkdir(parents=True)
            for p in photos:  # a folder of exactly these photos, under the allowed root
                shutil.copyfile(p, folder / f"{p.parent.parent.name}_{p.name}")
            log(f"building a gallery of {args.base:,} synthetic faces + {len(real) - 4} photos")
            tokens = build(tmp / "data", args.base, real[4:])
            log(f"server from {src}")
            run = trial(tmp / "data", src, folder, tokens, args.idle, probes)
            run["src"] = str(src)
            idle, during = run["idle"], run["during"]
            run["checks"] = {
                "p50_ratio": round(during["p50_ms"] / idle["p50_ms"], 2),
                "p50_within_2x": during["p50_ms"] <= 2 * idle["p50_ms"],
                "none_over_2s": during["over_2s"] == 0,
                "no_errors": during["errors"] == 0 and idle["errors"] == 0,
            }
            out["runs"].append(run)
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
    print(
        f"{cpu}, {os.cpu_count()} cores; gallery {args.base:,} synthetic + real photos; "
        f"ingest job of {len(photos):,} CFP photos over the API"
    )
    for run in out["runs"]:
        i, d, j = run["idle"], run["during"], run["job"]
        print(
            f"{run['src']}: idle p50 {i['p50_ms']} ms (max {i['max_ms']}, n={i['searches']}); "
            f"during ingest p50 {d['p50_ms']} ms p95 {d['p95_ms']} max {d['max_ms']} "
            f"(n={d['searches']}, over 2 s: {d['over_2s']}, errors: {d['errors']}); "
            f"ingest {j['status']} in {j['seconds']} s; checks {run['checks']}"
        )


if __name__ == "__main__":
    main()
