"""Tables of the jurisdiction profiles' records (issue 24, items 4 and 5).

* ``gov_trainings``: a user's trainings (course, completed on, expires on), recorded by an
  administrator. A training is current from its completion date up to and including its expiry
  date (no expiry: current from completion on).
* ``gov_collection_bases``: one row per collection (by name): its legal basis, source
  attestation, DPIA or PIA reference and retention rule, who recorded them and when. Recording
  again replaces the row; the audit log keeps every version.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from facesearch.govern.schema import User
from facesearch.store.schema import Base

__all__ = ["CollectionBasis", "Training"]


class Training(Base):
    __tablename__ = "gov_trainings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("gov_users.id"), index=True)
    course: Mapped[str] = mapped_column(String(200))
    completed_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("gov_users.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])


class CollectionBasis(Base):
    __tablename__ = "gov_collection_bases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection: Mapped[str] = mapped_column(String(200), unique=True)
    legal_basis: Mapped[str] = mapped_column(Text)
    source_attestation: Mapped[str] = mapped_column(Text)
    dpia_reference: Mapped[str] = mapped_column(String(200))
    retention_rule: Mapped[str] = mapped_column(String(100))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("gov_users.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])
