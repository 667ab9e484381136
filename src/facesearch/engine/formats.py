"""The one table of image types facesearch accepts: decode, ingest, media, the CLI and the API.

Each :class:`ImageFormat` says what decode reports (``name``), its media type, the file-name
suffixes taken as that format, the Pillow decoders that read it, and how to recognise its bytes
(:meth:`ImageFormat.matches`). Everything else derives from :data:`IMAGE_FORMATS`:

- :func:`sniff` / :func:`sniff_mime`: the format / media type of a file's first bytes, or None
  (the API's upload check, the CLI, the media import's recognition of renamed pictures);
- :data:`IMAGE_SUFFIXES` / :func:`is_image_name`: the names ingest and evaluation read;
- :data:`PILLOW_FORMATS`: the decoders :func:`facesearch.engine.decode.decode_bytes` allows;
- :data:`ACCEPTED_LABEL`: the list people read in refusals ("JPEG, PNG, WebP, ...").

A format is listed here only if decode reads it, so that what is accepted by its name or its
bytes is also decoded (``tests/engine/test_formats.py`` holds every entry to that).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

#: Bytes enough to recognise every format below.
SNIFF_BYTES = 16


def _starts(*magics: bytes) -> Callable[[bytes], bool]:
    return lambda head: head.startswith(magics)


def _webp(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def _netpbm(head: bytes) -> bool:
    """PBM, PGM and PPM (P1 to P6) followed by whitespace."""
    return len(head) >= 3 and head[:1] == b"P" and head[1:2] in b"123456" and head[2:3].isspace()


@dataclass(frozen=True)
class ImageFormat:
    name: str  # what decode reports and the catalog stores ("jpeg")
    label: str  # how people call it ("JPEG")
    mime: str  # its media type
    suffixes: tuple[str, ...]  # file-name suffixes taken as this format, lower case
    pillow: tuple[str, ...]  # Pillow's names of the decoders that read it
    _matches: Callable[[bytes], bool]

    def matches(self, head: bytes) -> bool:
        """True when a file starting with ``head`` is of this format."""
        return self._matches(head)


IMAGE_FORMATS: tuple[ImageFormat, ...] = (
    # MPO: the multi-picture JPEG of phones; its first picture is the photo
    ImageFormat(
        "jpeg", "JPEG", "image/jpeg", (".jpg", ".jpeg", ".jpe"), ("JPEG", "MPO"),
        _starts(b"\xff\xd8\xff"),
    ),
    ImageFormat("png", "PNG", "image/png", (".png",), ("PNG",), _starts(b"\x89PNG\r\n\x1a\n")),
    ImageFormat("webp", "WebP", "image/webp", (".webp",), ("WEBP",), _webp),
    # the first frame of an animation
    ImageFormat("gif", "GIF", "image/gif", (".gif",), ("GIF",), _starts(b"GIF87a", b"GIF89a")),
    ImageFormat("bmp", "BMP", "image/bmp", (".bmp", ".dib"), ("BMP", "DIB"), _starts(b"BM")),
    ImageFormat(
        "tiff", "TIFF", "image/tiff", (".tif", ".tiff"), ("TIFF",),
        _starts(b"II*\x00", b"MM\x00*"),
    ),
    # Pillow reads PBM, PGM and PPM as "PPM"; reported as "pgm"
    ImageFormat(
        "pgm", "PGM", "image/x-portable-anymap", (".pgm", ".ppm", ".pnm", ".pbm"), ("PPM",),
        _netpbm,
    ),
)  # fmt: skip

#: Every accepted file-name suffix (lower case, with the dot).
IMAGE_SUFFIXES: frozenset[str] = frozenset(s for f in IMAGE_FORMATS for s in f.suffixes)
#: Pillow decoder name -> the format name decode reports.
PILLOW_FORMATS: dict[str, str] = {p: f.name for f in IMAGE_FORMATS for p in f.pillow}
#: The accepted formats as people read them, for refusals: "JPEG, PNG, WebP, GIF, BMP, ...".
ACCEPTED_LABEL = ", ".join(f.label for f in IMAGE_FORMATS)
BY_NAME: dict[str, ImageFormat] = {f.name: f for f in IMAGE_FORMATS}


def sniff(data: bytes) -> ImageFormat | None:
    """The image format of a file starting with ``data``, or None (not a type we decode)."""
    head = data[:SNIFF_BYTES]
    for fmt in IMAGE_FORMATS:
        if fmt.matches(head):
            return fmt
    return None


def sniff_mime(data: bytes) -> str | None:
    """The media type of an image file's bytes, or None when it is not a type we decode."""
    fmt = sniff(data)
    return fmt.mime if fmt is not None else None


def is_image_name(name: str) -> bool:
    """True when the file name's suffix is one of an accepted image format."""
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES
