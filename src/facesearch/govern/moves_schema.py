"""Vectors of other recognizers kept for governance's standing data (issue 25, item 3): the
target model's while the gallery moves to it, the old model's after the switch (kept until an
administrator drops them, so the gallery can switch back). See govern/standing_moves.py.

* ``standing_query_vectors``: a standing query's probe face as another recognizer sees it,
  made from the query's kept probe photo; sealed like ``gov_standing_queries.embedding``
  (bound to the query's id and the vector's model), so a switch moves the bytes between the
  two tables as they are. Deleted with the query's own vectors when it ends.
* ``suppression_vectors``: a suppression entry's vector of another recognizer. An entry keeps
  no image, so the target model's vector is enrolled from a new photo of the person
  (``facesearch suppress enrol-model``: ``source`` "photo", with the old model's score of that
  photo against the entry, which proved it is the same person); after a switch the entry's
  old vector is kept here (``source`` "kept"). Sealed like ``gov_suppressions.embedding``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from facesearch.store.schema import Base, utcnow

__all__ = ["StandingQueryVector", "SuppressionVector"]

PHOTO, KEPT = "photo", "kept"


class StandingQueryVector(Base):
    __tablename__ = "standing_query_vectors"

    query_id: Mapped[int] = mapped_column(
        ForeignKey("gov_standing_queries.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(120), primary_key=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(8))  # photo (the kept probe) | kept (a switch)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SuppressionVector(Base):
    __tablename__ = "suppression_vectors"

    suppression_id: Mapped[int] = mapped_column(
        ForeignKey("gov_suppressions.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(120), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(8))  # photo (enrolled) | kept (a switch)
    # an enrolment: who, and the old model's score of the photo against the entry
    enrolled_by: Mapped[str | None] = mapped_column(String(64))
    old_score: Mapped[float | None] = mapped_column(Float)
    # the entry's threshold on this model's scale (NULL: the policy's; see gov_suppressions)
    threshold: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
