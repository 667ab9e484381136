"""Tables of search authorisations and deletion receipts (issue 24, items 2 and 3; see
``govern/authorisations.py`` and ``govern/receipts.py``).

* ``gov_authorisations``: an authorisation recorded for a case: its kind (judicial warrant,
  binding administrative authorisation, urgent use pending authorisation, not required), the
  authority, reference, date, reason, status, the scan of the document (encrypted like probes
  when a key is set; its SHA-256 and size kept), who recorded it and when, the supervisor who
  validated it. An urgent use has a ``deadline_at``; it ends ``authorised`` (a granted
  authorisation was recorded in time), ``refused`` or ``expired`` (its searches deleted).
* ``gov_receipts``: a deletion receipt: the canonical JSON of what was deleted (hashes only),
  its Ed25519 signature under the audit checkpoint key and that key (empty when no key was
  configured: the receipt says so), and the audit entry that records it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from facesearch.govern.schema import Case, User
from facesearch.store.schema import Base

__all__ = ["Authorisation", "DeletionReceipt"]


class Authorisation(Base):
    __tablename__ = "gov_authorisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    authority: Mapped[str] = mapped_column(Text, default="")
    reference: Mapped[str] = mapped_column(Text, default="")
    issued_on: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text, default="")
    # granted | refused (of a document); pending -> authorised | refused | expired (urgent use)
    status: Mapped[str] = mapped_column(String(20), index=True)
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scan: Mapped[bytes | None] = mapped_column(LargeBinary)
    scan_sha256: Mapped[str | None] = mapped_column(String(64))
    scan_type: Mapped[str | None] = mapped_column(String(100))
    scan_size: Mapped[int | None] = mapped_column(Integer)
    scan_encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("gov_users.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    validated_by_id: Mapped[int | None] = mapped_column(ForeignKey("gov_users.id"))
    validated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    receipt_id: Mapped[int | None] = mapped_column(Integer)

    case: Mapped[Case] = relationship()
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])
    validated_by: Mapped[User | None] = relationship(foreign_keys=[validated_by_id])


class DeletionReceipt(Base):
    __tablename__ = "gov_receipts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)  # canonical JSON, what the signature covers
    signature: Mapped[str] = mapped_column(String(128), default="")  # hex; "" unsigned
    public_key: Mapped[str] = mapped_column(String(64), default="")  # hex; "" unsigned
    audit_seq: Mapped[int | None] = mapped_column(Integer)

    case: Mapped[Case] = relationship()
