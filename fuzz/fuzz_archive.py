"""Fuzz archive reading: ingest/archives.py (``check_archive``, the limits) and
ingest/sources.py (``iter_archive``: zip and tar members, read in place).

The input is the archive file's bytes (zip, tar, tar.gz/bz2/xz: the readers tell them apart by
content). Properties:

- ``check_archive`` returns a member count within the limits, or raises ArchiveRefusedError
  or UnreadableArchiveError (the API answers 413 / 415, an ingest reports the archive failed);
- iterating ``iter_archive`` never raises: a bad archive or member is an item with its error;
  it runs with the media import's acceptance, which also reads each member's first bytes;
- an item's ``read()`` returns at most the member limit, or raises an error the ingest reports
  as "cannot read: ..." (facesearch's own, or the zip/tar/compression readers' errors on
  corrupt data);
- no member name yielded for reading is absolute or holds ``..``.

    python fuzz/fuzz_archive.py fuzz/corpus/archive -max_total_time=600 -rss_limit_mb=2048
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import fuzz, instrumented, scratch

with instrumented(__name__, "zipfile", "tarfile", "gzip", "bz2", "lzma"):
    from facesearch.errors import FacesearchError
    from facesearch.ingest.archives import (
        ArchiveLimits,
        ArchiveRefusedError,
        UnreadableArchiveError,
        check_archive,
    )
    from facesearch.ingest.sources import UNREADABLE_MEMBER, iter_archive
    from facesearch.media.sources import media_acceptance

MB = 1024 * 1024
# small limits: the checks are the same code, and the fuzzer never expands gigabytes
LIMITS = ArchiveLimits(members=2000, member_bytes=4 * MB, expanded_bytes=16 * MB, ratio=100)
ACCEPT = media_acceptance(4 * MB)
# what ``read()`` may raise: facesearch's own errors and those of a corrupt or unreadable
# member (the ingest and the media import report any as "cannot read: <the message>")
READ_ERRORS = (FacesearchError, *UNREADABLE_MEMBER)


def TestOneInput(data: bytes) -> None:
    path = scratch() / "input.zip"
    path.write_bytes(data)
    try:
        members = check_archive(path, LIMITS)
    except (ArchiveRefusedError, UnreadableArchiveError):
        pass
    else:
        if not 0 <= members <= LIMITS.members:
            raise AssertionError(f"check_archive passed {members} members")
    for item in iter_archive(path, ACCEPT, LIMITS):
        if item.read is None:
            if not item.error:
                raise AssertionError(f"{item.path}: neither a reader nor an error")
            continue
        member = item.member or ""  # the member, kept apart from the archive's path
        if member.startswith("/") or ".." in member.split("/"):
            raise AssertionError(f"unsafe member yielded for reading: {member!r}")
        try:
            content = item.read()
        except READ_ERRORS:
            continue
        if len(content) > LIMITS.member_bytes:
            raise AssertionError(f"{item.path}: read {len(content)} bytes past the limit")


if __name__ == "__main__":
    fuzz(TestOneInput)
