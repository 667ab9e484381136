"""Optional encryption at rest (AES-256-GCM) for face crops, thumbnails and probe images.

Key: ``FACESEARCH_ENCRYPTION_KEY`` holds 32 random bytes, as 64 hex digits or URL-safe
base64 (``facesearch`` prints a new one with :func:`generate_key`). When it is unset nothing
is encrypted. Needs the ``cryptography`` package.

Format of an encrypted blob: ``b"FSE1"`` + 8-byte key id (the first 8 bytes of SHA-256 of
"facesearch-key-id" + key) + 12-byte random nonce + ciphertext + 16-byte GCM tag. Optional
associated data (e.g. the blob's key) binds a ciphertext to its name, so that swapping two
encrypted files is detected.

What it protects: image bytes copied off the disk or out of a database dump or backup
without the key are unreadable, and any change to them is detected when decrypted.
What it does not protect: anything while facesearch is running with the key (the process,
and whoever can read its environment, holds it); the catalog's embeddings, metadata and
provenance (not encrypted); the audit log (holds no images). Losing the key loses the
images: keep it in a secrets manager and back it up separately from the data.
Costs: 32 bytes per blob; AES-GCM runs at GB/s with AES-NI, negligible next to decoding an
image; key rotation means re-encrypting every blob (decrypt with the old, encrypt with the
new); encrypted blobs cannot be deduplicated by content hash of the stored bytes (hash the
plaintext, as the blob store's key already does).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING

from facesearch.errors import EncryptionError
from facesearch.settings import Settings

if TYPE_CHECKING:
    from facesearch.settings import Settings

ENV_VAR = "FACESEARCH_ENCRYPTION_KEY"
MAGIC = b"FSE1"
_KEY_ID_LEN = 8
_NONCE_LEN = 12
_TAG_LEN = 16
HEADER_LEN = len(MAGIC) + _KEY_ID_LEN + _NONCE_LEN


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
            "(generate one with facesearch.store.crypto.generate_key())"
        )
    return raw


def is_encrypted(blob: bytes) -> bool:
    return blob[: len(MAGIC)] == MAGIC and len(blob) >= HEADER_LEN + _TAG_LEN


class Cipher:
    """AES-256-GCM with one key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise EncryptionError("an encryption key must be 32 bytes")
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError:  # pragma: no cover - depends on the environment
            raise EncryptionError(
                "encryption at rest needs the 'cryptography' package (pip install cryptography)"
            ) from None
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"facesearch-key-id" + key).digest()[:_KEY_ID_LEN]

    @classmethod
    def from_key(cls, text: str | None) -> Cipher | None:
        """The cipher for a key as ``FACESEARCH_ENCRYPTION_KEY`` holds it (64 hex digits or
        base64), or None when it is unset or empty (encryption off)."""
        return cls(parse_key(text)) if text and text.strip() else None

    @classmethod
    def from_settings(cls, settings: Settings) -> Cipher | None:
        """The cipher for the typed settings' ``encryption_key`` (None: encryption off)."""
        key = settings.encryption_key
        return cls.from_key(key.get_secret_value() if key is not None else None)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Cipher | None:
        """The cipher for ``FACESEARCH_ENCRYPTION_KEY`` in ``environ`` (a mapping such as
        ``Settings.encryption_environ()``), or None when it is unset or empty."""
        return cls.from_key(environ.get(ENV_VAR, ""))

    def encrypt(self, data: bytes, aad: bytes = b"") -> bytes:
        nonce = secrets.token_bytes(_NONCE_LEN)
        return MAGIC + self.key_id + nonce + self._aead.encrypt(nonce, data, aad or None)

    def decrypt(self, blob: bytes, aad: bytes = b"") -> bytes:
        if not is_encrypted(blob):
            raise EncryptionError("data is not encrypted by facesearch (no FSE1 header)")
        key_id = blob[len(MAGIC) : len(MAGIC) + _KEY_ID_LEN]
        if key_id != self.key_id:
            raise EncryptionError(
                f"data was encrypted with a different key (key id {key_id.hex()}, "
                f"current key id {self.key_id.hex()}): wrong {ENV_VAR}?"
            )
        nonce = blob[len(MAGIC) + _KEY_ID_LEN : HEADER_LEN]
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead.decrypt(nonce, blob[HEADER_LEN:], aad or None)
        except InvalidTag:
            raise EncryptionError(
                "decryption failed: the data was modified, or belongs under another name"
            ) from None


def _settings_cipher(settings: Settings) -> Cipher:
    cipher = Cipher.from_settings(settings)
    if cipher is None:
        raise EncryptionError(f"{ENV_VAR} is not set")
    return cipher


def encrypt(data: bytes, aad: bytes = b"", *, settings: Settings) -> bytes:
    """Encrypt with the settings' key (error if unset)."""
    return _settings_cipher(settings).encrypt(data, aad)


def decrypt(blob: bytes, aad: bytes = b"", *, settings: Settings) -> bytes:
    """Decrypt with the settings' key; a clear error on a wrong key."""
    return _settings_cipher(settings).decrypt(blob, aad)


def maybe_encrypt(cipher: Cipher | None, data: bytes, aad: bytes = b"") -> bytes:
    """``data`` encrypted when a cipher is configured, unchanged otherwise."""
    return cipher.encrypt(data, aad) if cipher is not None else data


def maybe_decrypt(cipher: Cipher | None, blob: bytes, aad: bytes = b"") -> bytes:
    """Plaintext of ``blob``: decrypted if it is encrypted (error if no key), else as is."""
    if not is_encrypted(blob):
        return blob
    if cipher is None:
        raise EncryptionError(f"data is encrypted but {ENV_VAR} is not set")
    return cipher.decrypt(blob, aad)
