"""The data directory's writer lock: one process at a time changes a gallery.

Ingest, removal, re-indexing, the second-vector pass and key rotation hold it (they write the
catalog's faces and save the vector index); searches never take it. It is an advisory
``flock`` on ``writer.lock`` in the data directory, so a holder killed with ``kill -9`` never
leaves it stuck: the kernel drops the lock with the process. The holder writes its pid, what it
does and since when into the file, so a second writer can say whom it waits for::

    waiting for the ingest of pid 4242 (since 05:12:09 UTC) to finish ...

A second writer waits (``timeout`` None) or, after ``timeout`` seconds, is refused with
:class:`WriterBusyError`. Within one process the lock is re-entrant for the thread holding it
(an ingest runs the second-vector pass inside its own hold); other threads of the process wait
for it as another process would. Each :class:`WriterLock` opens the file itself, so two
galleries opened on the same directory in one process exclude each other too.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from facesearch.errors import FacesearchError

__all__ = ["LOCK_FILE", "Holder", "WriterBusyError", "WriterLock"]

LOCK_FILE = "writer.lock"
POLL_S = 0.2

log = logging.getLogger(__name__)


class WriterBusyError(FacesearchError):
    """Another process is changing the data directory and did not finish in time."""


@dataclass(frozen=True)
class Holder:
    """Who holds the lock, as the holder wrote it (``pid`` 0: not written yet)."""

    pid: int
    what: str
    since: str
    host: str = ""

    def describe(self) -> str:
        if not self.pid:
            return "another process's write"
        where = f" on {self.host}" if self.host and self.host != socket.gethostname() else ""
        return f"the {self.what} of pid {self.pid}{where} (since {self.since})"


def _stderr(message: str) -> None:
    log.warning("%s", message)


class WriterLock:
    """The writer lock of the data directory ``directory`` (see the module's text).

    ``on_wait`` is told, once per holder, whom a writer waits for (default: a warning in the
    log, which the CLI prints)."""

    def __init__(
        self,
        directory: Path,
        *,
        timeout: float | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(directory) / LOCK_FILE
        self.timeout = timeout
        self.on_wait = on_wait or _stderr
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._owner: int | None = None  # the thread holding it

    # --- holding ----------------------------------------------------------------------------
    @property
    def held(self) -> bool:
        """True when this object holds the lock (in some thread of this process)."""
        return self._fd is not None

    @property
    def held_by_another_thread(self) -> bool:
        """True when another thread of this process holds it (a server's ingest job, seen
        from a search thread): no other process can be changing the data directory."""
        owner = self._owner
        return self._fd is not None and owner is not None and owner != threading.get_ident()

    @contextmanager
    def hold(self, what: str, *, timeout: float | None = None) -> Iterator[None]:
        """Hold the lock for ``what`` (e.g. "ingest"), waiting for another holder to finish
        (at most ``timeout`` seconds, default the lock's own; then WriterBusyError)."""
        wait = self.timeout if timeout is None else timeout
        deadline = None if wait is None else time.monotonic() + wait
        if not self._thread_lock.acquire(timeout=-1 if wait is None else wait):
            raise WriterBusyError(
                f"{self.path.parent} is being changed by another thread of this process; "
                "try again when it has finished"
            )
        try:
            if self._depth == 0:
                self._acquire(what, deadline)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._release()
        finally:
            self._thread_lock.release()

    @contextmanager
    def try_hold(self, what: str) -> Iterator[bool]:
        """Hold the lock if nobody else does, without waiting: yields whether it is held."""
        if not self._thread_lock.acquire(blocking=False):
            yield False
            return
        try:
            if self._depth == 0 and not self._try_lock(what):
                yield False
                return
            self._depth += 1
            try:
                yield True
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._release()
        finally:
            self._thread_lock.release()

    def holder(self) -> Holder | None:
        """Who holds the lock now (None: nobody does)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return self._read_holder()
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    # --- the flock ------------------------------------------------------------------------
    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    def _try_lock(self, what: str) -> bool:
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._owner = threading.get_ident()
        self._write_holder(what)
        return True

    def _acquire(self, what: str, deadline: float | None) -> None:
        told: Holder | None = None
        while not self._try_lock(what):
            holder = self._read_holder()
            if holder != told:
                told = holder
                self.on_wait(f"waiting for {holder.describe()} to finish ...")
            if deadline is not None and time.monotonic() >= deadline:
                raise WriterBusyError(
                    f"{self.path.parent} is being changed by {holder.describe()}; "
                    "nothing was written: try again when it has finished"
                )
            time.sleep(POLL_S)

    def _write_holder(self, what: str) -> None:
        assert self._fd is not None
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        text = json.dumps(
            {"pid": os.getpid(), "what": what, "since": since, "host": socket.gethostname()}
        )
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, text.encode(), 0)
        except OSError as exc:
            # only what a waiting writer is told: on a full or read-only disk the lock is held
            # all the same (raising here would leave it held by no one's hold: a hang)
            log.debug("writer lock %s: holder not written (%s)", self.path, exc)

    def _read_holder(self) -> Holder:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            return Holder(
                int(data.get("pid", 0)),
                str(data.get("what", "")),
                str(data.get("since", "")),
                str(data.get("host", "")),
            )
        except (OSError, ValueError, TypeError, AttributeError):
            return Holder(0, "", "")

    def _release(self) -> None:
        fd, self._fd = self._fd, None
        self._owner = None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
