"""Crash trials: an operation run as a real ``facesearch`` process, killed with SIGKILL at a
random moment, run again to completion, and compared with an uninterrupted run.

Used by ``benchmarks/crash_trials.py`` (many trials, figures) and
``tests/reliability/test_crash_trials.py`` (one trial per operation, a fixed seed). Each
operation starts from a copy of one small data directory (:class:`Bench`, built once): a few
real photos ingested, encrypted at rest, users, a case with searches, a previewed removal
request. The process runs in its own process group, so the kill takes its worker processes
too. What a trial compares (:func:`state`): rows of every table that holds data (images,
provenance, faces, queued second vectors, searches, candidates, probes, removals,
suppressions, media files and faces), a signature of every face (photo hash, index in the
photo, searchable, second vector), nothing doubled (photos, provenance records, faces), the
vector index equal to the catalog's searchable faces, every blob present and readable, no
key rotation left unfinished, and the audit chain verified.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
KEY1 = "11" * 32  # the data's encryption key (trials only)
KEY2 = "22" * 32  # the key a rotation moves to
PASSWORD = "crash trials password only"
PURGE_NOW = "2100-01-01T00:00:00"
POLICY_ACCESS = """
[access]
session_idle_minutes = 30
session_absolute_hours = 12
searches_per_user_per_hour = 1000000
searches_per_user_per_day = 1000000
"""
COUNTED = (
    "images",
    "provenance",
    "faces",
    "second_vector_queue",
    "gov_searches",
    "gov_candidates",
    "gov_probes",
    "gov_removal_requests",
    "gov_suppressions",
    "gov_cases",
    "gov_users",
    "media_files",
    "media_faces",
)
OPS = (
    "ingest",
    "removal",
    "purge",
    "reindex",
    "migrate",
    "second-pass",
    "media-import",
    "backup",
    "keys-rotate",
    "serve-search",
)


def photos(shared: Path) -> list[Path]:
    """The trials' photos: the deepface test photos of the shared face data."""
    found = sorted((shared / "deepface_tests").glob("img*.jpg"), key=lambda p: int(p.stem[3:]))
    if len(found) < 40:
        raise FileNotFoundError(f"the deepface test photos are not in {shared}/deepface_tests")
    return found


def env_for(data: Path, key: str = KEY1, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACESEARCH_")}
    env.update(
        PYTHONPATH=str(REPO / "src"),
        FACESEARCH_DATA_DIR=str(data),
        FACESEARCH_ENCRYPTION_KEY=key,
        FACESEARCH_WRITER_WAIT="120",
        **extra,
    )
    return env


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facesearch", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# --- the data directory every trial starts from --------------------------------------------


@dataclass
class Base:
    data: Path
    tokens: dict[str, str]
    removal_request: int
    more_photos: Path  # what the ingest trial adds
    media: Path  # what the media import trial imports
    probes: list[Path]  # the HTTP search trial's probes


def build_base(root: Path, shared: Path, pipeline: Any = None) -> Base:
    """Initialise, ingest, users and cases, searches in a closed case, a previewed removal
    (in this process, through the application, as a deployment would have done)."""
    from importlib import resources

    from facesearch.app.service import SearchRequest, Service
    from facesearch.settings import Settings

    pics = photos(shared)
    folder = root / "photos"
    more = root / "more"
    media = root / "media"
    for d, chosen in ((folder, pics[0:8]), (more, pics[8:16]), (media, pics[16:24])):
        d.mkdir(parents=True)
        for p in chosen:
            shutil.copy(p, d / p.name)
    data = root / "data"
    data.mkdir()
    text = (resources.files("facesearch.govern") / "default_policy.toml").read_text("utf-8")
    if "[access]" in text:
        text = text[: text.index("[access]")]
    (data / "policy.toml").write_text(text + POLICY_ACCESS, "utf-8")
    settings = Settings(data_dir=data, encryption_key=KEY1)  # type: ignore[arg-type]
    service = Service.for_cli(settings, pipeline=pipeline)
    try:
        service.library.initialise([("admin", PASSWORD), ("admin2", PASSWORD)])
        gov = service.governance
        change = gov.add_user("admin", "sup", ["supervisor"])
        if change is not None:  # a supervisor needs a second administrator's approval
            gov.approve_change("admin2", change.id)
        gov.add_user("admin", "inv", ["investigator"])
        for number in ("C-1", "C-2"):
            gov.open_case("inv", number, "threat-to-life", "trials", "crash trials case")
            gov.approve_case("sup", number, "ok")
        admin = service.accounts.principal("admin", "cli")
        inv = service.accounts.principal("inv", "cli")
        service.library.ingest(admin, [folder], workers=0)
        for probe in pics[24:27]:
            service.searches.search(inv, "C-2", probe.read_bytes(), SearchRequest(k=5))
        gov.close_case("sup", "C-2")
        request_id, matches = service.admin.preview_removal(
            admin, [pics[0].read_bytes()], "a person in photo 1", "trials request 1"
        )
        assert matches, "the removal request matches no face"
        tokens = {u: gov.create_token(u, u, "trials")[0] for u in ("admin", "inv")}
    finally:
        service.close()
    return Base(data, tokens, request_id, more, media, pics[27:35])


def build_pass_base(base: Base, root: Path, pipeline: Any = None) -> Path:
    """The base with photos ingested whose second vectors wait for the pass."""
    from facesearch.app.service import Service
    from facesearch.settings import Settings

    data = copy_tree(base.data, root / "data-pass")
    settings = Settings(data_dir=data, encryption_key=KEY1)  # type: ignore[arg-type]
    service = Service.for_cli(settings, pipeline=pipeline)
    try:
        admin = service.accounts.principal("admin", "cli")
        service.library.ingest(
            admin, [base.more_photos], workers=0, second_pass=False, second_vectors="pass"
        )
    finally:
        service.close()
    return data


# --- what is compared ----------------------------------------------------------------------


def state(data: Path, key: str = KEY1) -> dict[str, Any]:
    """What a trial compares (see the module docstring), read through the library."""
    from sqlalchemy import text

    from facesearch.app.service import Service
    from facesearch.govern.audit import verify
    from facesearch.settings import Settings

    settings = Settings(data_dir=data, encryption_key=key)  # type: ignore[arg-type]
    service = Service.for_cli(settings)
    try:
        g = service.gallery
        out: dict[str, Any] = {}
        with g.catalog.engine.connect() as conn:

            def q(sql: str) -> list[Any]:
                return list(conn.execute(text(sql)).all())

            for table in COUNTED:
                out[table] = q(f"select count(*) from {table}")[0][0]
            out["doubled_images"] = q(
                "select count(*) from (select sha256 from images group by sha256"
                " having count(*) > 1) d"
            )[0][0]
            out["doubled_provenance"] = q(
                "select count(*) from (select image_id, collection_id, path from provenance"
                " group by image_id, collection_id, path having count(*) > 1) d"
            )[0][0]
            out["doubled_faces"] = q(
                "select count(*) from (select image_id, face_index from faces"
                " group by image_id, face_index having count(*) > 1) d"
            )[0][0]
            faces = q(
                "select i.sha256, f.face_index, f.searchable, f.second_embedding is not null"
                " from faces f join images i on i.id = f.image_id"
            )
            out["faces_signature"] = hashlib.sha256(
                json.dumps(sorted([list(map(str, r)) for r in faces])).encode()
            ).hexdigest()[:16]
            blob_keys = [r[0] for r in q("select crop from faces where crop is not null")]
            blob_keys += [r[0] for r in q("select thumbnail from images where thumbnail is not null")]
        missing = 0
        for k in blob_keys:
            try:
                g.blobs.get(k)
            except Exception:
                missing += 1
        out["blobs_unreadable"] = missing
        catalog_ids = set(int(i) for i in g.catalog.face_ids(g.model_key))
        out["index_equals_catalog"] = set(int(i) for i in g.index.ids()) == catalog_ids
        out["rotation_unfinished"] = (data / "key-rotation.json").exists()
        with service.governance.session() as s:
            result = verify(s)
        out["audit_ok"] = result.ok
        if not result.ok:
            out["audit_problem"] = result.summary()
    finally:
        service.close()
    return out


def differences(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    return [
        f"{k}: {got.get(k)!r} != {want.get(k)!r}"
        for k in sorted(set(got) | set(want))
        if got.get(k) != want.get(k)
    ]


# --- the operations --------------------------------------------------------------------------


@dataclass
class Op:
    """One operation: its command line on a data directory, how it is finished after a kill,
    and what its result is compared on."""

    name: str
    argv: Callable[[Path], list[str]]
    base: str = "base"  # which prepared data directory it starts from
    key: str = KEY1  # the key the data is read with afterwards
    extra_env: dict[str, str] = field(default_factory=dict)
    user: str = "admin"
    # the rerun's refusal when the killed run had finished (the removal: "is applied")
    already_done: str | None = None


def operations(bench: Bench) -> dict[str, Op]:
    b = bench.base
    return {
        "ingest": Op("ingest", lambda d: ["ingest", str(b.more_photos), "--workers", "1"]),
        "removal": Op(
            "removal",
            lambda d: ["suppress", "apply", str(b.removal_request)],
            already_done=f"removal request {b.removal_request} is applied",
        ),
        "purge": Op("purge", lambda d: ["purge", "--now", PURGE_NOW]),
        "reindex": Op("reindex", lambda d: ["reindex"]),
        "second-pass": Op(
            "second-pass", lambda d: ["second-pass", "--workers", "1"], base="pass"
        ),
        "media-import": Op(
            "media-import",
            lambda d: ["media", "import", str(b.media), "--case", "C-1", "--workers", "1"],
            user="inv",
        ),
        "keys-rotate": Op(
            "keys-rotate",
            lambda d: ["keys", "rotate"],
            key=KEY2,
            extra_env={"FACESEARCH_OLD_ENCRYPTION_KEY": KEY1},
        ),
    }


@dataclass
class TrialResult:
    op: str
    seed: int
    kill_after: float
    killed_running: bool  # the process was still running when killed
    seconds: float
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


class Bench:
    """The prepared data directories and the reference results, made once, in ``root``."""

    def __init__(self, root: Path, shared: Path, pipeline: Any = None, log: Any = None) -> None:
        self.root = root
        self.shared = shared
        self.pipeline = pipeline
        self.log = log or (lambda msg: None)
        root.mkdir(parents=True, exist_ok=True)
        self.base = build_base(root / "base", shared, pipeline)
        self._bases: dict[str, Path] = {"base": self.base.data}
        self._refs: dict[str, tuple[dict[str, Any], float]] = {}
        self._n = 0
        self.ops = operations(self)
        self.milvus_uri: str | None = None
        self.postgres_url: str | None = None

    def fresh(self, name: str) -> Path:
        self._n += 1
        return self.root / f"{name}-{self._n}"

    def start_dir(self, which: str) -> Path:
        if which not in self._bases:
            assert which == "pass"
            self._bases["pass"] = build_pass_base(self.base, self.root / "pass", self.pipeline)
        return self._bases[which]

    def env(self, data: Path, op: Op) -> dict[str, str]:
        return env_for(
            data, op.key, FACESEARCH_TOKEN=self.base.tokens[op.user], **op.extra_env
        )

    def reference_state_of_base(self) -> dict[str, Any]:
        if "base" not in self._refs:
            self._refs["base"] = (state(self.base.data), 0.0)
        return self._refs["base"][0]

    def backup_span(self) -> float:
        """The wall time of one uninterrupted backup (measured on first use)."""
        if "backup" not in self._refs:
            data = self.base.data
            dest = self.fresh("ref-backup")
            t0 = time.monotonic()
            done = run_cli(["backup", str(dest)], self.env(data, Op("backup", lambda d: [])))
            if done.returncode != 0:
                raise RuntimeError(f"the reference backup failed: {done.stderr[-2000:]}")
            self._refs["backup"] = ({}, time.monotonic() - t0)
            shutil.rmtree(dest)
            self.log(f"reference backup: {self._refs['backup'][1]:.1f} s")
        return self._refs["backup"][1]

    def serve_span(self, probes: list[bytes]) -> float:
        """The wall time of one uninterrupted burst (measured on first use, on a copy)."""
        if "serve" not in self._refs:
            data = copy_tree(self.base.data, self.fresh("ref-serve"))
            env = self.env(data, Op("serve", lambda d: [], user="inv"))
            proc, url = start_server(data, env)
            try:
                burst(url, self.base.tokens["inv"], probes)  # warm: models loaded
                t0 = time.monotonic()
                answers = burst(url, self.base.tokens["inv"], probes)
                seconds = time.monotonic() - t0
            finally:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if any(status != "201" for status, _ in answers):
                raise RuntimeError(f"the reference burst failed: {answers}")
            # the kill lands in the server's start-up or anywhere in the burst
            self._refs["serve"] = ({}, seconds * 1.5)
            self.log(f"reference burst of {BURST} searches: {seconds:.1f} s")
        return self._refs["serve"][1]

    def start_up(self) -> float:
        """The wall time of the cheapest command on the data (``stats``): how long a command
        takes to load before it does anything."""
        if "start-up" not in self._refs:
            op = Op("stats", lambda d: [])
            t0 = time.monotonic()
            run_cli(["stats", "--json"], self.env(self.base.data, op))
            self._refs["start-up"] = ({}, time.monotonic() - t0)
            self.log(f"start-up (facesearch stats): {self._refs['start-up'][1]:.1f} s")
        return self._refs["start-up"][1]

    def reference(self, name: str) -> tuple[dict[str, Any], float]:
        """The uninterrupted run's state and wall time (made on first use)."""
        if name not in self._refs:
            op = self.ops[name]
            data = copy_tree(self.start_dir(op.base), self.fresh(f"ref-{name}"))
            t0 = time.monotonic()
            done = run_cli(op.argv(data), self.env(data, op))
            seconds = time.monotonic() - t0
            if done.returncode != 0:
                raise RuntimeError(f"the reference {name} failed: {done.stderr[-2000:]}")
            self._refs[name] = (state(data, op.key), seconds)
            self.log(f"reference {name}: {seconds:.1f} s")
        return self._refs[name]


def kill_at_random(
    argv: list[str], env: dict[str, str], rng: random.Random, span: float, start_up: float = 0.0
) -> tuple[float, bool]:
    """Start ``facesearch ARGV`` in its own process group and SIGKILL the group at a random
    moment between ``start_up`` seconds (the interpreter and the application loading: a kill
    there tests nothing) and ``span`` (the uninterrupted run's wall time). Returns the delay
    and whether the process was still running."""
    delay = rng.uniform(min(start_up, 0.5 * span), span)
    proc = subprocess.Popen(
        [sys.executable, "-m", "facesearch", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        proc.wait(timeout=delay)
        running = False
    except subprocess.TimeoutExpired:
        running = True
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    return delay, running


def trial(bench: Bench, name: str, seed: int) -> TrialResult:
    """One trial of operation ``name``: kill, finish, compare."""
    if name == "backup":
        return backup_trial(bench, seed)
    if name == "serve-search":
        return serve_trial(bench, seed)
    if name == "migrate":
        return migrate_trial(bench, seed)
    op = bench.ops[name]
    want, span = bench.reference(name)
    rng = random.Random(seed)
    t0 = time.monotonic()
    data = copy_tree(bench.start_dir(op.base), bench.fresh(name))
    env = bench.env(data, op)
    delay, running = kill_at_random(op.argv(data), env, rng, span, bench.start_up())
    problems = []
    done = run_cli(op.argv(data), env)
    finished = op.already_done is not None and op.already_done in done.stderr
    if done.returncode != 0 and not finished:
        problems.append(f"the run after the kill failed ({done.returncode}): {done.stderr[-800:]}")
    else:
        problems += differences(state(data, op.key), want)
    result = TrialResult(name, seed, delay, running, time.monotonic() - t0, problems)
    if result.ok:
        shutil.rmtree(data, ignore_errors=True)
    return result


# --- backup: a partial copy is never taken for a backup; the next one is complete -----------


def backup_trial(bench: Bench, seed: int) -> TrialResult:
    op = Op("backup", lambda d: [])
    rng = random.Random(seed)
    t0 = time.monotonic()
    data = copy_tree(bench.base.data, bench.fresh("backup"))
    env = bench.env(data, op)
    want = bench.reference_state_of_base()
    span = bench.backup_span()
    dest = data.parent / f"{data.name}-partial"
    delay, running = kill_at_random(["backup", str(dest)], env, rng, span, bench.start_up())
    problems = []
    if running:
        restored = data.parent / f"{data.name}-from-partial"
        done = run_cli(["restore", str(dest), str(restored)], env)
        if done.returncode == 0 and not (dest / "manifest.json.sha256").exists():
            problems.append("a backup killed before its manifest was restored")
    dest2 = data.parent / f"{data.name}-backup"
    done = run_cli(["backup", str(dest2)], env)
    if done.returncode != 0:
        problems.append(f"the backup after the kill failed: {done.stderr[-800:]}")
    else:
        restored = data.parent / f"{data.name}-restored"
        back = run_cli(["restore", str(dest2), str(restored)], env)
        if back.returncode != 0:
            problems.append(f"the restore failed: {back.stderr[-800:]}")
        else:
            problems += [f"restored: {p}" for p in differences(state(restored), want)]
        problems += [f"source: {p}" for p in differences(state(data), want)]
    result = TrialResult("backup", seed, delay, running, time.monotonic() - t0, problems)
    if result.ok:
        for p in data.parent.glob(f"{data.name}*"):
            shutil.rmtree(p, ignore_errors=True)
    return result


# --- a burst of governed searches over HTTP against ``facesearch serve`` ---------------------

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
    span = bench.serve_span(probes)
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
    if "migrate" not in bench._refs:
        data = copy_tree(bench.base.data, bench.fresh("ref-migrate"))
        with migrate_targets(bench) as argv:
            t0 = time.monotonic()
            done = run_cli([*argv, "--json"], bench.env(data, op))
            seconds = time.monotonic() - t0
        if migrate_report(done):
            raise RuntimeError(f"the reference migrate failed: {migrate_report(done)}")
        bench._refs["migrate"] = ({}, seconds)
        bench.log(f"reference migrate: {seconds:.1f} s")
    span = bench._refs["migrate"][1]
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
