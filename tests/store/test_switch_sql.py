"""``store/switch.py`` on SQLite and PostgreSQL: the set-based swap of a gallery's vectors to
another model and back (sealed vectors move as they are and still open under their face and
model), the count of searchable faces lacking a target vector, dropping kept vectors, the
migration row marked switched; and (make test-long) 100k faces swapped in seconds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, insert, select

from facesearch.store import model_migrations as rows
from facesearch.store import switch as sw
from facesearch.store.catalog import SqlCatalog
from facesearch.store.crypto import Cipher, generate_key, open_embedding, seal_embedding
from facesearch.store.schema import FaceRow, FaceVector, Image, ModelMigration

SOURCE, TARGET = "sface@1", "other@2"


@pytest.fixture(params=["sqlite", "postgres"])
def catalog(request: Any, tmp_path: Path) -> Any:
    url = (
        f"sqlite:///{tmp_path / 'catalog.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    c = SqlCatalog(url)
    yield c
    c.close()


def _faces(
    catalog: SqlCatalog, n: int, cipher: Cipher | None, *, searchable: Any = None
) -> list[int]:
    """``n`` faces of SOURCE (face i's vector: i in every component), ids in order."""
    with catalog.session() as s:
        image = Image(sha256="b" * 64, bytes=10, width=200, height=100, format="PNG", path="x",
                      face_count=n)  # fmt: skip
        s.add(image)
        s.flush()
        for i in range(n):
            s.add(FaceRow(image_id=image.id, face_index=i, x=0.0, y=0.0, w=30.0, h=40.0,
                          landmarks=[[1.0, 2.0]] * 5, detector_score=0.9, quality=0.8,
                          sharpness=1.0, yaw=0.0, searchable=bool(searchable(i)),
                          model=SOURCE, embedding=b""))  # fmt: skip
        s.flush()
        ids = list(s.scalars(select(FaceRow.id).order_by(FaceRow.id)))
        for i, fid in enumerate(ids):
            face = s.get(FaceRow, fid)
            assert face is not None
            face.embedding = seal_embedding(cipher, np.full(4, i, np.float32), fid, SOURCE)
        return ids


def _target(catalog: SqlCatalog, cipher: Cipher | None, ids: list[int]) -> None:
    with catalog.session() as s:
        for i, fid in enumerate(ids):
            vec = np.full(4, -i, np.float32)
            s.add(FaceVector(face_id=fid, model=TARGET, source="photo",
                             embedding=seal_embedding(cipher, vec, fid, TARGET)))  # fmt: skip


def _state(
    catalog: SqlCatalog, cipher: Cipher | None
) -> dict[int, tuple[str, float, dict[str, float]]]:
    """face id -> (its model, its vector's first value, {kept model: first value})."""
    with catalog.session() as s:
        faces = s.execute(select(FaceRow.id, FaceRow.model, FaceRow.embedding)).all()
        kept = s.execute(select(FaceVector.face_id, FaceVector.model, FaceVector.embedding)).all()
    out = {fid: (m, float(open_embedding(cipher, e, fid, m)[0]), {}) for fid, m, e in faces}
    for fid, m, e in kept:
        out[fid][2][m] = float(open_embedding(cipher, e, fid, m)[0])
    return out


def test_swap_back_and_drop(catalog: SqlCatalog) -> None:
    cipher = Cipher.from_key(generate_key())
    ids = _faces(catalog, 5, cipher, searchable=lambda i: i != 4)
    _target(catalog, cipher, ids[:3])  # faces 3 (searchable) and 4 (flagged) lack one
    with catalog.session() as s:
        assert sw.missing_vectors(s, SOURCE, TARGET) == 1
    with catalog.session() as s:  # face 3 gets its vector: only the flagged face lacks one
        vec = seal_embedding(cipher, np.full(4, -3, np.float32), ids[3], TARGET)
        s.add(FaceVector(face_id=ids[3], model=TARGET, source="crop", embedding=vec))
    with catalog.session() as s:
        assert sw.missing_vectors(s, SOURCE, TARGET) == 0
        counts = sw.swap_vectors(s, SOURCE, TARGET)
    assert (counts.moved, counts.kept) == (4, 1)
    state = _state(catalog, cipher)
    for i, fid in enumerate(ids[:4]):  # the target's vector answers; the source's is kept
        assert state[fid] == (TARGET, float(-i), {SOURCE: float(i)})
    assert state[ids[4]] == (SOURCE, 4.0, {})  # never searched with the target
    with catalog.session() as s:
        assert sw.vector_count(s, TARGET) == 0 and sw.vector_count(s, SOURCE) == 4
        assert sw.missing_vectors(s, TARGET, SOURCE) == 0
        back = sw.swap_vectors(s, TARGET, SOURCE)
    assert (back.moved, back.kept) == (4, 0)
    state = _state(catalog, cipher)
    for i, fid in enumerate(ids[:4]):
        assert state[fid] == (SOURCE, float(i), {TARGET: float(-i)})
    with catalog.session() as s:
        assert sw.drop_vectors(s, TARGET) == 4
        assert sw.vector_count(s, TARGET) == 0


def test_record_switch_closes_the_open_migration(catalog: SqlCatalog) -> None:
    engine = catalog.engine
    started, _ = rows.open_migration(engine, "other", TARGET, SOURCE, "admin")
    with catalog.session() as s:
        found = sw.record_switch(
            s, target="other", target_model_key=TARGET, source_model_key=SOURCE, by="admin", moved=3
        )
        assert found == started.id
    status = rows.get(engine, started.id)
    assert status is not None and status.state == "switched" and status.switched_by == "admin"
    with catalog.session() as s:  # vectors that came another way: a row of its own
        other = sw.record_switch(s, target="sface", target_model_key=SOURCE,
                                 source_model_key=TARGET, by="admin", moved=3)  # fmt: skip
        row = s.get(ModelMigration, other)
        assert row is not None and (row.state, row.total, row.done) == ("switched", 3, 3)


@pytest.mark.long  # make test-long (about 10 s: the rows' insert is most of it)
def test_100k_faces_swap_in_seconds(tmp_path: Path) -> None:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    n = 100_000
    try:
        with catalog.session() as s:
            image = Image(sha256="c" * 64, bytes=1, width=1, height=1, format="PNG", path="x")
            s.add(image)
            s.flush()
            blob = np.zeros(128, np.float32).tobytes()
            s.execute(insert(FaceRow), [
                {"id": i + 1, "image_id": image.id, "face_index": i, "x": 0.0, "y": 0.0, "w": 1.0,
                 "h": 1.0, "landmarks": [], "detector_score": 1.0, "quality": 1.0,
                 "sharpness": 1.0, "yaw": 0.0, "searchable": True, "model": SOURCE,
                 "embedding": blob} for i in range(n)])  # fmt: skip
            s.execute(insert(FaceVector), [
                {"face_id": i + 1, "model": TARGET, "embedding": blob, "source": "photo"}
                for i in range(n)])  # fmt: skip
        start = time.perf_counter()
        with catalog.session() as s:
            assert sw.missing_vectors(s, SOURCE, TARGET) == 0
            assert sw.swap_vectors(s, SOURCE, TARGET).moved == n
        seconds = time.perf_counter() - start
        with catalog.session() as s:
            assert s.scalar(select(func.count()).where(FaceRow.model == TARGET)) == n
        assert seconds < 20, f"{n} faces swapped in {seconds:.1f} s"
        print(f"{n} faces swapped in {seconds:.2f} s")
    finally:
        catalog.close()
