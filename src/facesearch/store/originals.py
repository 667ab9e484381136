"""The catalog's side of gallery originals: which images still lack one, recording what the
backfill found, and how many bytes the kept originals take.

An image's original is its photo as read at ingest, kept in the blob store under
``images.original`` so that its full image never depends on where it was read from (an
upload's temporary folder is gone once its ingest ends; a folder may move). Images stored
before revision 0012, or with ``FACESEARCH_KEEP_ORIGINALS=false``, have none until
``facesearch originals backfill`` stores those still readable and marks the others
(``images.original_state``, ``ORIGINAL_*`` in :mod:`facesearch.store.records`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from facesearch.store.records import ORIGINAL_LOST, ORIGINAL_TOO_LARGE
from facesearch.store.schema import Image


class _Sessions(Protocol):
    def session(self) -> Any: ...


@dataclass(frozen=True)
class MissingOriginal:
    """An image with faces and no original kept: where it was read from, and its SHA-256."""

    image_id: int
    sha256: str
    path: str
    member: str
    size: int


def _missing(retry_lost: bool) -> Any:
    states: list[ColumnElement[bool]] = [Image.original_state.is_(None)]
    if retry_lost:
        states.append(Image.original_state == ORIGINAL_LOST)
    return and_(Image.original.is_(None), Image.face_count > 0, or_(*states))


def count_missing(catalog: _Sessions, retry_lost: bool = False) -> int:
    """How many images with faces have no original and were never tried (or were lost)."""
    with catalog.session() as s:
        return int(s.scalar(select(func.count(Image.id)).where(_missing(retry_lost))) or 0)


def missing_originals(
    catalog: _Sessions, after: int = 0, limit: int = 200, retry_lost: bool = False
) -> list[MissingOriginal]:
    """The next ``limit`` images (by id, above ``after``) still without an original."""
    with catalog.session() as s:
        rows = s.execute(
            select(Image.id, Image.sha256, Image.path, Image.member, Image.bytes)
            .where(_missing(retry_lost), Image.id > after)
            .order_by(Image.id)
            .limit(limit)
        ).all()
    return [
        MissingOriginal(int(i), sha, path, member or "", int(n)) for i, sha, path, member, n in rows
    ]


def record_originals(
    catalog: _Sessions, found: Sequence[tuple[int, str | None, str | None]]
) -> None:
    """Store, per image id, its original's blob key or (key None) why it has none."""
    if not found:
        return
    with catalog.session() as s:
        _record(s, found)


def _record(session: Session, found: Sequence[tuple[int, str | None, str | None]]) -> None:
    for image_id, key, state in found:
        session.execute(
            update(Image)
            .where(Image.id == image_id, Image.original.is_(None))
            .values(original=key, original_state=None if key else state)
        )


def originals_summary(catalog: _Sessions) -> dict[str, int]:
    """The originals' figures: how many are kept and their bytes (as read: a sealed blob is
    28 bytes more), how many images with faces have none, and why."""
    with catalog.session() as s:
        kept, kept_bytes = s.execute(
            select(func.count(Image.id), func.coalesce(func.sum(Image.bytes), 0)).where(
                Image.original.is_not(None)
            )
        ).one()
        by_state = dict(
            s.execute(
                select(Image.original_state, func.count(Image.id))
                .where(Image.original.is_(None), Image.face_count > 0)
                .group_by(Image.original_state)
            ).all()
        )
    return {
        "kept": int(kept or 0),
        "bytes": int(kept_bytes or 0),
        "not_yet_stored": int(by_state.get(None, 0)),
        "too_large": int(by_state.get(ORIGINAL_TOO_LARGE, 0)),
        "lost": int(by_state.get(ORIGINAL_LOST, 0)),
    }
