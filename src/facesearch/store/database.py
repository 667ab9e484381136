"""The catalog's database: the engine (SQLite pragmas, or PostgreSQL), Alembic upgrades, and
how vectors are stored in a column."""

from __future__ import annotations

import os
import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.pool import StaticPool

from facesearch.errors import StorageError, storage_error, writing
from facesearch.store.private import open_private_new

# How long a SQLite write waits for another connection's lock before it is refused ("database
# is locked", then a StorageError). A catalog URL's ``?timeout=SECONDS`` (pysqlite's own
# parameter) sets another.
SQLITE_BUSY_TIMEOUT_MS = 30_000


class _SqlitePragmas:
    """Run on each new SQLite connection: foreign keys, the busy timeout (unless the URL set
    its own), WAL. WAL needs the ``-wal`` and ``-shm`` files beside the catalog, so on a
    read-only folder the connection fails here ("unable to open database file"): that is told
    as the :class:`~facesearch.errors.StorageError` it is."""

    def __init__(self, path: Path | None, busy_timeout: bool) -> None:
        self.path = path
        self.busy_timeout = busy_timeout

    def __call__(self, dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA foreign_keys=ON")
            if self.busy_timeout:  # else the URL's timeout, which pysqlite has set
                cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.OperationalError as exc:
            refused = storage_error(exc, "the catalog") or self._unwritable_folder()
            if refused is None:
                raise
            raise refused from exc
        finally:
            cur.close()

    def _unwritable_folder(self) -> StorageError | None:
        if self.path is None:
            return None
        folder = self.path.parent
        try:
            read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except OSError:
            return None
        if read_only:
            return StorageError(
                "the catalog", "the file system is read-only", "read-only", str(folder)
            )
        if not os.access(folder, os.W_OK):
            return StorageError("the catalog", "permission denied", "read-only", str(folder))
        return None


def _private_sqlite_file(path: Path) -> None:
    """Create the SQLite file empty and private (0600) before SQLite opens it, so it holds
    the catalog (and password hashes) unreadable by other local accounts; SQLite gives its
    ``-wal`` and ``-shm`` files the same mode. An existing file is left as it is."""
    if path.exists() or not path.parent.is_dir():
        return
    try:
        with writing("the catalog", path):
            os.close(open_private_new(path))
    except FileExistsError:
        return


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        path = None
        if not in_memory and not str(parsed.database).startswith("file:"):
            path = Path(str(parsed.database))
            _private_sqlite_file(path)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False},
            poolclass=StaticPool if in_memory else None,
        )
        event.listen(engine, "connect", _SqlitePragmas(path, "timeout" not in parsed.query))
    else:
        engine = create_engine(url, pool_pre_ping=True)
    event.listen(engine, "handle_error", _refused_write)
    return engine


def _refused_write(context: ExceptionContext) -> None:
    """A database error that is the storage refusing a write (disk full, read-only, locked)
    raised as one :class:`~facesearch.errors.StorageError`, for every user of the engine (the
    catalog, governance, media): one clear line instead of a driver's traceback."""
    refused = storage_error(context.original_exception, "the catalog")
    if refused is not None:
        raise refused from context.sqlalchemy_exception


def migrate(engine: Engine) -> None:
    """Bring the schema up to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("facesearch") / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def embedding_to_bytes(vec: np.ndarray) -> bytes:
    return np.asarray(vec, dtype="<f4").tobytes()


def embedding_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4").astype(np.float32)
