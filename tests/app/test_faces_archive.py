"""Originals inside archives are read in chunks, never past the limit (app/faces.py)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import tracemalloc
import zipfile
from pathlib import Path
from types import SimpleNamespace

from facesearch.app.faces import archive_member, original_image

MB = 1024 * 1024


def test_a_member_over_the_limit_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.jpg", bytes(30 * MB))
        zf.writestr("small.jpg", b"photo bytes")
    tracemalloc.start()
    assert archive_member(path, "big.jpg", 10 * MB) is None
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < MB
    assert archive_member(path, "small.jpg", 10 * MB) == b"photo bytes"
    assert archive_member(path, "missing.jpg", 10 * MB) is None
    stored = SimpleNamespace(
        image_path=f"{path}!small.jpg", image_sha256=hashlib.sha256(b"photo bytes").hexdigest()
    )
    assert original_image(stored) == b"photo bytes"
    assert original_image(stored, limit=4) is None


def test_tar_members_are_walked_and_bounded(tmp_path: Path) -> None:
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for name, data in (("x/big.jpg", bytes(5 * MB)), ("x/small.jpg", b"tar photo")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    assert archive_member(path, "x/big.jpg", MB) is None
    assert archive_member(path, "x/small.jpg", MB) == b"tar photo"
