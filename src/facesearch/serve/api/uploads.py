"""Upload limits and types: 413 above the settings' size, 415 for a wrong type (checked from
the bytes, not the client's declared type, against ``engine/formats.py``'s one table).

An uploaded archive is checked before a photo of it is ingested (:func:`check_archive`),
without expanding anything in memory: at most ``max_archive_members`` members, none larger
than ``max_archive_member_bytes``, ``max_archive_expanded_bytes`` in all, and no member (nor
the whole) expanding more than ``max_archive_ratio`` times its compressed size. The check is
the ingest's own (``facesearch/ingest/archives.py``, applied again to every archive the ingest
job reads, as to the CLI's), answered here as 413 (over a limit) or 415 (no archive)."""

from __future__ import annotations

import re
import tarfile
import zipfile
from pathlib import Path
from typing import BinaryIO

from fastapi import Request, UploadFile

from facesearch.app.types import (
    ACCEPTED_LABEL,
    ArchiveLimits,
    ArchiveRefusedError,
    UnreadableArchiveError,
    sniff_mime,
)
from facesearch.app.types import check_archive as check_ingest_archive
from facesearch.serve.api.errors import ApiError

CHUNK = 1024 * 1024
MULTIPART_SLACK = 64 * 1024  # the form's other fields and boundaries


def check_content_length(request: Request, limit: int, what: str) -> None:
    """Refuse at once when the declared body is larger than ``limit`` allows."""
    declared = request.headers.get("content-length")
    # ASCII digits only ("²".isdigit() is true), few enough for int()
    if (
        declared
        and re.fullmatch(r"[0-9]{1,4000}", declared)
        and int(declared) > limit + MULTIPART_SLACK
    ):
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


def check_archive(path: Path, limits: ArchiveLimits) -> int:
    """The number of members of the zip or tar at ``path`` if it is within ``limits``, else
    ApiError 413 (415 if it is no readable archive). Nothing is expanded in memory; the one
    check every ingest of an archive applies (``facesearch/ingest/archives.py``)."""
    try:
        return check_ingest_archive(path, limits)
    except ArchiveRefusedError as exc:
        raise ApiError(413, str(exc)) from None
    except UnreadableArchiveError as exc:
        raise ApiError(415, str(exc)) from None


__all__ = [
    "ArchiveLimits",
    "check_archive",
    "check_content_length",
    "is_archive",
    "read_image",
    "save_upload",
]
