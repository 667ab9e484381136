"""Media upload jobs in the background: the media a case's investigator uploads from the browser
(media/uploads.py records and audits the job), imported into the new media set and clustered
on a worker thread of the server that took the upload, one job at a time.

Like the ingest jobs (app/ingest_jobs.py, store/jobs.py) every job is a catalog row
(``media_upload_jobs``) whose progress is written at most once a second, so any server process
lists it and nothing is lost when the server dies: a job whose owner (host, pid, start time:
:class:`~facesearch.store.jobs.Owner`) is dead is marked ``interrupted`` when the next
process binds (:meth:`MediaJobs.bind`); what was imported stays (the import is resumable from
the CLI: ``facesearch media import``). The import runs inline (no process pool) with the
gallery's face pipeline, the same act as ``facesearch media import`` then ``media cluster``,
audited as such under the uploader's name. The upload's folder is removed when the job ends.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from facesearch.app.media import media_service
from facesearch.app.principal import Principal
from facesearch.govern.schema import Case
from facesearch.media.acts import MediaService
from facesearch.media.importer import MediaProgress
from facesearch.media.schema import MediaUploadJob
from facesearch.media.uploads import UNFINISHED
from facesearch.store.jobs import HEARTBEAT_S, Owner
from facesearch.store.private import private_dir
from facesearch.store.schema import utcnow

log = logging.getLogger(__name__)

WRITE_EVERY_S = 1.0
UPLOADS = "media-uploads"  # under the data directory


class MediaJobStopped(KeyboardInterrupt):
    """Raised from the progress callback when the server stops: the import ends the way
    Ctrl-C ends it (what was stored stays; the import is recorded as interrupted)."""


class MediaJobs:
    """This process's queue of media upload jobs and the one thread that runs them."""

    def __init__(self, host: Any) -> None:
        self._host = host  # settings, governance, gallery (app.media.MediaHost)
        self.owner = Owner.current()
        self._queue: deque[int] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._sessions: Callable[[], Session] = host.governance.session_factory

    def media(self) -> MediaService:
        return media_service(self._host)

    # --- start-up -------------------------------------------------------------------------

    def recover(self) -> list[int]:
        """Mark interrupted the unfinished jobs whose owner is dead; their ids."""
        now = time.time()
        done: list[int] = []
        with self._sessions() as s, s.begin():
            rows = s.scalars(
                select(MediaUploadJob).where(MediaUploadJob.status.in_(UNFINISHED))
            ).all()
            for row in rows:
                owner = Owner(row.owner_host or "", row.owner_pid or 0, row.owner_started or "")
                if owner == self.owner or owner.alive(row.heartbeat, now):
                    continue
                if row.folder:  # not resumable: what was imported stays, the upload goes
                    shutil.rmtree(row.folder, ignore_errors=True)
                row.status, row.folder = "interrupted", None
                row.finished_at = utcnow()
                row.error = (
                    f"the server process running it ({owner.describe()}) stopped; what was "
                    "imported is kept: upload the rest again into another media set"
                )
                done.append(row.id)
        return done

    def upload_dir(self) -> Path:
        """A new private folder for the files of one upload, under the data directory."""
        import tempfile

        root = Path(self._host.settings.data_dir) / UPLOADS
        private_dir(root)
        return Path(tempfile.mkdtemp(prefix="media-", dir=root))

    # --- the jobs -------------------------------------------------------------------------

    def start(
        self,
        who: Principal,
        case: str,
        *,
        set_name: str,
        note: str,
        files: list[str],
        folder: Path,
    ) -> dict[str, Any]:
        """Record the job (governed, audited) and queue it here; on a refusal the upload's
        folder is removed."""
        try:
            job = self.media().start_upload(
                who.username,
                case,
                set_name=set_name,
                note=note,
                files=files,
                folder=str(folder),
                owner=self.owner,
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        with self._cond:
            self._queue.append(int(job["id"]))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="media-jobs", daemon=True)
                self._thread.start()
                beat = threading.Thread(target=self._heartbeat, name="media-jobs-beat", daemon=True)
                beat.start()
            self._cond.notify_all()
        return job

    def jobs(self, who: Principal, case: str) -> list[dict[str, Any]]:
        return self.media().upload_jobs(who.username, case)

    def wait(self, job_id: int, timeout: float = 120.0) -> str:
        """Block until the job has ended (tests, scripts); its status."""
        deadline = time.monotonic() + timeout
        while True:
            with self._sessions() as s:
                status = s.scalar(select(MediaUploadJob.status).where(MediaUploadJob.id == job_id))
            if status is None or status not in UNFINISHED or time.monotonic() > deadline:
                return str(status)
            with self._cond:
                self._cond.wait(0.2)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop: the running job stops at its next progress report and, like the queued
        ones, is left interrupted (what it imported stays)."""
        with self._cond:
            self._stopping = True
            queued = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for job_id in queued:
            self._write(job_id, status="interrupted", finished_at=utcnow(), error="server stopped")
        if self._thread is not None:
            self._thread.join(timeout)

    # --- the thread -----------------------------------------------------------------------

    def _write(self, job_id: int, **values: Any) -> None:
        with self._sessions() as s, s.begin():
            s.execute(update(MediaUploadJob).where(MediaUploadJob.id == job_id).values(**values))

    def _heartbeat(self) -> None:
        """The heartbeat of this process's unfinished jobs, so that a server on another host
        does not take them for orphans (store/jobs.py's rule)."""
        while True:
            with self._cond:
                self._cond.wait(HEARTBEAT_S)
                if self._stopping:
                    return
            try:
                with self._sessions() as s, s.begin():
                    s.execute(
                        update(MediaUploadJob)
                        .where(
                            MediaUploadJob.status.in_(UNFINISHED),
                            MediaUploadJob.owner_host == self.owner.host,
                            MediaUploadJob.owner_pid == self.owner.pid,
                        )
                        .values(heartbeat=time.time())
                    )
            except Exception:  # the database away for a moment: the next beat tries again
                log.exception("media upload jobs' heartbeat failed")

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait(HEARTBEAT_S)
                if self._stopping:
                    return
                job_id = self._queue.popleft()
            try:
                self._execute(job_id)
            except Exception:  # the job fails, the server goes on
                log.exception("media upload job %s failed", job_id)
            with self._cond:
                self._cond.notify_all()

    def _execute(self, job_id: int) -> None:
        with self._sessions() as s:
            row = s.get(MediaUploadJob, job_id)
            if row is None or row.status != "queued":
                return
            case = s.get(Case, row.case_id)
            assert case is not None
            number, actor, set_name = case.number, row.created_by, row.set_name
            folder = Path(row.folder or "")
        self._write(job_id, status="running", started_at=utcnow(), heartbeat=time.time())
        written = 0.0
        reports = 0

        def on_progress(p: MediaProgress) -> None:
            nonlocal written, reports
            reports += 1
            # not at the first report: the run has not yet entered the loop that records an
            # interruption (and keeps what was stored) when the run stops
            if self._stopping and reports > 1:
                raise MediaJobStopped()
            now = time.monotonic()
            if now - written >= WRITE_EVERY_S or p.files_done >= p.files_total:
                written = now
                self._write(
                    job_id,
                    files_total=p.files_total,
                    files_done=p.files_done,
                    faces=p.faces,
                    heartbeat=time.time(),
                )

        status, error, values = "completed", None, {}
        media = self.media()
        try:
            report = media.import_media(
                actor,
                number,
                sorted((folder / "files").iterdir()),  # each shown by its own name
                set_name=set_name,
                workers=0,
                on_progress=on_progress,
            )
            values = {
                "import_id": report.import_id,
                "counts": report.counts(),
                "faces": report.faces,
                "files_done": report.files_read,
                "files_total": max(report.files_read, 0),
            }
            if report.interrupted:
                status, error = "interrupted", "the server stopped during the import"
            elif report.faces:
                media.cluster(actor, number)  # the new faces among the case's persons
        except Exception as exc:
            log.exception("media upload job %s failed", job_id)
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        self._write(job_id, status=status, error=error, finished_at=utcnow(), folder=None, **values)
        shutil.rmtree(folder, ignore_errors=True)
