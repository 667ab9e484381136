"""A content-addressed store for face crops and thumbnails: ``blobs/ab/cd/<name>``.

The name is the SHA-256 of the plaintext, or with an encryption key its HMAC-SHA256 under a
name key derived from the key (``Cipher.blob_name``: a known photo's crop cannot be found by
name). Writes are atomic and idempotent (the same bytes always land at the same name), so an
interrupted ingest can simply write again.
"""

from __future__ import annotations

import os
from pathlib import Path

from facesearch.errors import writing
from facesearch.store.crypto import Cipher, blob_name, maybe_decrypt, maybe_encrypt
from facesearch.store.private import open_private, private_dir

_HEX = set("0123456789abcdef")


class FileBlobStore:
    """Files named by their plaintext (SHA-256, or keyed HMAC with a cipher), private to
    their owner (folders 0700, files 0600).

    With a ``cipher`` (``facesearch.store.crypto``) each file is stored AES-256-GCM
    encrypted, bound to its name, and ``get`` decrypts it; a file that is not encrypted is
    then refused (``EncryptionError``), never served.
    """

    def __init__(self, root: Path, cipher: Cipher | None = None) -> None:
        self.root = Path(root)
        self.cipher = cipher
        self._dirs: set[Path] = set()

    def _path(self, key: str) -> Path:
        if len(key) != 64 or not set(key) <= _HEX:
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / key[:2] / key[2:4] / key

    def name(self, data: bytes) -> str:
        """The name ``data`` is stored under."""
        return blob_name(self.cipher, data)

    def put(self, data: bytes) -> str:
        key = self.name(data)
        if self._path(key).exists():
            return key
        self.put_stored(key, maybe_encrypt(self.cipher, data, aad=key.encode()))
        return key

    def put_stored(self, key: str, body: bytes) -> None:
        """Write ``body`` exactly as stored (already encrypted and bound to ``key`` when a key
        is in use), atomically: key rotation and migration. A refused write (disk full,
        read-only) raises :class:`~facesearch.errors.StorageError` and leaves no partial file."""
        path = self._path(key)
        with writing("the blob store", self.root):
            if path.parent not in self._dirs:
                private_dir(path.parent)
                self._dirs.add(path.parent)
            tmp = path.with_name(f".{key}.{os.getpid()}.tmp")
            try:
                with os.fdopen(open_private(tmp), "wb") as fh:
                    fh.write(body)
                os.replace(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

    def get(self, key: str) -> bytes:
        """The plaintext stored under ``key``: decrypted with a cipher (a file that is not
        encrypted is refused), as stored without one (an encrypted one is refused)."""
        return maybe_decrypt(self.cipher, self.get_stored(key), aad=key.encode())

    def get_stored(self, key: str) -> bytes:
        """The bytes as stored (encrypted when a key is in use)."""
        return self._path(key).read_bytes()

    def keys(self) -> list[str]:
        """Every blob name in the store (listing: key rotation, migration checks)."""
        out: list[str] = []
        if not self.root.is_dir():
            return out
        for path in sorted(self.root.glob("??/??/*")):
            name = path.name
            if len(name) == 64 and set(name) <= _HEX and path.is_file():
                out.append(name)
        return out

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
