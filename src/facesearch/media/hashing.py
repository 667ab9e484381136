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

PDQ is a whole-image DCT hash: a copy cropped by 2.5% on each side is ~55 bits from the
original, far past any safe threshold. So each file also gets the PDQ of its centred crops
(:data:`PDQ_CROPS`: 1, 2, 3, 4 and 5% off each side, upright only): a file whose hashes carry
them (facesearch's own exports, ``PDQCrops``) is then found again when a copy of it was cropped
by up to ~5.5% a side, and a file is compared through its crops with the known hashes, which
finds the file when the known image is a crop of it.
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
PDQ_CROPS = (0.01, 0.02, 0.03, 0.04, 0.05)  # centred crops: the share cut off each side
_CROP_BASE = 256  # crops are cut from the image squared to this side (PDQ sees 128 anyway)


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
    crops: tuple[str, ...] = ()  # centred crops, upright, in PDQ_CROPS order


def bits_to_hex(bits: np.ndarray) -> str:
    return np.packbits(np.asarray(bits, np.uint8)[::-1]).tobytes().hex()


def hex_to_code(hex_hash: str) -> np.ndarray:
    """A PDQ hex string as 32 bytes (the layout FAISS binary indexes take)."""
    if len(hex_hash) != PDQ_BITS // 4:
        raise ValueError(f"a PDQ hash has {PDQ_BITS // 4} hex digits, not {len(hex_hash)}")
    return np.frombuffer(bytes.fromhex(hex_hash), np.uint8).copy()


def hamming(a: str, b: str) -> int:
    return int(np.unpackbits(hex_to_code(a) ^ hex_to_code(b)).sum())


def _squared(bgr: np.ndarray, side: int) -> np.ndarray:
    import cv2

    h, w = bgr.shape[:2]
    if (h, w) == (side, side):
        return bgr
    shrink = h * w > side * side
    return cv2.resize(
        bgr, (side, side), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )


def pdq_crop_hashes(bgr: np.ndarray, crops: tuple[float, ...] = PDQ_CROPS) -> tuple[str, ...]:
    """PDQ of the image's centred crops (``crops``: the share cut off each side), upright."""
    import cv2
    import pdqhash

    base = _squared(bgr, _CROP_BASE)
    out = []
    for share in crops:
        cut = round(_CROP_BASE * share)
        part = base[cut : _CROP_BASE - cut, cut : _CROP_BASE - cut]
        # bilinear from ~2x: INTER_AREA at this ratio costs more than the hash itself
        small = cv2.resize(part, (PDQ_SIDE, PDQ_SIDE), interpolation=cv2.INTER_LINEAR)
        rgb = np.ascontiguousarray(small[:, :, ::-1])
        bits, _ = pdqhash.compute(rgb)
        out.append(bits_to_hex(bits))
    return tuple(out)


def pdq_hash(bgr: np.ndarray, *, crops: bool = False) -> PdqHash:
    """PDQ of an image (H x W x 3 uint8, BGR as the decoder gives), with its dihedral variants
    and, with ``crops``, the hashes of its centred crops (:func:`pdq_crop_hashes`)."""
    import cv2
    import pdqhash

    cropped = pdq_crop_hashes(bgr) if crops else ()
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
    return PdqHash(hex=variants[0], quality=first_quality, variants=tuple(variants), crops=cropped)


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
