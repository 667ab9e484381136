"""Where seized material comes from: the gallery's sources plus the videos among them.

:func:`iter_media` yields what :func:`facesearch.ingest.sources.iter_path` yields (photos by
name, in folders, zip and tar archives), then every other file of the folder or archive whose
first bytes say it is a video or a photo (:mod:`facesearch.victim.sniff`): renamed films and
pictures are recognised by content. Archive members are vetted by the gallery's own rules
(no absolute paths, no ``..``, no links). Videos may be larger than a photo: up to
``max_bytes`` each (they are hashed and decoded in memory).
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from facesearch.errors import UnsafeArchiveMemberError
from facesearch.ingest.sources import (
    SourceError,
    SourceItem,
    is_archive,
    is_image_name,
    iter_path,
    safe_member_name,
)
from facesearch.victim.sniff import SNIFF_BYTES, media_kind

DEFAULT_MAX_VIDEO_BYTES = 1024 * 1024 * 1024  # 1 GiB


def iter_media(path: Path, max_bytes: int = DEFAULT_MAX_VIDEO_BYTES) -> Iterator[SourceItem]:
    """Every photo and video under ``path`` (a file, folder or archive)."""
    if path.is_file() and not path.is_symlink() and not is_archive(path):
        if path.suffix.lower() in (".csv", ".jsonl", ".ndjson"):
            yield from iter_path(path)
        else:
            yield SourceItem(str(path), _file_reader(path, max_bytes))
        return
    yield from iter_path(path)
    if path.is_dir():
        yield from _folder_extras(path, max_bytes)
    elif path.is_file() and is_archive(path):
        yield from _archive_extras(path, max_bytes)


def _file_reader(path: Path, max_bytes: int) -> Callable[[], bytes]:
    def read() -> bytes:
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(f"file is {size:,} bytes, over the {max_bytes:,} limit")
        return path.read_bytes()

    return read


def _head(read: Callable[[], bytes]) -> bytes:
    try:
        return read()
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError):
        return b""


def _folder_extras(root: Path, max_bytes: int) -> Iterator[SourceItem]:
    """Files whose names are not photo names but whose content is a video or a photo."""
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or is_image_name(name):
                continue
            path = Path(dirpath) / name
            if path.is_symlink() and not path.resolve().is_relative_to(real_root):
                continue  # iter_path refuses links to photo names; others are not material
            if not path.is_file():
                continue

            def head(p: Path = path) -> bytes:
                with p.open("rb") as fh:
                    return fh.read(SNIFF_BYTES)

            if media_kind(_head(head)) is not None:
                yield SourceItem(str(path), _file_reader(path, max_bytes))


def _archive_extras(path: Path, max_bytes: int) -> Iterator[SourceItem]:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                yield from _zip_extras(path, zf, max_bytes)
        elif tarfile.is_tarfile(path):
            with tarfile.open(path) as tf:
                yield from _tar_extras(path, tf, max_bytes)
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError):
        return  # iter_path has reported the corrupt archive already


def _zip_extras(path: Path, zf: zipfile.ZipFile, max_bytes: int) -> Iterator[SourceItem]:
    for info in sorted(zf.infolist(), key=lambda i: i.filename):
        if info.is_dir() or (info.external_attr >> 16) & 0o170000 == 0o120000:
            continue
        try:
            name = safe_member_name(info.filename)
        except UnsafeArchiveMemberError:
            continue  # reported by iter_path
        if is_image_name(name):
            continue

        def head(member: zipfile.ZipInfo = info) -> bytes:
            with zf.open(member) as fh:
                return fh.read(SNIFF_BYTES)

        if media_kind(_head(head)) is None:
            continue
        label = f"{path}!{name}"
        if info.file_size > max_bytes:
            yield SourceItem(label, None, error=f"member is {info.file_size:,} bytes, too large")
            continue

        def read(member: zipfile.ZipInfo = info) -> bytes:
            with zf.open(member) as fh:
                data = fh.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise SourceError("archive member expands past the size limit")
            return data

        yield SourceItem(label, read)


def _tar_extras(path: Path, tf: tarfile.TarFile, max_bytes: int) -> Iterator[SourceItem]:
    for member in tf.getmembers():
        if not member.isfile():
            continue
        try:
            name = safe_member_name(member.name)
        except UnsafeArchiveMemberError:
            continue
        if is_image_name(name):
            continue

        def head(m: tarfile.TarInfo = member) -> bytes:
            fh = tf.extractfile(m)
            return fh.read(SNIFF_BYTES) if fh is not None else b""

        if media_kind(_head(head)) is None:
            continue
        label = f"{path}!{name}"
        if member.size > max_bytes:
            yield SourceItem(label, None, error=f"member is {member.size:,} bytes, too large")
            continue

        def read(m: tarfile.TarInfo = member) -> bytes:
            fh = tf.extractfile(m)
            if fh is None:
                raise SourceError("unreadable archive member")
            return fh.read()

        yield SourceItem(label, read)
