"""SHA-256 of model files, and the check of a file against its recorded digest (remembered
per path, size and modification time within the process)."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@cache
def verified(path: str, size: int, mtime_ns: int, expected: str) -> bool:
    """Whether the file at ``path`` (of this size and mtime) has SHA-256 ``expected``."""
    return sha256_file(Path(path)) == expected


def verified_once(path: Path, expected: str) -> bool:
    """SHA-256 check, remembered per (path, size, mtime) within the process."""
    stat = path.stat()
    return verified(str(path), stat.st_size, stat.st_mtime_ns, expected)
