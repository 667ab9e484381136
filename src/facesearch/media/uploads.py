"""Media uploaded from the browser: the governed acts on upload jobs.

An investigator assigned to an open case uploads photos, videos or an archive of them into a
*new* media set of the case, with its label (the set's name) and a note of where the material
comes from and on what legal basis. :meth:`MediaUploads.start_upload` records the job (a row
of ``media_upload_jobs``, queued) and audits it as ``media.upload`` with the note; the server
that took it imports and clusters it in the background (app/media_jobs.py), and the import is
audited like any other (``media.import.start``, ``media.import``, ``media.cluster``).
Supervisors see the case's upload jobs; they do not upload (the case's investigators do).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.cases import active_assignment
from facesearch.govern.errors import RefusedError
from facesearch.govern.schema import Case
from facesearch.govern.users import Role, has_role
from facesearch.media.access import MediaAccess
from facesearch.media.schema import MediaSet, MediaUploadJob
from facesearch.store.jobs import Owner

UNFINISHED = ("queued", "running")
#: The jobs a case's page lists (newest first).
JOBS_LISTED = 50


def job_view(row: MediaUploadJob, case: str) -> dict[str, Any]:
    """What the API shows of an upload job (not where its files lie, nor its owner)."""
    times = {}
    for key in ("created_at", "started_at", "finished_at"):
        when = getattr(row, key)
        if isinstance(when, datetime) and when.tzinfo is None:  # SQLite keeps no zone
            when = when.replace(tzinfo=UTC)
        times[key] = when
    return {
        "id": row.id,
        "case": case,
        "media_set": row.set_name,
        "note": row.note,
        "files": list(row.files or []),
        "status": row.status,
        "created_by": row.created_by,
        **times,
        "files_total": row.files_total,
        "files_done": row.files_done,
        "faces": row.faces,
        "import_id": row.import_id,
        "counts": dict(row.counts or {}),
        "error": row.error,
    }


class MediaUploads(MediaAccess):
    """Upload jobs of a case: started by its investigators, listed for its readers."""

    def start_upload(
        self,
        actor: str,
        case: str,
        *,
        set_name: str,
        note: str,
        files: list[str],
        folder: str,
        owner: Owner,
    ) -> dict[str, Any]:
        """Queue the import of the files in ``folder`` into the new media set ``set_name`` of
        ``case`` (an assigned investigator, the case open; a set of that name must not exist
        yet). Audited as ``media.upload`` with the note; returns the job."""
        action = "media.upload"
        set_name, note = set_name.strip(), note.strip()
        asked = {"case": case, "media_set": set_name, "files": files}

        def fn(s: Session, a: AuditLog) -> dict[str, Any]:
            c = self._uploader_case(s, actor, case, action)
            if not set_name or not note:
                raise RefusedError(action, "a label and the source or legal basis are required")
            taken = s.execute(
                select(MediaSet.id).where(MediaSet.case_id == c.id, MediaSet.name == set_name)
            ).first()
            queued = s.execute(
                select(MediaUploadJob.id).where(
                    MediaUploadJob.case_id == c.id,
                    MediaUploadJob.set_name == set_name,
                    MediaUploadJob.status.in_(UNFINISHED),
                )
            ).first()
            if taken or queued:
                raise RefusedError(
                    action,
                    f"case {c.number!r} already has a media set {set_name!r}: "
                    "uploads go into a new media set",
                )
            row = MediaUploadJob(
                case_id=c.id,
                set_name=set_name,
                note=note,
                files=files,
                status="queued",
                created_by=actor,
                files_total=0,
                files_done=0,
                faces=0,
                folder=folder,
                owner_host=owner.host,
                owner_pid=owner.pid,
                owner_started=owner.started,
                heartbeat=time.time(),
            )
            s.add(row)
            s.flush()
            a.record(actor, action, {**asked, "case": c.number, "note": note, "job": row.id})
            return job_view(row, c.number)

        return self._run(actor, action, asked, fn)

    def may_upload(self, actor: str, case: str) -> None:
        """Refuse (and log) unless ``actor`` may upload media to ``case`` (checked before the
        upload's bytes are read; :meth:`start_upload` checks again)."""

        def fn(s: Session, a: AuditLog) -> None:
            self._uploader_case(s, actor, case, "media.upload")

        self._run(actor, "media.upload", {"case": case}, fn)

    def _uploader_case(self, s: Session, actor: str, case: str, action: str) -> Case:
        """The open case whose investigator ``actor`` is (assigned): only they upload."""
        user, c = self._media_case(s, actor, case, action, write=True)
        if not has_role(user, Role.INVESTIGATOR) or active_assignment(c, user) is None:
            raise RefusedError(
                action, f"media are uploaded by the investigators of case {c.number!r}"
            )
        return c

    def upload_jobs(self, actor: str, case: str) -> list[dict[str, Any]]:
        """The case's upload jobs, newest first (its readers; not logged: the page polls it
        while a job runs; a refusal is logged)."""

        def fn(s: Session, a: AuditLog) -> list[dict[str, Any]]:
            _, c = self._media_case(s, actor, case, "media.upload.jobs")
            return case_jobs(s, c)

        return self._run(actor, "media.upload.jobs", {"case": case}, fn)


def case_jobs(s: Session, c: Case) -> list[dict[str, Any]]:
    rows = s.execute(
        select(MediaUploadJob)
        .where(MediaUploadJob.case_id == c.id)
        .order_by(MediaUploadJob.id.desc())
        .limit(JOBS_LISTED)
    ).scalars()
    return [job_view(r, c.number) for r in rows]
