"""Known-image hash sets, agency-wide (not tied to a case): import (supervisors and
administrators; a malformed file is refused as a whole), list, and export as VICS JSON. The
file formats are read and written by :mod:`facesearch.media.hashsets`; files are eliminated
against the sets by the importer (:mod:`facesearch.media.elimination`)."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.errors import RefusedError
from facesearch.govern.users import Role, require_user
from facesearch.media import hashsets
from facesearch.media.access import MediaAccess
from facesearch.media.schema import HashEntry, HashSet


@dataclass(frozen=True)
class HashSetSummary:
    name: str
    format: str
    entries: int
    with_pdq: int
    categories: dict[str, int]
    file_sha256: str


class HashSetLibrary(MediaAccess):
    """The governed hash-set acts (supervisors and administrators; investigators may list)."""

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
