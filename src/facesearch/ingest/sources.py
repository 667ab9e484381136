"""Where photos come from: files, folders (recursive), zip and tar archives, and manifests.

Archives are read in place, member by member, once they have passed the archive limits
(:mod:`facesearch.ingest.archives`: member count, member and total expanded size, compression
ratio; an archive over one is one failure saying which); no member is read past
``member_bytes``. Absolute paths, ``..`` components, links and special files are refused with
a reason and nothing is ever written outside the data directory. A manifest (CSV or JSON
Lines) lists files with where each came from.

Which files of a folder or archive are read is the ``accept`` hook's choice (an
:data:`Accept`): by default the photos by name (:func:`photos_by_name`); the media import
(victim/sources.py) also takes files whose first bytes are a video or a picture, in the same
single pass over the folder or archive.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from facesearch.engine.formats import is_image_name
from facesearch.errors import FacesearchError, UnsafeArchiveMemberError
from facesearch.ingest.archives import (
    CORRUPT_ARCHIVE,
    DEFAULT_LIMITS,
    ArchiveLimits,
    ArchiveRefusedError,
    UnreadableArchiveError,
    check_archive,
)
from facesearch.store.records import source_label

MAX_MEMBER_BYTES = 200 * 1024 * 1024  # one photo larger than this is refused unread
MANIFEST_FIELDS = ("path", "source_url", "page_url", "title", "captured_at", "collection")
#: What opening one archive member may raise: a corrupt archive's errors, and zipfile's
#: refusal of an encrypted member (RuntimeError).
UNREADABLE_MEMBER = (*CORRUPT_ARCHIVE, RuntimeError)


@dataclass(frozen=True)
class SourceItem:
    """One file to ingest, or one thing that could not be read (``error`` set)."""

    path: str  # the file read: the photo itself, or the archive holding it
    read: Callable[[], bytes] | None
    collection: str | None = None
    source_url: str = ""
    page_url: str | None = None
    title: str | None = None
    captured_at: datetime | None = None
    error: str | None = None
    member: str = ""  # an archive member's path inside ``path`` ("" for a plain file)

    @property
    def label(self) -> str:
        """How people are shown the item (:func:`source_label`)."""
        return source_label(self.path, self.member)


class SourceError(FacesearchError):
    pass


# accept(name, head) -> the most bytes to read of the file, or None to leave it out. ``name``
# is the file's (or archive member's) name; ``head()`` reads its first bytes (called only if
# the hook needs them; it answers b"" if they cannot be read).
Accept = Callable[[str, Callable[[int], bytes]], int | None]


def photos_by_name(name: str, head: Callable[[int], bytes]) -> int | None:
    """The gallery's choice: files with a photo extension, up to MAX_MEMBER_BYTES."""
    return MAX_MEMBER_BYTES if is_image_name(name) else None


def _reader(path: Path, limit: int = MAX_MEMBER_BYTES) -> Callable[[], bytes]:
    def read() -> bytes:
        size = path.stat().st_size
        if size > limit:
            raise SourceError(f"file is {size:,} bytes, over the {limit:,} limit")
        return path.read_bytes()

    return read


def _guarded(read: Callable[[int], bytes]) -> Callable[[int], bytes]:
    def head(n: int) -> bytes:
        try:
            return read(n)
        except UNREADABLE_MEMBER:
            return b""

    return head


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz"))


def iter_sources(
    paths: list[Path],
    manifest: Path | None = None,
    roots: Sequence[Path] | None = None,
    archives: ArchiveLimits = DEFAULT_LIMITS,
) -> Iterator[SourceItem]:
    """Every item from the given paths (files, folders, archives) and the manifest; with
    ``roots``, manifest rows naming a file outside them are refused (see :func:`iter_manifest`);
    archives are read within the ``archives`` limits (see :func:`iter_archive`)."""
    for path in paths:
        yield from iter_path(Path(path), roots=roots, archives=archives)
    if manifest is not None:
        yield from iter_manifest(Path(manifest), roots)


def under_roots(path: Path, roots: Sequence[Path]) -> bool:
    """Whether ``path`` (already resolved) lies under one of ``roots`` (resolved here)."""
    return any(path.is_relative_to(Path(root).expanduser().resolve()) for root in roots)


def iter_path(
    path: Path,
    accept: Accept = photos_by_name,
    roots: Sequence[Path] | None = None,
    archives: ArchiveLimits = DEFAULT_LIMITS,
) -> Iterator[SourceItem]:
    """The items of a file, folder, archive or manifest; ``accept`` chooses which files of a
    folder or archive are read (a file named on its own, or in a manifest, always is);
    ``roots``: the folders a manifest's rows must stay in, if any apply; ``archives``: the
    limits an archive must keep to before any member of it is read."""
    if not path.exists() and not path.is_symlink():
        yield SourceItem(str(path), None, error="no such file or folder")
    elif path.is_dir():
        yield from iter_folder(path, accept)
    elif is_archive(path):
        yield from iter_archive(path, accept, archives)
    elif path.suffix.lower() in (".csv", ".jsonl", ".ndjson"):
        yield from iter_manifest(path, roots)
    else:
        yield SourceItem(str(path), _reader(path))


def _file_head(path: Path) -> Callable[[int], bytes]:
    def head(n: int) -> bytes:
        with path.open("rb") as fh:
            return fh.read(n)

    return _guarded(head)


def iter_folder(root: Path, accept: Accept = photos_by_name) -> Iterator[SourceItem]:
    """The files under ``root`` that ``accept`` takes, recursively, sorted; links that leave
    ``root`` and special files are refused (reported if their name is a photo's, else left)."""
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(real_root):
                    if is_image_name(name):
                        yield SourceItem(
                            str(path), None, error="refused: link points outside the folder"
                        )
                    continue
            if not path.is_file():
                if is_image_name(name):
                    yield SourceItem(str(path), None, error="not a regular file")
                continue
            limit = accept(name, _file_head(path))
            if limit is not None:
                yield SourceItem(str(path), _reader(path, limit))


def safe_member_name(name: str) -> str:
    """The member's normalised relative path, or UnsafeArchiveMemberError."""
    if "\x00" in name:
        raise UnsafeArchiveMemberError("refused: NUL byte in archive member name")
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        raise UnsafeArchiveMemberError("refused: absolute path in archive")
    parts = PurePosixPath(posix).parts
    if any(p == ".." for p in parts):
        raise UnsafeArchiveMemberError("refused: '..' in archive path escapes the archive")
    return "/".join(p for p in parts if p not in ("", "."))


def iter_archive(
    path: Path, accept: Accept = photos_by_name, limits: ArchiveLimits = DEFAULT_LIMITS
) -> Iterator[SourceItem]:
    """The members ``accept`` takes, each read up to ``limits.member_bytes`` at most; an
    archive over one of ``limits`` is one item with the error saying which, before any of
    its members is read (the rest of an ingest goes on)."""
    try:
        if zipfile.is_zipfile(path):
            check_archive(path, limits)
            yield from _iter_zip(path, accept, limits.member_bytes)
        elif tarfile.is_tarfile(path):
            check_archive(path, limits)
            yield from _iter_tar(path, accept, limits.member_bytes)
        else:
            yield SourceItem(str(path), None, error="not a readable zip or tar archive")
    except (ArchiveRefusedError, UnreadableArchiveError) as exc:  # says which limit, or why
        yield SourceItem(str(path), None, error=str(exc))
    except CORRUPT_ARCHIVE as exc:
        yield SourceItem(str(path), None, error=f"corrupt archive: {exc}")


def _iter_zip(path: Path, accept: Accept, most: int) -> Iterator[SourceItem]:
    # The archive stays open while its items are consumed (reads happen in order).
    with zipfile.ZipFile(path) as zf:
        yield from _zip_members(path, zf, accept, most)


def _zip_members(
    path: Path, zf: zipfile.ZipFile, accept: Accept, most: int
) -> Iterator[SourceItem]:
    for info in sorted(zf.infolist(), key=lambda i: i.filename):
        if info.filename.endswith("/"):  # a folder (ZipInfo.is_dir() fails on an empty name)
            continue
        where = str(path)
        try:
            name = safe_member_name(info.filename)
        except UnsafeArchiveMemberError as exc:
            yield SourceItem(where, None, error=str(exc), member=info.filename)
            continue
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            yield SourceItem(where, None, error="refused: link inside archive", member=name)
            continue

        def head(n: int, member: zipfile.ZipInfo = info) -> bytes:
            with zf.open(member) as fh:
                return fh.read(n)

        limit = accept(name, _guarded(head))
        if limit is None:
            continue
        limit = min(limit, most)
        if info.file_size > limit:
            too_large = f"member is {info.file_size:,} bytes, too large"
            yield SourceItem(where, None, error=too_large, member=name)
            continue

        def read(member: zipfile.ZipInfo = info, limit: int = limit) -> bytes:
            with zf.open(member) as fh:
                data = fh.read(limit + 1)
            if len(data) > limit:
                raise SourceError("archive member expands past the size limit")
            return data

        yield SourceItem(where, read, member=name)


def _iter_tar(path: Path, accept: Accept, most: int) -> Iterator[SourceItem]:
    # Members in archive order: compressed tars are read sequentially, never re-opened.
    with tarfile.open(path) as tf:
        yield from _tar_members(path, tf, accept, most)


def _tar_members(
    path: Path, tf: tarfile.TarFile, accept: Accept, most: int
) -> Iterator[SourceItem]:
    for member in tf:
        if member.isdir():
            continue
        where = str(path)
        try:
            name = safe_member_name(member.name)
        except UnsafeArchiveMemberError as exc:
            yield SourceItem(where, None, error=str(exc), member=member.name)
            continue
        if member.issym() or member.islnk():
            yield SourceItem(where, None, error="refused: link inside archive", member=name)
            continue
        if not member.isfile():
            refused = "refused: special file inside archive"
            yield SourceItem(where, None, error=refused, member=name)
            continue

        def head(n: int, info: tarfile.TarInfo = member) -> bytes:
            fh = tf.extractfile(info)
            return fh.read(n) if fh is not None else b""

        limit = accept(name, _guarded(head))
        if limit is None:
            continue
        limit = min(limit, most)
        if member.size > limit:
            too_large = f"member is {member.size:,} bytes, too large"
            yield SourceItem(where, None, error=too_large, member=name)
            continue

        def read(info: tarfile.TarInfo = member, limit: int = limit) -> bytes:
            fh = tf.extractfile(info)
            if fh is None:
                raise SourceError("cannot read archive member")
            return fh.read(limit)

        yield SourceItem(where, read, member=name)


def parse_datetime(text: str) -> datetime:
    """ISO 8601 date or date-time; naive values are taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iter_manifest(manifest: Path, roots: Sequence[Path] | None = None) -> Iterator[SourceItem]:
    """Rows of a CSV (with a header) or JSON Lines manifest; paths relative to its folder.

    With ``roots`` (the server's ingest roots, when a server path is ingested), every row's
    path is resolved (links and ``..`` followed) and a row outside all of them is refused
    with its line, like a path named directly; ``None``: no roots apply (the local CLI)."""
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        yield SourceItem(str(manifest), None, error=f"cannot read manifest: {exc}")
        return
    base = manifest.parent
    rows: Iterator[tuple[int, dict[str, str] | str]]
    if manifest.suffix.lower() in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(text)
    else:
        rows = _csv_rows(text)
    for line, row in rows:
        where = f"{manifest}:{line}"
        if isinstance(row, str):
            yield SourceItem(where, None, error=row)
            continue
        yield _manifest_item(base, where, row, roots)


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, str] | str]]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        for i, row in enumerate(reader):
            yield i + 2, row
    except csv.Error as exc:  # e.g. a field past csv's size limit: the rest is unreadable
        yield reader.line_num + 1, f"unreadable CSV: {exc}"


def _jsonl_rows(text: str) -> Iterator[tuple[int, dict[str, str] | str]]:
    for i, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # also integers over 4,300 digits, nesting
            yield i, f"invalid JSON: {getattr(exc, 'msg', exc)}"
            continue
        if not isinstance(obj, dict):
            yield i, "each line must be a JSON object"
            continue
        yield i, {k: "" if v is None else str(v) for k, v in obj.items()}


def _manifest_item(
    base: Path, where: str, row: dict[str, str], roots: Sequence[Path] | None = None
) -> SourceItem:
    raw_path = (row.get("path") or "").strip()
    if not raw_path:
        return SourceItem(where, None, error="manifest row has no 'path'")
    if "\x00" in raw_path:  # no file has one; resolving it raises ValueError
        return SourceItem(where, None, error=f"{where}: refused: NUL byte in the path")
    path = Path(raw_path)
    if not path.is_absolute():
        path = base / path
    if roots is not None:
        real = path.expanduser().resolve()
        if not under_roots(real, roots):
            return SourceItem(
                str(path),
                None,
                error=f"{where}: refused: not under a folder the server allows for ingest",
            )
        path = real
    captured = (row.get("captured_at") or "").strip()
    try:
        captured_at = parse_datetime(captured) if captured else None
    except ValueError:
        return SourceItem(
            str(path), None, error=f"{where}: captured_at {captured!r} is not an ISO 8601 date"
        )
    if not path.is_file():
        return SourceItem(str(path), None, error=f"{where}: file not found")
    return SourceItem(
        str(path),
        _reader(path),
        collection=(row.get("collection") or "").strip() or None,
        source_url=(row.get("source_url") or "").strip(),
        page_url=(row.get("page_url") or "").strip() or None,
        title=(row.get("title") or "").strip() or None,
        captured_at=captured_at,
    )
