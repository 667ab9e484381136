import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from facesearch.engine.decode import decode_bytes
from facesearch.errors import DecodeError


def _encode(rgb: np.ndarray, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "name", "mode"),
    [
        ("JPEG", "jpeg", "RGB"),
        ("PNG", "png", "RGB"),
        ("WEBP", "webp", "RGB"),
        ("GIF", "gif", "P"),
        ("BMP", "bmp", "RGB"),
        ("TIFF", "tiff", "RGB"),
        ("PPM", "pgm", "L"),
    ],
)
def test_supported_formats_decode_to_bgr(astronaut, fmt, name, mode):
    small = astronaut[::4, ::4]
    img = Image.fromarray(small).convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    decoded = decode_bytes(buf.getvalue())
    assert decoded.format == name
    assert (decoded.width, decoded.height) == (128, 128)
    assert decoded.pixels.dtype == np.uint8 and decoded.pixels.shape == (128, 128, 3)
    if fmt in ("PNG", "BMP", "TIFF"):  # lossless: exact pixels, channels reversed to BGR
        assert np.array_equal(decoded.pixels[:, :, ::-1], small)


def test_gif_first_frame_is_used():
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    decoded = decode_bytes(buf.getvalue())
    b, _, r = decoded.pixels[16, 16]
    assert r > 200 and b < 50


def test_exif_orientation_is_applied(astronaut):
    img = Image.fromarray(astronaut[:, :300])  # 512 high, 300 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    decoded = decode_bytes(buf.getvalue())
    assert (decoded.width, decoded.height) == (512, 300)


def test_sixteen_bit_grey_is_scaled():
    arr = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    decoded = decode_bytes(buf.getvalue())
    assert decoded.pixels.max() == 255 and decoded.pixels.min() == 0


def test_zero_bytes():
    with pytest.raises(DecodeError, match="empty"):
        decode_bytes(b"")


def test_not_an_image():
    with pytest.raises(DecodeError, match="not an image"):
        decode_bytes(b"%PDF-1.4 this is not a photo" * 10)


def test_truncated_jpeg(astronaut):
    data = _encode(astronaut, "JPEG")
    with pytest.raises(DecodeError, match="truncated or corrupt"):
        decode_bytes(data[: len(data) // 3])


def test_corrupt_png(astronaut):
    data = bytearray(_encode(astronaut[:64, :64], "PNG"))
    data[60:400] = b"\x00" * 340
    with pytest.raises(DecodeError):
        decode_bytes(bytes(data))


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(DecodeError, match="refused"):
        decode_bytes(_png_header_only(100_000, 100_000))


def test_pixel_cap_is_configurable(astronaut):
    data = _encode(astronaut, "PNG")
    with pytest.raises(DecodeError, match="over the cap"):
        decode_bytes(data, max_pixels=100_000)
    assert decode_bytes(data, max_pixels=512 * 512).width == 512
