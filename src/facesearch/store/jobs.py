"""Ingest jobs as catalog rows, and the owners that run them.

A server runs its ingest jobs on a thread of its own process, but every job is a row of
``ingest_jobs``: its id comes from the database (ids never restart after a restart), and each
state change (queued, running, its progress, completed, cancelled, failed, interrupted) is
written, so any process on the same catalog lists the same jobs, and a job whose server died
is still there to be seen and resumed.

Each unfinished job names its *owner*: the host, the pid and the process's start time (Linux's
``/proc/PID/stat``), and the owner writes a heartbeat on its unfinished jobs every
:data:`HEARTBEAT_S` seconds. A job is *orphaned* when its owner is dead: on the same host, the
pid is gone or is another process (another start time); on another host, no heartbeat for
:data:`STALE_S` seconds. Orphaned jobs, and the ingest runs they were running, are marked
``interrupted`` with the reason (:meth:`JobTable.interrupt_orphans`); a second replica's live
jobs are never touched.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    Integer,
    String,
    Text,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from facesearch.store.schema import Base, IngestRunRow, utcnow

__all__ = [
    "FINISHED",
    "HEARTBEAT_S",
    "STALE_S",
    "UNFINISHED",
    "IngestJobRow",
    "JobTable",
    "Owner",
    "interrupt_runs",
]

#: How often an owner writes the heartbeat of its unfinished jobs.
HEARTBEAT_S = 10.0
#: A job of another host whose owner wrote no heartbeat for this long is orphaned.
STALE_S = 60.0

UNFINISHED = ("queued", "running")
FINISHED = ("completed", "cancelled", "failed", "interrupted")


class IngestJobRow(Base):
    """One background ingest job (ids autoincrement: never given twice, even on SQLite)."""

    __tablename__ = "ingest_jobs"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    sources: Mapped[list[str]] = mapped_column(JSON, default=list)
    collection: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    files_total: Mapped[int] = mapped_column(Integer, default=0)
    files_done: Mapped[int] = mapped_column(Integer, default=0)
    faces: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[int | None] = mapped_column(Integer)
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)  # why it failed or was interrupted
    # uploaded archives' folders, removed when the job completes or is cancelled (kept while
    # it is interrupted, so that a resume reads them)
    cleanup: Mapped[list[str]] = mapped_column(JSON, default=list)
    # what a source is shown as (an upload's temporary folder: the name it was uploaded under)
    names: Mapped[dict[str, str] | None] = mapped_column(JSON)
    resumes: Mapped[int | None] = mapped_column(Integer)  # the interrupted job it resumes
    resumed_by: Mapped[int | None] = mapped_column(Integer)  # the job that resumed it
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_host: Mapped[str | None] = mapped_column(String(255))
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    owner_started: Mapped[str | None] = mapped_column(String(40))  # the process's start time
    heartbeat: Mapped[float | None] = mapped_column(Float)  # epoch seconds


def _pid_namespace() -> str:
    """This process's PID namespace (Linux), "" where unknown: containers that share a host
    name may still not see each other's pids."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _process_start(pid: int) -> str:
    """The start time of process ``pid`` in clock ticks since boot (Linux), "" where unknown:
    a pid reused by another process has another start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Owner:
    """A process that runs jobs: host, pid, and ``started``: its PID namespace and start
    time (``NAMESPACE@TICKS``, Linux; parts left empty elsewhere)."""

    host: str
    pid: int
    started: str

    @classmethod
    def current(cls) -> Owner:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, f"{_pid_namespace()}@{_process_start(pid)}")

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"

    def alive(self, heartbeat: float | None, now: float) -> bool:
        """Whether this owner still runs: where its pid can be checked (this host and PID
        namespace), its pid is there with the same start time; elsewhere, its heartbeat is
        recent (within :data:`STALE_S`)."""
        namespace, _, ticks = self.started.rpartition("@")
        if self.host == socket.gethostname() and namespace == _pid_namespace():
            if not _pid_alive(self.pid):
                return False
            started = _process_start(self.pid)
            return not (ticks and started and started != ticks)
        return heartbeat is not None and now - heartbeat < STALE_S


def interrupt_runs(session: Session, reason: str, run_ids: list[int] | None = None) -> list[int]:
    """Mark ingest runs still "running" as interrupted, with ``reason`` (all of them, or those
    of ``run_ids``); returns their ids."""
    query = select(IngestRunRow.id).where(IngestRunRow.status == "running")
    if run_ids is not None:
        if not run_ids:
            return []
        query = query.where(IngestRunRow.id.in_(run_ids))
    ids = list(session.scalars(query))
    if ids:
        session.execute(
            update(IngestRunRow)
            .where(IngestRunRow.id.in_(ids), IngestRunRow.status == "running")
            .values(status="interrupted", finished_at=utcnow(), reason=reason)
        )
    return ids


class JobTable:
    """The ``ingest_jobs`` rows, read and written in short transactions of their own."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    @staticmethod
    def as_dict(row: IngestJobRow) -> dict[str, Any]:
        return {c.key: getattr(row, c.key) for c in IngestJobRow.__table__.columns}

    def add(
        self,
        owner: Owner,
        sources: list[str],
        collection: str | None,
        created_by: str,
        cleanup: list[str],
        resumes: int | None = None,
        names: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A new queued job owned by ``owner``; resuming job ``resumes`` (which must be
        interrupted and not yet resumed: else None is returned and nothing is added), whose
        uploaded folders pass to the new job."""
        with self._session() as s:
            if resumes is not None:
                old = s.get(IngestJobRow, resumes, with_for_update=True)
                if old is None or old.status != "interrupted" or old.resumed_by is not None:
                    return {}
                cleanup = list(old.cleanup or [])
                names = {**(old.names or {}), **(names or {})}
            row = IngestJobRow(
                status="queued",
                sources=sources,
                collection=collection,
                created_by=created_by,
                created_at=utcnow(),
                cleanup=cleanup,
                names=dict(names or {}),
                resumes=resumes,
                owner_host=owner.host,
                owner_pid=owner.pid,
                owner_started=owner.started,
                heartbeat=time.time(),
            )
            s.add(row)
            s.flush()
            if resumes is not None:
                s.execute(
                    update(IngestJobRow)
                    .where(IngestJobRow.id == resumes)
                    .values(resumed_by=row.id, cleanup=[])
                )
            return self.as_dict(row)

    def get(self, job_id: int) -> dict[str, Any] | None:
        with self._session() as s:
            row = s.get(IngestJobRow, job_id)
            return None if row is None else self.as_dict(row)

    def all(self, limit: int = 1000) -> list[dict[str, Any]]:
        with self._session() as s:
            rows = s.scalars(select(IngestJobRow).order_by(IngestJobRow.id.desc()).limit(limit))
            return [self.as_dict(r) for r in rows]

    def claim(self, job_id: int, owner: Owner) -> bool:
        """Start a queued job this owner holds (False: it was cancelled meanwhile)."""
        with self._session() as s:
            done = s.execute(
                update(IngestJobRow)
                .where(
                    IngestJobRow.id == job_id,
                    IngestJobRow.status == "queued",
                    IngestJobRow.owner_pid == owner.pid,
                    IngestJobRow.owner_host == owner.host,
                )
                .values(status="running", started_at=utcnow(), heartbeat=time.time())
            )
            return bool(getattr(done, "rowcount", 0))

    def write(self, job_id: int, **values: Any) -> bool:
        """Write ``values`` on the job; returns whether a cancel was asked for it (by any
        process) so the owner's next progress report stops the run."""
        with self._session() as s:
            s.execute(update(IngestJobRow).where(IngestJobRow.id == job_id).values(**values))
            return bool(
                s.scalar(select(IngestJobRow.cancel_requested).where(IngestJobRow.id == job_id))
            )

    def request_cancel(self, job_id: int) -> dict[str, Any] | None:
        """Cancel a job another process owns: a queued one at once, a running one at its
        owner's next progress report; an interrupted one not resumed is given up (its
        uploads are the caller's to remove: ``cleanup`` of the answer). Returns the job."""
        with self._session() as s:
            row = s.get(IngestJobRow, job_id, with_for_update=True)
            if row is None:
                return None
            cleanup = list(row.cleanup or [])
            if row.status == "queued" or (row.status == "interrupted" and not row.resumed_by):
                row.status, row.cleanup = "cancelled", []
                row.finished_at = row.finished_at or utcnow()
            elif row.status == "running":
                row.cancel_requested = True
            s.flush()
            return {**self.as_dict(row), "cleanup": cleanup}

    def beat(self, owner: Owner) -> None:
        """The heartbeat of every unfinished job ``owner`` holds."""
        with self._session() as s:
            s.execute(
                update(IngestJobRow)
                .where(
                    IngestJobRow.status.in_(UNFINISHED),
                    IngestJobRow.owner_host == owner.host,
                    IngestJobRow.owner_pid == owner.pid,
                )
                .values(heartbeat=time.time())
            )

    def interrupt_orphans(self, me: Owner) -> list[dict[str, Any]]:
        """Mark interrupted every unfinished job whose owner is dead (never this process's),
        and the ingest run each was running; returns those jobs as they are now."""
        now = time.time()
        found: list[dict[str, Any]] = []
        with self._session() as s:
            rows = s.scalars(select(IngestJobRow).where(IngestJobRow.status.in_(UNFINISHED))).all()
            for row in rows:
                owner = Owner(row.owner_host or "", row.owner_pid or 0, row.owner_started or "")
                if owner == me or owner.alive(row.heartbeat, now):
                    continue
                reason = (
                    f"the server process running it ({owner.describe()}) stopped while the "
                    f"job was {row.status}; resume it to carry on (stored photos are skipped)"
                )
                done = s.execute(
                    update(IngestJobRow)
                    .where(IngestJobRow.id == row.id, IngestJobRow.status == row.status)
                    .values(status="interrupted", finished_at=utcnow(), error=reason)
                )
                if not getattr(done, "rowcount", 0):
                    continue
                if row.run_id is not None:
                    interrupt_runs(s, f"ingest job {row.id}: {reason}", [row.run_id])
                s.flush()
                s.refresh(row)
                found.append(self.as_dict(row))
        return found
