"""Ingest jobs in the background: rows of the catalog, run one at a time on a worker thread of
the server that accepted them, with progress, cancel and resume.

A job runs the same resumable ingest as ``facesearch ingest`` (images already stored are
skipped), holding the engine's write lock so searches wait for its end rather than reading a
half-changed index. Every job is a row of ``ingest_jobs`` (``store/jobs.py``): its id comes
from the database, and every change of state is written (progress at most once a second), so
every server process on the catalog lists the same jobs, a cancel asked of any of them reaches
the job, and nothing is lost when the server dies.

Cancel asks the run to stop at its next progress report; what was stored so far stays stored
(the run is recorded as interrupted). When the server stops (gracefully, or killed), its
unfinished jobs become ``interrupted``: at a graceful stop here, after a crash when the next
process opens the service (:meth:`IngestJobs.bind`, which also marks the ingest runs left
"running" with no live writer). An interrupted job is *resumed* (:meth:`IngestJobs.resume`):
a new job of the same sources, linked to the old one, which skips what was stored, or given
up (cancelled). Uploaded archives are kept while their job is interrupted (a resuming job
takes them over) and removed when it completes, fails or is cancelled.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from facesearch.app.context import AppContext
from facesearch.app.principal import Principal
from facesearch.app.results import IngestJob
from facesearch.govern.users import Role
from facesearch.ingest.runner import IngestProgress, IngestReport
from facesearch.store.jobs import FINISHED, HEARTBEAT_S, JobTable, Owner, interrupt_runs

log = logging.getLogger(__name__)

IngestFn = Callable[[IngestJob, Callable[[IngestProgress], None]], IngestReport]

#: Progress is written to the job's row at most this often (and at every change of state).
WRITE_EVERY_S = 1.0
STOPPED = "the server stopped before the job ended; resume it to carry on"
_FIELDS = frozenset(IngestJob.__dataclass_fields__)


class IngestCancelled(KeyboardInterrupt):
    """Raised from the progress callback to stop a run the way Ctrl-C does."""


def _job(row: dict[str, Any]) -> IngestJob:
    values = {k: v for k, v in row.items() if k in _FIELDS}
    for key in ("created_at", "started_at", "finished_at"):
        when = values.get(key)
        if isinstance(when, datetime) and when.tzinfo is None:  # SQLite keeps no zone
            values[key] = when.replace(tzinfo=UTC)
    values["cleanup"] = list(values.get("cleanup") or [])
    values["names"] = dict(values.get("names") or {})
    return IngestJob(**values)


class IngestJobs:
    """This process's queue of ingest jobs and the one thread that runs them, over the
    catalog's ``ingest_jobs`` table (given by :meth:`bind`)."""

    def __init__(self, run: IngestFn) -> None:
        self._run = run
        self._ctx: AppContext | None = None
        self._table: JobTable | None = None
        self.owner = Owner.current()
        self._live: dict[int, IngestJob] = {}  # the jobs this process holds, unfinished
        self._queue: deque[int] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._beat: threading.Thread | None = None
        self._counted: dict[int, datetime] = {}  # when a live job had counted its files

    # --- the catalog and start-up ---------------------------------------------------------

    def bind(self, ctx: AppContext) -> list[IngestJob]:
        """Keep the jobs in ``ctx``'s catalog, and mark interrupted what a dead process left
        unfinished (:meth:`recover`); returns the jobs so marked."""
        self._ctx = ctx
        self._table = JobTable(sessionmaker(ctx.gallery.catalog.engine, expire_on_commit=False))
        return self.recover()

    @property
    def table(self) -> JobTable:
        if self._table is None:
            raise RuntimeError("IngestJobs used before bind()")
        return self._table

    def recover(self) -> list[IngestJob]:
        """Mark interrupted the unfinished jobs whose owner is dead (another replica's live
        jobs are left alone: ``store/jobs.py``) and their runs; then, if no process holds the
        data directory's writer lock, every ingest run still "running" (a killed CLI ingest,
        or a job's run not yet linked to it), with the reason."""
        jobs = [_job(row) for row in self.table.interrupt_orphans(self.owner)]
        for job in jobs:
            log.warning("ingest job %s interrupted: %s", job.id, job.error)
        ctx = self._ctx
        assert ctx is not None
        try:
            with ctx.gallery.writer.try_hold("start-up check of unfinished ingest runs") as held:
                if held:
                    reason = (
                        f"found running when {self.owner.describe()} started, with no process "
                        "writing to the data directory: the process running it stopped"
                    )
                    with ctx.gallery.catalog.session() as s:
                        runs = interrupt_runs(s, reason)
                    if runs:
                        log.warning("ingest runs %s were left running: interrupted", runs)
        except OSError as exc:  # a data directory this process may only read: left as is
            log.warning("unfinished ingest runs not checked: %s", exc)
        return jobs

    # --- the jobs -----------------------------------------------------------------------

    def submit(
        self,
        sources: list[str],
        collection: str | None,
        actor: str,
        cleanup: list[str],
        resumes: int | None = None,
        names: dict[str, str] | None = None,
    ) -> IngestJob:
        """Queue a job (``resumes``: the interrupted job it resumes; its uploads, and what
        they are shown as, pass to the new job; ``names``: what a source is shown as, an
        upload's file name). Raises LookupError when ``resumes`` is not resumable (any more)."""
        row = self.table.add(self.owner, sources, collection, actor, cleanup, resumes, names)
        if not row:
            raise LookupError(f"ingest job {resumes} is not interrupted, or already resumed")
        job = _job(row)
        with self._cond:
            self._live[job.id] = job
            self._queue.append(job.id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="ingest-jobs", daemon=True)
                self._thread.start()
                self._beat = threading.Thread(
                    target=self._heartbeat, name="ingest-jobs-heartbeat", daemon=True
                )
                self._beat.start()
            self._cond.notify_all()
        return job

    def get(self, job_id: int) -> IngestJob | None:
        """The job: this process's own while it runs here, else as its row says."""
        with self._cond:
            live = self._live.get(job_id)
        if live is not None:
            return live
        row = self.table.get(job_id)
        return None if row is None else _job(row)

    def all(self) -> list[IngestJob]:
        """Every job of the catalog (the latest 1000), newest first."""
        rows = self.table.all()
        with self._cond:
            return [self._live.get(int(row["id"])) or _job(row) for row in rows]

    def cancel(self, job_id: int) -> IngestJob | None:
        with self._cond:
            job = self._live.get(job_id)
            if job is not None:
                if job.status == "queued":
                    self._queue.remove(job_id)
                    self._finish(job, "cancelled")
                elif job.status == "running":
                    job.cancel_requested = True
                    self.table.write(job_id, cancel_requested=True)
                return job
        # a job another process holds, an interrupted one (given up), or a finished one
        row = self.table.request_cancel(job_id)
        if row is None:
            return None
        found = _job(row)
        if found.status == "cancelled":
            self._remove_uploads(found)
        found.cleanup = []
        return found

    def resume(self, who: Principal, job_id: int) -> IngestJob:
        """Queue a new run of an interrupted job's sources, linked to it (administrators;
        logged like a new job). Stored photos are skipped, so nothing is doubled."""
        ctx = self._ctx
        assert ctx is not None
        ctx.require(who, "ingest", Role.ADMINISTRATOR)
        old = self.get(job_id)
        if old is None:
            ctx.refuse(who, "ingest.jobs", f"no ingest job {job_id}")
        asked = {"job": job_id, "sources": old.sources, "collection": old.collection}
        if not old.resumable:
            why = f"resumed by job {old.resumed_by}" if old.resumed_by else old.status
            ctx.refuse(who, "ingest.resume", f"ingest job {job_id} is {why}, not resumable", asked)
        try:
            job = self.submit(old.sources, old.collection, who.username, [], resumes=job_id)
        except LookupError as exc:  # resumed by someone else meanwhile
            ctx.refuse(who, "ingest.resume", str(exc), asked)
        ctx.governance.record(who.username, "ingest.resume", {**asked, "new_job": job.id})
        return job

    def state(self, job: IngestJob, now: datetime | None = None) -> dict[str, Any]:
        """Where a job stands (:func:`job_state`), timed from when this process saw it
        count its files (a job another process runs: from its start)."""
        return job_state(job, self._counted.get(job.id), now)

    def wait(self, job_id: int, timeout: float = 60.0) -> IngestJob | None:
        """Block until the job has finished (tests, scripts)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            left = deadline - time.monotonic()
            if job is None or job.status in FINISHED or left <= 0:
                return job
            with self._cond:
                self._cond.wait(min(left, 0.5))

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop: the running job stops at its next progress report and, like the jobs still
        queued, is left interrupted (resumable; its uploads kept)."""
        with self._cond:
            self._stopping = True
            for job in self._live.values():
                if job.status == "running":
                    job.cancel_requested = True
            while self._queue:
                self._finish(self._live[self._queue.popleft()], "interrupted", STOPPED)
            self._cond.notify_all()
        for thread in (self._thread, self._beat):
            if thread is not None:
                thread.join(timeout)

    # --- the thread -----------------------------------------------------------------------

    def _heartbeat(self) -> None:
        while True:
            with self._cond:
                self._cond.wait(HEARTBEAT_S)
                if self._stopping:
                    return
            try:
                self.table.beat(self.owner)
            except Exception:  # the database away for a moment: the next beat tries again
                log.exception("ingest jobs' heartbeat failed")

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._live[self._queue.popleft()]
            if not self.table.claim(job.id, self.owner):  # cancelled by another process
                with self._cond:
                    self._live.pop(job.id, None)
                    self._cond.notify_all()
                continue
            job.status = "running"
            job.started_at = datetime.now(UTC)
            self._execute(job)
            with self._cond:
                self._cond.notify_all()

    def _execute(self, job: IngestJob) -> None:
        reports = 0
        written = 0.0

        def on_progress(p: IngestProgress) -> None:
            nonlocal reports, written
            reports += 1
            job.files_total, job.files_done, job.faces = p.files_total, p.files_done, p.faces
            self._counted.setdefault(job.id, datetime.now(UTC))
            if p.run_id is not None and job.run_id is None:
                job.run_id = p.run_id
                written = 0.0  # the run's id is written at once
            now = time.monotonic()
            if now - written >= WRITE_EVERY_S:
                written = now
                values: dict[str, Any] = {"files_total": p.files_total, "faces": p.faces}
                values.update(files_done=p.files_done, run_id=job.run_id, heartbeat=time.time())
                try:
                    if self.table.write(job.id, **values):
                        job.cancel_requested = True
                except SQLAlchemyError:  # the catalog busy for a moment: the run goes on
                    log.warning("ingest job %s: progress not written", job.id, exc_info=True)
            # not at the first report: the run has not yet entered the loop that records an
            # interruption (and keeps what was stored) when the run stops
            if job.cancel_requested and reports > 1:
                raise IngestCancelled()

        status, error = "completed", None
        try:
            report = self._run(job, on_progress)
            job.run_id = report.run_id
            job.counts = dict(report.counts())
            status = "cancelled" if report.interrupted else "completed"
        except IngestCancelled:
            status = "cancelled"
        except Exception as exc:  # the job fails, the server goes on
            log.exception("ingest job %s failed", job.id)
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        if status == "cancelled" and self._stopping:
            status, error = "interrupted", STOPPED
        with self._cond:
            self._finish(job, status, error)

    def _finish(self, job: IngestJob, status: str, error: str | None = None) -> None:
        """Record the job's end (under ``_cond``); its uploads go unless it was interrupted."""
        job.status = status  # type: ignore[assignment]
        job.error = error
        job.finished_at = datetime.now(UTC)
        keep = status == "interrupted"
        self.table.write(
            job.id,
            status=status,
            error=error,
            finished_at=job.finished_at,
            files_total=job.files_total,
            files_done=job.files_done,
            faces=job.faces,
            run_id=job.run_id,
            counts=job.counts,
            cleanup=job.cleanup if keep else [],
        )
        self._live.pop(job.id, None)
        self._counted.pop(job.id, None)
        if not keep:
            self._remove_uploads(job)
        self._cond.notify_all()

    @staticmethod
    def _remove_uploads(job: IngestJob) -> None:
        for path in job.cleanup:
            shutil.rmtree(Path(path), ignore_errors=True)


#: What a job is doing, in words: the web app shows these (``phase``).
PHASES = {
    "waiting": "queued: waiting for its turn (one job runs at a time)",
    "counting files": "starting: counting the files to read",
    "starting": "starting: loading the models and reading the first photos",
    "ingesting": "reading photos and storing their faces",
    "finishing": "finishing: storing the last faces and the second vectors",
}


def job_state(
    job: IngestJob, counted_at: datetime | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """A job's ``phase`` (a key of :data:`PHASES`, None once it has ended; ``phase_text`` in
    words) and, while it reads photos, its rate (``files_per_second``, since it had counted
    its files, else since it started) and ``estimated_end`` at that rate."""
    now = now or datetime.now(UTC)
    out: dict[str, Any] = {"phase": None, "files_per_second": None, "estimated_end": None}
    total, done = job.files_total, job.files_done
    if job.status == "queued":
        out["phase"] = "waiting"
    elif job.status == "running" and not total and job.run_id is None:
        out["phase"] = "counting files"
    elif job.status == "running" and not done:
        out["phase"] = "starting"
    elif job.status == "running":
        out["phase"] = "finishing" if done >= total else "ingesting"
    out["phase_text"] = PHASES.get(out["phase"] or "")
    if job.status != "running":
        return out
    since = counted_at or job.started_at
    if since is None or not done:
        return out
    seconds = (now - since).total_seconds()
    if seconds > 0:
        rate = done / seconds
        out["files_per_second"] = round(rate, 2)
        if done < total:
            out["estimated_end"] = now + timedelta(seconds=(total - done) / rate)
    return out


def job_dict(job: IngestJob) -> dict[str, Any]:
    hidden = ("cancel_requested", "cleanup", "names")  # an upload: its name, not where it lay
    return {
        **{k: v for k, v in vars(job).items() if k not in hidden},
        "sources": job.shown_sources,
    }
