"""Fuzz known-image hash-set imports: media/hashsets.py (VICS JSON 1.x/2.0, CAID JSON and
CSV, plain MD5/SHA-1/SHA-256 lists), as media/hashset_library.py's import reads a file.

The first byte chooses the format asked for (``--format`` of ``facesearch media hashset
import``): its value modulo 8 indexes FORMATS (None: detected from the content), bit 3 names
the file ``.csv`` (detection reads a CSV as CAID). Property: ``parse`` returns the records or
raises HashSetFormatError naming the entry and field; never another exception. What parses is
exported as VICS (``to_vics``, the export) and that export imports again with the same hashes.

    python fuzz/fuzz_hashsets.py fuzz/corpus/hashsets -max_total_time=600 -rss_limit_mb=2048
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import fuzz, instrumented

with instrumented(__name__, "csv", "json"):
    from facesearch.media import hashsets

FORMATS = (None, "vics", "caid", "list", "md5", "sha1", "sha256", "vics-2")


def _hashes(records: list[hashsets.HashRecord]) -> list[tuple[object, ...]]:
    return [(r.md5, r.sha1, r.sha256, r.pdq, r.pdq_crops, r.media_size) for r in records]


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    fmt = FORMATS[data[0] % 8]
    name = "set.csv" if data[0] & 8 else "set.txt"
    try:
        parsed = hashsets.parse(data[1:], fmt, name)
    except hashsets.HashSetFormatError as exc:
        if not str(exc):
            raise AssertionError("HashSetFormatError without a reason") from exc
        return
    exported = hashsets.dumps(hashsets.to_vics(parsed.records)).encode()
    again = hashsets.parse(exported)
    if _hashes(again.records) != _hashes(parsed.records):
        raise AssertionError("the VICS export does not import to the same hashes")


if __name__ == "__main__":
    fuzz(TestOneInput)
