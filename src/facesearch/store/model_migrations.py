"""The rows of ``model_migrations``: one per move of the gallery to another recognizer.

The migration pass (``search/migration.py``) opens or resumes a row, updates its figures after
each grouped commit and closes it as ``ready`` (every searchable face of the source model has
a vector of the target), ``interrupted`` (stopped: run it again to resume) or ``failed`` (the
pass ended with searchable faces it could not re-embed, each in ``errors`` with why; running it
again retries them). The switch (``app/model_switch.py``) moves a ``ready`` row on to
``switched``. :class:`MigrationStatus` is the row as every interface shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from facesearch.store.schema import ModelMigration, utcnow

RUNNING, INTERRUPTED, READY = "running", "interrupted", "ready"
SWITCHED, CANCELLED, FAILED = "switched", "cancelled", "failed"
#: states a pass may resume from (a ``running`` row whose process died resumes too)
RESUMABLE = (RUNNING, INTERRUPTED, FAILED, READY)
#: how many errors a row keeps (the count is in ``failed``)
MAX_ERRORS = 1000
#: how many errors a status shows
SHOWN_ERRORS = 20


@dataclass(frozen=True)
class MigrationStatus:
    """A model migration as the CLI, the API and the web app show it."""

    id: int
    target: str  # the target model's key (manifest or model store)
    target_model_key: str  # the key its vectors carry
    source_model_key: str  # the key of the vectors searched when it started
    state: str
    total: int  # faces of the source model
    done: int  # of which have a target vector
    from_crop: int  # of which were made from the stored crop (the original was gone)
    failed: int  # faces that could not be re-embedded (in the last pass)
    errors: dict[str, str] = field(default_factory=dict)  # face id -> why (the first 20)
    started_by: str = ""
    started_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    switched_at: datetime | None = None
    switched_by: str | None = None

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.done)

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("started_at", "updated_at", "finished_at", "switched_at"):
            value = out[key]
            out[key] = value.isoformat() if value is not None else None
        return out


def _utc(value: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes: they were stored in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def status_of(row: ModelMigration) -> MigrationStatus:
    errors = dict(list((row.errors or {}).items())[:SHOWN_ERRORS])
    return MigrationStatus(
        id=row.id, target=row.target, target_model_key=row.target_model_key,
        source_model_key=row.source_model_key, state=row.state, total=row.total,
        done=row.done, from_crop=row.from_crop, failed=row.failed, errors=errors,
        started_by=row.started_by, started_at=_utc(row.started_at),
        updated_at=_utc(row.updated_at), finished_at=_utc(row.finished_at),
        switched_at=_utc(row.switched_at), switched_by=row.switched_by,
    )  # fmt: skip


def latest(engine: Engine) -> MigrationStatus | None:
    """The latest migration (by id), whatever its state."""
    with Session(engine) as s:
        row = s.scalar(select(ModelMigration).order_by(ModelMigration.id.desc()).limit(1))
        return None if row is None else status_of(row)


def get(engine: Engine, migration_id: int) -> MigrationStatus | None:
    with Session(engine) as s:
        row = s.get(ModelMigration, migration_id)
        return None if row is None else status_of(row)


def open_migration(
    engine: Engine, target: str, target_model_key: str, source_model_key: str, by: str
) -> tuple[MigrationStatus, bool]:
    """The migration to ``target`` from ``source_model_key`` to run: the latest resumable
    one (set running again), or a new row; unfinished migrations to another target are
    cancelled (their vectors stay, and count if one starts again). Returns it and whether
    it was resumed."""
    with Session(engine) as s, s.begin():
        rows = s.scalars(
            select(ModelMigration)
            .where(ModelMigration.state.in_(RESUMABLE))
            .order_by(ModelMigration.id.desc())
        ).all()
        now = utcnow()
        found = None
        for row in rows:
            same = (row.target_model_key, row.source_model_key) == (
                target_model_key,
                source_model_key,
            )
            if same and found is None:
                found = row
            else:
                row.state, row.updated_at, row.finished_at = CANCELLED, now, now
        resumed = found is not None
        if found is None:
            found = ModelMigration(
                target=target, target_model_key=target_model_key,
                source_model_key=source_model_key, state=RUNNING, total=0, done=0,
                from_crop=0, failed=0, errors={}, started_by=by, started_at=now,
                updated_at=now,
            )  # fmt: skip
            s.add(found)
        else:
            found.state, found.updated_at, found.finished_at = RUNNING, now, None
            found.failed, found.errors = 0, {}
        s.flush()
        return status_of(found), resumed


def update_migration(
    session: Session,
    migration_id: int,
    *,
    state: str | None = None,
    total: int | None = None,
    done: int | None = None,
    from_crop: int | None = None,
    errors: Mapping[int, str] | None = None,
    finished: bool = False,
) -> None:
    """Record the pass's figures (inside the caller's transaction, e.g. the one storing a
    group of vectors); ``errors`` are added to the row's (at most :data:`MAX_ERRORS` kept)."""
    row = session.get(ModelMigration, migration_id)
    if row is None:
        return
    now = utcnow()
    if state is not None:
        row.state = state
    if total is not None:
        row.total = total
    if done is not None:
        row.done = done
    if from_crop is not None:
        row.from_crop = from_crop
    if errors:
        kept = dict(row.errors or {})
        for face_id, why in errors.items():
            if len(kept) >= MAX_ERRORS:
                break
            kept[str(face_id)] = why
        row.errors = kept  # a new dict: the JSON column sees the change
        row.failed = (row.failed or 0) + len(errors)
    row.updated_at = now
    if finished:
        row.finished_at = now
