#!/usr/bin/env python3
"""Every optional extra installs and works on a fresh machine (issue 22, finding 7).

For each extra in pyproject.toml (``dev`` aside) this makes a clean venv in a temporary
folder, copies the project's source into a clean folder beside it, runs the README's install
line for that extra there (``pip install '.[postgres]'``, without the dev extra), then, with
the venv's own Python, imports the backend the extra is for through facesearch's own module
and connects it where a server is at hand:

==========  ===================================================================================
postgres    ``facesearch stats --json`` on a fresh schema of the local PostgreSQL
            ($FACESEARCH_TEST_POSTGRES_URL, default 127.0.0.1:5432/test): the catalog created by
            its migrations over psycopg. Without a server: import only (a failure under CI).
milvus      pymilvus and ``store/vectors/milvus.py`` (pymilvus 2.4 imports ``pkg_resources``:
            the pin on setuptools is what lets it import); the store's config parsed from a
            ``milvus://`` URL; with a server at $MILVUS_URI (or $FACESEARCH_TEST_MILVUS_URI)
            a collection is made, two vectors added and searched, and dropped.
            (in CI this script starts one from the dev venv's ``milvus`` package)
s3          boto3 and ``store/s3_blobs.py``; against moto's S3 server when this script's own
            Python has moto (the dev venv in CI): a blob put, read back and deleted.
ray         ``ingest/ray_executor.py``'s ``RayExecutor`` on a local cluster of 1 CPU, one remote
            call through it.
eval        matplotlib through ``evaluate/plots.py``: a ROC curve written as a PNG.
==========  ===================================================================================

One line per extra with its times; the pip log's tail when an install fails; exit status 1
when any extra fails. The venvs share pip's cache; ``--jobs`` runs that many extras at once.

    python scripts/check_extras.py                 # every extra, 2 at a time
    python scripts/check_extras.py postgres s3     # some
    python scripts/check_extras.py --print-commands

``--print-commands`` prints the install line of each extra (tests/test_docs.py checks that
README.md shows exactly these).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
SKIPPED_EXTRAS = {"dev"}  # the test tools: CI installs them itself (.ci/run)
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# what a fresh copy of the project needs to build (nothing else is copied: no venv, no data)
SOURCE_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
    ".pytest_cache", ".mypy_cache", ".ruff_cache", "facesearch-data", "node_modules",
    "benchmarks", "tests", "docs",
)  # fmt: skip


def install_command(extra: str) -> str:
    """The README's install line for ``extra``, run as it stands in the project's folder."""
    return f"pip install '.[{extra}]'"


def extras() -> list[str]:
    """Every optional extra of pyproject.toml but the dev tools, in the file's order."""
    with (REPO / "pyproject.toml").open("rb") as fh:
        project = tomllib.load(fh)["project"]
    return [e for e in project["optional-dependencies"] if e not in SKIPPED_EXTRAS]


# --- the parent: venvs, installs, one line per extra -------------------------------------------


@dataclass
class Outcome:
    extra: str
    ok: bool
    install_s: float
    check_s: float
    said: str

    def line(self) -> str:
        status = "ok    " if self.ok else "FAILED"
        times = f"{self.install_s + self.check_s:6.1f} s (install {self.install_s:5.1f} s, "
        times += f"check {self.check_s:5.1f} s)"
        return f"{self.extra:<9} {status} {times}  {self.said}"


def clean_environment(extra_env: dict[str, str]) -> dict[str, str]:
    """This process's environment less what would make the fresh venv less fresh: another
    venv, a PYTHONPATH onto a source tree, facesearch's own settings (the tests' server
    addresses, ``FACESEARCH_TEST_*``, are kept)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")
        and (not k.startswith("FACESEARCH_") or k.startswith("FACESEARCH_TEST_"))
    }
    if "VIRTUAL_ENV" in os.environ:  # the activated venv's bin/ off PATH
        venv_bin = str(Path(os.environ["VIRTUAL_ENV"]) / "bin")
        env["PATH"] = os.pathsep.join(
            p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin
        )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra_env)
    return env


def check_extra(extra: str, work: Path, extra_env: dict[str, str]) -> Outcome:
    """Make the venv, install the extra with the README's line, run the probe in the venv."""
    root = work / extra
    source, venv = root / "facesearch", root / "venv"
    shutil.copytree(REPO, source, ignore=SOURCE_IGNORE)
    env = clean_environment(extra_env)
    t0 = time.perf_counter()
    log = root / "pip.log"
    install = f". {shlex.quote(str(venv))}/bin/activate && {install_command(extra)}"
    with log.open("wb") as out:
        made = subprocess.run(
            [sys.executable, "-m", "venv", str(venv)], stdout=out, stderr=subprocess.STDOUT
        )
        done = made.returncode == 0 and (
            subprocess.run(
                ["bash", "-c", install],
                cwd=source,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            ).returncode
            == 0
        )
    install_s = time.perf_counter() - t0
    if not done:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        said = f"`{install_command(extra)}` failed; the end of pip's log:\n    " + "\n    ".join(
            tail
        )
        return Outcome(extra, False, install_s, 0.0, said)
    t1 = time.perf_counter()
    probe_env = {**env, "CHECK_EXTRAS_WORK": str(root)}
    probe = subprocess.run(
        [str(venv / "bin" / "python"), str(Path(__file__).resolve()), "--probe", extra],
        cwd=root,  # not the source folder: facesearch must come from the venv
        env=probe_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
    )
    check_s = time.perf_counter() - t1
    lines = probe.stdout.strip().splitlines()
    if probe.returncode == 0 and lines:
        return Outcome(extra, True, install_s, check_s, lines[-1])
    tail = (probe.stdout + probe.stderr).strip().splitlines()[-25:]
    said = "the check failed:\n    " + "\n    ".join(tail)
    return Outcome(extra, False, install_s, check_s, said)


@contextmanager
def moto_server() -> Iterator[str | None]:
    """moto's S3 server on loopback when this Python has moto (the dev venv), else None."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        yield None
        return
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextmanager
def milvus_server(wanted: bool, base: Path) -> Iterator[str | None]:
    """A Milvus standalone on loopback (the ``milvus`` package's server binary, ~20 s to
    start) when ``wanted``, no server is named by $MILVUS_URI, and this Python has the
    package (the dev venv); else None (the milvus check then imports and parses only)."""
    if not wanted or os.environ.get("MILVUS_URI") or os.environ.get("FACESEARCH_TEST_MILVUS_URI"):
        yield None
        return
    try:
        from milvus import MilvusServer
    except ImportError:
        yield None
        return
    server = MilvusServer()
    server.set_base_dir(str(base))
    try:
        server.start()
    except Exception as exc:  # e.g. not Linux x86_64: the check says it did not connect
        print(f"milvus: the standalone server did not start here ({exc})", flush=True)
        yield None
        return
    try:
        yield f"http://127.0.0.1:{server.listen_port}"
    finally:
        server.stop()


def run(selected: list[str], jobs: int, keep: bool) -> int:
    work = Path(tempfile.mkdtemp(prefix="check-extras-"))
    print(
        f"checking {len(selected)} extra(s) in fresh venvs under {work}, {jobs} at a time",
        flush=True,
    )
    start = time.perf_counter()
    printing = threading.Lock()
    outcomes: list[Outcome] = []
    try:
        with (
            moto_server() as s3_endpoint,
            milvus_server("milvus" in selected, work / "milvus-server") as milvus_uri,
        ):
            extra_env = {"CHECK_EXTRAS_S3": s3_endpoint} if s3_endpoint else {}
            if milvus_uri:
                extra_env["MILVUS_URI"] = milvus_uri

            def one(extra: str) -> Outcome:
                try:
                    outcome = check_extra(extra, work, extra_env)
                except Exception as exc:  # a broken check must still print its line
                    outcome = Outcome(extra, False, 0.0, 0.0, f"{type(exc).__name__}: {exc}")
                finally:
                    if not keep:
                        shutil.rmtree(work / extra, ignore_errors=True)
                with printing:
                    print(outcome.line(), flush=True)
                outcomes.append(outcome)
                return outcome

            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                list(pool.map(one, selected))
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    failed = [o.extra for o in outcomes if not o.ok]
    total = time.perf_counter() - start
    if failed:
        print(f"extras FAILED: {', '.join(failed)} ({total:.0f} s)", flush=True)
        return 1
    print(f"every extra installs and works: {', '.join(selected)} ({total:.0f} s)", flush=True)
    return 0


# --- the probes: run by the fresh venv's Python ------------------------------------------------


def _facesearch_from_venv() -> None:
    """facesearch as installed in this venv (not a source tree), and no dev tool beside it."""
    import importlib.util

    import facesearch

    where = Path(facesearch.__file__).resolve()
    if Path(sys.prefix).resolve() not in where.parents:
        raise SystemExit(f"facesearch was imported from {where}, not from the venv {sys.prefix}")
    for tool in ("pytest", "moto"):
        if importlib.util.find_spec(tool) is not None:
            raise SystemExit(f"{tool} is installed: the extra pulled in a dev tool")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "", parsed.port or default_port), 3):
            return True
    except OSError:
        return False


def _in_ci() -> bool:
    return bool(os.environ.get("CI"))


def probe_postgres() -> str:
    import uuid

    import psycopg
    import sqlalchemy as sa

    url = os.environ.get("FACESEARCH_TEST_POSTGRES_URL") or DEFAULT_POSTGRES
    shown = urlparse(url.replace("+psycopg", "")).hostname or "?"
    if not _reachable(url, 5432):
        if _in_ci():
            raise SystemExit(f"PostgreSQL is not reachable at {url} in CI")
        return f"psycopg {psycopg.__version__} imported; no PostgreSQL at {shown}: not connected"
    schema = f"check_extras_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in url else "?"
        catalog = f"{url}{sep}options=-csearch_path%3D{schema}"
        data = Path(os.environ["CHECK_EXTRAS_WORK"]) / "data"
        cli = Path(sys.prefix) / "bin" / "facesearch"
        out = subprocess.run(
            [str(cli), "stats", "--json", "-d", str(data), "--database-url", catalog],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if out.returncode != 0:
            raise SystemExit(f"facesearch stats failed:\n{out.stdout}{out.stderr}")
        info = json.loads(out.stdout)
        with engine.connect() as conn:
            tables = conn.execute(
                sa.text("select count(*) from information_schema.tables where table_schema = :s"),
                {"s": schema},
            ).scalar_one()
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
    if not tables:
        raise SystemExit("facesearch stats made no table in PostgreSQL")
    return (
        f"psycopg {psycopg.__version__}: `facesearch stats` on PostgreSQL at {shown} "
        f"({tables} tables made, {info.get('images', '?')} images)"
    )


def probe_milvus() -> str:
    import numpy as np
    import pymilvus

    from facesearch.store.backends import VectorStoreSpec
    from facesearch.store.vectors.milvus import MilvusVectorStore

    uri = os.environ.get("MILVUS_URI") or os.environ.get("FACESEARCH_TEST_MILVUS_URI")
    host = urlparse(uri).netloc if uri else "127.0.0.1:19530"
    spec = VectorStoreSpec.parse(f"milvus://{host}?collection=check_extras&index=FLAT")
    assert spec.milvus is not None
    if uri is None or not _reachable(spec.milvus.uri, 19530):
        where = f"no server at {uri}" if uri else "no MILVUS_URI"
        return (
            f"pymilvus {pymilvus.__version__} and {MilvusVectorStore.__module__} imported, "
            f"config {spec.milvus.uri} parsed; {where}: not connected"
        )
    store = spec.open("check-extras", 4)
    try:
        vectors = np.eye(4, dtype=np.float32)[:2]
        store.add(np.array([1, 2]), vectors)
        found = int(store.search(vectors[:1], 1).ids[0, 0])
        count = store.count()
    finally:
        store.drop()  # type: ignore[attr-defined]
    if found != 1 or count != 2:
        raise SystemExit(f"Milvus held {count} vectors and found face {found} (expected 2, 1)")
    return f"pymilvus {pymilvus.__version__}: a collection on Milvus at {host}, 2 vectors found"


def probe_s3() -> str:
    import boto3

    from facesearch.store.backends import BlobSpec

    endpoint = os.environ.get("CHECK_EXTRAS_S3")
    if endpoint is None:
        from facesearch.store.s3_blobs import S3BlobStore

        return f"boto3 {boto3.__version__} and {S3BlobStore.__module__} imported; no S3 server"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    spec = BlobSpec.parse(f"s3://check-extras/blobs?endpoint_url={endpoint}&region=us-east-1")
    store = spec.open(Path(os.environ["CHECK_EXTRAS_WORK"]), None)
    key = store.put(b"check-extras")
    if store.get(key) != b"check-extras" or not store.delete(key):
        raise SystemExit("the blob read back from S3 differs")
    return f"boto3 {boto3.__version__}: a blob put, read and deleted on moto's S3 at {endpoint}"


def _nothing() -> None:
    """The actors' initializer: this check loads no model."""


def _square(x: int) -> int:
    return x * x


def probe_ray() -> str:
    import ray

    from facesearch.ingest.ray_executor import RayExecutor

    executor = RayExecutor(1, _nothing, ())
    try:
        got = executor.submit(_square, 7).result(timeout=300)
        pids = executor.pids()
    finally:
        executor.shutdown()
    if got != 49:
        raise SystemExit(f"the remote call returned {got!r}")
    return f"ray {ray.__version__}: RayExecutor on a local cluster, 1 remote call in actor {pids}"


def probe_eval() -> str:
    import matplotlib

    from facesearch.evaluate.plots import plot_roc

    out = plot_roc(
        {"check": ([0.001, 0.01, 0.1, 1.0], [0.5, 0.8, 0.95, 1.0])},
        Path(os.environ["CHECK_EXTRAS_WORK"]) / "roc.png",
    )
    if out.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{out} is not a PNG")
    return f"matplotlib {matplotlib.__version__}: a ROC curve drawn ({out.stat().st_size} B PNG)"


PROBES: dict[str, Callable[[], str]] = {
    "postgres": probe_postgres,
    "milvus": probe_milvus,
    "s3": probe_s3,
    "ray": probe_ray,
    "eval": probe_eval,
}


def probe(extra: str) -> int:
    _facesearch_from_venv()
    check = PROBES.get(extra)
    if check is None:
        import importlib.metadata

        requires = importlib.metadata.requires("facesearch") or []
        wanted = [r for r in requires if f'extra == "{extra}"' in r]
        print(f"installed ({len(wanted)} requirements); no check written for it yet")
        return 0
    print(check(), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("extras", nargs="*", help="extras to check (default: all but dev)")
    parser.add_argument("--jobs", type=int, default=2, help="extras checked at once")
    parser.add_argument("--keep", action="store_true", help="keep the venvs (for a look)")
    parser.add_argument("--print-commands", action="store_true", help="print the install lines")
    parser.add_argument("--probe", metavar="EXTRA", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        return probe(args.probe)
    known = extras()
    if args.print_commands:
        for extra in known:
            print(install_command(extra))
        return 0
    unknown = sorted(set(args.extras) - set(known))
    if unknown:
        parser.error(f"unknown extra(s) {', '.join(unknown)}: one of {', '.join(known)}")
    return run(args.extras or known, args.jobs, args.keep)


if __name__ == "__main__":
    sys.exit(main())
