"""Crash trials of ``facesearch serve`` under a burst of governed searches, and of
``facesearch migrate`` to PostgreSQL and Milvus (see :mod:`tests.support.trials`)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.trials_core import (
    Bench,
    Op,
    TrialResult,
    copy_tree,
    differences,
    kill_at_random,
    run_cli,
    state,
)

BURST = 9  # searches per burst, from three clients


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "facesearch", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, "FACESEARCH_SEARCH_WORKERS": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/api/v1/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("the server did not start within 180 s")


def burst(url: str, token: str, probes: list[bytes]) -> list[tuple[str, int | None]]:
    """BURST governed searches from three clients: (status, search id) of each."""
    import httpx

    answers: list[tuple[str, int | None]] = []
    lock = threading.Lock()

    def client(slot: int) -> None:
        with httpx.Client(
            base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            for i in range(slot, BURST, 3):
                try:
                    r = http.post(
                        "/api/v1/cases/C-1/searches",
                        files={"probe": ("probe.jpg", probes[i % len(probes)], "image/jpeg")},
                    )
                    got = (str(r.status_code), r.json().get("search_id"))
                except (httpx.HTTPError, ValueError) as exc:
                    got = (type(exc).__name__, None)
                with lock:
                    answers.append(got)

    threads = [threading.Thread(target=client, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def serve_span(bench: Bench, probes: list[bytes]) -> float:
    """The wall time of one uninterrupted burst (measured on first use, on a copy)."""
    if "serve" not in bench.refs:
        data = copy_tree(bench.base.data, bench.fresh("ref-serve"))
        env = bench.env(data, Op("serve", lambda d: [], user="inv"))
        proc, url = start_server(data, env)
        try:
            burst(url, bench.base.tokens["inv"], probes)  # warm: models loaded
            t0 = time.monotonic()
            answers = burst(url, bench.base.tokens["inv"], probes)
            seconds = time.monotonic() - t0
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if any(status != "201" for status, _ in answers):
            raise RuntimeError(f"the reference burst failed: {answers}")
        # the kill lands in the server's start-up or anywhere in the burst
        bench.refs["serve"] = ({}, seconds * 1.5)
        bench.log(f"reference burst of {BURST} searches: {seconds:.1f} s")
    return bench.refs["serve"][1]


def searches_on_record(data: Path) -> tuple[set[int], int, int]:
    """Search ids in the catalog, searches without their audit entry, 'search' entries."""
    import sqlite3

    with sqlite3.connect(data / "catalog.db") as conn:
        ids = {r[0] for r in conn.execute("select id from gov_searches")}
        unaudited = conn.execute(
            "select count(*) from gov_searches s left join gov_audit a on a.seq = s.audit_seq"
            " where a.seq is null or a.action != 'search'"
        ).fetchone()[0]
        entries = conn.execute("select count(*) from gov_audit where action = 'search'").fetchone()
    return ids, unaudited, entries[0]


def serve_trial(bench: Bench, seed: int) -> TrialResult:
    """A burst of searches, the server killed during it; a second server answers a second
    burst in full; every search answered is on record with its audit entry, and nothing
    else changed."""
    op = Op("serve-search", lambda d: [], user="inv")
    rng = random.Random(seed)
    probes = [p.read_bytes() for p in bench.base.probes]
    t0 = time.monotonic()
    data = copy_tree(bench.base.data, bench.fresh("serve"))
    env = bench.env(data, op)
    token = bench.base.tokens["inv"]
    base_ids, _, base_entries = searches_on_record(bench.base.data)
    want = {
        k: v
        for k, v in bench.reference_state_of_base().items()
        if k not in ("gov_searches", "gov_candidates", "gov_probes")
    }
    span = serve_span(bench, probes)
    proc, url = start_server(data, env)
    answers: list[tuple[str, int | None]] = []
    killer = threading.Timer(rng.uniform(0.05, 1.0) * span, os.killpg, (proc.pid, signal.SIGKILL))
    delay = killer.interval
    killer.start()
    answers += burst(url, token, probes)
    running = not killer.is_alive()  # the kill landed before the burst ended
    killer.join()
    proc.wait()
    problems = []
    proc, url = start_server(data, env)
    try:
        second = burst(url, token, probes)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    bad = [a for a in second if a[0] != "201"]
    if bad:
        problems.append(f"after the restart {len(bad)} of {BURST} searches failed: {bad[:3]}")
    ids, unaudited, entries = searches_on_record(data)
    answered = {sid for status, sid in answers + second if status == "201" and sid is not None}
    if answered - ids:
        problems.append(f"searches answered but not on record: {sorted(answered - ids)}")
    if unaudited:
        problems.append(f"{unaudited} searches on record without their audit entry")
    if entries - base_entries != len(ids - base_ids):
        problems.append(
            f"{entries - base_entries} search audit entries for {len(ids - base_ids)} searches"
        )
    got = {k: v for k, v in state(data).items() if k in want}
    problems += differences(got, want)
    result = TrialResult("serve-search", seed, delay, running, time.monotonic() - t0, problems)
    if result.ok:
        shutil.rmtree(data, ignore_errors=True)
    return result


# --- migrate to PostgreSQL + Milvus ----------------------------------------------------------


@contextmanager
def migrate_targets(bench: Bench) -> Iterator[list[str]]:
    """A fresh PostgreSQL schema and Milvus collection: ``migrate``'s arguments to them."""
    import uuid
    from urllib.parse import urlparse

    from sqlalchemy import create_engine
    from sqlalchemy import text as sql

    if not bench.milvus_uri or not bench.postgres_url:
        raise RuntimeError("the migrate trial needs bench.milvus_uri and bench.postgres_url")
    tag = uuid.uuid4().hex[:10]
    schema = f"crash_{tag}"
    admin_engine = create_engine(bench.postgres_url)
    with admin_engine.begin() as conn:
        conn.execute(sql(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in bench.postgres_url else "?"
    pg = f"{bench.postgres_url}{sep}options=-csearch_path%3D{schema}"
    m = urlparse(bench.milvus_uri)
    vectors = f"milvus://{m.hostname}:{m.port}?collection=crash{tag}"
    try:
        yield ["migrate", "--to-database", pg, "--to-vector-store", vectors, "--sample", "5"]
    finally:
        with admin_engine.begin() as conn:
            conn.execute(sql(f'DROP SCHEMA "{schema}" CASCADE'))
        admin_engine.dispose()
        drop_milvus_collection(bench.milvus_uri, f"crash{tag}")


def migrate_report(done: subprocess.CompletedProcess[str]) -> list[str]:
    if done.returncode != 0:
        return [f"migrate failed ({done.returncode}): {done.stderr[-800:]}"]
    report = json.loads(done.stdout)
    if not report.get("ok") or report.get("problems"):
        return [f"migrate does not verify: {report}"]
    return []


def migrate_trial(bench: Bench, seed: int) -> TrialResult:
    """``facesearch migrate`` killed, then run again to the same targets: it must finish, its
    verification (row counts, vectors, blobs, top-k on sampled probes) must pass, and the
    source must be as it was."""
    rng = random.Random(seed)
    op = Op("migrate", lambda d: [])
    want = bench.reference_state_of_base()
    if "migrate" not in bench.refs:
        data = copy_tree(bench.base.data, bench.fresh("ref-migrate"))
        with migrate_targets(bench) as argv:
            t0 = time.monotonic()
            done = run_cli([*argv, "--json"], bench.env(data, op))
            seconds = time.monotonic() - t0
        if migrate_report(done):
            raise RuntimeError(f"the reference migrate failed: {migrate_report(done)}")
        bench.refs["migrate"] = ({}, seconds)
        bench.log(f"reference migrate: {seconds:.1f} s")
    span = bench.refs["migrate"][1]
    t0 = time.monotonic()
    data = copy_tree(bench.base.data, bench.fresh("migrate"))
    env = bench.env(data, op)
    with migrate_targets(bench) as argv:
        delay, running = kill_at_random(argv, env, rng, span, bench.start_up())
        problems = migrate_report(run_cli([*argv, "--json"], env))
        problems += [f"source: {p}" for p in differences(state(data), want)]
    result = TrialResult("migrate", seed, delay, running, time.monotonic() - t0, problems)
    if result.ok:
        shutil.rmtree(data, ignore_errors=True)
    return result


def drop_milvus_collection(uri: str, name: str) -> None:
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri)
    try:
        if client.has_collection(name):
            client.drop_collection(name)
    finally:
        client.close()
