"""At the command line a write the storage refuses is one line on stderr, exit code 1, no
traceback (issue 22, finding 5): the disk full during an ingest (the run is marked failed and
a rerun resumes, nothing doubled), a read-only data directory, a locked catalog."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import write_image
from tests.support.cli import init_args, init_input, make_token
from tests.support.disk import fill, read_only_view, small_disk
from typer.testing import CliRunner

from facesearch.cli import app

runner = CliRunner()
LOST = "nothing stored so far was lost"


def _init(data: Path) -> str:
    res = runner.invoke(app, ["-d", str(data), *init_args("admin")], input=init_input("admin"))
    assert res.exit_code == 0, res.output
    return make_token(data, "admin")


def _ingest(data: Path, photos: Path, token: str, *extra: str):
    env = {"FACESEARCH_TOKEN": token, "FACESEARCH_USER": None}
    args = ["ingest", str(photos), "-d", str(data), "--workers", "0", "--json", *extra]
    return runner.invoke(app, args, env=env)


def _one_error_line(res) -> str:  # type: ignore[no-untyped-def]
    """The command failed with exit code 1 and said so in one line, without a traceback."""
    assert res.exit_code == 1, res.output
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.output
    return lines[0]


def _photos(folder: Path, other_faces: list[np.ndarray], n: int) -> Path:
    for i, face in enumerate(other_faces[1 : n + 1]):
        write_image(folder / f"face{i:02d}.png", face)
    return folder


def _catalog(data: Path, query: str) -> list[tuple]:
    conn = sqlite3.connect(data / "catalog.db")
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


@pytest.mark.slow  # four commands, three of them loading the models: 4-13 s on 2 busy cores
def test_a_full_disk_during_ingest_is_one_line_the_run_failed_and_a_rerun_resumes(
    tmp_path, other_faces
):
    n = 6
    photos = _photos(tmp_path / "photos", other_faces, n)
    first = _photos(tmp_path / "first", other_faces[n:], 1)
    with small_disk(tmp_path / "disk", 4 * 1024) as disk:
        data = disk / "data"
        token = _init(data)
        assert _ingest(data, first, token).exit_code == 0  # stored before the disk fills
        filler = fill(disk, leave=64 * 1024)
        line = _one_error_line(_ingest(data, photos, token))
        assert line.startswith("error: cannot write the "), line
        assert f"the disk is full; {LOST}. Free space, then run the command again" in line
        assert _catalog(data, "select status from ingest_runs order by id") == [
            ("completed",),
            ("failed",),
        ]
        filler.unlink()
        res = _ingest(data, photos, token)
        assert res.exit_code == 0, res.output
        assert _catalog(data, "select status from ingest_runs order by id") == [
            ("completed",),
            ("failed",),
            ("completed",),
        ]
        [(images, faces, distinct)] = _catalog(
            data,
            "select (select count(*) from images), count(*), "
            "count(distinct image_id || '/' || face_index) from faces",
        )
        assert images == n + 1 and faces == distinct  # nothing lost, nothing doubled


def test_a_read_only_data_directory_is_one_line(tmp_path, other_faces):
    photos = _photos(tmp_path / "photos", other_faces, 1)
    data = tmp_path / "data"
    token = _init(data)
    with read_only_view(data, tmp_path / "ro") as view:
        line = _one_error_line(_ingest(view, photos, token))
    assert line == (
        f"error: cannot write the catalog ({view}): the file system is read-only; {LOST}. "
        "Make it writable, then run the command again (an ingest skips what it stored)."
    )


def test_a_locked_catalog_is_one_line_after_the_busy_timeout(tmp_path, other_faces):
    photos = _photos(tmp_path / "photos", other_faces, 1)
    data = tmp_path / "data"
    token = _init(data)
    other = sqlite3.connect(data / "catalog.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        url = f"sqlite:///{data / 'catalog.db'}?timeout=0.3"
        line = _one_error_line(_ingest(data, photos, token, "--database-url", url))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert line.startswith(
        f"error: cannot write the catalog: another process holds its lock; {LOST}."
    )
