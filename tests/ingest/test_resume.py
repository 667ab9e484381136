"""An ingest killed mid-run (kill -9 or Ctrl-C) resumes with nothing lost and nothing doubled."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import write_image
from tests.support.cli import init_args, init_input, make_token


@pytest.fixture
def many_photos(tmp_path: Path, other_faces) -> Path:
    folder = tmp_path / "many"
    for i, img in enumerate(other_faces[1:101]):
        write_image(folder / f"{i:03d}.png", img)
        write_image(folder / f"{i:03d}_flip.png", np.ascontiguousarray(img[:, ::-1]))
    return folder


@pytest.fixture
def some_photos(tmp_path: Path, other_faces) -> Path:
    folder = tmp_path / "some"
    for i, img in enumerate(other_faces[1:31]):
        write_image(folder / f"{i:03d}.png", img)
    return folder


def _cli(data: Path, *args: str) -> subprocess.Popen[bytes]:
    """``facesearch ARGS`` as the administrator of ``data`` (set up on first use), with a
    token of theirs in a private token file."""
    token_file = data.parent / f"{data.name}-admin.token"
    env = {**os.environ, "FACESEARCH_TOKEN_FILE": str(token_file)}
    env.pop("FACESEARCH_USER", None)
    env.pop("FACESEARCH_TOKEN", None)
    if not (data / "catalog.db").exists():
        subprocess.run(
            [sys.executable, "-m", "facesearch", "-d", str(data), *init_args("admin")],
            input=init_input("admin").encode(),
            check=True,
            capture_output=True,
            env=env,
        )
        token_file.write_text(make_token(data, "admin"), encoding="ascii")
        token_file.chmod(0o600)
    return subprocess.Popen(
        [sys.executable, "-m", "facesearch", *args, "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def _stored_images(data: Path) -> int:
    db = data / "catalog.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute("select count(*) from images").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _wait_for_images(data: Path, proc: subprocess.Popen[bytes], at_least: int) -> None:
    deadline = time.monotonic() + 240
    while _stored_images(data) < at_least:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "ingest made no progress"
        time.sleep(0.05)


def _check_consistent(data: Path, expected_images: int, expected_provenance: int) -> None:
    from facesearch.search.gallery import Gallery

    with Gallery.open(data) as g:
        stats = g.catalog.stats()
        assert stats["images"] == expected_images
        catalog_ids = g.catalog.face_ids(g.model_key)
        assert np.array_equal(g.index.ids(), catalog_ids)
        with sqlite3.connect(data / "catalog.db") as conn:
            dup = conn.execute(
                "select count(*) from (select sha256 from images group by sha256 having count(*)>1)"
            ).fetchone()[0]
            provs = conn.execute("select count(*) from provenance").fetchone()[0]
        assert dup == 0
        assert provs == expected_provenance


@pytest.mark.slow
@pytest.mark.long  # make test-long; the crash trials (make test-trials, in CI) kill ingests
def test_kill_9_mid_ingest_then_resume(many_photos, tmp_path):
    data = tmp_path / "data"
    first = sorted(many_photos.iterdir())[:10]
    warm = tmp_path / "warm"
    warm.mkdir()
    for p in first:
        (warm / p.name).write_bytes(p.read_bytes())
    assert _cli(data, "ingest", str(warm), "--workers", "0").wait(timeout=240) == 0

    proc = _cli(data, "ingest", str(many_photos), "--workers", "0")
    _wait_for_images(data, proc, at_least=11)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = _stored_images(data)
    assert 10 < partial < 200, f"kill landed outside the run ({partial} images stored)"

    done = _cli(data, "ingest", str(many_photos), "--workers", "0", "--json")
    _, err = done.communicate(timeout=300)
    assert done.returncode == 0, err.decode()
    # the 10 warm-up photos are the same bytes at another path: one more provenance each
    _check_consistent(data, expected_images=200, expected_provenance=210)


@pytest.mark.slow
@pytest.mark.long  # make test-long; the crash trials (make test-trials, in CI) kill ingests too
def test_ctrl_c_stops_cleanly_and_resumes(many_photos, tmp_path):
    data = tmp_path / "data"
    proc = _cli(data, "ingest", str(many_photos), "--workers", "1")
    _wait_for_images(data, proc, at_least=1)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert b"interrupted" in out
    resumed = _cli(data, "ingest", str(many_photos), "--workers", "1", "--json")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()
    _check_consistent(data, expected_images=200, expected_provenance=200)


def test_index_repaired_when_it_disagrees_with_the_catalog(gallery, some_photos):
    from facesearch.search.gallery import Gallery

    gallery.ingest([some_photos], workers=0)
    wanted = gallery.catalog.face_ids(gallery.model_key)
    data = gallery.data_dir
    # simulate a crash between catalog and index writes: index lost some faces, kept a ghost
    index = gallery.index
    index.remove(wanted[:7])
    index.add(np.array([10**9]), np.ones((1, index.dim), np.float32) / np.sqrt(index.dim))
    index.save(gallery.index_dir)
    gallery.close()
    with Gallery.open(data) as reopened:
        assert np.array_equal(reopened.index.ids(), wanted)
        assert reopened.index_repairs == {"added": 7, "removed": 1}


def test_corrupt_index_file_is_rebuilt(gallery, some_photos):
    from facesearch.search.gallery import Gallery

    gallery.ingest([some_photos], workers=0)
    wanted = gallery.catalog.face_ids(gallery.model_key)
    data = gallery.data_dir
    gallery.close()
    (data / "index" / "vectors.faiss").write_bytes(b"garbage")
    with Gallery.open(data) as reopened:
        assert np.array_equal(reopened.index.ids(), wanted)
        assert reopened.index_repairs == {"rebuilt": 1}


def test_removed_faces_leave_results_at_once(gallery, some_photos):
    gallery.ingest([some_photos], workers=0)
    probe = some_photos / "000.png"
    top = gallery.search(probe, k=1).candidates[0]
    assert gallery.remove_faces([top.face_id]) == 1
    again = gallery.search(probe, k=5)
    assert top.face_id not in [c.face_id for c in again.candidates]


def _worker_pids(parent: int) -> list[int]:
    pids = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            try:
                cmd = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
                pids.append(int(child))
    return pids


@pytest.mark.slow
@pytest.mark.long  # make test-long; the crash trials (make test-trials, in CI) kill workers too
def test_a_killed_worker_does_not_stop_the_run(many_photos, tmp_path):
    data = tmp_path / "data"
    proc = _cli(data, "ingest", str(many_photos), "--workers", "2", "--json")
    _wait_for_images(data, proc, at_least=1)
    victims = _worker_pids(proc.pid)
    assert victims, "no worker processes found"
    os.kill(victims[0], signal.SIGKILL)  # as the out-of-memory killer would
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["worker_crashes"] >= 1
    assert summary["failures"] == []  # every image of the lost batch was retried
    _check_consistent(data, expected_images=200, expected_provenance=200)


def test_index_structure_follows_the_gallery_size(gallery, some_photos, monkeypatch):
    """Past the size limit of exact search, ingest switches the index to compressed codes
    with exact re-ranking; results stay those of exact search over the live faces."""
    from facesearch.store.vectors import plan

    monkeypatch.setattr(plan, "FLAT_MAX", 20)  # 30 faces: past the limit
    gallery.ingest([some_photos], workers=0)
    assert gallery.index.describe()["kind"] == "pq_refine"
    probe = some_photos / "000.png"
    wanted = gallery.catalog.face_ids(gallery.model_key)
    assert np.array_equal(gallery.index.ids(), wanted)
    emb = gallery.embed(probe)[0].embedding
    exact = gallery.catalog.embeddings(wanted) @ emb
    # the index's own ranking (SFace scores; gallery.search then re-ranks by fused score)
    top = gallery.search_embedding(emb, k=5, model=gallery.model_key).candidates
    assert [c.face_id for c in top] == [int(wanted[i]) for i in np.argsort(-exact)[:5]]
    gallery.remove_faces([top[0].face_id])
    assert top[0].face_id not in [c.face_id for c in gallery.search(probe, k=5).candidates]
    data = gallery.data_dir
    gallery.close()
    from facesearch.search.gallery import Gallery

    with Gallery.open(data) as reopened:
        assert reopened.index.describe()["kind"] == "pq_refine"
        assert top[0].face_id not in reopened.index.ids()
