"""The catalog side of switching a gallery to another recognizer: set-based SQL only.

``faces`` holds each face's vector of the active recognizer (``faces.model``); ``face_vectors``
holds its vectors of the others (the target of a model migration before the switch, the old
model's after it). Both are sealed bound to (face id, model) in the column ``embedding``
(``store/crypto.py``), so a switch moves the bytes between the tables as they are, in three
statements whatever the gallery's size (no row passes through Python):

1. every face of the source model that has a target vector: its source vector is copied into
   ``face_vectors`` under the source key (kept, for a switch back);
2. its ``faces`` row takes the target's vector and key;
3. the target rows now held by ``faces`` leave ``face_vectors``.

A face without a target vector keeps the source key, so it is never searched with the target
model (the switch refuses while such a face is searchable: :func:`missing_vectors`). The
caller runs these inside the one transaction that also records the active recognizer, raises
the catalog's generation and writes the audit entry (``app/model_switch.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, delete, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Exists

from facesearch.store.schema import FaceRow, FaceVector, ModelMigration

__all__ = [
    "SwapCounts",
    "drop_vectors",
    "latest_migration",
    "missing_vectors",
    "model_faces",
    "record_switch",
    "running_migration",
    "swap_vectors",
    "vector_count",
]

#: states of a model migration that a switch closes
OPEN_STATES = ("running", "interrupted", "ready")


@dataclass(frozen=True)
class SwapCounts:
    moved: int  # faces that now hold the target's vector
    kept: int  # faces of the source model left on it (no target vector; none searchable)


def _has_vector(model_key: str) -> Exists:
    return exists().where(and_(FaceVector.face_id == FaceRow.id, FaceVector.model == model_key))


def model_faces(session: Session, model_key: str, *, searchable_only: bool = True) -> int:
    """How many faces hold ``model_key``'s vector in ``faces``."""
    q = select(func.count()).select_from(FaceRow).where(FaceRow.model == model_key)
    if searchable_only:
        q = q.where(FaceRow.searchable.is_(True))
    return int(session.scalar(q) or 0)


def missing_vectors(session: Session, source_key: str, target_key: str) -> int:
    """Searchable faces of ``source_key`` with no vector of ``target_key`` in ``face_vectors``."""
    q = (
        select(func.count())
        .select_from(FaceRow)
        .where(FaceRow.model == source_key, FaceRow.searchable.is_(True))
        .where(~_has_vector(target_key))
    )
    return int(session.scalar(q) or 0)


def vector_count(session: Session, model_key: str) -> int:
    """How many vectors of ``model_key`` ``face_vectors`` holds."""
    q = select(func.count()).select_from(FaceVector).where(FaceVector.model == model_key)
    return int(session.scalar(q) or 0)


def swap_vectors(session: Session, source_key: str, target_key: str) -> SwapCounts:
    """Move every face of ``source_key`` that has a ``target_key`` vector onto it, keeping
    the source vectors in ``face_vectors`` (see the module doc). Inside the caller's
    transaction."""
    now = datetime.now(UTC)
    movable = and_(FaceRow.model == source_key, _has_vector(target_key))
    # a stale copy of a source vector (none is expected) must not block the insert
    session.execute(
        delete(FaceVector)
        .where(FaceVector.model == source_key)
        .where(FaceVector.face_id.in_(select(FaceRow.id).where(movable)))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        insert(FaceVector).from_select(
            ["face_id", "model", "embedding", "source", "created_at"],
            select(
                FaceRow.id,
                literal(source_key),
                FaceRow.embedding,
                literal("photo"),
                literal(now),
            ).where(movable),
        )
    )
    target_vector = (
        select(FaceVector.embedding)
        .where(FaceVector.face_id == FaceRow.id, FaceVector.model == target_key)
        .scalar_subquery()
    )
    done = session.execute(
        update(FaceRow)
        .where(movable)
        .values(model=target_key, embedding=target_vector)
        .execution_options(synchronize_session=False)
    )
    moved = int(getattr(done, "rowcount", 0) or 0)
    session.execute(
        delete(FaceVector)
        .where(FaceVector.model == target_key)
        .where(FaceVector.face_id.in_(select(FaceRow.id).where(FaceRow.model == target_key)))
        .execution_options(synchronize_session=False)
    )
    kept = model_faces(session, source_key, searchable_only=False)
    return SwapCounts(moved=moved, kept=kept)


def drop_vectors(session: Session, model_key: str) -> int:
    """Delete every kept vector of ``model_key``; returns how many."""
    done = session.execute(
        delete(FaceVector)
        .where(FaceVector.model == model_key)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(done, "rowcount", 0) or 0)


def running_migration(session: Session, source_key: str, target_key: str) -> int | None:
    """The id of a migration pass from ``source_key`` to ``target_key`` still marked running
    (its process may still be committing vectors, and would then record its own end)."""
    found = session.scalar(
        select(ModelMigration.id).where(
            ModelMigration.source_model_key == source_key,
            ModelMigration.target_model_key == target_key,
            ModelMigration.state == "running",
        )
    )
    return None if found is None else int(found)


def latest_migration(session: Session) -> ModelMigration | None:
    return session.scalar(select(ModelMigration).order_by(ModelMigration.id.desc()).limit(1))


def record_switch(
    session: Session,
    *,
    target: str,
    target_model_key: str,
    source_model_key: str,
    by: str,
    moved: int,
) -> int:
    """Mark the open migration to ``target_model_key`` switched (a row is written when the
    vectors came another way, so every switch has one); returns its id."""
    now = datetime.now(UTC)
    row = session.scalar(
        select(ModelMigration)
        .where(
            ModelMigration.target_model_key == target_model_key,
            ModelMigration.source_model_key == source_model_key,
            ModelMigration.state.in_(OPEN_STATES),
        )
        .order_by(ModelMigration.id.desc())
        .limit(1)
    )
    if row is None:
        row = ModelMigration(
            target=target,
            target_model_key=target_model_key,
            source_model_key=source_model_key,
            total=moved,
            done=moved,
            from_crop=0,
            failed=0,
            errors={},
            started_by=by,
            started_at=now,
            finished_at=now,
        )
        session.add(row)
    row.state = "switched"
    row.switched_at = now
    row.switched_by = by
    row.updated_at = now
    session.flush()
    return int(row.id)
