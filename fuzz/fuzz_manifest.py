"""Fuzz provenance manifests: ingest/sources.py ``iter_manifest`` (CSV with a header, or JSON
Lines), with and without the server's ingest roots.

The first byte chooses: bit 0 set, the rest is a JSON Lines manifest (``.jsonl``), else a CSV;
bit 1 set, the rows must stay under the manifest's folder (the server's roots), else no roots
apply (the local CLI). The manifest's folder holds ``photo.jpg``. Property: iterating never
raises (a bad row is an item with its error, naming the line); an item to read has a file
path and, with roots, lies under them; reading one under the folder returns its bytes.

    python fuzz/fuzz_manifest.py fuzz/corpus/manifest -max_total_time=600 -rss_limit_mb=2048
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import fuzz, instrumented, scratch

with instrumented(__name__, "csv", "json"):
    from facesearch.ingest.sources import iter_manifest

PHOTO = b"\xff\xd8\xff\xe0 not really a photo"


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    folder = scratch() / "manifest"
    folder.mkdir(exist_ok=True)
    (folder / "photo.jpg").write_bytes(PHOTO)
    manifest = folder / ("rows.jsonl" if data[0] & 1 else "rows.csv")
    manifest.write_bytes(data[1:])
    roots = [folder] if data[0] & 2 else None
    real = folder.resolve()
    for item in iter_manifest(manifest, roots):
        if item.read is None:
            if not item.error:
                raise AssertionError(f"{item.path}: neither a reader nor an error")
            continue
        path = Path(item.path)
        if roots is not None and not path.resolve().is_relative_to(real):
            raise AssertionError(f"{item.path}: outside the roots, yet read")
        if path.resolve() == (real / "photo.jpg") and item.read() != PHOTO:
            raise AssertionError(f"{item.path}: read other bytes")


if __name__ == "__main__":
    fuzz(TestOneInput)
