"""Where seized material comes from: the gallery's sources, photos and videos alike.

:func:`iter_media` walks a file, folder, zip or tar archive once, with the gallery's readers
(:func:`facesearch.ingest.sources.iter_path`) and their safety rules (no absolute paths, no
``..``, no links out of the folder or inside archives), and an acceptance hook that takes the
photos by name and every other file whose first bytes say it is a video or a picture
(:mod:`facesearch.media.sniff`): renamed films and pictures are recognised by content. Photos
by name are read up to the gallery's limit; other files (videos may be larger than a photo) up
to ``max_bytes`` each (they are hashed and decoded in memory). Archives keep to the gallery's
archive limits (:mod:`facesearch.ingest.archives`), a member of up to ``max_bytes`` allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from facesearch.engine.formats import is_image_name
from facesearch.ingest.archives import DEFAULT_LIMITS
from facesearch.ingest.sources import (
    MAX_MEMBER_BYTES,
    Accept,
    SourceError,
    SourceItem,
    is_archive,
    iter_path,
)
from facesearch.media.sniff import SNIFF_BYTES, media_kind

DEFAULT_MAX_VIDEO_BYTES = 1024 * 1024 * 1024  # 1 GiB


def media_acceptance(max_bytes: int = DEFAULT_MAX_VIDEO_BYTES) -> Accept:
    """Photos by name (the gallery's limit), and any file whose content is a video or a
    picture (up to ``max_bytes``)."""

    def accept(name: str, head: Callable[[int], bytes]) -> int | None:
        if is_image_name(name):
            return MAX_MEMBER_BYTES
        return max_bytes if media_kind(head(SNIFF_BYTES)) is not None else None

    return accept


def iter_media(path: Path, max_bytes: int = DEFAULT_MAX_VIDEO_BYTES) -> Iterator[SourceItem]:
    """Every photo and video under ``path`` (a file, folder or archive), in one pass."""
    if path.is_file() and not path.is_symlink() and not is_archive(path):
        if path.suffix.lower() in (".csv", ".jsonl", ".ndjson"):
            yield from iter_path(path)
        else:
            yield SourceItem(str(path), _file_reader(path, max_bytes))
        return
    most = max(DEFAULT_LIMITS.member_bytes, max_bytes)  # a video may be larger than a photo
    limits = replace(DEFAULT_LIMITS, member_bytes=most)
    yield from iter_path(path, media_acceptance(max_bytes), archives=limits)


def _file_reader(path: Path, max_bytes: int) -> Callable[[], bytes]:
    def read() -> bytes:
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(f"file is {size:,} bytes, over the {max_bytes:,} limit")
        return path.read_bytes()

    return read
