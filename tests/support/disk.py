"""Real storage refusals for tests: a small tmpfs that fills up, a read-only bind mount.

Both need root with the right to mount (this project's machines and CI have it); where a
mount is not allowed the test is skipped with the reason. Nothing is simulated: the disk
really is full, the folder really is read-only, and the kernel gives ENOSPC and EROFS.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({done.stderr.strip() or done.returncode}): mount {args}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextmanager
def small_disk(path: Path, size_kib: int) -> Iterator[Path]:
    """A tmpfs of ``size_kib`` KiB mounted at ``path`` (made), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("a size-limited tmpfs needs root (mount -t tmpfs -o size=...)")
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700", "tmpfs", str(path))
    try:
        yield path
    finally:
        _umount(path)


@contextmanager
def read_only_view(source: Path, view: Path) -> Iterator[Path]:
    """``source`` seen read-only at ``view`` (a read-only bind mount: root's writes are
    refused with EROFS too, which chmod would not do)."""
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    view.mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(source), str(view))
    try:
        _mount("-o", "remount,ro,bind", str(view))
        yield view
    finally:
        _umount(view)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path, leave: int) -> Path:
    """Fill the file system of ``path`` with one file until only ``leave`` bytes are free;
    delete the file returned to give the space back."""
    filler = path / "filler.bin"
    with filler.open("wb") as fh:
        fh.write(b"\0" * max(0, free_bytes(path) - leave))
    return filler
