"""Fuzz image decoding: engine/decode.py (``decode_bytes``) and engine/formats.py (``sniff``).

Property: ``decode_bytes`` returns an H x W x 3 uint8 image or raises DecodeError with a
reason (the ingest worker and the API turn it into a refusal); never another exception, a hang
or runaway memory. The pixel cap is lowered to 4 megapixels, so that the fuzzer spends its time
on headers and codecs rather than on legitimately large images (the cap's check is the same
code). When decode succeeds, ``sniff`` (the API's upload check) must name the same format.

    python fuzz/fuzz_decode.py fuzz/corpus/decode -max_total_time=600 -rss_limit_mb=2048
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import fuzz, instrumented

with instrumented(__name__, "PIL"):
    from facesearch.engine.decode import decode_bytes
    from facesearch.engine.formats import sniff
    from facesearch.errors import DecodeError

MAX_PIXELS = 4_000_000


def TestOneInput(data: bytes) -> None:
    fmt = sniff(data)
    try:
        image = decode_bytes(data, max_pixels=MAX_PIXELS)
    except DecodeError as exc:
        if not str(exc):
            raise AssertionError("DecodeError without a reason") from exc
        return
    pixels = image.pixels
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype.name != "uint8":
        raise AssertionError(f"decoded to {pixels.shape} {pixels.dtype}")
    if image.width * image.height > MAX_PIXELS:
        raise AssertionError(f"{image.width}x{image.height} passed the cap")
    if fmt is not None and fmt.name != image.format:
        raise AssertionError(f"sniffed as {fmt.name}, decoded as {image.format}")


if __name__ == "__main__":
    fuzz(TestOneInput)
