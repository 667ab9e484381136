"""Decode: bytes to pixels, safely.

Accepts the formats of the one image-type table (:mod:`facesearch.engine.formats`: JPEG, PNG,
WebP, GIF (first frame), BMP, TIFF and PGM/PPM/PBM). Applies the EXIF orientation,
refuses images over a pixel-count cap before their pixels are decoded (decompression bombs), and
turns every failure into a DecodeError with a reason a person can read.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facesearch.engine.formats import ACCEPTED_LABEL, PILLOW_FORMATS
from facesearch.errors import DecodeError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

#: Pillow format names we accept, mapped to the name we report (the one table's).
ACCEPTED_FORMATS = PILLOW_FORMATS

DEFAULT_MAX_PIXELS = 60_000_000  # 60 megapixels: larger than any phone photo, far below bombs


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # H x W x 3, uint8, BGR (OpenCV order), orientation applied
    format: str
    sha256: str
    size_bytes: int

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def decode_bytes(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode an image file's bytes; raises DecodeError with the reason when it cannot."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if len(data) == 0:
        raise DecodeError("empty file (0 bytes)")
    sha = hashlib.sha256(data).hexdigest()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        Image.init()
        formats = [name for name in ACCEPTED_FORMATS if name in Image.OPEN]
        try:
            im = Image.open(io.BytesIO(data), formats=formats)
        except UnidentifiedImageError:
            raise DecodeError(f"not an image in a supported format ({ACCEPTED_LABEL})") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise DecodeError(f"refused: image is too large ({exc})") from None
        except Exception as exc:  # Pillow raises many types on hostile headers
            raise DecodeError(f"unreadable image header: {exc}") from None
        fmt = ACCEPTED_FORMATS.get(im.format or "", "")
        if not fmt:
            raise DecodeError(f"unsupported image format {im.format!r}")
        width, height = im.size
        if width <= 0 or height <= 0:
            raise DecodeError(f"invalid image dimensions {width}x{height}")
        if width * height > max_pixels:
            raise DecodeError(
                f"refused: {width}x{height} is {width * height:,} pixels, over the cap of "
                f"{max_pixels:,} (possible decompression bomb)"
            )
        try:
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)
            im.load()
            rgb = _to_rgb(ImageOps.exif_transpose(im) or im)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise DecodeError(f"refused: image is too large ({exc})") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise DecodeError(f"truncated or corrupt {fmt.upper()} data: {exc}") from None
        except Exception as exc:
            raise DecodeError(f"cannot decode {fmt.upper()} data: {exc}") from None
    pixels = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[:, :, ::-1])
    return DecodedImage(pixels=pixels, format=fmt, sha256=sha, size_bytes=len(data))


def _to_rgb(im: PILImage) -> PILImage:
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = arr.max() or 1.0
        return Image.fromarray((arr * (255.0 / top)).astype(np.uint8)).convert("RGB")
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) * (255.0 / (hi - lo or 1.0))
        return Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def decode_file(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DecodeError(f"cannot read file: {exc.strerror or exc}") from None
    return decode_bytes(data, max_pixels=max_pixels)


def decode_array(pixels: np.ndarray, *, rgb: bool = True) -> DecodedImage:
    """Wrap an in-memory image (H x W x 3 uint8, RGB by default, or H x W grey)."""
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8:
        raise DecodeError(f"expected uint8 pixels, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise DecodeError(f"expected an H x W x 3 image, got shape {arr.shape}")
    arr = arr[:, :, :3]
    bgr = np.ascontiguousarray(arr[:, :, ::-1] if rgb else arr)
    sha = hashlib.sha256(bgr.tobytes()).hexdigest()
    return DecodedImage(pixels=bgr, format="array", sha256=sha, size_bytes=bgr.nbytes)


ImageInput = bytes | str | Path | np.ndarray | DecodedImage


def decode_any(image: ImageInput, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode file bytes, a path, or an in-memory RGB array (a DecodedImage passes through)."""
    if isinstance(image, DecodedImage):
        return image
    if isinstance(image, bytes):
        return decode_bytes(image, max_pixels)
    if isinstance(image, np.ndarray):
        return decode_array(image)
    return decode_file(Path(image), max_pixels)
