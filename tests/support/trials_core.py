"""The crash trials' machinery: the data directory every trial starts from, the operations
run as ``facesearch`` commands, what is compared, and the kill (see
:mod:`tests.support.trials`)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
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
        admin = service.accounts.principal("admin", "local")
        inv = service.accounts.principal("inv", "local")
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
        admin = service.accounts.principal("admin", "local")
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
            blob_keys += [
                r[0] for r in q("select thumbnail from images where thumbnail is not null")
            ]
        missing = 0
        for k in blob_keys:
            try:
                g.blobs.get(k)
            except Exception:
                missing += 1
        out["blobs_unreadable"] = missing
        index_ids = {int(i) for i in g.index.ids()}
        # what opening had to repair: the index the run left behind against the catalog
        out["index_repaired_on_open"] = dict(g.index_repairs)
        out["index_equals_catalog"] = index_ids == {int(i) for i in g.catalog.face_ids(g.model_key)}
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
        "second-pass": Op("second-pass", lambda d: ["second-pass", "--workers", "1"], base="pass"),
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
        self.refs: dict[str, tuple[dict[str, Any], float]] = {}
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
        return env_for(data, op.key, FACESEARCH_TOKEN=self.base.tokens[op.user], **op.extra_env)

    def reference_state_of_base(self) -> dict[str, Any]:
        if "base" not in self.refs:
            self.refs["base"] = (state(self.base.data), 0.0)
        return self.refs["base"][0]

    def backup_span(self) -> float:
        """The wall time of one uninterrupted backup (measured on first use)."""
        if "backup" not in self.refs:
            data = self.base.data
            dest = self.fresh("ref-backup")
            t0 = time.monotonic()
            done = run_cli(["backup", str(dest)], self.env(data, Op("backup", lambda d: [])))
            if done.returncode != 0:
                raise RuntimeError(f"the reference backup failed: {done.stderr[-2000:]}")
            self.refs["backup"] = ({}, time.monotonic() - t0)
            shutil.rmtree(dest)
            self.log(f"reference backup: {self.refs['backup'][1]:.1f} s")
        return self.refs["backup"][1]

    def start_up(self) -> float:
        """The wall time of the cheapest command on the data (``stats``): how long a command
        takes to load before it does anything."""
        if "start-up" not in self.refs:
            op = Op("stats", lambda d: [])
            t0 = time.monotonic()
            run_cli(["stats", "--json"], self.env(self.base.data, op))
            self.refs["start-up"] = ({}, time.monotonic() - t0)
            self.log(f"start-up (facesearch stats): {self.refs['start-up'][1]:.1f} s")
        return self.refs["start-up"][1]

    def reference(self, name: str) -> tuple[dict[str, Any], float]:
        """The uninterrupted run's state and wall time (made on first use)."""
        if name not in self.refs:
            op = self.ops[name]
            data = copy_tree(self.start_dir(op.base), self.fresh(f"ref-{name}"))
            t0 = time.monotonic()
            done = run_cli(op.argv(data), self.env(data, op))
            seconds = time.monotonic() - t0
            if done.returncode != 0:
                raise RuntimeError(f"the reference {name} failed: {done.stderr[-2000:]}")
            self.refs[name] = (state(data, op.key), seconds)
            self.log(f"reference {name}: {seconds:.1f} s")
        return self.refs[name]


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
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return delay, running
