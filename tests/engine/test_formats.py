"""The one image-type table: every format it lists is recognised by its bytes and its name,
decoded, and reported under the same name by decode and by sniff."""

from __future__ import annotations

import io

import numpy as np
import pytest

from facesearch.engine.decode import ACCEPTED_FORMATS, decode_bytes
from facesearch.engine.formats import (
    ACCEPTED_LABEL,
    BY_NAME,
    IMAGE_FORMATS,
    IMAGE_SUFFIXES,
    PILLOW_FORMATS,
    is_image_name,
    sniff,
    sniff_mime,
)
from facesearch.errors import DecodeError
from facesearch.media.sniff import media_kind

#: How Pillow writes a sample of each format of the table (Pillow's writer, image mode).
WRITERS = {
    "jpeg": ("JPEG", "RGB"),
    "png": ("PNG", "RGB"),
    "webp": ("WEBP", "RGB"),
    "gif": ("GIF", "P"),
    "bmp": ("BMP", "RGB"),
    "tiff": ("TIFF", "RGB"),
    "pgm": ("PPM", "L"),
}


def _sample(name: str) -> bytes:
    from PIL import Image

    writer, mode = WRITERS[name]
    rgb = np.zeros((24, 32, 3), np.uint8)
    rgb[:, :16] = (200, 40, 40)
    im = Image.fromarray(rgb).convert(mode)
    buf = io.BytesIO()
    im.save(buf, writer)
    return buf.getvalue()


def test_every_format_has_a_sample_writer():
    assert set(WRITERS) == {f.name for f in IMAGE_FORMATS}


@pytest.mark.parametrize("fmt", IMAGE_FORMATS, ids=lambda f: f.name)
def test_decode_and_sniff_accept_each_format_the_same_way(fmt):
    data = _sample(fmt.name)
    assert sniff(data) is fmt and sniff_mime(data) == fmt.mime
    image = decode_bytes(data)
    assert image.format == fmt.name and (image.width, image.height) == (32, 24)
    assert media_kind(data[:512]) == "image"
    for suffix in fmt.suffixes:
        assert is_image_name(f"photo{suffix.upper()}") and suffix in IMAGE_SUFFIXES
    assert fmt.label in ACCEPTED_LABEL and BY_NAME[fmt.name] is fmt


def test_decode_reads_exactly_the_table():
    assert ACCEPTED_FORMATS == PILLOW_FORMATS
    assert set(PILLOW_FORMATS.values()) == {f.name for f in IMAGE_FORMATS}


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GIF8",
        b"%PDF-1.7\n",
        b"RIFF\x00\x00\x00\x00AVI LIST",
        b"P7\n",
        b"\x00\x00\x00\x18ftyp",
    ],
)
def test_other_bytes_are_not_images(data):
    assert sniff(data) is None and sniff_mime(data) is None
    with pytest.raises(DecodeError):
        decode_bytes(data)


def test_other_names_are_not_images():
    assert not any(is_image_name(n) for n in ("a.txt", "b.mp4", "c", "d.jpg.zip", "e.heic"))
