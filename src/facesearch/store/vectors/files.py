"""The vector index's files: ``vectors.faiss`` (data) and ``vectors.json`` (metadata: kind,
FAISS factory string, parameters, section layout, SHA-256 of the data file).

Every write is atomic (write, fsync, rename, fsync the folder), so a reader sees the old or
the new file, never half of one. A data file of sections (``pq_refine``) is read back array by
array with every offset, shape and dtype checked against the metadata and its digest verified:
nothing is guessed and nothing is unpickled. ``load.py`` dispatches on the recorded kind.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from facesearch.errors import IndexCorruptError
from facesearch.store.private import open_private

INDEX_FILE = "vectors.faiss"
META_FILE = "vectors.json"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half
    (the file is private to its owner: 0600)."""
    atomic_write_stream(path, lambda fh: fh.write(data))


def atomic_write_stream(path: Path, writer: Callable[[BinaryIO], object]) -> None:
    """Like `atomic_write`, with ``writer(fh)`` producing the content (for large files)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with os.fdopen(open_private(tmp), "wb") as fh:
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def section_layout(sections: list[tuple[str, np.ndarray]]) -> list[dict[str, Any]]:
    """The metadata record of a data file made of ``sections`` written one after the other."""
    layout, offset = [], 0
    for name, arr in sections:
        layout.append(
            {
                "name": name,
                "offset": offset,
                "nbytes": int(arr.nbytes),
                "dtype": arr.dtype.str,
                "shape": list(arr.shape),
            }
        )
        offset += int(arr.nbytes)
    return layout


def read_sections(path: Path, layout: list[dict[str, Any]], sha256: str) -> dict[str, np.ndarray]:
    """Read the sections of a data file into arrays, verifying its SHA-256 on the way."""
    digest = hashlib.sha256()
    arrays: dict[str, np.ndarray] = {}
    try:
        size = path.stat().st_size
        expected = 0
        with open(path, "rb") as fh:
            for sec in layout:
                if int(sec["offset"]) != expected:
                    raise IndexCorruptError("sections are not contiguous")
                dtype = np.dtype(str(sec["dtype"]))
                if dtype.hasobject:
                    raise IndexCorruptError("object arrays are not allowed")
                shape = tuple(int(s) for s in sec["shape"])
                nbytes = int(sec["nbytes"])
                if math.prod(shape) * dtype.itemsize != nbytes or expected + nbytes > size:
                    raise IndexCorruptError(f"section {sec['name']!r} does not fit the file")
                arr = np.empty(shape, dtype)
                flat = arr.reshape(-1).view(np.uint8)
                got = 0
                while got < nbytes:
                    chunk = flat[got : got + (1 << 26)]
                    r = fh.readinto(chunk.data)
                    if not r:
                        raise IndexCorruptError("vector index file is truncated")
                    digest.update(chunk[:r].data)
                    got += r
                arrays[str(sec["name"])] = arr
                expected += nbytes
        if expected != size:
            raise IndexCorruptError("vector index file has trailing data")
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(f"cannot read vector index {path}: {exc}") from exc
    if digest.hexdigest() != sha256:
        raise IndexCorruptError(f"vector index {path} does not match its metadata")
    return arrays
