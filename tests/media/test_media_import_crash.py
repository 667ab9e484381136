"""A media import survives a worker killed by one of the seized files (SIGKILL, as the
out-of-memory killer or a crash in native code would): that file is reported as failed, with
the reason, and every other file is imported. Real models, real worker processes."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable
from typing import Any

import pytest
from tests.support.media import cfp_frontal, make_app

from facesearch.ingest.batches import CRASH_REASON, process_pool
from facesearch.store.ports import Executor

POISON = b"SEIZED-FILE-THAT-KILLS-ITS-WORKER"


def _kill_on_poison(data: bytes, *args: Any, **kwargs: Any) -> Any:
    from facesearch.engine.decode import decode_bytes

    if POISON in data:
        os.kill(os.getpid(), signal.SIGKILL)
    return decode_bytes(data, *args, **kwargs)


def poisoned_init(initializer: Callable[..., None], *initargs: Any) -> None:
    """The media worker's own set-up, then its decoder made to die on the poisoned file."""
    from facesearch.media import worker

    initializer(*initargs)
    worker.decode_bytes = _kill_on_poison  # type: ignore[assignment]


def _poisoned_pool(
    workers: int, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()
) -> Executor:
    assert initializer is not None
    return process_pool(workers, poisoned_init, (initializer, *initargs))


@pytest.mark.slow
@pytest.mark.e2e
def test_a_worker_killed_by_a_file_fails_that_file_and_the_import_finishes(
    tmp_path, shared_faces, pipeline, monkeypatch
):
    from facesearch.media import importer

    monkeypatch.setattr(importer, "process_pool", _poisoned_pool)
    root = tmp_path / "seized"
    root.mkdir()
    good = []
    for person in range(1, 6):
        target = root / f"photo{person}.jpg"
        shutil.copy(cfp_frontal(shared_faces, person, 1), target)
        good.append(f"seized/{target.name}")
    poisoned = cfp_frontal(shared_faces, 6, 1).read_bytes() + POISON
    (root / "poisoned.jpg").write_bytes(poisoned)
    s = make_app(tmp_path / "data", pipeline)
    try:
        report = s.media.import_media("ivy", "A", [root], workers=2)
        assert not report.interrupted
        assert report.failures == [("seized/poisoned.jpg", CRASH_REASON)]
        assert report.worker_crashes >= 2  # its batch, then the file alone
        assert report.files_new == len(good) and report.faces >= len(good)
        files = {f["path"]: f for f in s.media.files("ivy", "A")}
        assert sorted(files) == sorted(good)
        assert all(f["status"] == "faces" for f in files.values())
        # resumable as ever: a second run imports nothing new and fails the file again
        again = s.media.import_media("ivy", "A", [root], workers=2)
        assert again.already_imported == len(good) and again.files_new == 0
        assert again.failures == [("seized/poisoned.jpg", CRASH_REASON)]
    finally:
        s.service.close()
