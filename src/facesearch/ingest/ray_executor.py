"""Ingest on a Ray cluster: actors that load the models once and run the same batch function.

``FACESEARCH_EXECUTOR=ray://HOST:10001`` (a cluster's Ray client port) or ``ray://local`` (a
local cluster started in this process) makes an ingest run hand its batches to
:class:`RayExecutor` instead of the local process pool. Each actor calls the pool's own
initializer with the pool's arguments (``worker.init_worker``: the pipeline loaded once, one
OpenCV thread) and then runs ``worker.process_batch`` exactly as a pool process does, so
results are identical; the run itself (hashing, skipping stored images, storing, resuming) is
unchanged and stays in the driver, which alone writes to the catalog, the vector store and
the blob store.

A killed actor (node lost, out of memory, a crash in native code): Ray restarts it (its models
load again) and each batch it held is sent whole to a live actor; a batch that kills its actor
``attempts`` times fails with ``BrokenProcessPool``, as a dying pool process does, and the batch
runner (:mod:`facesearch.ingest.batches`) retries its images one by one, so a poisonous image
fails alone. Nothing is lost and, since only the driver stores results, nothing is stored twice.

Cluster nodes need facesearch installed (the same version; the model files come with its pinned
packages). The actors read nothing from the driver's environment: what they need comes in the
initializer's arguments (the typed pipeline settings, whose inference settings name the model
cache), and ``environ``, when the caller gives it, is set in each actor before its initializer
runs. No weights are downloaded at run time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from facesearch.errors import ConfigError

T = TypeVar("T")


class IngestActor:
    """One Ray worker process with the ingest pipeline loaded (made a Ray actor below)."""

    def __init__(
        self, initializer: Callable[..., None], initargs: tuple[Any, ...], environ: dict[str, str]
    ) -> None:
        os.environ.update(environ)
        initializer(*initargs)  # the process pool's own (worker.init_worker)

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return fn(*args, **kwargs)

    def pid(self) -> int:
        return os.getpid()


class RayExecutor:
    """An :class:`~facesearch.store.ports.Executor` on ``workers`` Ray actors (1 CPU each).

    ``address``: ``ray://HOST:PORT`` for a remote cluster, None for a local one (started here
    unless Ray is already initialised in this process; it is shut down again at the end only
    if it was started here). ``environ``: variables to set in each actor, built by the caller
    from its typed settings (this process's environment is not read)."""

    def __init__(
        self,
        workers: int,
        initializer: Callable[..., None],
        initargs: tuple[Any, ...],
        *,
        address: str | None = None,
        attempts: int = 3,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ConfigError(
                "FACESEARCH_EXECUTOR names Ray, but ray is not installed "
                "(pip install 'facesearch[ray]')"
            ) from exc
        self._ray = ray
        self._started_ray = False
        if not ray.is_initialized():
            try:
                if address is None:
                    ray.init(
                        num_cpus=max(1, workers),
                        include_dashboard=False,
                        log_to_driver=False,
                        configure_logging=False,
                    )
                else:
                    ray.init(address=address, log_to_driver=False, configure_logging=False)
            except Exception as exc:
                where = address or "a local cluster"
                raise ConfigError(f"cannot start Ray on {where}: {exc}") from exc
            self._started_ray = True
        environ = dict(environ or {})
        actor_class = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=0)(IngestActor)
        self.actors: list[Any] = [
            actor_class.remote(initializer, initargs, environ) for _ in range(workers)
        ]
        self._load = [0] * len(self.actors)
        self._live = [True] * len(self.actors)
        self._lock = threading.Lock()
        self._closed = False
        self.attempts = attempts
        self.crashes = 0  # batches whose actor died under them
        self.retried = 0  # of those, resubmitted whole to another actor

    def pids(self) -> list[int]:
        """The process id of each actor (waits until every actor has loaded its models)."""
        return [int(p) for p in self._ray.get([a.pid.remote() for a in self.actors])]

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        out: Future[T] = Future()
        self._dispatch(fn, args, kwargs, out, attempt=1)
        return out

    def _pick(self) -> int:
        """The least loaded live actor (a restarting one only when none is live)."""
        with self._lock:
            live = [i for i in range(len(self.actors)) if self._live[i]]
            slot = min(live or range(len(self.actors)), key=self._load.__getitem__)
            self._load[slot] += 1
        return slot

    def _dispatch(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        out: Future[Any],
        attempt: int,
    ) -> None:
        slot = self._pick()
        ref = self.actors[slot].run.remote(fn, args, kwargs)

        def done(inner: Future[Any]) -> None:
            with self._lock:
                self._load[slot] -= 1
            exc = inner.exception()
            if exc is None:
                out.set_result(inner.result())
            elif isinstance(exc, self._ray.exceptions.RayActorError):
                self.crashes += 1
                self._mark_restarting(slot)
                if attempt < self.attempts and not self._closed:
                    self.retried += 1  # the whole batch again, on a live actor
                    self._dispatch(fn, args, kwargs, out, attempt + 1)
                else:  # it killed its actor every time: the run retries image by image
                    out.set_exception(BrokenProcessPool(f"Ray ingest actor died: {exc}"))
            elif isinstance(exc, self._ray.exceptions.RayTaskError):
                out.set_exception(exc.as_instanceof_cause())
            else:
                out.set_exception(exc)

        ref.future().add_done_callback(done)

    def _mark_restarting(self, slot: int) -> None:
        """Keep work off an actor Ray is restarting until it answers again."""
        with self._lock:
            if not self._live[slot]:
                return
            self._live[slot] = False

        def probe() -> None:
            if self._closed or slot >= len(self.actors):
                return
            self.actors[slot].pid.remote().future().add_done_callback(answered)

        def answered(f: Future[Any]) -> None:
            if f.exception() is None:
                with self._lock:
                    self._live[slot] = True
            else:
                timer = threading.Timer(0.2, probe)
                timer.daemon = True
                timer.start()

        probe()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed = True
        for actor in self.actors:
            self._ray.kill(actor, no_restart=True)
        self.actors = []
        if self._started_ray:
            self._ray.shutdown()
            self._started_ray = False
