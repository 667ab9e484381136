"""Media import (hashes, PDQ, faces) against gallery ingest of the same photos, in one run.

    PYTHONPATH=src python benchmarks/media_import.py /path/to/cfp/Data/Images 300 --workers 1

Copies the photos to a temporary folder (links would be refused). Prints photos/s and the ratio.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from facesearch.app.service import Service
from facesearch.media.acts import MediaService
from facesearch.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("images", type=Path)
    ap.add_argument("n", type=int)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    files = sorted(args.images.glob("*/frontal/*.jpg"))[: args.n]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photos"
        src.mkdir()
        for i, f in enumerate(files):
            shutil.copy(f, src / f"{i:05d}.jpg")
        ws = Service.for_cli(Settings.load(data_dir=Path(tmp) / "data"))
        ws.library.initialise("admin")
        g = ws.governance
        g.add_user("admin", "sup", ["supervisor"])
        g.add_user("admin", "ivy", ["investigator"])
        g.open_case("ivy", "B1", "cse-victim-id", "Warrant", "benchmark of the media import")
        g.approve_case("sup", "B1")
        t0 = time.perf_counter()
        admin = ws.accounts.principal("admin", "cli")
        ingest = ws.library.ingest(admin, [src], workers=args.workers, second_pass=False)
        t_ingest = time.perf_counter() - t0
        t0 = time.perf_counter()
        media = MediaService(g, ws.gallery).import_media("ivy", "B1", [src], workers=args.workers)
        t_media = time.perf_counter() - t0
        n = len(files)
        print(f"gallery ingest: {n} photos, {ingest.faces_indexed} faces, {n / t_ingest:.2f}/s")
        print(f"media import:   {n} photos, {media.faces} faces, {n / t_media:.2f}/s")
        print(f"media import / gallery ingest: {t_ingest / t_media:.0%}")
        print("media stages (s):", {k: round(v, 1) for k, v in media.stage_seconds.items()})
        ws.close()


if __name__ == "__main__":
    main()
