"""How a media face's embedding is stored (``media_faces.embedding``): float32 little-endian,
and with an encryption key sealed with AES-GCM bound to the face's id and model
(``store/crypto.py``, column :data:`~facesearch.store.crypto.MEDIA_FACE_COLUMN`). Reads are
strict: with a key a plain vector is refused (``facesearch keys rotate --from-plain`` encrypts
those), without one an encrypted vector is.

The id exists only once the row is inserted: the importer inserts the face with an empty
vector and seals it after the flush, in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from facesearch.store.crypto import MEDIA_FACE_COLUMN, Cipher, open_embedding, seal_embedding

__all__ = ["face_vectors", "open_face_vector", "seal_face_vector"]


def seal_face_vector(cipher: Cipher | None, vector: np.ndarray, face_id: int, model: str) -> bytes:
    """The stored form of a media face's vector (plain float32 without a cipher)."""
    return seal_embedding(cipher, vector, face_id, model, MEDIA_FACE_COLUMN)


def open_face_vector(cipher: Cipher | None, blob: bytes, face_id: int, model: str) -> np.ndarray:
    """A media face's vector from its stored form."""
    return open_embedding(cipher, bytes(blob), face_id, model, MEDIA_FACE_COLUMN)


def face_vectors(cipher: Cipher | None, rows: Iterable[tuple[int, str, bytes]]) -> np.ndarray:
    """The vectors of ``(face id, model, stored embedding)`` rows, stacked (n, d) float32."""
    return np.stack([open_face_vector(cipher, b, i, m) for i, m, b in rows]).astype(np.float32)
