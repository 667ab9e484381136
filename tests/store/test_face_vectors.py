"""``store/face_vectors.py`` on SQLite and PostgreSQL: the faces a migration still has to do,
idempotent sealed inserts, counts, removal cascading to a face's other vectors, and key
rotation of the table (no models: rows made by hand)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from facesearch.store import face_vectors as fv
from facesearch.store import model_migrations as rows
from facesearch.store.catalog import SqlCatalog
from facesearch.store.crypto import Cipher, Keyring, generate_key, open_embedding, seal_embedding
from facesearch.store.rotation import count_plain
from facesearch.store.schema import FaceRow, FaceVector, Image

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


def _faces(catalog: SqlCatalog, n: int, cipher: Cipher | None = None) -> list[int]:
    with catalog.session() as s:
        image = Image(sha256="a" * 64, bytes=10, width=200, height=100, format="PNG", path="x",
                      original="orig-key", face_count=n)  # fmt: skip
        s.add(image)
        s.flush()
        for i in range(n):
            s.add(
                FaceRow(
                    image_id=image.id,
                    face_index=i,
                    x=10.0 * i,
                    y=5.0,
                    w=30.0,
                    h=40.0,
                    landmarks=[[1.0, 2.0]] * 5,
                    detector_score=0.9,
                    quality=0.8,
                    sharpness=1.0,
                    yaw=0.0,
                    searchable=i != 1,
                    model=SOURCE,
                    embedding=b"\0" * 8,
                    crop=f"c{i}",
                )
            )
        s.flush()
        return list(s.scalars(select(FaceRow.id).order_by(FaceRow.id)))


def test_pending_store_counts_and_removal(catalog: SqlCatalog) -> None:
    ids = _faces(catalog, 4)
    engine = catalog.engine
    pending = fv.pending_faces(engine, SOURCE, TARGET)
    assert [p.face_id for p in pending] == ids
    first = pending[0]
    assert (first.original, first.crop, first.image_width, first.image_height) == (
        "orig-key",
        "c0",
        200,
        100,
    )
    assert first.bbox == (0.0, 5.0, 30.0, 40.0) and len(first.landmarks) == 5
    assert [p.searchable for p in pending] == [True, False, True, True]
    assert fv.missing_faces(engine, SOURCE, TARGET) == 3  # searchable ones
    vec = np.ones(4, np.float32) / 2
    with catalog.session() as s:
        added = fv.store_face_vectors(
            s, None, TARGET, {ids[0]: (vec, "photo"), ids[1]: (vec, "crop"), 10**9: (vec, "photo")}
        )
    assert added == 2  # a face that is gone is skipped
    with catalog.session() as s:  # idempotent: a second store of the same face adds nothing
        assert fv.store_face_vectors(s, None, TARGET, {ids[0]: (vec * 0, "photo")}) == 0
    assert [p.face_id for p in fv.pending_faces(engine, SOURCE, TARGET)] == ids[2:]
    assert [p.face_id for p in fv.pending_faces(engine, SOURCE, TARGET, ids[2], 5)] == ids[3:]
    assert fv.missing_faces(engine, SOURCE, TARGET) == 2
    assert fv.face_vector_counts(engine, TARGET, of_model=SOURCE) == {
        "with": 2, "from_photo": 1, "from_crop": 1, "faces": 4,
    }  # fmt: skip
    assert np.allclose(fv.read_face_vectors(engine, None, TARGET, [ids[0]])[ids[0]], vec)
    # removing faces removes their other vectors (ON DELETE CASCADE, enforced on SQLite too)
    removed, _ = catalog.remove_faces([ids[0]])
    assert removed == 1
    assert set(fv.read_face_vectors(engine, None, TARGET)) == {ids[1]}


def test_migration_rows_resume_and_cancel(catalog: SqlCatalog) -> None:
    engine = catalog.engine
    first, resumed = rows.open_migration(engine, "other", TARGET, SOURCE, "admin")
    assert not resumed and first.state == "running"
    with catalog.session() as s:
        rows.update_migration(s, first.id, state="interrupted", total=4, done=1,
                              errors={7: "no landmarks"})  # fmt: skip
    again, resumed = rows.open_migration(engine, "other", TARGET, SOURCE, "admin")
    assert resumed and again.id == first.id and (again.state, again.done) == ("running", 1)
    assert again.failed == 0 and again.errors == {}  # a run retries its failures
    # a row left running by a process that died (kill -9) is resumed too
    dead, resumed = rows.open_migration(engine, "other", TARGET, SOURCE, "admin")
    assert resumed and dead.id == first.id
    other, resumed = rows.open_migration(engine, "third", "third@3", SOURCE, "admin")
    assert not resumed and other.id != first.id
    cancelled = rows.get(engine, first.id)
    assert cancelled is not None and cancelled.state == "cancelled"
    assert rows.latest(engine) == other


def test_key_rotation_reseals_face_vectors(catalog: SqlCatalog) -> None:
    old, new = Cipher.from_key(generate_key()), Cipher.from_key(generate_key())
    assert old is not None and new is not None
    ids = _faces(catalog, 3)
    vec = np.arange(4, dtype=np.float32)
    with catalog.session() as s:
        fv.store_face_vectors(s, old, TARGET, {i: (vec, "photo") for i in ids})
        s.add(FaceVector(face_id=ids[0], model="third@3", source="photo",
                         embedding=seal_embedding(old, vec + 1, ids[0], "third@3")))  # fmt: skip
    with catalog.session() as s:  # stored before a key was set: sealed by --from-plain
        fv.store_face_vectors(s, None, "plain@4", {ids[1]: (vec + 2, "crop")})
    assert count_plain(catalog.session, FaceVector.embedding) == 1
    seen: list[tuple[str, int, int]] = []
    done = fv.rotate_face_vectors(
        catalog.session,
        Keyring(new, old, plain=True),
        chunk=2,
        on_progress=lambda *p: seen.append(p),
    )
    assert done == 5 and seen[-1] == ("face-vectors", 5, 5)
    assert count_plain(catalog.session, FaceVector.embedding) == 0
    assert fv.rotate_face_vectors(catalog.session, Keyring(new, old)) == 0  # all current
    with catalog.session() as s:
        stored = s.execute(select(FaceVector.face_id, FaceVector.model, FaceVector.embedding))
        for face_id, model, blob in stored:
            expected = {"third@3": vec + 1, "plain@4": vec + 2}.get(model, vec)
            assert np.array_equal(open_embedding(new, blob, face_id, model), expected)
