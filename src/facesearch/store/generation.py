"""The catalog's generation: how a process holding the vector index in memory notices the
faces other processes added or removed.

One row of ``catalog_generation`` (``store/schema.py``): ``value``, raised by every commit that
adds or removes faces, in the same transaction; ``max_face_id``, the highest face id ever
given. A server reads ``value`` before each search (one primary-key read) and, when it moved,
brings its index up to date (``search/indexing.py``). Face ids are never given twice, even on
SQLite (whose rowids would reuse the ids of the newest faces once they are deleted): a face
id names one vector for good, so "the faces above the index's last id" are exactly the new
ones.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from facesearch.store.schema import CatalogGeneration, FaceRow

__all__ = ["bump", "current", "number_faces"]


def current(session: Session) -> int:
    """The generation now (0 for a catalog no commit has changed)."""
    value = session.scalar(select(CatalogGeneration.value).where(CatalogGeneration.id == 1))
    return int(value or 0)


def bump(session: Session, max_face_id: int | None = None) -> None:
    """Raise the generation (faces were added or removed in this transaction); ``max_face_id``:
    the highest id among the faces added."""
    values: dict[str, Any] = {"value": CatalogGeneration.value + 1}
    if max_face_id is not None:
        values["max_face_id"] = case(
            (CatalogGeneration.max_face_id < max_face_id, max_face_id),
            else_=CatalogGeneration.max_face_id,
        )
    done = session.execute(
        update(CatalogGeneration).where(CatalogGeneration.id == 1).values(**values)
    )
    if not getattr(done, "rowcount", 1):  # tables made without the migration: no row yet
        session.add(CatalogGeneration(id=1, value=1, max_face_id=max_face_id or 0))


def number_faces(session: Session, rows: list[dict[str, Any]]) -> None:
    """Give SQLite face rows their ids, above every id ever given (SQLite's own rowids would
    reuse the ids of deleted newest faces; PostgreSQL's sequences never do: left to them)."""
    if not rows or session.get_bind().dialect.name != "sqlite":
        return
    given = session.scalar(select(CatalogGeneration.max_face_id).where(CatalogGeneration.id == 1))
    top = session.scalar(select(func.max(FaceRow.id)))
    first = max(int(given or 0), int(top or 0)) + 1
    for offset, row in enumerate(rows):
        row["id"] = first + offset
