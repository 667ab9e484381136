"""Upload limits and types: 413 above the settings' size, 415 for a wrong type (checked from
the bytes, not the client's declared type, against ``engine/formats.py``'s one table).

An uploaded archive is checked before a photo of it is ingested (:func:`check_archive`),
without expanding anything in memory: at most ``max_archive_members`` members, none larger
than ``max_archive_member_bytes``, ``max_archive_expanded_bytes`` in all, and no member (nor
the whole) expanding more than ``max_archive_ratio`` times its compressed size (photos barely
compress; a "zip bomb" of zeros expands a thousandfold). A zip's sizes come from its central
directory (``zipfile`` stops reading a member at its declared size and checks its CRC, so
the ingest can never read more); a tar's headers are walked one by one, decompressing as the
stream goes (never the whole into memory), stopping at the first limit passed."""

from __future__ import annotations

import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fastapi import Request, UploadFile

from facesearch.app.types import ACCEPTED_LABEL, sniff_mime
from facesearch.serve.api.errors import ApiError
from facesearch.settings import Settings

CHUNK = 1024 * 1024
MULTIPART_SLACK = 64 * 1024  # the form's other fields and boundaries
RATIO_FLOOR = 1024 * 1024  # ratios are judged on members (and totals) larger than this


def check_content_length(request: Request, limit: int, what: str) -> None:
    """Refuse at once when the declared body is larger than ``limit`` allows."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
        raise ApiError(413, f"the {what} is larger than the server's limit of {limit} bytes")


def read_image(upload: UploadFile, limit: int, what: str = "probe") -> bytes:
    """The upload's bytes if it is an image of at most ``limit`` bytes."""
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"the {what} is larger than the server's limit of {limit} bytes")
    if not data:
        raise ApiError(422, f"the {what} is empty")
    if sniff_mime(data) is None:  # the one table decode, ingest, media and the CLI use
        raise ApiError(415, f"the {what} must be an image ({ACCEPTED_LABEL})")
    return data


def is_archive(stream: BinaryIO, name: str) -> bool:
    head = stream.read(512)
    stream.seek(0)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x1f\x8b"):
        return True
    if head[:3] in (b"BZh",) or head.startswith(b"\xfd7zXZ\x00"):
        return True
    return len(head) > 262 and head[257:262] == b"ustar"


def save_upload(stream: BinaryIO, target: Path, limit: int, what: str) -> int:
    """Copy the upload to ``target`` in chunks, refusing (413) past ``limit`` bytes."""
    written = 0
    with open(target, "wb") as out:
        while chunk := stream.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise ApiError(
                    413, f"the {what} is larger than the server's limit of {limit} bytes"
                )
            out.write(chunk)
    if zipfile.is_zipfile(target) or tarfile.is_tarfile(target):
        return written
    raise ApiError(415, f"the {what} is not a readable zip or tar archive")


@dataclass(frozen=True)
class ArchiveLimits:
    members: int
    member_bytes: int
    expanded_bytes: int
    ratio: int

    @classmethod
    def of(cls, settings: Settings) -> ArchiveLimits:
        return cls(
            settings.max_archive_members,
            settings.max_archive_member_bytes,
            settings.max_archive_expanded_bytes,
            settings.max_archive_ratio,
        )


def _refuse_archive(why: str) -> ApiError:
    return ApiError(413, f"the archive is refused: {why}")


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
            raise _refuse_archive(f"more than {limits.members} members")
        if size > limits.member_bytes:
            raise _refuse_archive(
                f"member {name[:200]!r} expands to {size} bytes, over the limit of "
                f"{limits.member_bytes}"
            )
        if compressed is not None and size > RATIO_FLOOR and size > limits.ratio * compressed:
            raise _refuse_archive(
                f"member {name[:200]!r} expands {size // max(compressed, 1)} times its "
                f"compressed size, over the limit of {limits.ratio}"
            )
        self.expanded += size
        if self.expanded > limits.expanded_bytes:
            raise _refuse_archive(f"it expands past the limit of {limits.expanded_bytes} bytes")
        if self.expanded > RATIO_FLOOR and self.expanded > limits.ratio * self.compressed:
            raise _refuse_archive(
                f"it expands more than {limits.ratio} times its size of {self.compressed} bytes"
            )


def check_archive(path: Path, limits: ArchiveLimits) -> int:
    """The number of members of the zip or tar at ``path`` if it is within ``limits``, else
    ApiError 413 (415 if it is no readable archive). Nothing is expanded in memory."""
    tally = _Tally(limits, path.stat().st_size)
    try:
        if zipfile.is_zipfile(path):
            _check_zip(path, tally)
        else:
            _check_tar(path, tally)
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise ApiError(415, f"the archive is not a readable zip or tar archive: {exc}") from None
    return tally.members


def _check_zip(path: Path, tally: _Tally) -> None:
    # the member count from the end record first: ZipFile() lists every member in memory
    with open(path, "rb") as fh:
        end = zipfile._EndRecData(fh)  # type: ignore[attr-defined]
    if end is not None and end[zipfile._ECD_ENTRIES_TOTAL] > tally.limits.members:  # type: ignore[attr-defined]
        raise _refuse_archive(f"more than {tally.limits.members} members")
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.is_dir():
                tally.add(info.filename, info.file_size, info.compress_size)


def _check_tar(path: Path, tally: _Tally) -> None:
    with tarfile.open(path) as tf:
        while (member := tf.next()) is not None:
            # walked, not kept: a list of every header would grow without end
            tf.members = []  # type: ignore[attr-defined]
            tally.add(member.name, member.size if member.isfile() else 0)


__all__ = [
    "ArchiveLimits",
    "check_archive",
    "check_content_length",
    "is_archive",
    "read_image",
    "save_upload",
]
