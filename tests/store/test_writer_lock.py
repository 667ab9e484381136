"""The data directory's writer lock (``store/writer_lock.py``) and the catalog's generation
(``store/generation.py``): one writer at a time, a clear word about whom a second one waits
for, a refusal after a time-out, no lock left behind by a killed holder; every commit that adds
or removes faces moves the generation, and a face id is never given twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from facesearch.store.catalog import FaceRecord, ImageRecord, ProvenanceRecord, SqlCatalog
from facesearch.store.writer_lock import WriterBusyError, WriterLock


def test_a_second_writer_waits_and_says_for_whom(tmp_path: Path) -> None:
    first = WriterLock(tmp_path)
    told: list[str] = []
    second = WriterLock(tmp_path, on_wait=told.append)
    order: list[str] = []
    with first.hold("ingest"):
        holder = second.holder()
        assert holder is not None and holder.pid == os.getpid() and holder.what == "ingest"

        def write() -> None:
            with second.hold("removal"):
                order.append("second")

        thread = threading.Thread(target=write)
        thread.start()
        time.sleep(0.6)
        assert order == []  # still waiting
        order.append("first done")
    thread.join(timeout=10)
    assert order == ["first done", "second"]
    assert len(told) == 1
    assert told[0].startswith(f"waiting for the ingest of pid {os.getpid()} (since ")
    assert second.holder() is None


def test_a_timeout_refuses_with_a_clear_message(tmp_path: Path) -> None:
    first = WriterLock(tmp_path)
    second = WriterLock(tmp_path, timeout=0.3, on_wait=lambda _: None)
    with first.hold("re-index"):
        start = time.monotonic()
        with pytest.raises(WriterBusyError) as refused, second.hold("ingest"):
            pass
        assert time.monotonic() - start < 5
        assert f"the re-index of pid {os.getpid()}" in str(refused.value)
        assert "nothing was written" in str(refused.value)
        with second.try_hold("index save") as held:
            assert held is False
    with second.hold("ingest"):  # free again
        assert second.held


def test_re_entrant_in_the_holding_thread(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path)
    other = WriterLock(tmp_path)
    with lock.hold("ingest"):
        with lock.hold("second-vector pass"), lock.try_hold("index save") as held:
            assert held
        with other.try_hold("x") as other_held:
            assert not other_held  # still held: the outer hold goes on
    with other.try_hold("x") as other_held:
        assert other_held


def test_a_holder_killed_with_sigkill_leaves_no_lock(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys, time
        from facesearch.store.writer_lock import WriterLock
        lock = WriterLock({str(tmp_path)!r})
        with lock.hold("ingest"):
            print("held", flush=True)
            time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        lock = WriterLock(tmp_path, timeout=0.2, on_wait=lambda _: None)
        holder = lock.holder()
        assert holder is not None and holder.pid == proc.pid
        with pytest.raises(WriterBusyError), lock.hold("ingest"):
            pass
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        with lock.hold("ingest"):  # the kernel dropped the dead holder's lock
            assert lock.held
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _record(sha: str, n_faces: int = 1) -> ImageRecord:
    rng = np.random.default_rng(len(sha))
    faces = []
    for i in range(n_faces):
        v = rng.normal(size=8).astype(np.float32)
        faces.append(
            FaceRecord(
                face_index=i,
                bbox=(0.0, 0.0, 10.0, 10.0),
                landmarks=[[1.0, 1.0]] * 5,
                detector_score=0.9,
                quality=0.9,
                sharpness=1.0,
                yaw=0.0,
                flags=(),
                model="m",
                embedding=v / np.linalg.norm(v),
                crop=None,
            )
        )
    return ImageRecord(
        sha256=sha,
        size_bytes=1,
        width=10,
        height=10,
        format="PNG",
        path=f"/x/{sha}.png",
        thumbnail=None,
        faces=faces,
        provenance=ProvenanceRecord(collection="c", path=f"/x/{sha}.png"),
    )


def test_generation_moves_with_faces_and_ids_are_never_given_twice(tmp_path: Path) -> None:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        assert catalog.generation() == 0
        [first] = catalog.add_images([_record("a" * 64, 2)], None)
        g1 = catalog.generation()
        assert g1 == 1
        catalog.add_images([_record("a" * 64, 2)], None)  # already stored: no new face
        assert catalog.generation() == g1
        newest = max(first)
        removed, _ = catalog.remove_faces([newest])
        assert removed == 1 and catalog.generation() == g1 + 1
        [again] = catalog.add_images([_record("b" * 64, 1)], None)
        # SQLite alone would give the deleted newest face's id again
        assert again[0] > newest
        assert catalog.generation() == g1 + 2
    finally:
        catalog.close()
