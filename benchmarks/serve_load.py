"""Load benchmark of ``facesearch serve`` on loopback: searches/s, latency, errors, memory.

Builds (or reuses with --keep) a gallery of --n faces: synthetic distractors written straight
to the catalog plus real photos ingested through the pipeline (the deepface test photos of
../shared/faces, else the photos given with --photos). Then, in one run, side by side:

1. the library: the same searches through ``Service.engine_search`` (no HTTP), one at a time
   (single-client latency) and from two threads at once (the machine's bound on 2 cores);
2. the server (uvicorn on 127.0.0.1, a child process): 1, 10 and 50 concurrent clients, each
   uploading a probe and waiting for the answer, for --seconds each; server memory (RSS) at
   start and end;
3. a full queue: a second server with a waiting room of 2 and 20 clients; every answer must
   be 201 or 503 with Retry-After, never a time-out.

Every loop is bounded in time and count and sends traffic to 127.0.0.1 only.

    python benchmarks/serve_load.py [--n 100000] [--seconds 120] [--keep DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACESEARCH_SHARED_FACES", REPO.parent / "shared" / "faces"))
PHOTOS = SHARED / "deepface_tests"
HOST = "127.0.0.1"
PASSWORD = "benchmark password only"
CLIENTS = (1, 10, 50)
POLICY_ACCESS = """
[access]
session_idle_minutes = 30
session_absolute_hours = 12
searches_per_user_per_hour = 1000000
searches_per_user_per_day = 1000000
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def percentiles(ms: list[float]) -> dict[str, float]:
    if not ms:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    return {
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
    }


# --- the gallery --------------------------------------------------------------------------


def build(root: Path, n: int, photos: list[Path], clients: int) -> None:
    """Catalog, index, real photos, the policy, users, an open case with everyone assigned."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from importlib import resources

    from search_e2e import synthetic_faces

    from facesearch.app.service import Service
    from facesearch.settings import Settings

    root.mkdir(parents=True, exist_ok=True)
    text = (resources.files("facesearch.govern") / "default_policy.toml").read_text("utf-8")
    if "[access]" in text:
        text = text[: text.index("[access]")]
    (root / "policy.toml").write_text(text + POLICY_ACCESS, "utf-8")
    ws = Service.for_cli(Settings(data_dir=root))
    t0 = time.perf_counter()
    synthetic_faces(ws.gallery, n - len(photos))
    ws.gallery.reindex()
    log(f"  {n - len(photos):,} synthetic faces and index: {time.perf_counter() - t0:.0f} s")
    ws.library.initialise("admin", PASSWORD)
    admin = ws.accounts.principal("admin", "cli")
    ws.library.ingest(admin, photos, collection="real", workers=2)
    gov = ws.governance
    gov.add_user("admin", "sup", ["supervisor"])
    gov.add_user("admin", "inv0", ["investigator"])
    gov.open_case("inv0", "LOAD-1", "threat-to-life", "benchmark", "load benchmark case")
    gov.approve_case("sup", "LOAD-1", "ok")
    tokens = {}
    for i in range(clients):
        name = f"inv{i}"
        if i:
            gov.add_user("admin", name, ["investigator"])
            gov.assign("sup", "LOAD-1", name)
        tokens[name] = gov.create_token(name, name, "load")[0]
    (root / "load-tokens.json").write_text(json.dumps(tokens), "utf-8")
    ws.close()


# --- the library ----------------------------------------------------------------------------


def library(root: Path, probes: list[bytes], seconds: float) -> dict[str, Any]:
    """The engine without HTTP: sequential latency, and throughput from two threads."""
    from facesearch.app.service import SearchRequest, Service
    from facesearch.settings import Settings

    service = Service.open(Settings(data_dir=root, search_workers=2))
    request = SearchRequest()
    try:
        for p in probes:  # warm: models loaded, candidates' second vectors described
            service.ctx.pool.run(lambda p=p: service.searches.engine_search(p, 20, request))
        single: list[float] = []
        deadline = time.monotonic() + seconds / 2
        i = 0
        while time.monotonic() < deadline:
            probe = probes[i % len(probes)]
            t0 = time.perf_counter()
            service.ctx.pool.run(lambda p=probe: service.searches.engine_search(p, 20, request))
            single.append((time.perf_counter() - t0) * 1000)
            i += 1
        counts = [0, 0]
        stop = time.monotonic() + seconds / 2

        def loop(slot: int) -> None:
            j = slot
            while time.monotonic() < stop:
                probe = probes[j % len(probes)]
                service.ctx.pool.run(lambda p=probe: service.searches.engine_search(p, 20, request))
                counts[slot] += 1
                j += 1

        threads = [threading.Thread(target=loop, args=(s,)) for s in (0, 1)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    finally:
        service.close()
    return {
        "single": {"searches": len(single), **percentiles(single)},
        "two_parallel_per_s": round(sum(counts) / elapsed, 2),
    }


# --- the server -----------------------------------------------------------------------------


class Server:
    def __init__(self, root: Path, queue_size: int) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "FACESEARCH_DATA_DIR": str(root),
            "FACESEARCH_SEARCH_WORKERS": "2",
            "FACESEARCH_SEARCH_QUEUE_SIZE": str(queue_size),
            "PYTHONPATH": str(REPO / "src"),
        }
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  (lives as long as the server)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "facesearch", "serve", "--host", HOST, "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://{HOST}:{self.port}"
        import httpx

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/api/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("the server did not start within 120 s")

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def load(
    url: str, tokens: list[str], probes: list[bytes], clients: int, seconds: float
) -> dict[str, Any]:
    """``clients`` threads searching for ``seconds``; latency, status counts, errors."""
    import httpx

    lat: list[float] = []
    statuses: dict[str, int] = {}
    retry_after_ok = [0]
    in_window = [0]  # answers completed inside the window (throughput ignores the drain)
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(slot: int) -> None:
        token = tokens[slot % len(tokens)]
        with httpx.Client(
            base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            i = slot
            while time.monotonic() < stop:
                probe = probes[i % len(probes)]
                i += 1
                t0 = time.perf_counter()
                try:
                    r = http.post(
                        "/api/v1/cases/LOAD-1/searches",
                        files={"probe": ("probe.jpg", probe, "image/jpeg")},
                    )
                    key = str(r.status_code)
                except httpx.TimeoutException:
                    key = "timeout"
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    statuses[key] = statuses.get(key, 0) + 1
                    if key == "201":
                        lat.append(ms)
                        if time.monotonic() <= stop:
                            in_window[0] += 1
                    elif key == "503" and r.headers.get("retry-after"):
                        retry_after_ok[0] += 1
                if key == "503":
                    time.sleep(float(r.headers.get("retry-after", "1")) * 0.1)

    threads = [threading.Thread(target=client, args=(s,)) for s in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "searches_per_s": round(in_window[0] / seconds, 2),
        **percentiles(lat),
        "statuses": statuses,
        "errors": sum(v for k, v in statuses.items() if k != "201"),
        "busy_with_retry_after": retry_after_ok[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=120.0, help="Per load level.")
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--keep", type=Path, help="Keep (and reuse) the gallery in this folder.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    photos = sorted(args.photos.glob("img*.jpg"))[:40]
    if len(photos) < 4:
        sys.exit(f"need photos of faces in {args.photos}")
    root = args.keep or Path(tempfile.mkdtemp(prefix="fs-load-"))
    if not (root / "load-tokens.json").exists():
        log(f"building a gallery of {args.n:,} faces in {root}")
        build(root, args.n, photos[4:], max(CLIENTS))
    tokens = list(json.loads((root / "load-tokens.json").read_text()).values())
    probes = [p.read_bytes() for p in photos[:4]]
    out: dict[str, Any] = {"n": args.n, "seconds_per_level": args.seconds}
    log("library: sequential and two in parallel")
    out["library"] = library(root, probes, args.seconds)
    log(f"  {out['library']}")
    server = Server(root, queue_size=64)
    try:
        load(server.url, tokens, probes, 2, 10)  # warm the server's models and caches
        out["server_rss_start_mb"] = round(server.rss_mb(), 1)
        out["levels"] = []
        for clients in CLIENTS:
            log(f"server: {clients} concurrent clients for {args.seconds:.0f} s")
            level = load(server.url, tokens, probes, clients, args.seconds)
            level["server_rss_mb"] = round(server.rss_mb(), 1)
            log(f"  {level}")
            out["levels"].append(level)
        out["server_rss_end_mb"] = round(server.rss_mb(), 1)
    finally:
        server.stop()
    log("full queue: waiting room of 2, 20 clients for 20 s")
    small = Server(root, queue_size=2)
    try:
        out["full_queue"] = load(small.url, tokens, probes, 20, 20)
        log(f"  {out['full_queue']}")
    finally:
        small.stop()
    lib = out["library"]
    at50 = out["levels"][-1]
    single = out["levels"][0]
    out["checks"] = {
        "errors_at_50": at50["errors"],
        "throughput_50_vs_two_parallel": round(
            at50["searches_per_s"] / lib["two_parallel_per_s"], 3
        ),
        "single_p50_overhead_ms": round(single["p50_ms"] - lib["single"]["p50_ms"], 1),
        "memory_growth": round(out["server_rss_end_mb"] / out["server_rss_start_mb"] - 1, 3),
        "full_queue_timeouts": out["full_queue"]["statuses"].get("timeout", 0),
        "full_queue_503_all_with_retry_after": out["full_queue"]["statuses"].get("503", 0)
        == out["full_queue"]["busy_with_retry_after"],
    }
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(out))
        return
    print(f"gallery {args.n:,} faces; {args.seconds:.0f} s per level; loopback")
    print(
        f"library: single p50 {lib['single']['p50_ms']} ms p95 {lib['single']['p95_ms']} ms; "
        f"two in parallel {lib['two_parallel_per_s']} searches/s"
    )
    for lv in out["levels"]:
        print(
            f"server {lv['clients']:>2} clients: {lv['searches_per_s']:6.2f} searches/s, "
            f"p50 {lv['p50_ms']} p95 {lv['p95_ms']} p99 {lv['p99_ms']} ms, "
            f"errors {lv['errors']} {lv['statuses']}, RSS {lv['server_rss_mb']} MB"
        )
    fq = out["full_queue"]
    print(f"full queue (room 2, 20 clients): {fq['statuses']}")
    print(
        f"server RSS {out['server_rss_start_mb']} -> {out['server_rss_end_mb']} MB; "
        f"checks: {out['checks']}"
    )


if __name__ == "__main__":
    main()
