"""One data directory shared by a running service and CLI commands in other processes
(issue 22, findings 1 and 4): the service's searches see the faces a CLI ingest added after
it opened, without a restart, and not the faces another process removed; two CLI ingests at
once are serialised by the data directory's writer lock (the second says whom it waits for)
and the index they leave holds every face of the catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import write_image
from tests.support.cli import make_token
from tests.support.govern import add_user_approved

from facesearch.app.service import SearchRequest, Service
from facesearch.govern.users import Role
from facesearch.search.gallery import Gallery
from facesearch.settings import Settings
from facesearch.store.writer_lock import WriterLock


def _cli_ingest(data: Path, folder: Path, token: str, err: Path) -> subprocess.Popen[str]:
    """``facesearch ingest FOLDER --token ...`` in its own process, its stderr in ``err``."""
    env = {k: v for k, v in os.environ.items() if k not in ("FACESEARCH_TOKEN", "FACESEARCH_USER")}
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "facesearch", "ingest", str(folder), "--workers", "0"),
            *("--json", "--token", token, "--data-dir", str(data)),
        ],
        stdout=subprocess.PIPE,
        stderr=err.open("w"),
        text=True,
        env=env,
    )


def _finish(proc: subprocess.Popen[str], err: Path) -> dict[str, object]:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.read_text()
    report: dict[str, object] = json.loads(out)
    return report


@pytest.fixture
def service(tmp_path, pipeline, other_faces):
    data = tmp_path / "data"
    svc = Service.for_cli(Settings(data_dir=data), pipeline=pipeline)
    svc.library.initialise("admin")
    gov = svc.governance
    add_user_approved(gov, "admin", "sup", [Role.SUPERVISOR])
    gov.add_user("admin", "inv", [Role.INVESTIGATOR])
    gov.open_case("inv", "C-1", "threat-to-life", "Order 7", "imminent threat")
    gov.approve_case("sup", "C-1")
    first = tmp_path / "first"
    for i, img in enumerate(other_faces[1:7]):
        write_image(first / f"other_{i}.png", img)
    svc.library.ingest(svc.accounts.principal("admin", "cli"), [first], workers=0)
    yield svc
    svc.close()


def _search(svc: Service, probe: bytes):  # type: ignore[no-untyped-def]
    return svc.searches.search(
        svc.accounts.principal("inv", "cli"), "C-1", probe, SearchRequest(k=5)
    )


def _path(candidate) -> str:  # type: ignore[no-untyped-def]
    return str(candidate.provenance[0]["path"]) if candidate.provenance else ""


def test_the_service_sees_a_cli_ingest_and_another_process_removal(service, tmp_path, astronaut):
    data = service.settings.data_dir
    probe = write_image(tmp_path / "probe.jpg", astronaut[40:300, 120:360]).read_bytes()
    before = _search(service, probe)
    assert all(c.score < 0.5 for c in before.outcome.candidates)

    late = tmp_path / "late"
    write_image(late / "astronaut.png", astronaut)
    write_image(late / "astronaut_flipped.png", np.ascontiguousarray(astronaut[:, ::-1]))
    err = tmp_path / "ingest.err"
    report = _finish(_cli_ingest(data, late, make_token(data, "admin"), err), err)
    assert report["faces_indexed"] == 2

    after = _search(service, probe)  # the same service: no restart
    assert after.gallery_size == before.gallery_size + 2
    found = [c for c in after.outcome.candidates if "astronaut" in _path(c)]
    assert len(found) == 2 and all(c.score > 0.5 for c in found)

    # another process (its own gallery and index) removes one of them
    with Service.for_cli(Settings(data_dir=data)) as other:
        admin = other.accounts.principal("admin", "cli")
        assert other.admin.remove_faces(admin, [found[0].face_id], "test") == 1
    again = _search(service, probe)
    assert again.gallery_size == before.gallery_size + 1
    ids = {c.face_id for c in again.outcome.candidates}
    assert found[0].face_id not in ids and found[1].face_id in ids


@pytest.mark.e2e
def test_two_cli_ingests_at_once_are_serialised(tmp_path, pipeline, other_faces):
    data = tmp_path / "data"
    with Service.for_cli(Settings(data_dir=data), pipeline=pipeline) as svc:
        svc.library.initialise("admin")
    token = make_token(data, "admin")
    folders = [tmp_path / "a", tmp_path / "b"]
    for n, folder in enumerate(folders):
        for i, img in enumerate(other_faces[1 + 15 * n : 16 + 15 * n]):
            write_image(folder / f"{i:02d}.png", img)
    errs = [tmp_path / "a.err", tmp_path / "b.err"]

    # this test holds the lock as an ingest would, until both commands wait for it
    held = WriterLock(data)
    with held.hold("ingest"):
        procs = [_cli_ingest(data, f, token, e) for f, e in zip(folders, errs, strict=True)]
        deadline = time.monotonic() + 300
        mine = f"waiting for the ingest of pid {os.getpid()} "
        while not all(mine in e.read_text() for e in errs):
            assert all(p.poll() is None for p in procs), [e.read_text() for e in errs]
            assert time.monotonic() < deadline, [e.read_text() for e in errs]
            time.sleep(0.2)
    reports = [_finish(p, e) for p, e in zip(procs, errs, strict=True)]
    texts = [e.read_text() for e in errs]
    # whichever went second waited for the other, and said so
    assert any(
        f"waiting for the ingest of pid {procs[1 - i].pid} " in texts[i] for i in range(2)
    ), texts

    indexed = sum(int(r["faces_indexed"]) for r in reports)  # type: ignore[call-overload]
    assert indexed > 0
    with Gallery.open(data, pipeline=pipeline) as g:
        count, _ = g.catalog.searchable_summary(g.model_key)
        assert len(g.index) == count == indexed
        assert g.index_repairs == {}  # the saved index lost nothing
