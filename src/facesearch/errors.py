"""Errors with messages a user can act on."""

from __future__ import annotations


class FacesearchError(Exception):
    """Base class for every error facesearch raises on purpose."""


class ModelFileError(FacesearchError):
    """A model file is missing or does not match its recorded SHA-256."""


class DecodeError(FacesearchError):
    """An input could not be decoded as an image; the message says why."""


class NoFaceError(FacesearchError):
    """No usable face was found in an image."""


class ModelMismatchError(FacesearchError):
    """Vectors from different models were about to be compared."""


class IndexCorruptError(FacesearchError):
    """The on-disk vector index is unreadable or inconsistent."""


class UnsafeArchiveMemberError(FacesearchError):
    """An archive member would escape the extraction folder (absolute path, '..', link)."""


class EncryptionError(FacesearchError):
    """Encryption at rest is misconfigured, or data cannot be decrypted with the key given."""


class ConfigError(FacesearchError):
    """Settings are invalid."""


class OriginalUnavailableError(FacesearchError):
    """The original photo of a face is neither kept in the blob store nor readable, unchanged,
    where it was ingested from (HTTP 410: it existed, it is gone)."""
