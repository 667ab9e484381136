"""Backup and restore of a whole installation (``facesearch backup`` and ``restore``).

A backup is an online copy, made while searches go on: first the SQLite catalog through the
SQLite backup API (one consistent moment of the catalog, users, cases and audit log), then
every other file of the data directory (the saved vector index, the blobs, the media files,
``policy.toml``, ``gallery.json``, the calibration, audit checkpoints kept inside it), then a
manifest with every file's size and SHA-256 and the manifest's own SHA-256
(:mod:`facesearch.store.snapshot`). The catalog is the truth: blobs are named by content and
written before the catalog rows that name them, and the vector index is checked against the
catalog (and repaired) when the restored installation opens it, so files changed by an
ingest running during the backup cannot make the copy inconsistent. Files are copied as
stored: encrypted data stays encrypted and the key is never copied (keep it apart, in your
secrets manager; the restored installation needs the same key).

Administrators only; audited as ``backup`` with the manifest's SHA-256 (that entry is made
after the catalog was copied, so it is in the source's log, not in the backup).

A PostgreSQL catalog is refused: back it up with ``pg_dump`` (docs/deploy.md, "Backup and
restore"). Blobs in S3 and vectors in Milvus live outside the data directory; a backup says
so in its notes and copies the rest.

A restore checks the manifest (its SHA-256, then every file's size and SHA-256: a changed,
missing or unlisted file is refused, named), refuses a target folder that is not empty,
copies the files, opens the restored installation, checks that its audit chain verifies and
that its head is the one the backup recorded, and logs ``restore`` by the local operator (the
OS account and host) in the restored log. Like ``init`` it needs no user (the restored
installation's users are the backup's).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facesearch import __version__
from facesearch.app.accounts import LOCAL_OPERATOR, local_origin
from facesearch.app.context import AppContext
from facesearch.app.principal import Principal
from facesearch.app.service import Service
from facesearch.engine.pipeline import FacePipeline
from facesearch.errors import FacesearchError
from facesearch.govern.actor import Actor
from facesearch.govern.audit import verify
from facesearch.govern.users import Role
from facesearch.settings import Settings
from facesearch.store.private import private_dir, sqlite_file
from facesearch.store.snapshot import (
    CATALOG_FILE,
    MANIFEST_FILE,
    BackupError,
    copy_private,
    data_files,
    file_entry,
    read_manifest,
    sqlite_snapshot,
    sync_all,
    verify_files,
    write_manifest,
)

__all__ = ["BackupError", "BackupReport", "Backups", "RestoreReport", "restore"]

# progress: (stage, done, total); stages "catalog", "files" (bytes), "verify", "copy" (bytes)
ProgressFn = Callable[[str, int, int], None]

PG_DUMP_HINT = (
    "the catalog is not SQLite: back the database up with pg_dump (docs/deploy.md, 'Backup "
    "and restore'); facesearch backup copies a SQLite catalog and the data directory"
)


@dataclass
class BackupReport:
    dest: Path
    manifest_sha256: str
    files: int
    bytes: int
    audit_head_seq: int
    encrypted: bool
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dest": str(self.dest),
            "manifest_sha256": self.manifest_sha256,
            "files": self.files,
            "bytes": self.bytes,
            "audit_head_seq": self.audit_head_seq,
            "encrypted": self.encrypted,
            "notes": list(self.notes),
        }


@dataclass
class RestoreReport:
    target: Path
    manifest_sha256: str
    files: int
    bytes: int
    audit_checked: int
    audit_head_seq: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": str(self.target),
            "manifest_sha256": self.manifest_sha256,
            "files": self.files,
            "bytes": self.bytes,
            "audit_checked": self.audit_checked,
            "audit_head_seq": self.audit_head_seq,
            "notes": list(self.notes),
        }


def _inside(path: Path, root: Path) -> bool:
    path, root = path.resolve(), root.resolve()
    return path == root or root in path.parents


def _empty_or_new(folder: Path, what: str) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        unfinished = what == "backup folder" and not (folder / MANIFEST_FILE).exists()
        hint = " (an unfinished backup? delete it and run again)" if unfinished else ""
        raise BackupError(f"the {what} {folder} is not empty{hint}: give a new or empty folder")


def _audit_head(catalog: Path) -> tuple[int, str]:
    """The audit log's head (seq, hash) recorded in the SQLite file ``catalog``."""
    con = sqlite3.connect(catalog)
    try:
        row = con.execute("SELECT seq, hash FROM gov_audit_head WHERE id = 1").fetchone()
    except sqlite3.Error:
        row = None
    finally:
        con.close()
    return (int(row[0]), str(row[1])) if row else (0, "")


class Backups:
    """``backup``: an online, checksummed copy of the installation (administrators)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def backup(
        self, who: Principal, dest: Path, *, on_progress: ProgressFn | None = None
    ) -> BackupReport:
        """Copy the installation to the new or empty folder ``dest`` (see the module
        docstring); audited as ``backup`` with the manifest's SHA-256."""
        ctx = self.ctx
        ctx.require(who, "backup", Role.ADMINISTRATOR)
        gallery = ctx.gallery
        data_dir = Path(gallery.data_dir)
        catalog = sqlite_file(gallery.catalog.url)
        if catalog is None:
            raise BackupError(PG_DUMP_HINT)
        dest = Path(dest)
        if _inside(dest, data_dir) or _inside(data_dir, dest):
            raise BackupError(
                f"the backup folder {dest} and the data directory {data_dir} overlap: "
                "put the backup elsewhere (ideally on another disk or machine)"
            )
        _empty_or_new(dest, "backup folder")
        private_dir(dest)
        notes = self._notes(data_dir)

        # 1. the catalog, at one moment (the truth the rest is checked against)
        if on_progress is not None:  # in bytes, like the files
            on_progress("catalog", 0, catalog.stat().st_size if catalog.is_file() else 0)
        sqlite_snapshot(catalog, dest / CATALOG_FILE)
        entries = [file_entry(dest, CATALOG_FILE)]
        head_seq, head_hash = _audit_head(dest / CATALOG_FILE)
        if on_progress is not None:
            on_progress("catalog", entries[0].size, entries[0].size)

        # 2. every other file of the data directory, as stored
        in_data = catalog.resolve().parent == data_dir.resolve()
        skipped = {CATALOG_FILE, catalog.name if in_data else CATALOG_FILE, MANIFEST_FILE}
        rels = list(data_files(data_dir, skip=lambda rel: rel in skipped))
        sizes = {}
        for rel in rels:
            try:
                sizes[rel] = (data_dir / rel).stat().st_size
            except FileNotFoundError:
                sizes[rel] = 0
        total, done = sum(sizes.values()), 0
        for rel in rels:
            entry = copy_private(data_dir / rel, dest, rel)
            if entry is not None:  # else deleted meanwhile (e.g. an atomic rewrite's old file)
                entries.append(entry)
            done += sizes[rel]
            if on_progress is not None:
                on_progress("files", done, total)

        # 3. the manifest, last (after the files are on disk): without one, a backup is unfinished
        sync_all()
        encrypted = gallery.cipher is not None
        meta = {
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "facesearch_version": __version__,
            "source": str(data_dir.resolve()),
            "catalog": CATALOG_FILE,
            "audit_head": {"seq": head_seq, "hash": head_hash},
            "encrypted": encrypted,
            "key_id": gallery.cipher.key_id.hex() if gallery.cipher is not None else None,
            "backends": gallery.backends.describe(),
            "notes": notes,
        }
        digest = write_manifest(dest, meta, entries)
        report = BackupReport(
            dest=dest,
            manifest_sha256=digest,
            files=len(entries),
            bytes=sum(e.size for e in entries),
            audit_head_seq=head_seq,
            encrypted=encrypted,
            notes=notes,
        )
        ctx.governance.record(
            who.username,
            "backup",
            {
                "dest": str(dest.resolve()),
                "manifest_sha256": digest,
                "files": report.files,
                "bytes": report.bytes,
                "audit_head_seq": head_seq,
                "encrypted": encrypted,
            },
        )
        return report

    def _notes(self, data_dir: Path) -> list[str]:
        """What this backup does not hold, in words (the manifest and the report say it)."""
        ctx = self.ctx
        backends = ctx.gallery.backends
        notes = []
        if ctx.gallery.cipher is not None:
            notes.append(
                "the data is encrypted at rest and copied encrypted; the key is not in the "
                "backup: the restored installation needs the same key"
            )
        if backends.blobs.kind != "file":
            notes.append(
                "the blobs are in S3 and are not copied: keep the bucket's own versioning "
                "or replication"
            )
        if backends.vector_store.kind != "faiss":
            notes.append(
                "the vectors are in Milvus and are not copied: the restored installation "
                "rebuilds its index from the catalog ('facesearch reindex')"
            )
        policy = ctx.governance.policy
        if policy.audit is not None:
            folder = Path(policy.audit.checkpoint_folder).expanduser()
            if not folder.is_absolute() and not policy.source.startswith("<"):
                folder = Path(policy.source).parent / folder
            if not _inside(folder, data_dir):
                notes.append(
                    f"the audit checkpoints in {folder} are outside the data directory and "
                    "are not copied"
                )
        return notes


def restore(
    src: Path,
    target: Path,
    *,
    settings: Settings | None = None,
    expected_sha256: str | None = None,
    on_progress: ProgressFn | None = None,
    pipeline: FacePipeline | None = None,
) -> RestoreReport:
    """Restore the backup folder ``src`` into the new or empty folder ``target`` (see the
    module docstring). ``settings``: the environment's (the encryption key, the backends);
    the restored installation's data directory is ``target`` with its SQLite catalog there.
    ``expected_sha256``: the manifest's SHA-256 as the source's audit log recorded it."""
    src, target = Path(src), Path(target)
    if not src.is_dir():
        raise BackupError(f"the backup folder {src} does not exist")
    if _inside(target, src) or _inside(src, target):
        raise BackupError(f"the backup folder {src} and the target {target} overlap")
    _empty_or_new(target, "target folder")
    manifest, digest = read_manifest(src, expected_sha256)

    def verifying(done: int, total: int) -> None:
        if on_progress is not None:
            on_progress("verify", done, total)

    listed = verify_files(src, manifest, verifying)
    private_dir(target)
    total, done = sum(e.size for e in listed), 0
    for entry in listed:
        copied = copy_private(src / entry.path, target, entry.path)
        if copied != entry:
            raise BackupError(
                f"{entry.path} changed while it was restored from {src}: restore again into "
                "an empty folder"
            )
        done += entry.size
        if on_progress is not None:
            on_progress("copy", done, total)

    sync_all()
    base = settings if settings is not None else Settings.load(data_dir=target)
    restored = base.model_copy(
        update={
            "data_dir": target,
            "database_url": f"sqlite:///{(target / CATALOG_FILE).resolve()}",
        }
    )
    notes = [str(n) for n in manifest.get("notes", [])]
    with Service(restored, pipeline=pipeline) as service:
        gov = service.governance
        with gov.session() as s:
            result = verify(s)
        if not result.ok:
            raise BackupError(
                f"the restored audit log in {target} does not verify: {result.summary()}"
            )
        recorded = manifest.get("audit_head") or {}
        if recorded and (
            int(recorded.get("seq", 0)) != result.head_seq
            or str(recorded.get("hash", "")) != result.head_hash
        ):
            raise BackupError(
                f"the restored audit log in {target} ends at #{result.head_seq}, the backup "
                f"recorded #{recorded.get('seq')}: the catalog is not the one backed up"
            )
        cipher = service.gallery.cipher
        if manifest.get("encrypted") and cipher is None:
            notes.append(
                "the backup is encrypted at rest: set the same encryption key before using "
                "the restored installation"
            )
        elif cipher is not None and manifest.get("key_id") not in (None, cipher.key_id.hex()):
            notes.append(
                f"the backup was made under key id {manifest.get('key_id')}, the key set now "
                f"is {cipher.key_id.hex()}: set the backup's key"
            )
        repairs: dict[str, int] = {}
        try:  # open the index now: checked (and repaired) against the restored catalog
            service.gallery.vectors.store  # noqa: B018 - opening it is the point
            repairs = dict(service.gallery.vectors.repairs)
        except FacesearchError as exc:
            notes.append(f"the vector index could not be opened yet: {exc}")
        if repairs:
            notes.append(f"the vector index was brought up to date with the catalog: {repairs}")
        operator = Actor(LOCAL_OPERATOR, method="local", origin=local_origin())
        report = RestoreReport(
            target=target,
            manifest_sha256=digest,
            files=len(listed),
            bytes=total,
            audit_checked=result.checked,
            audit_head_seq=result.head_seq,
            notes=notes,
        )
        gov.record(
            operator,
            "restore",
            {
                "source": str(src.resolve()),
                "manifest_sha256": digest,
                "backup_created_at": manifest.get("created_at"),
                "backup_source": manifest.get("source"),
                "files": report.files,
                "bytes": report.bytes,
                "audit_verified": result.checked,
            },
        )
    return report
