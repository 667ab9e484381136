"""The one crash-isolating batch runner behind every process pool.

Ingest, media import (photos and videos), the second-vector pass and evaluation all hand
batches of items to an :class:`~facesearch.store.ports.Executor` (a spawn process pool, Ray
actors, or this process) through :class:`BatchRunner`. It:

- pulls batches lazily from the caller's iterable, keeping at most ``max_in_flight`` submitted
  (reading, hashing and skipping happen in the caller's generator, as work is needed);
- yields one :class:`Outcome` per finished batch, as completed or in submission order;
- survives a dying worker (killed, out of memory, a crash in native code): a batch whose
  future fails with ``BrokenProcessPool`` is retried item by item on a fresh pool; each such
  *suspect* item then runs alone (nothing else in flight), so an item that kills its worker
  again is the one to blame, and only it is reported as failed (``Outcome.error``); every
  other item of the lost batch is processed normally and the run carries on.

Any other exception raised by the task propagates to the caller, as a plain loop's would.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from facesearch.store.ports import Executor, InlineExecutor

I = TypeVar("I")  # noqa: E741 - an item of a batch
R = TypeVar("R")  # the task's result for one batch

#: The reason given for an item that killed its worker when run alone.
CRASH_REASON = "worker process crashed while reading this file"


@dataclass
class Outcome(Generic[I, R]):
    """A finished batch: its items and the task's result, or (for one item that killed its
    worker when run alone) no result and the reason."""

    items: list[I]
    result: R | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h): a signal sent when the parent dies
WATCHDOG_S = 1.0  # how often a worker checks that its parent is still there


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(WATCHDOG_S)
        if os.getppid() != parent:  # re-parented: the process that started us is gone
            os._exit(1)


def die_with_parent(parent: int) -> None:
    """Make this worker process end when ``parent`` (the process that started the pool) dies,
    even by ``kill -9``, so no worker of a dead server lives on holding its models' memory
    (a restart loop would pile them up). On Linux the kernel sends SIGKILL at once
    (``prctl(PR_SET_PDEATHSIG)``, sent when the parent *thread* that started the worker
    ends: pools are used by the thread that made them); everywhere a watchdog thread exits
    within :data:`WATCHDOG_S` seconds of the worker being re-parented. (multiprocessing's
    resource tracker needs neither: it exits when the last process holding its pipe, the
    parent or a worker, is gone.)"""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watchdog alone
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    watchdog = threading.Thread(
        target=_watch_parent, args=(parent,), name="parent-watchdog", daemon=True
    )
    watchdog.start()


def _init_worker_process(
    parent: int, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]
) -> None:
    """Every pool worker's first step: die with the parent, then the pool's own set-up."""
    die_with_parent(parent)
    if initializer is not None:
        initializer(*initargs)


def process_pool(
    workers: int, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()
) -> Executor:
    """A spawn process pool of ``workers`` processes (0: this process, inline), each set up
    by ``initializer(*initargs)`` after :func:`die_with_parent` (every pool of facesearch:
    ingest, media import, the second-vector pass, evaluation)."""
    if workers <= 0:
        return InlineExecutor()
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker_process,
        initargs=(os.getpid(), initializer, initargs),
    )


@dataclass
class _Submitted(Generic[I]):
    seq: int  # the original batch it came from
    first: int  # position of its first item in that batch
    items: list[I]
    suspect: bool  # a lone item retried after a crash


class BatchRunner(Generic[I, R]):
    """Runs batches on an executor rebuilt after a crash; see the module docstring.

    ``new_executor``: makes the executor (called again after a worker died). ``task``: the
    batch function for an executor (in-process executors may get one bound to loaded models).
    ``ordered``: yield outcomes in the order the batches were given (a batch split after a
    crash comes back as its pieces, in item order); otherwise as they complete.
    """

    def __init__(
        self,
        new_executor: Callable[[], Executor],
        task: Callable[[Executor], Callable[[list[I]], R]],
        *,
        max_in_flight: int = 1,
        ordered: bool = False,
        crash_reason: str = CRASH_REASON,
    ) -> None:
        self._new_executor = new_executor
        self._task = task
        self.max_in_flight = max(1, max_in_flight)
        self.ordered = ordered
        self.crash_reason = crash_reason
        self.crashes = 0  # batches lost to a dying worker (and retried item by item)
        self.rebuilt = 0  # executors started again after a crash
        self._executor: Executor | None = None
        self._in_flight: dict[Future[R], _Submitted[I]] = {}
        self._suspects: deque[_Submitted[I]] = deque()
        # ordered mode: items still unresolved per batch, and finished pieces waiting
        self._open: dict[int, int] = {}
        self._ready: dict[int, list[tuple[int, Outcome[I, R]]]] = {}
        self._next_seq = 0

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = self._new_executor()
        return self._executor

    def shutdown(self) -> None:
        """Stop the workers (waiting for the running batches; queued ones are cancelled)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def run(self, batches: Iterable[list[I]]) -> Iterator[Outcome[I, R]]:
        """Submit ``batches`` (consumed lazily) and yield their outcomes."""
        source = iter(batches)
        exhausted = False
        seq = 0
        try:
            while True:
                if self._suspects:  # isolate: one lone suspect at a time, nothing else
                    if not self._in_flight:
                        self._submit(self._suspects.popleft())
                else:
                    while not exhausted and len(self._in_flight) < self.max_in_flight:
                        batch = next(source, None)
                        if batch is None:
                            exhausted = True
                            break
                        if not batch:
                            continue
                        self._open[seq] = len(batch)
                        self._submit(_Submitted(seq, 0, list(batch), suspect=False))
                        seq += 1
                if not self._in_flight:
                    if exhausted and not self._suspects:
                        return
                    continue
                done, _ = wait(set(self._in_flight), return_when=FIRST_COMPLETED)
                for future in done:
                    yield from self._finish(future)
        finally:
            self.shutdown()

    # --- internals ----------------------------------------------------------------------------
    def _submit(self, job: _Submitted[I]) -> None:
        try:
            future = self.executor.submit(self._task(self.executor), job.items)
        except BrokenProcessPool:  # the pool died since the last submit: start a fresh one
            self._restart()
            future = self.executor.submit(self._task(self.executor), job.items)
        self._in_flight[future] = job

    def _restart(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=False)
        self._executor = None
        self.rebuilt += 1

    def _finish(self, future: Future[R]) -> Iterator[Outcome[I, R]]:
        job = self._in_flight.pop(future)
        try:
            result = future.result()
        except BrokenProcessPool:
            self.crashes += 1
            if job.suspect:  # it ran alone and killed its worker: it is the poisonous item
                yield from self._resolve(job, Outcome(job.items, None, self.crash_reason))
            else:  # retry each item on its own, so that only a poisonous one fails
                self._suspects.extend(
                    _Submitted(job.seq, job.first + i, [item], suspect=True)
                    for i, item in enumerate(job.items)
                )
            return
        yield from self._resolve(job, Outcome(job.items, result))

    def _resolve(self, job: _Submitted[I], outcome: Outcome[I, R]) -> Iterator[Outcome[I, R]]:
        if not self.ordered:
            yield outcome
            return
        self._ready.setdefault(job.seq, []).append((job.first, outcome))
        self._open[job.seq] -= len(job.items)
        while self._open.get(self._next_seq) == 0:
            pieces = sorted(self._ready.pop(self._next_seq), key=lambda p: p[0])
            del self._open[self._next_seq]
            self._next_seq += 1
            for _, piece in pieces:
                yield piece
