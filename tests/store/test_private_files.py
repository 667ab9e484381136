"""The store's files are private to their owner (folders 0700, files 0600) however loose the
process umask: blobs (face crops), the SQLite catalog (password hashes) and its WAL files,
the saved vector index; and `loose_permissions` names a data dir or catalog open to others."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from facesearch.store.blobs import FileBlobStore
from facesearch.store.catalog import SqlCatalog
from facesearch.store.private import loose_permissions, private_dir, sqlite_file
from facesearch.store.vectors.flat import FlatVectorIndex


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    """A library user's usual umask (0o022): the store must not rely on the CLI's."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _assert_private(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_blobs_are_private(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    key = store.put(b"a face crop")
    assert store.get(key) == b"a face crop"
    _assert_private(tmp_path / "blobs")


def test_the_sqlite_catalog_and_its_wal_files_are_private(tmp_path: Path) -> None:
    folder = private_dir(tmp_path / "data")
    catalog = SqlCatalog(f"sqlite:///{folder / 'catalog.db'}")
    with catalog.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    assert {p.name for p in folder.iterdir()} >= {"catalog.db", "catalog.db-wal"}
    _assert_private(folder)
    catalog.close()


def test_the_saved_vector_index_is_private(tmp_path: Path) -> None:
    index = FlatVectorIndex("m", 8)
    vectors = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    index.add(np.arange(5, dtype=np.int64), vectors / np.linalg.norm(vectors, axis=1)[:, None])
    index.save(tmp_path / "index")
    assert len(list((tmp_path / "index").iterdir())) == 2
    _assert_private(tmp_path / "index")


def test_loose_permissions_names_an_open_data_dir_or_catalog(tmp_path: Path) -> None:
    data = private_dir(tmp_path / "data")
    catalog = data / "catalog.db"
    catalog.write_bytes(b"")
    catalog.chmod(0o600)
    assert loose_permissions(data, catalog) == []
    data.chmod(0o750)
    catalog.chmod(0o604)
    found = loose_permissions(data, catalog)
    assert len(found) == 2 and "0o750" in found[0] and "0o604" in found[1]
    assert sqlite_file(f"sqlite:///{catalog}") == catalog
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("postgresql://u@h/db") is None
