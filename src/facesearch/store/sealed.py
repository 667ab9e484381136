"""Sealed streams: large files (the saved vector index) encrypted in chunks, written and read
without a plaintext copy on disk or a second copy in memory.

Format: ``b"FSS1"`` + 8-byte key id + 8-byte random nonce prefix + 4-byte chunk size (big
endian), then the chunks: each is ``chunk size`` bytes of plaintext (the last one fewer,
possibly none) sealed with AES-256-GCM (ciphertext + 16-byte tag) under the nonce prefix + its
4-byte number, with associated data = the caller's (e.g. the index's model) + its 8-byte number
+ a last-chunk flag. A chunk moved, dropped, repeated or cut off fails to decrypt; a file
that ends without its last chunk is refused.
"""

from __future__ import annotations

import secrets
import struct
from typing import BinaryIO

from facesearch.errors import EncryptionError
from facesearch.store.crypto import KEY_ID_LEN, TAG_LEN, Cipher, Keyring

STREAM_MAGIC = b"FSS1"
CHUNK = 4 << 20
_PREFIX_LEN = 8
STREAM_HEADER_LEN = len(STREAM_MAGIC) + KEY_ID_LEN + _PREFIX_LEN + 4


def is_sealed(head: bytes) -> bool:
    """Whether a file starting with ``head`` is a sealed stream."""
    return head[: len(STREAM_MAGIC)] == STREAM_MAGIC


def _chunk_aad(aad: bytes, number: int, last: bool) -> bytes:
    return aad + struct.pack(">QB", number, 1 if last else 0)


def _nonce(prefix: bytes, number: int) -> bytes:
    if number >= 1 << 32:
        raise EncryptionError("sealed stream too long")
    return prefix + struct.pack(">I", number)


class SealedWriter:
    """A write-only file object that encrypts what is written to ``fh`` chunk by chunk;
    :meth:`finish` writes the last chunk (required)."""

    def __init__(self, fh: BinaryIO, cipher: Cipher, aad: bytes, chunk: int = CHUNK) -> None:
        self._fh = fh
        self._cipher = cipher
        self._aad = aad
        self._chunk = chunk
        self._prefix = secrets.token_bytes(_PREFIX_LEN)
        self._buf = bytearray()
        self._number = 0
        fh.write(STREAM_MAGIC + cipher.key_id + self._prefix + struct.pack(">I", chunk))

    def write(self, data: bytes | memoryview) -> int:
        """Buffer ``data`` and seal every chunk that is full and followed by more (the last
        chunk is sealed by :meth:`finish`); whole chunks go straight from ``data``."""
        view = memoryview(data).cast("B")
        pos, n = 0, len(view)
        while pos < n:
            if len(self._buf) == self._chunk:  # full, and more follows: not the last
                self._emit(self._buf, last=False)
                self._buf = bytearray()
            if not self._buf and n - pos > self._chunk:
                self._emit(view[pos : pos + self._chunk], last=False)
                pos += self._chunk
                continue
            take = min(self._chunk - len(self._buf), n - pos)
            self._buf += view[pos : pos + take]
            pos += take
        return n

    def _emit(self, data: bytes | bytearray | memoryview, *, last: bool) -> None:
        nonce = _nonce(self._prefix, self._number)
        aad = _chunk_aad(self._aad, self._number, last)
        self._fh.write(self._cipher.seal_chunk(nonce, data, aad))
        self._number += 1

    def finish(self) -> None:
        self._emit(bytes(self._buf), last=True)
        self._buf.clear()


class SealedReader:
    """A read-only file object giving the plaintext of a sealed stream (``readinto`` and
    ``read``); the key is chosen by the stream's key id (a :class:`Keyring` during a
    rotation, else the one cipher)."""

    def __init__(self, fh: BinaryIO, keys: Cipher | Keyring, aad: bytes) -> None:
        head = fh.read(STREAM_HEADER_LEN)
        if len(head) < STREAM_HEADER_LEN or not is_sealed(head):
            raise EncryptionError("the file is not encrypted (no FSS1 header)")
        key_id = head[len(STREAM_MAGIC) : len(STREAM_MAGIC) + KEY_ID_LEN]
        if isinstance(keys, Keyring):
            self._cipher = keys.cipher_for(key_id)
        else:
            if key_id != keys.key_id:
                raise EncryptionError(
                    f"the file was encrypted with a different key (key id {key_id.hex()}, "
                    f"current key id {keys.key_id.hex()})"
                )
            self._cipher = keys
        self.key_id = key_id
        self._prefix = head[len(STREAM_MAGIC) + KEY_ID_LEN : -4]
        (self._chunk,) = struct.unpack(">I", head[-4:])
        if not 0 < self._chunk <= 1 << 30:
            raise EncryptionError("the file's chunk size is not valid")
        self._fh = fh
        self._aad = aad
        self._number = 0
        self._plain = b""
        self._pos = 0
        self._done = False
        self._pending = fh.read(self._chunk + TAG_LEN)

    def plain_size(self, file_size: int) -> int:
        """The plaintext size of a sealed file of ``file_size`` bytes."""
        body = file_size - STREAM_HEADER_LEN
        chunks = max(1, -(-body // (self._chunk + TAG_LEN)))
        return max(0, body - chunks * TAG_LEN)

    def _next(self) -> None:
        sealed = self._pending
        self._pending = self._fh.read(self._chunk + TAG_LEN)
        last = not self._pending
        if len(sealed) < TAG_LEN:
            raise EncryptionError("the encrypted file is truncated")
        if not last and len(sealed) != self._chunk + TAG_LEN:
            raise EncryptionError("the encrypted file is truncated")
        nonce = _nonce(self._prefix, self._number)
        self._plain = self._cipher.open_chunk(
            nonce, sealed, _chunk_aad(self._aad, self._number, last)
        )
        self._pos = 0
        self._number += 1
        self._done = last

    def readinto(self, buffer: memoryview | bytearray) -> int:
        view = memoryview(buffer).cast("B")
        got = 0
        while got < len(view):
            if self._pos >= len(self._plain):
                if self._done:
                    break
                self._next()
                continue
            n = min(len(view) - got, len(self._plain) - self._pos)
            view[got : got + n] = self._plain[self._pos : self._pos + n]
            got += n
            self._pos += n
        return got

    def read(self, size: int = -1) -> bytes:
        if size is not None and size >= 0:
            buf = bytearray(size)
            return bytes(buf[: self.readinto(buf)])
        parts = [self._plain[self._pos :]]
        self._pos = len(self._plain)
        while not self._done:
            self._next()
            parts.append(self._plain)
            self._pos = len(self._plain)
        return b"".join(parts)
