"""Archive limits, in one place for the server's uploads and every ingest (CLI, server jobs).

An archive is checked before any member of it is read (:func:`check_archive`), without
expanding anything in memory: at most ``members`` members, none larger than
``member_bytes``, ``expanded_bytes`` in all, and no member (nor the whole) expanding more
than ``ratio`` times its compressed size (photos barely compress; a "zip bomb" of zeros
expands a thousandfold). A zip's sizes come from its central directory (``zipfile`` stops
reading a member at its declared size and checks its CRC, so a reader can never get more); a
tar's headers are walked one by one, decompressing as the stream goes (never the whole into
memory), stopping at the first limit passed.

The limits come from the settings (``max_archive_*``; :meth:`ArchiveLimits.of`); the
defaults here are the settings' defaults, for readers given none.
"""

from __future__ import annotations

import lzma
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from facesearch.errors import FacesearchError
from facesearch.settings import Settings

MB = 1024 * 1024
RATIO_FLOOR = MB  # ratios are judged on members (and totals) larger than this
#: What reading a corrupt archive raises: the zip and tar readers' errors and those of the
#: decompressors under them (zlib and lzma raise their own, not OSError), and zipfile's on a
#: name flagged UTF-8 that is not and on a zip version or compression method it cannot read.
CORRUPT_ARCHIVE = (
    OSError,
    EOFError,
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    UnicodeDecodeError,
    NotImplementedError,
)


class ArchiveRefusedError(FacesearchError):
    """An archive passes one of the limits; the message says which (HTTP 413)."""


class UnreadableArchiveError(FacesearchError):
    """A file is no readable zip or tar archive (HTTP 415)."""


@dataclass(frozen=True)
class ArchiveLimits:
    members: int = 100_000
    member_bytes: int = 64 * MB
    expanded_bytes: int = 4 * 1024 * MB
    ratio: int = 100

    @classmethod
    def of(cls, settings: Settings) -> ArchiveLimits:
        return cls(
            settings.max_archive_members,
            settings.max_archive_member_bytes,
            settings.max_archive_expanded_bytes,
            settings.max_archive_ratio,
        )


DEFAULT_LIMITS = ArchiveLimits()  # the settings' defaults (immutable)


def _refused(why: str) -> ArchiveRefusedError:
    return ArchiveRefusedError(f"the archive is refused: {why}")


class _Tally:
    """Members and expanded bytes counted against the limits as an archive is walked."""

    def __init__(self, limits: ArchiveLimits, compressed: int) -> None:
        self.limits = limits
        self.compressed = max(compressed, 1)
        self.members = 0
        self.expanded = 0

    def add(self, name: str, size: int, compressed: int | None = None) -> None:
        limits = self.limits
        self.members += 1
        if self.members > limits.members:
            raise _refused(f"more than {limits.members} members")
        if size > limits.member_bytes:
            raise _refused(
                f"member {name[:200]!r} expands to {size} bytes, over the limit of "
                f"{limits.member_bytes}"
            )
        if compressed is not None and size > RATIO_FLOOR and size > limits.ratio * compressed:
            raise _refused(
                f"member {name[:200]!r} expands {size // max(compressed, 1)} times its "
                f"compressed size, over the limit of {limits.ratio}"
            )
        self.expanded += size
        if self.expanded > limits.expanded_bytes:
            raise _refused(f"it expands past the limit of {limits.expanded_bytes} bytes")
        if self.expanded > RATIO_FLOOR and self.expanded > limits.ratio * self.compressed:
            raise _refused(
                f"it expands more than {limits.ratio} times its size of {self.compressed} bytes"
            )


def check_archive(path: Path, limits: ArchiveLimits) -> int:
    """The number of members of the zip or tar at ``path`` if it is within ``limits``; else
    ArchiveRefusedError (UnreadableArchiveError if it is no readable archive). Nothing is
    expanded in memory."""
    try:
        tally = _Tally(limits, path.stat().st_size)
        if zipfile.is_zipfile(path):
            _check_zip(path, tally)
        else:
            _check_tar(path, tally)
    except CORRUPT_ARCHIVE as exc:
        raise UnreadableArchiveError(
            f"the archive is not a readable zip or tar archive: {exc}"
        ) from None
    return tally.members


def _check_zip(path: Path, tally: _Tally) -> None:
    # the member count from the end record first: ZipFile() lists every member in memory
    with open(path, "rb") as fh:
        end = zipfile._EndRecData(fh)  # type: ignore[attr-defined]
    if end is not None and end[zipfile._ECD_ENTRIES_TOTAL] > tally.limits.members:  # type: ignore[attr-defined]
        raise _refused(f"more than {tally.limits.members} members")
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith("/"):  # is_dir() fails on an empty name
                tally.add(info.filename, info.file_size, info.compress_size)


def _check_tar(path: Path, tally: _Tally) -> None:
    with tarfile.open(path) as tf:
        while (member := tf.next()) is not None:
            # walked, not kept: a list of every header would grow without end
            tf.members = []  # type: ignore[attr-defined]
            tally.add(member.name, member.size if member.isfile() else 0)
