"""The table of supervised quality overrides (see govern/overrides.py).

``gov_quality_overrides``: an investigator's request that one face of one probe (by SHA-256)
be searched in one case although its quality is below the policy's minimum, with the reason;
a supervisor's grant or refusal (never the requester's own); and the one search that used it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from facesearch.govern.schema import Case, Search, User
from facesearch.store.schema import Base

__all__ = ["QualityOverride"]


class QualityOverride(Base):
    __tablename__ = "gov_quality_overrides"
    __table_args__ = (
        Index("ix_gov_quality_overrides_probe", "case_id", "probe_sha256", "face"),
        Index("ix_gov_quality_overrides_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"))
    probe_sha256: Mapped[str] = mapped_column(String(64))
    face: Mapped[int] = mapped_column(Integer)  # the index of the probe face (0 = largest)
    quality: Mapped[float | None] = mapped_column(Float)  # as measured when it was asked
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # pending | granted | refused | used
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("gov_users.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("gov_users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str] = mapped_column(Text, default="")
    search_id: Mapped[int | None] = mapped_column(ForeignKey("gov_searches.id"), unique=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    audit_seq: Mapped[int | None] = mapped_column(Integer)  # the request's audit entry

    case: Mapped[Case] = relationship()
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    search: Mapped[Search | None] = relationship(
        backref=backref("quality_override", uselist=False, lazy="selectin")
    )
