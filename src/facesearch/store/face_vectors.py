"""Vectors of recognizers other than the one a face's row holds (``face_vectors``).

A model migration (``facesearch models migrate NEW``, ``search/migration.py``) stores the
target model's vector of every face here, sealed exactly as ``faces.embedding`` would hold it
(:func:`~facesearch.store.crypto.seal_embedding` bound to the face id and the model key, default
column), so that the switch moves the bytes between the two tables as they are. This module is
the migration pass's side of the table: which faces still lack a target vector (with what is
needed to re-embed them), storing vectors in grouped transactions, counts, and re-encryption
under a new key (``facesearch keys rotate``).

A face's ``face_vectors`` rows go with the face: the foreign key is ``ON DELETE CASCADE`` and
SQLite enforces it (``PRAGMA foreign_keys=ON`` on every connection, ``store/database.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine, Table, and_, bindparam, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from facesearch.store.crypto import Cipher, Keyring, embedding_aad, open_embedding, seal_embedding
from facesearch.store.records import FROM_CROP, FROM_PHOTO
from facesearch.store.schema import FaceRow, FaceVector, Image, utcnow

__all__ = [
    "FROM_CROP",
    "FROM_PHOTO",
    "PendingFace",
    "face_vector_counts",
    "missing_faces",
    "pending_faces",
    "read_face_vectors",
    "rotate_face_vectors",
    "store_face_vectors",
]

Sessions = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class PendingFace:
    """A face of the source model without a vector of the target model: where to find its
    pixels again (the image's stored original, or the face's 160 px crop) and where its five
    landmarks are (in the pixels of the decoded photo, as ingest stored them)."""

    face_id: int
    image_id: int
    searchable: bool
    original: str | None  # the image's original blob key (None: not kept)
    crop: str | None  # the face's crop blob key
    bbox: tuple[float, float, float, float]
    landmarks: tuple[tuple[float, float], ...]
    image_width: int
    image_height: int


def _lacking(source_model: str, target_model: str) -> list[ColumnElement[bool]]:
    """Faces of ``source_model`` with no ``face_vectors`` row of ``target_model``."""
    has_target = (
        select(FaceVector.face_id)
        .where(FaceVector.face_id == FaceRow.id, FaceVector.model == target_model)
        .exists()
    )
    return [FaceRow.model == source_model, ~has_target]


def pending_faces(
    engine: Engine, source_model: str, target_model: str, after_id: int = 0, limit: int = 256
) -> list[PendingFace]:
    """The next ``limit`` faces (by id, above ``after_id``) of ``source_model`` lacking a
    ``target_model`` vector, searchable or not (``searchable`` says which)."""
    with Session(engine) as s:
        rows = s.execute(
            select(
                FaceRow.id, FaceRow.image_id, FaceRow.searchable, Image.original, FaceRow.crop,
                FaceRow.x, FaceRow.y, FaceRow.w, FaceRow.h, FaceRow.landmarks,
                Image.width, Image.height,
            )
            .join(Image, Image.id == FaceRow.image_id)
            .where(FaceRow.id > after_id, *_lacking(source_model, target_model))
            .order_by(FaceRow.id)
            .limit(limit)
        ).all()  # fmt: skip
    return [
        PendingFace(
            face_id=int(r[0]), image_id=int(r[1]), searchable=bool(r[2]), original=r[3],
            crop=r[4], bbox=(r[5], r[6], r[7], r[8]),
            landmarks=tuple((float(x), float(y)) for x, y in (r[9] or [])),
            image_width=int(r[10]), image_height=int(r[11]),
        )
        for r in rows
    ]  # fmt: skip


def missing_faces(
    engine: Engine, source_model: str, target_model: str, *, searchable_only: bool = True
) -> int:
    """How many faces of ``source_model`` (searchable ones only, by default) still lack a
    ``target_model`` vector: zero means the target covers every searchable face."""
    where = _lacking(source_model, target_model)
    if searchable_only:
        where.append(FaceRow.searchable.is_(True))
    with Session(engine) as s:
        return int(s.scalar(select(func.count(FaceRow.id)).where(*where)) or 0)


def face_vector_counts(engine: Engine, model: str, of_model: str | None = None) -> dict[str, int]:
    """``model``'s vectors in ``face_vectors``: how many, and how many were made from the
    photo and from the crop; with ``of_model``, only those of faces whose row holds a
    vector of ``of_model`` (a migration's source), and ``faces``: how many such faces."""
    query = select(FaceVector.source, func.count()).where(FaceVector.model == model)
    if of_model is not None:
        query = query.join(FaceRow, FaceRow.id == FaceVector.face_id).where(
            FaceRow.model == of_model
        )
    with Session(engine) as s:
        by_source = dict(s.execute(query.group_by(FaceVector.source)).all())
        faces = (
            int(s.scalar(select(func.count(FaceRow.id)).where(FaceRow.model == of_model)) or 0)
            if of_model is not None
            else None
        )
    counts = {
        "with": int(sum(by_source.values())),
        "from_photo": int(by_source.get(FROM_PHOTO, 0)),
        "from_crop": int(by_source.get(FROM_CROP, 0)),
    }
    return counts if faces is None else counts | {"faces": faces}


def store_face_vectors(
    session: Session,
    cipher: Cipher | None,
    model: str,
    vectors: dict[int, tuple[np.ndarray, str]],
) -> int:
    """Store ``model``'s vectors ({face id: (vector, source)}) inside the caller's
    transaction, sealed as ``faces.embedding`` would hold them. Idempotent: a face that
    already has a vector of ``model`` keeps it; a face removed meanwhile is skipped. Returns
    how many rows were added."""
    if not vectors:
        return 0
    ids = [int(i) for i in vectors]
    alive = set(session.scalars(select(FaceRow.id).where(FaceRow.id.in_(ids))))
    have = set(
        session.scalars(
            select(FaceVector.face_id).where(FaceVector.model == model, FaceVector.face_id.in_(ids))
        )
    )
    now = utcnow()
    rows = [
        {
            "face_id": face_id,
            "model": model,
            "embedding": seal_embedding(cipher, vec, face_id, model),
            "source": source,
            "created_at": now,
        }
        for face_id, (vec, source) in ((int(k), v) for k, v in vectors.items())
        if face_id in alive and face_id not in have
    ]
    if rows:
        session.execute(insert(FaceVector), rows)
    return len(rows)


def read_face_vectors(
    engine: Engine, cipher: Cipher | None, model: str, face_ids: list[int] | None = None
) -> dict[int, np.ndarray]:
    """``model``'s stored vectors (of ``face_ids``, or all), opened."""
    query = select(FaceVector.face_id, FaceVector.embedding).where(FaceVector.model == model)
    if face_ids is not None:
        query = query.where(FaceVector.face_id.in_([int(i) for i in face_ids]))
    with Session(engine) as s:
        rows = s.execute(query).all()
    return {int(i): open_embedding(cipher, blob, int(i), model) for i, blob in rows}


def _chunks(sessions: Sessions, chunk: int) -> Iterator[list[tuple[int, str, bytes]]]:
    last: tuple[int, str] = (0, "")
    while True:
        with sessions() as s:
            rows = s.execute(
                select(FaceVector.face_id, FaceVector.model, FaceVector.embedding)
                .where(
                    (FaceVector.face_id > last[0])
                    | and_(FaceVector.face_id == last[0], FaceVector.model > last[1])
                )
                .order_by(FaceVector.face_id, FaceVector.model)
                .limit(chunk)
            ).all()
        if not rows:
            return
        last = (int(rows[-1][0]), str(rows[-1][1]))
        yield [(int(i), str(m), bytes(b)) for i, m, b in rows]


def rotate_face_vectors(
    sessions: Sessions,
    keys: Keyring,
    *,
    chunk: int = 1000,
    on_progress: Callable[[str, int, int], None] | None = None,
    spend: Callable[[], None] | None = None,
) -> int:
    """Re-encrypt every ``face_vectors`` row with the new key (each bound to its face id and
    model, column "embedding", as ``faces.embedding``), a chunk per transaction. ``spend``:
    called before each row rewritten (the rotation's budget). Returns how many rows were
    rewritten."""
    with sessions() as s:
        total = int(s.scalar(select(func.count()).select_from(FaceVector)) or 0)
    rewritten = seen = 0
    table: Table = FaceVector.__table__  # type: ignore[assignment]
    for rows in _chunks(sessions, chunk):
        changes = []
        try:
            for face_id, model, blob in rows:
                seen += 1
                if keys.is_current(blob):
                    continue
                if spend is not None:
                    spend()
                aad = embedding_aad(face_id, model)
                changes.append(
                    {"f": face_id, "m": model, "e": keys.new.encrypt(keys.decrypt(blob, aad), aad)}
                )
        finally:  # what was rewritten before a stop is committed
            if changes:
                with sessions() as s:
                    s.execute(
                        update(table)
                        .where(table.c.face_id == bindparam("f"), table.c.model == bindparam("m"))
                        .values(embedding=bindparam("e")),
                        changes,
                    )
                rewritten += len(changes)
        if on_progress is not None:
            on_progress("face-vectors", seen, total)
    if on_progress is not None:
        on_progress("face-vectors", total, total)
    return rewritten
