"""Which recognizer a gallery searches with: one row of ``recognizer_state``.

Every process that opens the gallery reads it (:func:`active_recognizer`): the packaged default
recognizer when there is no row, else the model named there (shipped, or an agency's own from
the model store). Switching writes it in the same transaction that moves the vectors
(``facesearch models migrate``), so the vectors searched and the model that makes probe vectors
always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from facesearch.store.schema import RecognizerState


@dataclass(frozen=True)
class ActiveRecognizer:
    key: str  # the model's key in the manifest or the model store
    model_key: str  # the key its vectors carry
    previous: str | None
    previous_model_key: str | None
    switched_at: datetime
    switched_by: str


def read_active(session: Session) -> ActiveRecognizer | None:
    row = session.get(RecognizerState, 1)
    if row is None:
        return None
    return ActiveRecognizer(
        row.active,
        row.model_key,
        row.previous,
        row.previous_model_key,
        row.switched_at,
        row.switched_by,
    )


def active_recognizer(engine: Engine) -> ActiveRecognizer | None:
    """The recognizer the gallery searches with (None: the packaged default)."""
    with Session(engine) as session:
        return read_active(session)


def active_model_key(engine: Engine) -> str | None:
    """Just the vectors' key of the active recognizer (one primary-key read)."""
    with Session(engine) as session:
        return session.scalar(select(RecognizerState.model_key).where(RecognizerState.id == 1))


def set_active(
    session: Session,
    key: str,
    model_key: str,
    *,
    previous: str,
    previous_model_key: str,
    by: str,
) -> None:
    """Record the switch to ``key`` inside the caller's transaction (the one moving vectors)."""
    row = session.get(RecognizerState, 1)
    now = datetime.now(UTC)
    if row is None:
        session.add(
            RecognizerState(
                id=1,
                active=key,
                model_key=model_key,
                previous=previous,
                previous_model_key=previous_model_key,
                switched_at=now,
                switched_by=by,
            )
        )
        return
    row.previous, row.previous_model_key = previous, previous_model_key
    row.active, row.model_key, row.switched_at, row.switched_by = key, model_key, now, by
