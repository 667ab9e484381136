"""Concurrency for the engine: the bounded search pool (the gallery's readers-writer lock,
``search/engine_lock.py``, is re-exported here for the resource services).

Searches read the gallery concurrently; ingest batches, removals and re-indexing change it and
run alone (:class:`ReadersWriterLock`, writers first so a long queue of searches cannot starve
an ingest). Searches run on a fixed set of threads (:class:`SearchPool`): OpenCV, FAISS and dlib
release the GIL, so two threads use two cores. Each thread has its own face pipeline (the
OpenCV networks keep per-call state and are not safe to share). A pool whose queue is full
refuses at once with :class:`BusyError` (the server answers 503 with ``Retry-After``) rather
than letting a client wait into a time-out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from facesearch.errors import FacesearchError
from facesearch.search.engine_lock import ReadersWriterLock

__all__ = ["BusyError", "ReadersWriterLock", "SearchPool"]

T = TypeVar("T")


class BusyError(FacesearchError):
    """The search queue is full; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__("the search queue is full; try again shortly")
        self.retry_after = retry_after


class SearchPool:
    """``workers`` threads and room for ``queue_size`` waiting searches; beyond that,
    :class:`BusyError` at once."""

    def __init__(self, workers: int, queue_size: int) -> None:
        self.workers = workers
        self.capacity = workers + queue_size
        self._slots = threading.BoundedSemaphore(self.capacity)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="search")
        self.local = threading.local()  # per worker thread: its face pipeline

    def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on a search thread and wait for it; BusyError when the queue is full."""
        if not self._slots.acquire(blocking=False):
            raise BusyError(retry_after=1)
        try:
            return self._executor.submit(fn).result()
        finally:
            self._slots.release()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
