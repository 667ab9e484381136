"""A case's seized material: importing it into a media set (resumable; then a cross-case
check of the new faces), what the case holds (summary, files, sets), and its new material (what
no hash set knew) exported as VICS JSON."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.schema import Case
from facesearch.media import hashsets
from facesearch.media.access import DEFAULT_SET
from facesearch.media.alerts import CrossCases
from facesearch.media.importer import MediaImportReport, MediaImportRun, MediaProgressCallback
from facesearch.media.schema import (
    ClusterDecision,
    MediaCluster,
    MediaFace,
    MediaFile,
    MediaImport,
    MediaSet,
)


class CaseMaterial(CrossCases):
    """Import and inventory of a case's media (an import ends with the cross-case check)."""

    def import_media(
        self,
        actor: str,
        case: str,
        paths: Sequence[Path | str],
        *,
        set_name: str = DEFAULT_SET,
        workers: int | None = None,
        on_progress: MediaProgressCallback | None = None,
    ) -> MediaImportReport:
        """Import seized material into the case's media set (resumable; see importer)."""
        sources = [str(p) for p in paths]
        asked = {"case": case, "media_set": set_name, "sources": sources}
        set_name = set_name.strip() or DEFAULT_SET

        def start(s: Session, a: AuditLog) -> tuple[int, int, int, str]:
            _, c = self._media_case(s, actor, case, "media.import", write=True)
            mset = s.execute(
                select(MediaSet).where(MediaSet.case_id == c.id, MediaSet.name == set_name)
            ).scalar_one_or_none()
            if mset is None:
                mset = MediaSet(case_id=c.id, name=set_name, created_by=actor)
                s.add(mset)
                s.flush()
            run = MediaImport(set_id=mset.id, actor=actor, sources=sources, status="running")
            s.add(run)
            s.flush()
            a.record(actor, "media.import.start", {**asked, "import_id": run.id})
            return c.id, mset.id, run.id, c.number

        case_id, set_id, import_id, number = self._run(actor, "media.import", asked, start)
        settings = self.gallery.ingest_settings()
        run = MediaImportRun(
            self.gov.session_factory,
            self.blobs,
            case_id=case_id,
            set_id=set_id,
            import_id=import_id,
            case=number,
            set_name=set_name,
            paths=[Path(p) for p in paths],
            model=self.gallery.model_key,
            pipeline_settings=settings,
            pipeline=lambda: self.gallery.ingest_pipeline(settings),
            elimination=self.settings.elimination,
            workers=workers,
            on_progress=on_progress,
            video=self.settings.video,
            cipher=self.cipher,
        )
        report = run.run()
        status = "interrupted" if report.interrupted else "completed"

        def finish(s: Session, a: AuditLog) -> None:
            row = s.get(MediaImport, import_id)
            assert row is not None
            row.status = status
            row.counts = report.counts()
            row.finished_at = self.gov.clock()
            a.record(
                actor,
                "media.import",
                {**asked, "import_id": import_id, "status": status, **report.counts()},
                case=number,
            )

        self._run(actor, "media.import", asked, finish)
        if report.faces:  # new faces: look for them in the other cases' media (alerts)
            self.crosscheck(actor, case)
        return report

    # --- what is in a case --------------------------------------------------------------------
    def summary(self, actor: str, case: str) -> dict[str, Any]:
        """Counts for the case's media: files by outcome, eliminations by category and hash
        set, faces, persons and reviews."""

        def fn(s: Session, a: AuditLog) -> dict[str, Any]:
            _, c = self._media_case(s, actor, case, "media.summary")
            out = media_summary(s, c)
            a.record(actor, "media.summary", {"case": c.number, "files": out["files"]})
            return out

        return self._run(actor, "media.summary", {"case": case}, fn)

    def files(
        self, actor: str, case: str, *, status: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """The case's files (optionally of one status: faces, no_face, eliminated, duplicate)."""

        def fn(s: Session, a: AuditLog) -> list[dict[str, Any]]:
            _, c = self._media_case(s, actor, case, "media.files")
            q = (
                select(MediaFile, MediaSet.name)
                .join(MediaSet, MediaSet.id == MediaFile.set_id)
                .where(MediaSet.case_id == c.id)
                .order_by(MediaFile.id)
                .limit(limit)
            )
            if status is not None:
                q = q.where(MediaFile.status == status)
            rows = [_file_view(f, set_name) for f, set_name in s.execute(q).all()]
            a.record(actor, "media.files", {"case": c.number, "status": status, "shown": len(rows)})
            return rows

        return self._run(actor, "media.files", {"case": case, "status": status}, fn)

    def media_sets(self, actor: str, case: str) -> list[dict[str, Any]]:
        """The case's media sets with their file counts and imports. Logged."""

        def fn(s: Session, a: AuditLog) -> list[dict[str, Any]]:
            _, c = self._media_case(s, actor, case, "media.sets")
            out = media_sets_of_case(s, c)
            a.record(actor, "media.sets", {"case": c.number, "sets": len(out)})
            return out

        return self._run(actor, "media.sets", {"case": case}, fn)

    def export_new_material(
        self, actor: str, case: str, *, category: str | None = None, version: int = 2
    ) -> dict[str, Any]:
        """The case's material that no hash set knew (one entry per distinct content, with its
        PDQ), as VICS JSON to share or to import as a hash set later; logged."""

        def fn(s: Session, a: AuditLog) -> dict[str, Any]:
            _, c = self._media_case(s, actor, case, "media.export")
            files = s.execute(
                select(MediaFile)
                .join(MediaSet, MediaSet.id == MediaFile.set_id)
                .where(MediaSet.case_id == c.id, MediaFile.status.in_(("faces", "no_face")))
                .order_by(MediaFile.id)
            ).scalars()
            records = [
                hashsets.HashRecord(
                    md5=f.md5,
                    sha1=f.sha1,
                    sha256=f.sha256,
                    pdq=f.pdq,
                    pdq_quality=f.pdq_quality,
                    category=category,
                    media_size=f.size,
                    pdq_crops=f.pdq_crops,
                )
                for f in files
            ]
            doc = hashsets.to_vics(records, version=version)
            a.record(
                actor,
                "media.export",
                {"case": c.number, "entries": len(records), "category": category},
            )
            return doc

        return self._run(actor, "media.export", {"case": case}, fn)


# --- helpers (sessions in, plain data out) ----------------------------------------------------


def media_sets_of_case(s: Session, c: Case) -> list[dict[str, Any]]:
    """The case's media sets: name, who made it and when, files by status, imports."""
    out = []
    for mset in s.execute(
        select(MediaSet).where(MediaSet.case_id == c.id).order_by(MediaSet.id)
    ).scalars():
        by_status = dict(
            s.execute(
                select(MediaFile.status, func.count())
                .where(MediaFile.set_id == mset.id)
                .group_by(MediaFile.status)
            ).all()
        )
        imports = s.execute(
            select(MediaImport).where(MediaImport.set_id == mset.id).order_by(MediaImport.id)
        ).scalars()
        out.append(
            {
                "name": mset.name,
                "created_by": mset.created_by,
                "created_at": mset.created_at,
                "files": int(sum(by_status.values())),
                "files_by_status": {k: int(v) for k, v in sorted(by_status.items())},
                "imports": [
                    {
                        "import_id": i.id,
                        "actor": i.actor,
                        "started_at": i.started_at,
                        "finished_at": i.finished_at,
                        "status": i.status,
                    }
                    for i in imports
                ],
            }
        )
    return out


def _file_view(f: MediaFile, set_name: str) -> dict[str, Any]:
    return {
        "file_id": f.id,
        "media_set": set_name,
        "path": f.path,
        "size": f.size,
        "md5": f.md5,
        "sha1": f.sha1,
        "sha256": f.sha256,
        "pdq": f.pdq,
        "pdq_quality": f.pdq_quality,
        "width": f.width,
        "height": f.height,
        "exif_datetime": f.exif_datetime,
        "camera": " ".join(x for x in (f.camera_make, f.camera_model) if x) or None,
        "status": f.status,
        "kind": f.kind,
        "duration_ms": f.duration_ms,
        "category": f.category,
        "elimination": f.elimination,
        "faces": f.face_count,
    }


def media_summary(s: Session, c: Case) -> dict[str, Any]:
    """Counts for the case report and ``media summary`` (no access check: callers do it)."""
    set_ids = [i for (i,) in s.execute(select(MediaSet.id).where(MediaSet.case_id == c.id))]
    by_status = dict(
        s.execute(
            select(MediaFile.status, func.count())
            .where(MediaFile.set_id.in_(set_ids))
            .group_by(MediaFile.status)
        ).all()
    )
    eliminated = s.execute(
        select(MediaFile.elimination).where(
            MediaFile.set_id.in_(set_ids), MediaFile.elimination.is_not(None)
        )
    ).scalars()
    by_category: Counter[str] = Counter()
    by_set: Counter[str] = Counter()
    by_match: Counter[str] = Counter()
    for e in eliminated:
        if not e:
            continue
        by_category[str(e.get("category") or "uncategorised")] += 1
        by_set[str(e.get("hash_set"))] += 1
        by_match[str(e.get("match"))] += 1
    faces = s.execute(
        select(MediaFace.searchable, func.count())
        .where(MediaFace.case_id == c.id)
        .group_by(MediaFace.searchable)
    ).all()
    face_counts = {bool(k): int(v) for k, v in faces}
    clusters = s.execute(
        select(func.count(func.distinct(MediaFace.cluster_id))).where(
            MediaFace.case_id == c.id, MediaFace.cluster_id.is_not(None)
        )
    ).scalar_one()
    named = s.execute(
        select(func.count()).where(MediaCluster.case_id == c.id, MediaCluster.name.is_not(None))
    ).scalar_one()
    hidden = s.execute(
        select(func.count()).where(MediaCluster.case_id == c.id, MediaCluster.hidden.is_(True))
    ).scalar_one()
    decisions = dict(
        s.execute(
            select(ClusterDecision.action, func.count())
            .where(ClusterDecision.case_id == c.id)
            .group_by(ClusterDecision.action)
        ).all()
    )
    return {
        "case": c.number,
        "media_sets": len(set_ids),
        "files": int(sum(by_status.values())),
        "files_by_status": {k: int(v) for k, v in sorted(by_status.items())},
        "eliminated": int(sum(by_category.values())),
        "eliminated_by_category": dict(sorted(by_category.items())),
        "eliminated_by_hash_set": dict(sorted(by_set.items())),
        "eliminated_by_match": dict(sorted(by_match.items())),
        "faces": face_counts.get(True, 0) + face_counts.get(False, 0),
        "faces_flagged": face_counts.get(False, 0),
        "clusters": int(clusters),
        "clusters_named": int(named),
        "clusters_hidden": int(hidden),
        "decisions": {k: int(v) for k, v in sorted(decisions.items())},
    }
