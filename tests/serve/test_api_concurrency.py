"""The engine under concurrency: the readers-writer lock, the bounded pool, and concurrent
searches through the service giving the same answers as one at a time."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_image
from tests.support.api import api_env

from facesearch.app.concurrency import BusyError, ReadersWriterLock, SearchPool
from facesearch.app.service import SearchRequest


def test_readers_share_writers_exclude() -> None:
    lock = ReadersWriterLock()
    inside: list[str] = []
    both_readers = threading.Barrier(2, timeout=5)

    def reader() -> None:
        with lock.read():
            both_readers.wait()  # two readers inside at once, or this times out
            inside.append("r")

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inside == ["r", "r"]

    order: list[str] = []
    with lock.write():
        t = threading.Thread(target=lambda: (lock.read().__enter__(), order.append("reader")))
        t.start()
        time.sleep(0.2)
        order.append("writer done")
    t.join(5)
    assert order == ["writer done", "reader"]


def test_pool_refuses_beyond_its_capacity() -> None:
    pool = SearchPool(workers=1, queue_size=1)
    release = threading.Event()
    started = threading.Event()

    def hold() -> int:
        started.set()
        release.wait(5)
        return 1

    threads = [threading.Thread(target=lambda: pool.run(hold)) for _ in range(2)]
    for t in threads:
        t.start()
    started.wait(5)
    time.sleep(0.1)
    with pytest.raises(BusyError):
        pool.run(lambda: 0)
    release.set()
    for t in threads:
        t.join(5)
    assert pool.run(lambda: 7) == 7
    pool.shutdown()


@pytest.mark.slow
def test_concurrent_searches_match_sequential_ones(
    tmp_path: Path, pipeline: Any, astronaut: Any, other_faces: Any
) -> None:
    """Two search threads (each with its own face pipeline) give the same candidates and
    scores as the same searches run one at a time."""
    photos = tmp_path / "photos"
    write_image(photos / "a.jpg", astronaut)
    write_image(photos / "h.jpg", other_faces[0])
    probes = [(photos / "a.jpg").read_bytes(), (photos / "h.jpg").read_bytes()]
    with api_env(
        tmp_path, passwords=(), search_workers=2, search_queue_size=16, pipeline=pipeline
    ) as env:
        service = env.service
        env.ingest([photos], workers=0)
        request = SearchRequest()

        def one(probe: bytes) -> list[tuple[int, float]]:
            result = service.ctx.pool.run(lambda: service.searches.engine_search(probe, 5, request))
            return [(c.face_id, c.score) for c in result.candidates]

        expected = [one(p) for p in probes]
        got: list[list[tuple[int, float]]] = [[] for _ in range(8)]

        def worker(i: int) -> None:
            got[i] = one(probes[i % 2])

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for i, answer in enumerate(got):
            assert answer == expected[i % 2]
