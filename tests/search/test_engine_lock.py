"""The engine's readers-writer lock (search/engine_lock.py): readers together, a writer alone,
writers first, and re-entrant for the writing thread (an ingest group inside a write)."""

from __future__ import annotations

import threading
import time

from facesearch.search.engine_lock import ReadersWriterLock


def test_the_writing_thread_may_write_and_read_again() -> None:
    lock = ReadersWriterLock()
    with lock.write(), lock.write(), lock.read():
        pass
    # released for good: another thread may write now
    done = threading.Event()
    t = threading.Thread(target=lambda: (lock.write().__enter__(), done.set()))
    t.start()
    assert done.wait(5)


def test_a_reader_waits_while_another_thread_writes() -> None:
    lock = ReadersWriterLock()
    order: list[str] = []
    with lock.write():
        reader = threading.Thread(target=lambda: lock.read().__enter__() or order.append("read"))
        reader.start()
        time.sleep(0.2)  # the reader is blocked behind the writer meanwhile
        order.append("wrote")
    reader.join(5)
    assert order == ["wrote", "read"]


def test_a_waiting_writer_goes_before_new_readers() -> None:
    lock = ReadersWriterLock()
    order: list[str] = []
    first = lock.read()
    first.__enter__()
    writer = threading.Thread(target=lambda: _hold(lock.write(), order, "write"))
    writer.start()
    while not lock._writers_waiting:
        time.sleep(0.01)
    reader = threading.Thread(target=lambda: _hold(lock.read(), order, "read"))
    reader.start()
    time.sleep(0.2)
    assert order == []  # the new reader waits behind the queued writer
    first.__exit__(None, None, None)
    writer.join(5)
    reader.join(5)
    assert order == ["write", "read"]


def _hold(cm, order: list[str], name: str) -> None:  # type: ignore[no-untyped-def]
    with cm:
        order.append(name)
