"""Per-file hashes: MD5, SHA-1, SHA-256 (exact), PDQ (perceptual) and file metadata.

PDQ (Meta's perceptual hash, through the ``pdqhash`` package) is computed on the image scaled
to :data:`PDQ_SIDE` x :data:`PDQ_SIDE` (128) pixels, down or up, square (so that the
dihedral variants are exact symmetries): PDQ works on a 64x64 luminance
summary, so this changes the hash of a large photo by a few bits at most and makes a
24-megapixel photo take milliseconds instead of seconds, and it makes small images robust to
resizing (a half-size copy of a 150-pixel CFP photo is 20 bits from the original unscaled, 4
bits scaled). Query and reference go through the same function.
Hex follows the PDQ reference implementation's order (the 16-bit word 15 first, bit 255 first).

The 8 dihedral variants (rotations by 0/90/180/270 degrees, each mirrored or not) are computed
in one pass, so that a rotated or mirrored copy of a known image still matches.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np

PDQ_SIDE = 128
PDQ_BITS = 256
DIHEDRAL_NAMES = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "mirror",
    "rotate90+mirror",
    "rotate180+mirror",
    "rotate270+mirror",
)
_DIHEDRAL = [(k, flip) for flip in (False, True) for k in range(4)]


@dataclass(frozen=True)
class FileHashes:
    size: int
    md5: str
    sha1: str
    sha256: str


def file_hashes(data: bytes) -> FileHashes:
    return FileHashes(
        size=len(data),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
    )


@dataclass(frozen=True)
class PdqHash:
    hex: str  # of the image as it is
    quality: int  # 0..100; PDQ's authors advise not trusting hashes under 50
    variants: tuple[str, ...]  # the 8 dihedral variants, in DIHEDRAL_NAMES order


def bits_to_hex(bits: np.ndarray) -> str:
    return np.packbits(np.asarray(bits, np.uint8)[::-1]).tobytes().hex()


def hex_to_code(hex_hash: str) -> np.ndarray:
    """A PDQ hex string as 32 bytes (the layout FAISS binary indexes take)."""
    if len(hex_hash) != PDQ_BITS // 4:
        raise ValueError(f"a PDQ hash has {PDQ_BITS // 4} hex digits, not {len(hex_hash)}")
    return np.frombuffer(bytes.fromhex(hex_hash), np.uint8).copy()


def hamming(a: str, b: str) -> int:
    return int(np.unpackbits(hex_to_code(a) ^ hex_to_code(b)).sum())


def pdq_hash(bgr: np.ndarray) -> PdqHash:
    """PDQ of an image (H x W x 3 uint8, BGR as the decoder gives), with its dihedral variants."""
    import cv2
    import pdqhash

    h, w = bgr.shape[:2]
    if (h, w) != (PDQ_SIDE, PDQ_SIDE):
        shrink = h * w > PDQ_SIDE * PDQ_SIDE
        bgr = cv2.resize(
            bgr,
            (PDQ_SIDE, PDQ_SIDE),
            interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
        )
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    variants: list[str] = []
    for k, flip in _DIHEDRAL:
        # the variants made on the pixels (exact symmetries of the square image):
        # pdqhash's own compute_dihedral is 50-60 bits away from these on real photos
        img = np.rot90(rgb, k)
        if flip:
            img = img[:, ::-1]
        bits, quality = pdqhash.compute(np.ascontiguousarray(img))
        if not variants:
            first_quality = int(quality)
        variants.append(bits_to_hex(bits))
    return PdqHash(hex=variants[0], quality=first_quality, variants=tuple(variants))


@dataclass(frozen=True)
class FileMetadata:
    exif_datetime: str | None = None  # DateTimeOriginal, else DateTime, as written
    camera_make: str | None = None
    camera_model: str | None = None


def _clean(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\x00", "").strip()
    return text[:200] or None


def read_metadata(data: bytes) -> FileMetadata:
    """EXIF capture date and camera, where the file has them (never raises)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            exif = im.getexif()
            sub = exif.get_ifd(0x8769)  # the Exif IFD
            return FileMetadata(
                exif_datetime=_clean(sub.get(36867) or exif.get(306)),
                camera_make=_clean(exif.get(271)),
                camera_model=_clean(exif.get(272)),
            )
    except Exception:
        return FileMetadata()
