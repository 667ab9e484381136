"""A write the storage refuses is one clear error, loses nothing, and an ingest resumes
(issue 22, finding 5): the disk full (a real size-limited tmpfs), a file over the size limit
(RLIMIT_FSIZE: EFBIG), a read-only folder (a read-only bind mount), a locked catalog (another
connection holding ``BEGIN EXCLUSIVE``)."""

from __future__ import annotations

import errno
import os
import pickle
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import write_image
from tests.support.disk import fill, read_only_view, small_disk

from facesearch.errors import StorageError, storage_error
from facesearch.ingest.runner import IngestRun
from facesearch.search.gallery import Gallery
from facesearch.search.gallery_sink import GallerySink
from facesearch.store.blobs import FileBlobStore
from facesearch.store.catalog import SqlCatalog
from facesearch.store.vectors.files import atomic_write

LOST = "nothing stored so far was lost"


@pytest.mark.parametrize(
    ("code", "kind", "reason"),
    [
        (errno.ENOSPC, "full", "the disk is full"),
        (errno.EDQUOT, "full", "the disk quota is used up"),
        (errno.EFBIG, "full", "the file size limit was reached"),
        (errno.EROFS, "read-only", "the file system is read-only"),
        (errno.EACCES, "read-only", "permission denied"),
    ],
)
def test_refusals_of_the_storage_become_one_storage_error(code, kind, reason):
    exc = OSError(code, os.strerror(code), "/data/blobs/ab/cd/.x.tmp")
    told = storage_error(exc, "the blob store", "/data/blobs")
    assert isinstance(told, StorageError)
    assert (told.kind, told.reason) == (kind, reason)
    text = str(told)
    assert "\n" not in text
    assert text.startswith(f"cannot write the blob store (/data/blobs): {reason}; {LOST}.")
    assert "/data" not in told.public and LOST in told.public
    again = pickle.loads(pickle.dumps(told))  # it crosses process pools and Ray
    assert (str(again), again.kind) == (text, kind)


def test_other_errors_are_not_storage_errors():
    assert storage_error(OSError(errno.EIO, "I/O error"), "x") is None
    assert storage_error(FileNotFoundError(errno.ENOENT, "No such file"), "x") is None
    assert storage_error(ValueError("database is locked"), "x") is None  # not SQLite's
    full = storage_error(sqlite3.OperationalError("database or disk is full"), "the catalog")
    assert full is not None and full.kind == "full"
    locked = storage_error(sqlite3.OperationalError("database is locked"), "the catalog")
    assert locked is not None and locked.kind == "locked"


def test_a_full_disk_refuses_a_blob_cleanly_and_keeps_what_was_stored(tmp_path):
    with small_disk(tmp_path / "disk", 512) as disk:
        blobs = FileBlobStore(disk / "blobs")
        kept = blobs.put(b"stored before the disk filled")
        filler = fill(disk, leave=16 * 1024)
        with pytest.raises(StorageError) as caught:
            blobs.put(os.urandom(256 * 1024))
        assert caught.value.kind == "full"
        assert str(caught.value).startswith(f"cannot write the blob store ({disk / 'blobs'})")
        assert not list((disk / "blobs").rglob("*.tmp"))  # no partial file left behind
        assert blobs.get(kept) == b"stored before the disk filled"
        filler.unlink()
        again = blobs.put(os.urandom(256 * 1024))  # space back: it works
        assert blobs.exists(again)


def test_a_full_disk_refuses_an_index_save_and_keeps_the_saved_one(tmp_path):
    with small_disk(tmp_path / "disk", 512) as disk:
        saved = disk / "vectors.faiss"
        atomic_write(saved, b"the index saved before")
        filler = fill(disk, leave=16 * 1024)
        with pytest.raises(StorageError) as caught:
            atomic_write(saved, os.urandom(256 * 1024))
        assert caught.value.kind == "full" and caught.value.what == "the vector index"
        assert saved.read_bytes() == b"the index saved before"
        assert [p.name for p in disk.iterdir()] == sorted(["vectors.faiss", filler.name])


def test_a_read_only_folder_refuses_a_blob(tmp_path):
    (tmp_path / "blobs").mkdir()
    with (
        read_only_view(tmp_path / "blobs", tmp_path / "view") as view,
        pytest.raises(StorageError) as caught,
    ):
        FileBlobStore(view).put(b"x")
    assert caught.value.kind == "read-only"
    assert "the file system is read-only" in str(caught.value)


def test_the_file_size_limit_efbig_is_a_storage_error(tmp_path):
    """RLIMIT_FSIZE in a child process: the write past it gets EFBIG (Python ignores
    SIGXFSZ), which is told like a full disk."""
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from facesearch.errors import StorageError\n"
        "from facesearch.store.blobs import FileBlobStore\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))\n"
        "try:\n"
        "    FileBlobStore(Path(sys.argv[1])).put(bytes(200000))\n"
        "except StorageError as exc:\n"
        "    print(exc.kind, '|', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "blobs")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("full | cannot write the blob store"), out.stdout
    assert "the file size limit was reached" in out.stdout
    assert not list((tmp_path / "blobs").rglob("*.tmp"))


def test_a_locked_catalog_is_refused_after_its_busy_timeout(tmp_path):
    path = tmp_path / "catalog.db"
    catalog = SqlCatalog(f"sqlite:///{path}?timeout=0.3")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(StorageError) as caught:
            catalog.start_run(["photos"], None)
        assert time.monotonic() - started < 10
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert caught.value.kind == "locked"
    assert str(caught.value).startswith(
        f"cannot write the catalog: another process holds its lock; {LOST}."
    )
    assert catalog.start_run(["photos"], None) == 1  # released: the write goes through
    catalog.close()


def _photos(folder: Path, other_faces: list[np.ndarray], n: int) -> Path:
    for i, face in enumerate(other_faces[1 : n + 1]):
        write_image(folder / f"face{i:02d}.png", face)
    return folder


def _face_rows(catalog: SqlCatalog) -> tuple[int, int, int]:
    """Images, faces, and distinct (image, face index) pairs in the catalog."""
    conn = sqlite3.connect(str(catalog.engine.url.database))
    try:
        images = conn.execute("select count(*) from images").fetchone()[0]
        faces, distinct = conn.execute(
            "select count(*), count(distinct image_id || '/' || face_index) from faces"
        ).fetchone()
    finally:
        conn.close()
    return images, faces, distinct


def test_an_ingest_stopped_by_a_full_disk_is_marked_failed_and_a_rerun_resumes(
    tmp_path, pipeline, other_faces
):
    """Groups of 2 images commit one after another until the disk is full: those stay whole,
    the run is marked failed, and the rerun skips them and stores the rest, nothing twice."""
    n = 12
    photos = _photos(tmp_path / "photos", other_faces, n)
    with small_disk(tmp_path / "disk", 3 * 1024) as disk:
        gallery = Gallery.open(disk / "data", pipeline=pipeline)
        try:

            def run() -> IngestRun:
                return IngestRun(
                    GallerySink(gallery),
                    [photos],
                    plan=gallery.ingest_plan(),
                    workers=0,
                    batch_size=2,
                    commit_every=2,
                )

            gallery.vectors.store  # noqa: B018  (the index opened before the disk fills)
            filler = fill(disk, leave=96 * 1024)
            with pytest.raises(StorageError) as caught:
                run().run()
            assert caught.value.kind == "full"
            first = gallery.catalog.runs()[0]
            assert first["status"] == "failed"
            stored, faces, distinct = _face_rows(gallery.catalog)
            assert 0 < stored < n, "the disk should fill part-way through"
            filler.unlink()
            report = run().run()
            assert gallery.catalog.runs()[0]["status"] == "completed"
            assert report.images_already_stored == stored
            assert report.images_new == n - stored
            images, faces, distinct = _face_rows(gallery.catalog)
            assert images == n and faces == distinct  # nothing doubled
            searchable = gallery.catalog.searchable_summary(gallery.model_key)[0]
            assert len(gallery.vectors.store) == searchable
        finally:
            gallery.close()
