"""The victim-identification service: media sets governed by their case, hash sets, persons.

Every method is one governed act: the acting user is checked (media of a case are for its
assigned investigators and for supervisors; not for auditors or administrators, who see the
audit log but never the material), the act and its audit entry commit together, and a refusal
is logged and raised as :class:`RefusedError`.

    media = MediaService(workspace.governance, workspace.gallery)
    report = media.import_media("ivy", "CASE-1", [Path("seized/phone")])
    media.cluster("ivy", "CASE-1")
    clusters = media.clusters("ivy", "CASE-1")
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.cases import OPEN, active_assignment, require_case
from facesearch.govern.errors import RefusedError
from facesearch.govern.schema import Case, User
from facesearch.govern.users import Role, has_role, require_user
from facesearch.media import hashsets
from facesearch.media.alerts import AlertView, CrossCheck, alerts_of_case, cross_check
from facesearch.media.cluster import ClusterSettings, cluster_vectors
from facesearch.media.elimination import EliminationSettings
from facesearch.media.importer import MediaImportReport, MediaImportRun, MediaProgressCallback
from facesearch.media.schema import (
    ClusterDecision,
    HashEntry,
    HashSet,
    MediaCluster,
    MediaFace,
    MediaFile,
    MediaImport,
    MediaSet,
)
from facesearch.media.tracks import TrackView, track_views
from facesearch.media.video import VideoSettings, box_in_crop
from facesearch.store.blobs import FileBlobStore

if TYPE_CHECKING:
    from facesearch.govern import Governance
    from facesearch.search.gallery import Gallery

MEDIA_BLOBS = "media-blobs"
DEFAULT_SET = "default"


@dataclass(frozen=True)
class MediaSettings:
    elimination: EliminationSettings = field(default_factory=EliminationSettings)
    clustering: ClusterSettings = field(default_factory=ClusterSettings)
    video: VideoSettings = field(default_factory=VideoSettings)


@dataclass(frozen=True)
class HashSetSummary:
    name: str
    format: str
    entries: int
    with_pdq: int
    categories: dict[str, int]
    file_sha256: str


@dataclass(frozen=True)
class ClusterFace:
    face_id: int
    file: str
    frame_ms: int | None


@dataclass(frozen=True)
class ClusterView:
    cluster: int
    name: str | None
    hidden: bool
    reviewed: bool
    faces: list[ClusterFace]


@dataclass(frozen=True)
class DecisionView:
    """One recorded review decision; ``details`` as :func:`apply_decision` answered it."""

    decision_id: int
    action: str
    actor: str
    at: datetime
    details: dict[str, Any]


@dataclass(frozen=True)
class ClusterRun:
    faces: int
    flagged_aside: int
    clusters: int
    new_clusters: int
    kept_by_decision: int  # faces pinned by a person's decision, left where they were


def _load_face_vectors(rows: Sequence[MediaFace]) -> np.ndarray:
    return np.stack([np.frombuffer(r.embedding, "<f4") for r in rows]).astype(np.float32)


class MediaService:
    def __init__(
        self, governance: Governance, gallery: Gallery, settings: MediaSettings | None = None
    ) -> None:
        self.gov = governance
        self.gallery = gallery
        self.settings = settings or MediaSettings()
        self.blobs = FileBlobStore(gallery.data_dir / MEDIA_BLOBS, cipher=gallery.blobs.cipher)

    # --- access -----------------------------------------------------------------------------
    def _media_case(
        self, s: Session, actor: str, number: str, action: str, *, write: bool = False
    ) -> tuple[User, Case]:
        """The case whose media ``actor`` may see: an investigator assigned to it, or a
        supervisor. ``write`` also needs the case to be open."""
        user = require_user(s, actor, action, {Role.INVESTIGATOR, Role.SUPERVISOR})
        case = require_case(s, number, action)
        if not has_role(user, Role.SUPERVISOR) and active_assignment(case, user) is None:
            raise RefusedError(
                action,
                f"user {user.username!r} is not assigned to case {case.number!r}: its media "
                "are for its investigators and supervisors",
            )
        if write and case.status != OPEN:
            raise RefusedError(action, f"case {case.number!r} is {case.status}, not open")
        return user, case

    def _run(self, actor: str, action: str, asked: dict[str, Any], fn: Any) -> Any:
        # Governance's own transaction runner: one transaction with the audit entry, refusals
        # logged in a transaction of their own.
        return self.gov._run(actor, action, asked, fn)

    # --- import -------------------------------------------------------------------------------
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
        if report.faces:  # new faces: look for them in the other cases' media (victim/alerts)
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

    # --- hash sets ----------------------------------------------------------------------------
    def import_hash_set(
        self,
        actor: str,
        path: Path,
        *,
        name: str | None = None,
        fmt: str | None = None,
        category: str | None = None,
    ) -> HashSetSummary:
        """Import a hash set (supervisors and administrators). A malformed file is refused as
        a whole, naming the entry and field; nothing of it is kept."""
        data = Path(path).read_bytes()
        parsed = hashsets.parse(data, fmt, Path(path).name)
        set_name = (name or Path(path).stem).strip()
        asked = {"hash_set": set_name, "file": str(path), "format": parsed.format}

        def fn(s: Session, a: AuditLog) -> HashSetSummary:
            require_user(s, actor, "media.hashset.import", {Role.SUPERVISOR, Role.ADMINISTRATOR})
            if s.execute(select(HashSet.id).where(HashSet.name == set_name)).first():
                raise RefusedError("media.hashset.import", f"hash set {set_name!r} exists already")
            hs = HashSet(
                name=set_name,
                format=parsed.format,
                default_category=category,
                file_sha256=hashlib.sha256(data).hexdigest(),
                entries=len(parsed.records),
                imported_by=actor,
            )
            s.add(hs)
            s.flush()
            rows = [
                {"set_id": hs.id, **dataclasses.asdict(r), "category": r.category or category}
                for r in parsed.records
            ]
            if rows:
                s.execute(insert(HashEntry), rows)
            summary = _hash_set_summary(s, hs)
            a.record(
                actor,
                "media.hashset.import",
                {**asked, "entries": summary.entries, "file_sha256": summary.file_sha256},
            )
            return summary

        return self._run(actor, "media.hashset.import", asked, fn)

    def hash_sets(self, actor: str) -> list[HashSetSummary]:
        def fn(s: Session, a: AuditLog) -> list[HashSetSummary]:
            require_user(
                s,
                actor,
                "media.hashset.list",
                {Role.SUPERVISOR, Role.ADMINISTRATOR, Role.INVESTIGATOR},
            )
            out = [
                _hash_set_summary(s, hs)
                for hs in s.execute(select(HashSet).order_by(HashSet.id)).scalars()
            ]
            a.record(actor, "media.hashset.list", {"count": len(out)})
            return out

        return self._run(actor, "media.hashset.list", {}, fn)

    def export_hash_set(self, actor: str, name: str, *, version: int = 2) -> dict[str, Any]:
        """A hash set as VICS JSON (supervisors and administrators; logged)."""

        def fn(s: Session, a: AuditLog) -> dict[str, Any]:
            require_user(s, actor, "media.hashset.export", {Role.SUPERVISOR, Role.ADMINISTRATOR})
            hs = s.execute(select(HashSet).where(HashSet.name == name)).scalar_one_or_none()
            if hs is None:
                raise RefusedError("media.hashset.export", f"no hash set {name!r}")
            entries = s.execute(
                select(HashEntry).where(HashEntry.set_id == hs.id).order_by(HashEntry.id)
            ).scalars()
            doc = hashsets.to_vics([_record_of(e) for e in entries], version=version)
            a.record(
                actor,
                "media.hashset.export",
                {"hash_set": name, "entries": len(doc["value"]), "version": version},
            )
            return doc

        return self._run(actor, "media.hashset.export", {"hash_set": name}, fn)

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

    # --- pictures (wellbeing) ------------------------------------------------------------------
    def face_picture(self, actor: str, case: str, face_id: int, *, reveal: bool = False) -> bytes:
        """The picture a face was found in, as JPEG: greyscale and blurred outside the face box
        unless ``reveal`` (an explicit act, logged as ``media.face.reveal``)."""
        import cv2

        from facesearch.media.wellbeing import shielded

        action = "media.face.reveal" if reveal else "media.face.view"

        def fn(s: Session, a: AuditLog) -> bytes:
            _, c = self._media_case(s, actor, case, action)
            face = s.get(MediaFace, face_id)
            if face is None or face.case_id != c.id:
                raise RefusedError(action, f"case {c.number!r} has no face {face_id}")
            f = s.get(MediaFile, face.file_id)
            assert f is not None
            if f.thumbnail is None or not f.width:
                raise RefusedError(action, f"no picture is kept of {f.path}")
            # a video's face: the crop of its own frame (the thumbnail is another frame)
            video = face.frame_ms is not None and face.crop is not None and f.height
            kept = face.crop if video else f.thumbnail
            assert kept is not None
            pixels = cv2.imdecode(np.frombuffer(self.blobs.get(kept), np.uint8), cv2.IMREAD_COLOR)
            if pixels is None:
                raise RefusedError(action, f"the stored picture of {f.path} cannot be read")
            if not reveal:
                box = (face.x, face.y, face.w, face.h)
                if video:
                    box = box_in_crop(box, (f.width, f.height or 0), pixels.shape[1])
                else:
                    k = pixels.shape[1] / f.width
                    box = (face.x * k, face.y * k, face.w * k, face.h * k)
                pixels = shielded(pixels, box)
            ok, buf = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if not ok:
                raise ValueError("JPEG encoding failed")
            a.record(actor, action, {"case": c.number, "face": face_id, "file": f.path})
            return bytes(buf.tobytes())

        return self._run(actor, action, {"case": case, "face": face_id}, fn)

    # --- persons ------------------------------------------------------------------------------
    def cluster(self, actor: str, case: str) -> ClusterRun:
        """Group the case's faces into persons (again, incrementally: see :func:`recluster`)."""

        def fn(s: Session, a: AuditLog) -> ClusterRun:
            _, c = self._media_case(s, actor, case, "media.cluster")
            result = recluster(s, c, self.settings.clustering)
            a.record(
                actor,
                "media.cluster",
                {
                    "case": c.number,
                    **dataclasses.asdict(result),
                    "threshold": self.settings.clustering.threshold,
                },
            )
            return result

        return self._run(actor, "media.cluster", {"case": case}, fn)

    def clusters(self, actor: str, case: str, *, include_hidden: bool = False) -> list[ClusterView]:
        """The case's persons, largest first (hidden ones only when asked); logged."""

        def fn(s: Session, a: AuditLog) -> list[ClusterView]:
            _, c = self._media_case(s, actor, case, "media.clusters")
            views = cluster_views(s, c, include_hidden=include_hidden)
            a.record(
                actor,
                "media.clusters",
                {"case": c.number, "clusters": len(views), "include_hidden": include_hidden},
            )
            return views

        return self._run(actor, "media.clusters", {"case": case}, fn)

    def tracks(self, actor: str, case: str) -> list[TrackView]:
        """The appearances of faces in the case's videos (file, times, faces kept); logged."""

        def fn(s: Session, a: AuditLog) -> list[TrackView]:
            _, c = self._media_case(s, actor, case, "media.tracks")
            views = track_views(s, c)
            a.record(actor, "media.tracks", {"case": c.number, "tracks": len(views)})
            return views

        return self._run(actor, "media.tracks", {"case": case}, fn)

    def decide(
        self,
        actor: str,
        case: str,
        action: str,
        *,
        cluster: int | None = None,
        other: int | None = None,
        faces: Sequence[int] = (),
        name: str | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        """A person's decision on the clusters: ``merge`` (other into cluster), ``split``
        (faces out of cluster into a new one), ``move`` (faces into cluster), ``name``,
        ``hide``, ``show``. Recorded, audited, and kept by later re-clustering."""
        audit_action = f"media.person.{action}"
        asked = {"case": case, "cluster": cluster, "other": other, "faces": list(faces)}

        def fn(s: Session, a: AuditLog) -> dict[str, Any]:
            _, c = self._media_case(s, actor, case, audit_action, write=True)
            details = apply_decision(s, c, audit_action, action, cluster, other, list(faces), name)
            details["note"] = note
            row = ClusterDecision(case_id=c.id, action=action, details=details, actor=actor)
            s.add(row)
            s.flush()
            a.record(actor, audit_action, {"case": c.number, **details, "decision_id": row.id})
            return {**details, "decision_id": int(row.id)}

        return self._run(actor, audit_action, asked, fn)

    def decisions(self, actor: str, case: str) -> list[DecisionView]:
        """The review decisions on the case's persons, oldest first (who, when, what); logged."""

        def fn(s: Session, a: AuditLog) -> list[DecisionView]:
            _, c = self._media_case(s, actor, case, "media.decisions")
            rows = s.execute(
                select(ClusterDecision)
                .where(ClusterDecision.case_id == c.id)
                .order_by(ClusterDecision.at, ClusterDecision.id)
            ).scalars()
            views = [
                DecisionView(int(d.id), d.action, d.actor, d.at, dict(d.details or {}))
                for d in rows
            ]
            a.record(actor, "media.decisions", {"case": c.number, "decisions": len(views)})
            return views

        return self._run(actor, "media.decisions", {"case": case}, fn)

    # --- cross-case alerts (victim/alerts.py) ------------------------------------------------
    def crosscheck(self, actor: str, case: str) -> CrossCheck:
        """Compare the case's media faces with every other case's; new hits at or above the
        strong band become alerts for both cases (audited on both sides)."""

        def fn(s: Session, a: AuditLog) -> CrossCheck:
            _, c = self._media_case(s, actor, case, "media.crosscheck")
            found = cross_check(
                s,
                a,
                c,
                strong=self.gallery.scoring.bands.strong,
                model=self.gallery.model_key,
                actor=actor,
                now=self.gov.clock(),
            )
            a.record(
                actor,
                "media.crosscheck",
                {
                    "case": c.number,
                    "faces": found.faces,
                    "compared_with": found.compared_with,
                    "new_pairs": found.new_pairs,
                    "cases_with_new_alerts": list(found.cases_with_new_alerts),
                },
            )
            return found

        return self._run(actor, "media.crosscheck", {"case": case}, fn)

    def alerts(self, actor: str, case: str) -> list[AlertView]:
        """The case's cross-case alerts: the other case's number and supervisor, and which of
        this case's faces matched; nothing of the other case. Logged."""

        def fn(s: Session, a: AuditLog) -> list[AlertView]:
            _, c = self._media_case(s, actor, case, "media.alerts")
            views = alerts_of_case(s, c)
            a.record(
                actor,
                "media.alerts",
                {"case": c.number, "other_cases": [v.other_case for v in views]},
            )
            return views

        return self._run(actor, "media.alerts", {"case": case}, fn)

    def media_sets(self, actor: str, case: str) -> list[dict[str, Any]]:
        """The case's media sets with their file counts and imports. Logged."""

        def fn(s: Session, a: AuditLog) -> list[dict[str, Any]]:
            _, c = self._media_case(s, actor, case, "media.sets")
            out = media_sets_of_case(s, c)
            a.record(actor, "media.sets", {"case": c.number, "sets": len(out)})
            return out

        return self._run(actor, "media.sets", {"case": case}, fn)


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


def _record_of(e: HashEntry) -> hashsets.HashRecord:
    return hashsets.HashRecord(
        md5=e.md5,
        sha1=e.sha1,
        sha256=e.sha256,
        pdq=e.pdq,
        pdq_quality=e.pdq_quality,
        category=e.category,
        media_size=e.media_size,
        photodna=e.photodna,
        media_id=e.media_id,
        pdq_crops=e.pdq_crops,
    )


def _hash_set_summary(s: Session, hs: HashSet) -> HashSetSummary:
    cats = dict(
        s.execute(
            select(HashEntry.category, func.count())
            .where(HashEntry.set_id == hs.id)
            .group_by(HashEntry.category)
        ).all()
    )
    with_pdq = s.execute(
        select(func.count()).where(HashEntry.set_id == hs.id, HashEntry.pdq.is_not(None))
    ).scalar_one()
    return HashSetSummary(
        name=hs.name,
        format=hs.format,
        entries=hs.entries,
        with_pdq=int(with_pdq),
        categories={str(k or "uncategorised"): int(v) for k, v in sorted(cats.items(), key=str)},
        file_sha256=hs.file_sha256,
    )


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


def _photo_key(f: MediaFace) -> tuple[int, int]:
    return (f.file_id, -1 if f.frame_ms is None else f.frame_ms)


def recluster(s: Session, c: Case, settings: ClusterSettings) -> ClusterRun:
    """Cluster every searchable face of the case again, keeping people's decisions.

    Faces pinned by a decision (merge, split, move, name) stay in their cluster. Each new group
    that holds pinned faces joins the cluster most of them are in, so a named person gathers
    their new photos and keeps their name and id; a group without pinned faces takes over the
    unreviewed cluster most of its faces were in before (stable ids), else a new one. A face
    never joins a cluster that already holds a face of its photo. Flagged faces (low quality)
    are kept aside, in no cluster.
    """
    rows = list(
        s.execute(
            select(MediaFace).where(MediaFace.case_id == c.id).order_by(MediaFace.id)
        ).scalars()
    )
    usable = [f for f in rows if f.searchable]
    aside = [f for f in rows if not f.searchable]
    for f in aside:  # kept aside, unless a person put it in a cluster
        if not f.pinned:
            f.cluster_id = None
    if not usable:
        return ClusterRun(0, len(aside), 0, 0, 0)
    photo_ids: dict[tuple[int, int], int] = {}
    photos = np.array([photo_ids.setdefault(_photo_key(f), len(photo_ids)) for f in usable])
    labels = cluster_vectors(_load_face_vectors(usable), photos, settings)
    clusters = {
        cl.id: cl
        for cl in s.execute(select(MediaCluster).where(MediaCluster.case_id == c.id)).scalars()
    }
    photos_in: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for f in usable:
        if f.pinned and f.cluster_id is not None:
            photos_in[f.cluster_id].add(_photo_key(f))
    groups: dict[int, list[MediaFace]] = defaultdict(list)
    for f, lab in zip(usable, labels.tolist(), strict=True):
        groups[lab].append(f)
    claimed: set[int] = set()
    new_clusters = 0

    def fresh() -> MediaCluster:
        nonlocal new_clusters
        cl = MediaCluster(case_id=c.id)
        s.add(cl)
        s.flush()
        clusters[cl.id] = cl
        new_clusters += 1
        return cl

    for lab in sorted(groups):
        faces = groups[lab]
        pinned = Counter(f.cluster_id for f in faces if f.pinned and f.cluster_id is not None)
        loose = [f for f in faces if not (f.pinned and f.cluster_id is not None)]
        target: int | None = None
        if pinned:
            target = min(pinned, key=lambda k: (-pinned[k], k))
        else:
            before = Counter(
                f.cluster_id
                for f in loose
                if f.cluster_id is not None
                and f.cluster_id in clusters
                and not clusters[f.cluster_id].reviewed
                and f.cluster_id not in claimed
            )
            if before:
                target = min(before, key=lambda k: (-before[k], k))
        if target is None:
            target = fresh().id
        claimed.add(target)
        overflow: list[MediaFace] = []
        for f in loose:
            key = _photo_key(f)
            if key in photos_in[target]:
                overflow.append(f)
                continue
            f.cluster_id = target
            photos_in[target].add(key)
        if overflow:
            spill = fresh().id
            for f in overflow:
                f.cluster_id = spill
                photos_in[spill].add(_photo_key(f))
    s.flush()
    used = {f.cluster_id for f in usable}
    for cid, cl in list(clusters.items()):
        if cid not in used and not cl.reviewed:
            s.delete(cl)
    s.flush()
    return ClusterRun(
        faces=len(usable),
        flagged_aside=len(aside),
        clusters=len(used),
        new_clusters=new_clusters,
        kept_by_decision=sum(1 for f in usable if f.pinned),
    )


def cluster_views(s: Session, c: Case, *, include_hidden: bool = False) -> list[ClusterView]:
    rows = s.execute(
        select(MediaFace, MediaFile.path)
        .join(MediaFile, MediaFile.id == MediaFace.file_id)
        .where(MediaFace.case_id == c.id, MediaFace.cluster_id.is_not(None))
        .order_by(MediaFace.id)
    ).all()
    members: dict[int, list[ClusterFace]] = defaultdict(list)
    for f, path in rows:
        assert f.cluster_id is not None
        members[f.cluster_id].append(ClusterFace(int(f.id), path, f.frame_ms))
    clusters = {
        cl.id: cl
        for cl in s.execute(select(MediaCluster).where(MediaCluster.case_id == c.id)).scalars()
    }
    views = [
        ClusterView(cid, clusters[cid].name, clusters[cid].hidden, clusters[cid].reviewed, faces)
        for cid, faces in members.items()
        if include_hidden or not clusters[cid].hidden
    ]
    views.sort(key=lambda v: (-len(v.faces), v.cluster))
    return views


def _cluster_or_refuse(s: Session, c: Case, action: str, cid: int | None) -> MediaCluster:
    cl = s.get(MediaCluster, cid) if cid is not None else None
    if cl is None or cl.case_id != c.id:
        raise RefusedError(action, f"case {c.number!r} has no cluster {cid}")
    return cl


def _faces_of(s: Session, cluster_id: int) -> list[MediaFace]:
    return list(
        s.execute(
            select(MediaFace).where(MediaFace.cluster_id == cluster_id).order_by(MediaFace.id)
        ).scalars()
    )


def apply_decision(
    s: Session,
    c: Case,
    audit_action: str,
    action: str,
    cluster: int | None,
    other: int | None,
    faces: list[int],
    name: str | None,
) -> dict[str, Any]:
    """Apply one decision (see :meth:`MediaService.decide`); returns what it did."""
    target = _cluster_or_refuse(s, c, audit_action, cluster)
    members = _faces_of(s, target.id)
    if action == "name":
        if not name or not name.strip():
            raise RefusedError(audit_action, "a name is needed")
        previous = target.name
        target.name = name.strip()[:200]
        target.reviewed = True
        for f in members:
            f.pinned = True
        return {"cluster": target.id, "name": target.name, "previous": previous}
    if action in ("hide", "show"):
        target.hidden = action == "hide"
        target.reviewed = True
        for f in members:
            f.pinned = True
        return {"cluster": target.id, "hidden": target.hidden}
    if action == "merge":
        src = _cluster_or_refuse(s, c, audit_action, other)
        if src.id == target.id:
            raise RefusedError(audit_action, "cannot merge a cluster into itself")
        moving = _faces_of(s, src.id)
        shared = {_photo_key(f) for f in members} & {_photo_key(f) for f in moving}
        if shared:
            raise RefusedError(
                audit_action,
                f"clusters {target.id} and {src.id} hold faces of the same photo "
                f"({len(shared)}): one person cannot appear twice in one photo",
            )
        for f in members + moving:
            f.cluster_id, f.pinned = target.id, True
        target.reviewed = True
        if target.name is None and src.name is not None:
            target.name = src.name
        s.flush()
        s.delete(src)
        return {"cluster": target.id, "merged": src.id, "faces": [int(f.id) for f in moving]}
    if action in ("split", "move"):
        if not faces:
            raise RefusedError(audit_action, "name the faces (face ids)")
        picked = list(
            s.execute(
                select(MediaFace).where(MediaFace.id.in_(faces), MediaFace.case_id == c.id)
            ).scalars()
        )
        missing = sorted(set(faces) - {int(f.id) for f in picked})
        if missing:
            raise RefusedError(audit_action, f"case {c.number!r} has no faces {missing}")
        if action == "split":
            outside = [int(f.id) for f in picked if f.cluster_id != target.id]
            if outside:
                raise RefusedError(audit_action, f"faces {outside} are not in cluster {target.id}")
            new = MediaCluster(case_id=c.id, reviewed=True)
            s.add(new)
            s.flush()
            for f in members:
                f.pinned = True
            for f in picked:
                f.cluster_id = new.id
            target.reviewed = True
            return {"cluster": target.id, "new_cluster": new.id, "faces": sorted(faces)}
        keys = {_photo_key(f) for f in members}
        clash = [int(f.id) for f in picked if _photo_key(f) in keys and f.cluster_id != target.id]
        if clash:
            raise RefusedError(
                audit_action,
                f"cluster {target.id} already holds a face of the photo of faces {clash}",
            )
        moved_from = sorted({f.cluster_id for f in picked if f.cluster_id is not None})
        for f in members:
            f.pinned = True
        for f in picked:
            f.cluster_id, f.pinned = target.id, True
        target.reviewed = True
        return {"cluster": target.id, "faces": sorted(faces), "from": moved_from}
    raise RefusedError(
        audit_action, f"unknown decision {action!r}: merge, split, move, name, hide, show"
    )
