"""Encryption at rest (AES-256-GCM): face crops, thumbnails and probe images (blobs), the
catalog's embeddings and the saved vector index.

Key: 32 random bytes, as 64 hex digits or URL-safe base64 (``facesearch keys generate`` prints
a new one), from exactly one of ``FACESEARCH_ENCRYPTION_KEY`` (the environment), a key file
(``FACESEARCH_ENCRYPTION_KEY_FILE``: refused when group or others may read it, or when it lies
inside the data directory) or a KMS-style command (``FACESEARCH_KEY_COMMAND``, run without a
shell; its standard output is the key): :mod:`facesearch.store.keysource`. When none is set
nothing is encrypted. Needs the ``cryptography`` package.

Formats. A blob or an embedding: ``b"FSE1"`` + 8-byte key id (the first 8 bytes of SHA-256 of
"facesearch-key-id" + key) + 12-byte random nonce + ciphertext + 16-byte GCM tag, with
associated data binding it to where it belongs: a blob to its name, an embedding to its face
id, its model and its column (:func:`embedding_aad`), so that swapping two stored items is
detected. The saved vector index is a stream (:mod:`facesearch.store.sealed`): ``b"FSS1"`` +
key id + chunks of 4 MiB, each sealed with its number and a last-chunk flag (a truncated or
reordered file is refused), decrypted straight into memory (no plaintext file is written).
Blob names: with a key, the HMAC-SHA256 of the plaintext under a name key derived from the
encryption key (:meth:`Cipher.blob_name`), so a known photo's crop cannot be found by name;
without one, its SHA-256.

Strict reads: with a key set, anything read that is not in the encrypted format is refused
with :class:`~facesearch.errors.EncryptionError` (a plain file put where an encrypted one is
expected is never served); without a key, encrypted data is refused too. Data written before
encryption was turned on, or under an older key, is re-encrypted by ``facesearch keys rotate``
(``--from-plain``), which decrypts with whichever key the 8-byte key id names
(:class:`Keyring`).

The other stored vectors are sealed the same way, each bound to its own table's row id and
model (:data:`SUPPRESSION_COLUMN`: the embedding-only entries of people removed on request;
:data:`MEDIA_FACE_COLUMN`: the faces of a case's seized material).

What it protects: the images, embeddings and vector index copied off the disk or out of a
database dump or backup without the key are unreadable, and any change to them is detected.
What it does not protect: anything while facesearch is running with the key (the process, and
whoever can read its environment or key file, holds it); the catalog's metadata, provenance,
face boxes and landmarks; the audit log (holds no images); vectors kept in a Milvus server
(encrypt that host's disk). Losing the key loses the data: keep it in a secrets manager and
back it up apart from the data.
Costs: 40 bytes per blob or embedding, 16 bytes per 4 MiB of index; measured in
``benchmarks/bench_encryption.py`` (docs/performance.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facesearch.errors import EncryptionError
from facesearch.store.keysource import KEY_SOURCES, key_text

if TYPE_CHECKING:
    from facesearch.settings import Settings

ENV_VAR = "FACESEARCH_ENCRYPTION_KEY"
MAGIC = b"FSE1"
KEY_ID_LEN = 8
_NONCE_LEN = 12
TAG_LEN = 16
HEADER_LEN = len(MAGIC) + KEY_ID_LEN + _NONCE_LEN
#: the ``column`` of :func:`embedding_aad` for the vectors outside the catalog's ``faces``
#: table (distinct, so that a vector cannot be moved between tables whose ids coincide)
SUPPRESSION_COLUMN = "gov_suppressions.embedding"
MEDIA_FACE_COLUMN = "media_faces.embedding"


def generate_key() -> str:
    """A new random key, as 64 hex digits, for ``FACESEARCH_ENCRYPTION_KEY``."""
    return secrets.token_hex(32)


def parse_key(text: str) -> bytes:
    t = text.strip()
    raw: bytes | None = None
    if len(t) == 64:
        try:
            raw = bytes.fromhex(t)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != 32:
        raise EncryptionError(
            f"{ENV_VAR} must be 32 bytes as 64 hex digits or base64 "
            "(generate one with 'facesearch keys generate')"
        )
    return raw


def is_encrypted(blob: bytes) -> bool:
    return blob[: len(MAGIC)] == MAGIC and len(blob) >= HEADER_LEN + TAG_LEN


def key_id_of(blob: bytes) -> bytes | None:
    """The key id an encrypted blob names (None: not in the encrypted format)."""
    return blob[len(MAGIC) : len(MAGIC) + KEY_ID_LEN] if is_encrypted(blob) else None


def embedding_aad(face_id: int, model: str, column: str = "embedding") -> bytes:
    """What an embedding is bound to: its column, model and face id (a swapped or moved
    vector fails to decrypt)."""
    return f"facesearch:{column}:{model}:{int(face_id)}".encode()


class Cipher:
    """AES-256-GCM with one key (and the HMAC key that names blobs)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise EncryptionError("an encryption key must be 32 bytes")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"facesearch-key-id" + key).digest()[:KEY_ID_LEN]
        self._name_key = hmac.new(key, b"facesearch-blob-names", hashlib.sha256).digest()

    @classmethod
    def from_key(cls, text: str | None) -> Cipher | None:
        """The cipher for a key as ``FACESEARCH_ENCRYPTION_KEY`` holds it (64 hex digits or
        base64), or None when it is unset or empty (encryption off)."""
        return cls(parse_key(text)) if text and text.strip() else None

    @classmethod
    def from_settings(cls, settings: Settings) -> Cipher | None:
        """The cipher for the settings' key: ``encryption_key`` (the environment),
        ``encryption_key_file`` or ``key_command``, at most one of them (None: encryption
        off). A key file or command is read each time: build the cipher once and pass it."""
        return cls.from_key(key_text(settings))

    @classmethod
    def old_from_settings(cls, settings: Settings) -> Cipher | None:
        """The previous key for a rotation (``FACESEARCH_OLD_ENCRYPTION_KEY``), if set."""
        key = settings.old_encryption_key
        return cls.from_key(key.get_secret_value() if key is not None else None)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Cipher | None:
        """The cipher for ``FACESEARCH_ENCRYPTION_KEY`` in ``environ`` (a mapping such as
        ``Settings.encryption_environ()``), or None when it is unset or empty."""
        return cls.from_key(environ.get(ENV_VAR, ""))

    def blob_name(self, data: bytes) -> str:
        """The name of a blob holding ``data``: HMAC-SHA256 under the name key (64 hex)."""
        return hmac.new(self._name_key, data, hashlib.sha256).hexdigest()

    def encrypt(self, data: bytes, aad: bytes = b"") -> bytes:
        nonce = secrets.token_bytes(_NONCE_LEN)
        return MAGIC + self.key_id + nonce + self._aead.encrypt(nonce, data, aad or None)

    def decrypt(self, blob: bytes, aad: bytes = b"") -> bytes:
        if not is_encrypted(blob):
            raise EncryptionError(
                "data is not encrypted by facesearch (no FSE1 header) although a key is set: "
                "refused (a plain file in place of an encrypted one, or data written before "
                "encryption was turned on: 'facesearch keys rotate --from-plain')"
            )
        key_id = blob[len(MAGIC) : len(MAGIC) + KEY_ID_LEN]
        if key_id != self.key_id:
            raise EncryptionError(
                f"data was encrypted with a different key (key id {key_id.hex()}, "
                f"current key id {self.key_id.hex()}): wrong key, or an unfinished "
                "'facesearch keys rotate'?"
            )
        nonce = blob[len(MAGIC) + KEY_ID_LEN : HEADER_LEN]
        try:
            return self._aead.decrypt(nonce, blob[HEADER_LEN:], aad or None)
        except InvalidTag:
            raise EncryptionError(
                "decryption failed: the data was modified, or belongs under another name"
            ) from None

    def seal_chunk(self, nonce: bytes, data: bytes | bytearray | memoryview, aad: bytes) -> bytes:
        """One chunk of a sealed stream (``store/sealed.py``): ciphertext + tag."""
        return self._aead.encrypt(nonce, data, aad)

    def open_chunk(self, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(nonce, data, aad)
        except InvalidTag:
            raise EncryptionError(
                "decryption failed: the file was modified, truncated or belongs elsewhere"
            ) from None


class Keyring:
    """The keys a rotation reads with: the new one, the old one, and whether plain data is
    accepted (``--from-plain``); each item is decrypted with the key its key id names."""

    def __init__(self, new: Cipher, old: Cipher | None = None, *, plain: bool = False) -> None:
        self.new = new
        self.old = old
        self.plain = plain

    def cipher_for(self, key_id: bytes) -> Cipher:
        for c in (self.new, self.old):
            if c is not None and c.key_id == key_id:
                return c
        raise EncryptionError(
            f"data was encrypted with a key that is neither the new nor the old one "
            f"(key id {key_id.hex()}): give the old key (FACESEARCH_OLD_ENCRYPTION_KEY or "
            "--old-key-file)"
        )

    def is_current(self, blob: bytes) -> bool:
        """Whether ``blob`` is already under the new key (rotated)."""
        return key_id_of(blob) == self.new.key_id

    def decrypt(self, blob: bytes, aad: bytes = b"") -> bytes:
        key_id = key_id_of(blob)
        if key_id is None:
            if not self.plain:
                raise EncryptionError(
                    "found data that is not encrypted: to encrypt existing plain data run "
                    "'facesearch keys rotate --from-plain'"
                )
            return blob
        return self.cipher_for(key_id).decrypt(blob, aad)

    def old_blob_name(self, data: bytes, blob: bytes) -> str:
        """The name ``data`` had before the rotation (by the key that encrypted it)."""
        key_id = key_id_of(blob)
        if key_id is None:
            return hashlib.sha256(data).hexdigest()
        return self.cipher_for(key_id).blob_name(data)


def _settings_cipher(settings: Settings) -> Cipher:
    cipher = Cipher.from_settings(settings)
    if cipher is None:
        raise EncryptionError(f"{ENV_VAR} is not set (nor {', '.join(KEY_SOURCES[1:])})")
    return cipher


def encrypt(data: bytes, aad: bytes = b"", *, settings: Settings) -> bytes:
    """Encrypt with the settings' key (error if unset)."""
    return _settings_cipher(settings).encrypt(data, aad)


def decrypt(blob: bytes, aad: bytes = b"", *, settings: Settings) -> bytes:
    """Decrypt with the settings' key; a clear error on a wrong key."""
    return _settings_cipher(settings).decrypt(blob, aad)


def blob_name(cipher: Cipher | None, data: bytes) -> str:
    """The name of a blob holding ``data``: keyed (HMAC) with a cipher, else its SHA-256."""
    return cipher.blob_name(data) if cipher is not None else hashlib.sha256(data).hexdigest()


def maybe_encrypt(cipher: Cipher | None, data: bytes, aad: bytes = b"") -> bytes:
    """``data`` encrypted when a cipher is configured, unchanged otherwise."""
    return cipher.encrypt(data, aad) if cipher is not None else data


def maybe_decrypt(cipher: Cipher | None, blob: bytes, aad: bytes = b"") -> bytes:
    """Plaintext of ``blob``, strictly: with a cipher it must be encrypted (a plain one is
    refused); without one it must be plain (an encrypted one is refused)."""
    if cipher is not None:
        return cipher.decrypt(blob, aad)
    if is_encrypted(blob):
        raise EncryptionError(
            f"data is encrypted but {ENV_VAR} is not set (nor a key file or command)"
        )
    return blob


def seal_embedding(
    cipher: Cipher | None, vec: np.ndarray, face_id: int, model: str, column: str = "embedding"
) -> bytes:
    """A vector as its catalog column holds it: float32 little-endian, encrypted and bound
    to its face with a cipher."""
    raw = np.asarray(vec, dtype="<f4").tobytes()
    return maybe_encrypt(cipher, raw, embedding_aad(face_id, model, column))


def open_embedding(
    cipher: Cipher | None, blob: bytes, face_id: int, model: str, column: str = "embedding"
) -> np.ndarray:
    """The vector of a catalog column (strict: see :func:`maybe_decrypt`)."""
    raw = maybe_decrypt(cipher, blob, embedding_aad(face_id, model, column))
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)
