"""The files of a backup: an online copy of a SQLite catalog (the SQLite backup API), private
copies of the data directory's files hashed on the way, and the manifest that lists them.

A backup folder holds the copied files under their paths in the data directory, then
``manifest.json`` (the format, what was copied and, per file, its size and SHA-256) and
``manifest.json.sha256`` (the manifest's own SHA-256, the figure the audit log records). The
manifest is written last: a folder without one is an unfinished backup and is refused.
Everything written is private (files 0600, folders 0700). Files are copied as stored: data
encrypted at rest stays encrypted, and no key is ever copied.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from facesearch.errors import FacesearchError
from facesearch.store.private import open_private_new, private_dir

__all__ = [
    "CATALOG_FILE",
    "FORMAT",
    "MANIFEST_FILE",
    "MANIFEST_HASH_FILE",
    "BackupError",
    "FileEntry",
    "copy_private",
    "data_files",
    "file_entry",
    "read_manifest",
    "sqlite_snapshot",
    "sync_all",
    "verify_files",
    "write_manifest",
]

FORMAT = "facesearch-backup/1"
MANIFEST_FILE = "manifest.json"
MANIFEST_HASH_FILE = "manifest.json.sha256"
CATALOG_FILE = "catalog.db"  # the catalog's name in a backup (and in a restored directory)

# files of a data directory that are never copied: SQLite's side files (the catalog is copied
# through the backup API), lock files, and the half-written temporary files of atomic writes
_SKIP_SUFFIXES = ("-wal", "-shm", "-journal", ".lock", ".tmp")
_CHUNK = 1 << 20


class BackupError(FacesearchError):
    """A backup cannot be made, or a backup folder is incomplete, altered or unusable."""


@dataclass(frozen=True)
class FileEntry:
    """One copied file: its path inside the backup (POSIX, relative), size and SHA-256."""

    path: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


def sqlite_snapshot(source: Path, dest: Path) -> None:
    """Copy the SQLite database ``source`` to the new file ``dest`` (created 0600) with the
    SQLite backup API: one consistent moment of the database, taken while other connections
    read and write it (in WAL mode writers go on; the copy is made in one step, so a busy
    writer cannot make it start over and over)."""
    if not source.is_file():
        raise BackupError(f"the SQLite catalog {source} does not exist")
    os.close(open_private_new(dest))
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy the catalog {source}: {exc}") from None
    finally:
        src.close()
    with open(dest, "rb+") as fh:
        os.fsync(fh.fileno())


def data_files(root: Path, skip: Callable[[str], bool] = lambda _: False) -> Iterator[str]:
    """The regular files under ``root`` as sorted POSIX paths relative to it, leaving out
    SQLite's side files, lock and temporary files, symbolic links and what ``skip`` names."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        rel_dir = PurePosixPath(Path(folder).relative_to(root).as_posix())
        dirs[:] = [d for d in dirs if not skip(str(rel_dir / d))]
        for name in sorted(files):
            rel = str(rel_dir / name)
            path = Path(folder) / name
            if name.endswith(_SKIP_SUFFIXES) or path.is_symlink() or not path.is_file():
                continue
            if skip(rel):
                continue
            yield rel


def copy_private(source: Path, dest_root: Path, rel: str) -> FileEntry | None:
    """Copy ``source`` to the new private file ``rel`` under ``dest_root`` (its folders made
    0700), hashing it on the way; None when ``source`` vanished meanwhile (a file replaced or
    deleted by the running installation). Not synced file by file (thousands of fsyncs):
    :func:`sync_all` once, before the manifest is written."""
    dest = dest_root / rel
    private_dir(dest.parent)
    digest = hashlib.sha256()
    size = 0
    try:
        src = open(source, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    with src, os.fdopen(open_private_new(dest), "wb") as out:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return FileEntry(rel, size, digest.hexdigest())


def sync_all() -> None:
    """Flush every copied file to disk (one ``sync`` rather than an fsync per file), so that
    the manifest, written after it, never lists a file the disk does not hold yet."""
    os.sync()


def file_entry(root: Path, rel: str) -> FileEntry:
    """The entry of the file ``rel`` already under ``root`` (hashed now)."""
    digest = hashlib.sha256()
    size = 0
    with open(root / rel, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileEntry(rel, size, digest.hexdigest())


def write_manifest(dest: Path, meta: dict[str, Any], files: list[FileEntry]) -> str:
    """Write ``manifest.json`` (``meta`` and the files) and its SHA-256 beside it, both
    private and synced; returns the manifest's SHA-256."""
    body = dict(meta)
    body["format"] = FORMAT
    body["files"] = [f.to_dict() for f in sorted(files, key=lambda f: f.path)]
    data = (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()
    digest = hashlib.sha256(data).hexdigest()
    for name, content in (
        (MANIFEST_FILE, data),
        (MANIFEST_HASH_FILE, f"{digest}  {MANIFEST_FILE}\n".encode()),
    ):
        with os.fdopen(open_private_new(dest / name), "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
    dir_fd = os.open(dest, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return digest


def read_manifest(src: Path, expected_sha256: str | None = None) -> tuple[dict[str, Any], str]:
    """The manifest of the backup folder ``src`` and its SHA-256, checked against the hash
    file beside it and against ``expected_sha256`` (e.g. the hash the audit log recorded)
    when given. Refused (:class:`BackupError`) when missing, altered or malformed."""
    path = src / MANIFEST_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BackupError(
            f"{src} has no {MANIFEST_FILE}: not a facesearch backup, or an unfinished one"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    try:
        recorded = (src / MANIFEST_HASH_FILE).read_text(encoding="ascii").split()[0].lower()
    except (FileNotFoundError, IndexError, UnicodeDecodeError):
        raise BackupError(f"{src / MANIFEST_HASH_FILE} is missing or empty") from None
    if recorded != digest:
        raise BackupError(
            f"{path} was changed: its SHA-256 is {digest}, {MANIFEST_HASH_FILE} says {recorded}"
        )
    if expected_sha256 is not None and expected_sha256.strip().lower() != digest:
        raise BackupError(
            f"{path} is not the expected manifest: its SHA-256 is {digest}, "
            f"expected {expected_sha256.strip().lower()}"
        )
    try:
        manifest: dict[str, Any] = json.loads(data)
    except ValueError as exc:
        raise BackupError(f"{path} is not JSON: {exc}") from None
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), list):
        raise BackupError(f"{path} is not a {FORMAT} manifest")
    for item in manifest["files"]:
        rel = item.get("path") if isinstance(item, dict) else None
        if (
            not isinstance(rel, str)
            or not rel
            or PurePosixPath(rel).is_absolute()
            or ".." in PurePosixPath(rel).parts
            or rel in (MANIFEST_FILE, MANIFEST_HASH_FILE)
        ):
            raise BackupError(f"{path} names a file outside the backup: {rel!r}")
    return manifest, digest


def verify_files(
    src: Path,
    manifest: dict[str, Any],
    on_progress: Callable[[int, int], None] | None = None,
) -> list[FileEntry]:
    """Check every file the manifest lists (size and SHA-256) and that the folder holds no
    other file; :class:`BackupError` names the first missing, changed or unlisted file."""
    listed = [FileEntry(f["path"], int(f["size"]), str(f["sha256"])) for f in manifest["files"]]
    total = sum(f.size for f in listed)
    done = 0
    for entry in listed:
        if not (src / entry.path).is_file():
            raise BackupError(f"{entry.path} is missing from the backup {src}")
        found = file_entry(src, entry.path)
        if found.size != entry.size or found.sha256 != entry.sha256:
            raise BackupError(
                f"{entry.path} in the backup {src} was changed: SHA-256 {found.sha256}, "
                f"size {found.size}; the manifest says {entry.sha256}, size {entry.size}"
            )
        done += entry.size
        if on_progress is not None:
            on_progress(done, total)
    names = {f.path for f in listed} | {MANIFEST_FILE, MANIFEST_HASH_FILE}
    for folder, _dirs, files in os.walk(src):
        for name in files:
            rel = (Path(folder) / name).relative_to(src).as_posix()
            if rel not in names:
                raise BackupError(f"{rel} in the backup {src} is not in its manifest")
    return listed
