"""The engine's readers-writer lock: searches read the gallery together, writes change it alone.

One lock per open :class:`~facesearch.search.gallery.Gallery`. Searches hold it to read (many
at once); a change to the vectors held in memory (an ingest batch's commit and index add, a
removal, a re-index, catching up with another process's commits) holds it to write, alone.
Writers first: a waiting writer blocks new readers, so a long queue of searches cannot starve
an ingest, and an ingest, which takes it once per batch (``search/gallery_sink.py``), lets the
searches waiting behind it run between its batches.

Re-entrant for the writing thread: a thread holding the write lock may take it again or read
(a removal that catches up with the catalog first, an ingest run inside a write), where a
plain lock would wait for itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ReadersWriterLock"]


class ReadersWriterLock:
    """Many readers or one writer; a waiting writer blocks new readers; the writing thread
    may take either again."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer: int | None = None  # the writing thread's ident
        self._depth = 0  # how many times the writing thread holds it
        self._writers_waiting = 0

    def _mine(self) -> bool:
        return self._writer == threading.get_ident()

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            if self._mine():  # the writer reads what it writes
                self._depth += 1
            else:
                while self._writer is not None or self._writers_waiting:
                    self._cond.wait()
                self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                if self._mine():
                    self._depth -= 1
                else:
                    self._readers -= 1
                    if not self._readers:
                        self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._depth += 1
            else:
                self._writers_waiting += 1
                try:
                    while self._writer is not None or self._readers:
                        self._cond.wait()
                finally:
                    self._writers_waiting -= 1
                self._writer, self._depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if not self._depth:
                    self._writer = None
                    self._cond.notify_all()
