"""Errors with messages a user can act on."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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


# --- storage: a write the disk or the database refused ---------------------------------------

# errno of a write the storage refused, and how the refusal reads: what the user can act on
_OS_REASONS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("full", "the disk is full"),
    errno.EDQUOT: ("full", "the disk quota is used up"),
    errno.EFBIG: ("full", "the file size limit was reached"),
    errno.EROFS: ("read-only", "the file system is read-only"),
    errno.EACCES: ("read-only", "permission denied"),
    errno.EPERM: ("read-only", "permission denied"),
}
# errnos only a write gets (EACCES is not one: reading a file not yours gets it too)
WRITE_ONLY_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})
# the same refusals as the databases word them: SQLite's messages, PostgreSQL's SQLSTATE codes
_SQLITE_REASONS: tuple[tuple[str, str, str], ...] = (
    ("database or disk is full", "full", "the disk is full"),
    ("database is locked", "locked", "another process holds its lock"),
    ("database table is locked", "locked", "another process holds its lock"),
    ("readonly database", "read-only", "it is read-only"),
    ("disk i/o error", "io", "the disk reported an I/O error"),
)
_SQLSTATE_REASONS: dict[str, tuple[str, str]] = {
    "53100": ("full", "the database server's disk is full"),
    "25006": ("read-only", "it is read-only"),
    "55P03": ("locked", "a row or table the write needs is locked by another session"),
}
NOTHING_LOST = "nothing stored so far was lost"


class StorageError(FacesearchError):
    """A write the disk or the database refused: full (``ENOSPC``, ``EDQUOT``, ``EFBIG``,
    SQLite's "database or disk is full"), read-only or not permitted (``EROFS``, ``EACCES``),
    locked (SQLite's "database is locked" after its busy timeout). Every write of facesearch
    is atomic (a file is renamed into place, a transaction commits whole), so such a refusal
    loses nothing stored before it; the message says what could not be written, why, and
    that, in one line. ``kind`` ("full", "read-only", "locked", "io") chooses the HTTP status
    (507 for "full", else 503); :attr:`public` is the message without paths, for clients."""

    def __init__(self, what: str, reason: str, kind: str, where: str = "") -> None:
        self.what = what
        self.reason = reason
        self.kind = kind
        self.where = where  # the path, when a file could not be written
        super().__init__(what, reason, kind, where)

    def __str__(self) -> str:
        where = f" ({self.where})" if self.where else ""
        hint = _HINTS.get(self.kind, "")
        return f"cannot write {self.what}{where}: {self.reason}; {NOTHING_LOST}. {hint}".strip()

    @property
    def public(self) -> str:
        """The message for a client of the server: no path, no internals."""
        return f"the server cannot write {self.what}: {self.reason}; {NOTHING_LOST}"


_AGAIN = "run the command again (an ingest skips what it stored)"
_HINTS = {
    "full": f"Free space, then {_AGAIN}.",
    "read-only": f"Make it writable, then {_AGAIN}.",
    "locked": f"When the other process has finished, {_AGAIN}.",
    "io": f"Check the disk, then {_AGAIN}.",
}


def storage_error(exc: BaseException, what: str, where: str = "") -> StorageError | None:
    """``exc`` as a :class:`StorageError` about writing ``what`` when it is a refusal of the
    storage (an ``OSError`` with one of the errnos above, or a database error worded or coded
    as one), else None: any other error is not the disk's and keeps its own traceback.
    ``where``: the path to name (else the one the error names, if any)."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, OSError) and exc.errno in _OS_REASONS:
        kind, reason = _OS_REASONS[exc.errno]
        return StorageError(what, reason, kind, where or str(exc.filename or ""))
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(code, str) and code in _SQLSTATE_REASONS:
        kind, reason = _SQLSTATE_REASONS[code]
        return StorageError(what, reason, kind, where)
    if type(exc).__module__.startswith(("sqlite3", "pysqlite")):
        text = str(exc).lower()
        for words, kind, reason in _SQLITE_REASONS:
            if words in text:
                return StorageError(what, reason, kind, where)
    return None


@contextmanager
def writing(what: str, where: str | Path = "") -> Iterator[None]:
    """Around a write of ``what`` (e.g. "the blob store") in ``where`` (a folder): a refusal
    of the storage is raised as a :class:`StorageError` naming it; any other error passes
    unchanged."""
    try:
        yield
    except (OSError, StorageError) as exc:
        translated = storage_error(exc, what, str(where))
        if translated is None or translated is exc:
            raise
        raise translated from exc
