"""Ingest jobs in the background: one at a time on a worker thread, with progress and cancel.

A job runs the same resumable ingest as ``facesearch ingest`` (images already stored are
skipped), holding the engine's write lock so searches wait for its end rather than reading a
half-changed index. Cancel asks the run to stop at its next progress report; what was stored
so far stays stored (the run is recorded as interrupted) and running the job again resumes.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facesearch.app.results import IngestJob
from facesearch.ingest.runner import IngestProgress, IngestReport

log = logging.getLogger(__name__)

IngestFn = Callable[[IngestJob, Callable[[IngestProgress], None]], IngestReport]


class IngestCancelled(KeyboardInterrupt):
    """Raised from the progress callback to stop a run the way Ctrl-C does."""


class IngestJobs:
    """The queue of ingest jobs and the one thread that runs them."""

    def __init__(self, run: IngestFn) -> None:
        self._run = run
        self._jobs: dict[int, IngestJob] = {}
        self._queue: deque[int] = deque()
        self._cond = threading.Condition()
        self._next_id = 1
        self._stopping = False
        self._thread: threading.Thread | None = None

    def submit(
        self,
        sources: list[str],
        collection: str | None,
        actor: str,
        cleanup: list[str],
        names: dict[str, str] | None = None,
    ) -> IngestJob:
        with self._cond:
            job = IngestJob(
                id=self._next_id,
                sources=sources,
                collection=collection,
                created_by=actor,
                created_at=datetime.now(UTC),
                cleanup=cleanup,
                names=dict(names or {}),
            )
            self._next_id += 1
            self._jobs[job.id] = job
            self._queue.append(job.id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="ingest-jobs", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return job

    def get(self, job_id: int) -> IngestJob | None:
        with self._cond:
            return self._jobs.get(job_id)

    def all(self) -> list[IngestJob]:
        with self._cond:
            return sorted(self._jobs.values(), key=lambda j: -j.id)

    def cancel(self, job_id: int) -> IngestJob | None:
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.status == "queued":
                self._queue.remove(job_id)
                job.status = "cancelled"
                job.finished_at = datetime.now(UTC)
                self._remove_uploads(job)
            elif job.status == "running":
                job.cancel_requested = True
            return job

    def wait(self, job_id: int, timeout: float = 60.0) -> IngestJob | None:
        """Block until the job has finished (tests, scripts)."""
        deadline = datetime.now(UTC).timestamp() + timeout
        with self._cond:
            while True:
                job = self._jobs.get(job_id)
                if job is None or job.status in ("completed", "cancelled", "failed"):
                    return job
                left = deadline - datetime.now(UTC).timestamp()
                if left <= 0:
                    return job
                self._cond.wait(left)

    def shutdown(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stopping = True
            for job in self._jobs.values():
                if job.status == "running":
                    job.cancel_requested = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._jobs[self._queue.popleft()]
                job.status = "running"
                job.started_at = datetime.now(UTC)
            self._execute(job)
            with self._cond:
                self._cond.notify_all()

    def _execute(self, job: IngestJob) -> None:
        reports = 0

        def on_progress(p: IngestProgress) -> None:
            nonlocal reports
            reports += 1
            job.files_total, job.files_done, job.faces = p.files_total, p.files_done, p.faces
            # not at the first report: the run has not yet entered the loop that records an
            # interruption (and keeps what was stored) when the run stops
            if job.cancel_requested and reports > 1:
                raise IngestCancelled()

        try:
            report = self._run(job, on_progress)
            job.run_id = report.run_id
            job.counts = dict(report.counts())
            job.status = "cancelled" if report.interrupted else "completed"
        except IngestCancelled:
            job.status = "cancelled"
        except Exception as exc:  # the job fails, the server goes on
            log.exception("ingest job %s failed", job.id)
            job.status = "failed"
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            job.finished_at = datetime.now(UTC)
            self._remove_uploads(job)

    @staticmethod
    def _remove_uploads(job: IngestJob) -> None:
        for path in job.cleanup:
            shutil.rmtree(Path(path), ignore_errors=True)


def job_dict(job: IngestJob) -> dict[str, Any]:
    hidden = ("cancel_requested", "cleanup", "names")  # an upload: its name, not where it lay
    return {
        **{k: v for k, v in vars(job).items() if k not in hidden},
        "sources": job.shown_sources,
    }
