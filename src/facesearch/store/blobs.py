"""A content-addressed store for face crops and thumbnails: ``blobs/ab/cd/<sha256>.<ext>``.

Writes are atomic and idempotent (the same bytes always land at the same key), so an
interrupted ingest can simply write again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from facesearch.store.crypto import Cipher, maybe_decrypt, maybe_encrypt
from facesearch.store.private import open_private, private_dir

_HEX = set("0123456789abcdef")


class FileBlobStore:
    """Files named by the SHA-256 of their plaintext, private to their owner (folders 0700,
    files 0600).

    With a ``cipher`` (``FACESEARCH_ENCRYPTION_KEY``, see ``facesearch.store.crypto``) each
    file is stored AES-256-GCM encrypted, bound to its key, and ``get`` decrypts it; files
    written without a key stay readable.
    """

    def __init__(self, root: Path, cipher: Cipher | None = None) -> None:
        self.root = Path(root)
        self.cipher = cipher
        self._dirs: set[Path] = set()

    def _path(self, key: str) -> Path:
        if len(key) != 64 or not set(key) <= _HEX:
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes) -> str:
        key = hashlib.sha256(data).hexdigest()
        path = self._path(key)
        if path.exists():
            return key
        if path.parent not in self._dirs:
            private_dir(path.parent)
            self._dirs.add(path.parent)
        tmp = path.with_name(f".{key}.{os.getpid()}.tmp")
        with os.fdopen(open_private(tmp), "wb") as fh:
            fh.write(maybe_encrypt(self.cipher, data, aad=key.encode()))
        os.replace(tmp, path)
        return key

    def get(self, key: str) -> bytes:
        """The plaintext stored under ``key`` (decrypted if it was stored encrypted)."""
        return maybe_decrypt(self.cipher, self._path(key).read_bytes(), aad=key.encode())

    def path(self, key: str) -> Path:
        """Where the file lies (encrypted when a key is in use: read it with ``get``)."""
        return self._path(key)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
            return True
        except FileNotFoundError:
            return False
