"""The vector index's files: ``vectors.faiss`` (data) and ``vectors.json`` (metadata: kind,
FAISS factory string, parameters, section layout, SHA-256 of the data file).

Every write is atomic (write, fsync, rename, fsync the folder), so a reader sees the old or
the new file, never half of one. A data file of sections (``pq_refine``) is read back array by
array with every offset, shape and dtype checked against the metadata and its digest verified:
nothing is guessed and nothing is unpickled. ``load.py`` dispatches on the recorded kind.

With an encryption key the data file is a sealed stream (``store/sealed.py``, bound to the
index's model), written encrypted as it is produced and decrypted into memory as it is read:
no plaintext copy touches the disk. The metadata (no vectors) stays readable and records the
key id; with a key set, a data file that is not encrypted is refused, and without one an
encrypted file is refused (:class:`~facesearch.errors.EncryptionError`).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np

from facesearch.errors import EncryptionError, IndexCorruptError, writing
from facesearch.store.crypto import Cipher, Keyring
from facesearch.store.private import open_private
from facesearch.store.sealed import SealedReader, SealedWriter, is_sealed

INDEX_FILE = "vectors.faiss"
META_FILE = "vectors.json"


class Readable(Protocol):
    def readinto(self, buffer: Any, /) -> int | None: ...

    def read(self, size: int = -1, /) -> bytes: ...


def index_aad(model_key: str) -> bytes:
    """What an encrypted index file is bound to: its model."""
    return f"facesearch:vector-index:{model_key}".encode()


def atomic_write(path: Path, data: bytes, cipher: Cipher | None = None, aad: bytes = b"") -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half
    (the file is private to its owner: 0600; sealed with ``cipher`` when given)."""
    atomic_write_stream(path, lambda fh: fh.write(data), cipher, aad)


def atomic_write_stream(
    path: Path,
    writer: Callable[[BinaryIO], object],
    cipher: Cipher | None = None,
    aad: bytes = b"",
) -> None:
    """Like `atomic_write`, with ``writer(fh)`` producing the content (for large files);
    with ``cipher`` what it writes is encrypted on the way to the file. A refused write (disk
    full, read-only) raises :class:`~facesearch.errors.StorageError`; the old file stays."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with writing("the vector index", path.parent):
        try:
            with os.fdopen(open_private(tmp), "wb") as fh:
                if cipher is not None:
                    sealed = SealedWriter(fh, cipher, aad)
                    writer(sealed)  # type: ignore[arg-type]
                    sealed.finish()
                else:
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


@contextmanager
def open_data(
    path: Path, keys: Cipher | Keyring | None, aad: bytes
) -> Iterator[tuple[Readable, int]]:
    """The data file's plaintext as a readable object, and its plaintext size: decrypted
    when sealed (strictly: see the module docstring; a :class:`Keyring` with ``plain`` set
    also reads a plain file, for ``keys rotate --from-plain``)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        sealed = is_sealed(fh.read(4))
        fh.seek(0)
        if not sealed:
            if isinstance(keys, Cipher) or (isinstance(keys, Keyring) and not keys.plain):
                raise EncryptionError(
                    f"the vector index {path} is not encrypted although a key is set: refused "
                    "(run 'facesearch keys rotate --from-plain', or 'facesearch reindex')"
                )
            yield fh, size
            return
        if keys is None:
            raise EncryptionError(f"the vector index {path} is encrypted but no key is set")
        reader = SealedReader(fh, keys, aad)
        yield reader, reader.plain_size(size)


def read_sections(
    path: Path,
    layout: list[dict[str, Any]],
    sha256: str,
    keys: Cipher | Keyring | None = None,
    aad: bytes = b"",
) -> dict[str, np.ndarray]:
    """Read the sections of a data file into arrays, verifying its SHA-256 on the way."""
    digest = hashlib.sha256()
    arrays: dict[str, np.ndarray] = {}
    try:
        expected = 0
        with open_data(path, keys, aad) as (fh, size):
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
