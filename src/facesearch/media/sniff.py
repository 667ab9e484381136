"""What a file is, from its first bytes: a photo, a video, or neither.

Seized material is often renamed (``IMG_0001.dat``, ``.jpg`` files that are films), so the media
import recognises pictures and films by their signatures, not only by their names. Pictures are
those of the one image-type table (:func:`facesearch.engine.formats.sniff`), plus HEIF and AVIF
stills, taken so that they are reported as undecodable rather than silently left out.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path
from typing import Literal

from facesearch.engine.formats import sniff

MediaKind = Literal["image", "video"]
SNIFF_BYTES = 512  # enough for every signature below (MPEG-TS needs three 188-byte packets)

# ISO base media (MP4, MOV, 3GP, M4V ...) brands that are still pictures, not films.
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"avif", b"avis"}
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def media_kind(head: bytes) -> MediaKind | None:
    """``"image"``, ``"video"`` or ``None`` (neither) for a file starting with ``head``."""
    if sniff(head) is not None:  # the one image-type table (engine/formats.py)
        return "image"
    if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:  # HEIF, AVIF: reported if undecodable
        return "image"
    return "video" if is_video(head) else None


def is_video(head: bytes) -> bool:
    """True for the containers FFmpeg reads that phones, cameras and chat apps write."""
    box = head[4:8]
    if box == b"ftyp":
        return head[8:12] not in _IMAGE_BRANDS
    if box in _QUICKTIME_ATOMS and int.from_bytes(head[:4], "big") >= 8:
        return True
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska, WebM
        return True
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return True
    if head.startswith((b"FLV\x01", b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")):  # FLV, ASF/WMV
        return True
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):  # MPEG program/video stream
        return True
    # MPEG transport stream: a sync byte every 188 bytes
    return len(head) >= 377 and head[0] == head[188] == head[376] == 0x47


def archive_holds_media(path: Path) -> bool:
    """Whether the zip or tar archive at ``path`` holds a photo or a video among its own
    members (by their first bytes; only the members' heads are read). False for anything
    that is no readable archive."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    if not info.is_dir():
                        with z.open(info) as member:
                            if media_kind(member.read(SNIFF_BYTES)) is not None:
                                return True
            return False
        with tarfile.open(path) as t:
            for m in t:
                if m.isfile():
                    data = t.extractfile(m)
                    if data is not None and media_kind(data.read(SNIFF_BYTES)) is not None:
                        return True
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, RuntimeError):
        return False
    return False
