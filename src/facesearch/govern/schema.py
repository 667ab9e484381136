"""Governance tables, on the catalog's ``Base`` so one Alembic history covers everything.

All names start with ``gov_``. Portable types only (SQLite and PostgreSQL).

Storage decisions:

* Probe images are stored in the database (``gov_probes.data``), AES-GCM encrypted when an
  encryption key is configured (see :mod:`facesearch.store.crypto`). Retention sets ``data``
  to NULL and ``purged_at``; the SHA-256 stays so the chain of custody still names the probe.
* Search results (``gov_candidates`` and the ``gov_reviews`` on them) are deleted by retention;
  the search row itself (who, when, probe hash, model, threshold) stays, and so does the audit
  log, which holds the face ids and scores shown but never an image.
* The audit log (``gov_audit``) is append-only: on SQLite and PostgreSQL triggers refuse
  UPDATE and DELETE (see :func:`append_only_ddl`, which a migration must also run), and every
  entry is hash-chained so that anything that gets past the triggers is detected by
  :func:`facesearch.govern.audit.verify`. ``gov_audit_head`` holds the latest sequence number
  and hash; appends lock it, which serialises writers on PostgreSQL, and verify compares it
  with the last entry, which detects entries deleted at the end of the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from facesearch.store.schema import Base, utcnow

__all__ = [
    "AuditEntry",
    "AuditHead",
    "Base",
    "CandidateRow",
    "Case",
    "CaseAssignment",
    "Incident",
    "PendingChange",
    "PolicyVersion",
    "Probe",
    "RemovalRequest",
    "Review",
    "Search",
    "StandingAlert",
    "StandingQuery",
    "Suppression",
    "Suspension",
    "Token",
    "User",
    "Verification",
    "append_only_ddl",
]


class User(Base):
    __tablename__ = "gov_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    roles: Mapped[str] = mapped_column(String(200))  # comma-separated, sorted
    password_hash: Mapped[str | None] = mapped_column(String(255))  # argon2id
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # set by an administrator's password reset: every act but changing it is refused
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    # raised by every password change: web sessions made under an older value are ended
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(r for r in self.roles.split(",") if r)


class Token(Base):
    """An API token. Only the SHA-256 of the token is stored; the token is shown once."""

    __tablename__ = "gov_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("gov_users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, to recognise it
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class PolicyVersion(Base):
    """Every policy that has been in force, in full, with when it was first seen."""

    __tablename__ = "gov_policy_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    activated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    activated_by: Mapped[str] = mapped_column(String(64))


class PendingChange(Base):
    """A change that needs a second administrator (the two-person rule): granting the
    administrator or supervisor role, re-enabling a user, putting a new policy in force.

    ``status``: pending -> approved | rejected. ``payload`` holds what the change does (the
    roles asked, the policy text). It takes effect only when an administrator other than
    ``requested_by`` approves it."""

    __tablename__ = "gov_pending_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # user.add, user.roles, user.enable, policy
    target: Mapped[str] = mapped_column(String(200), index=True)  # a username or a policy sha256
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), index=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text, default="")


class Case(Base):
    __tablename__ = "gov_cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(100), unique=True)
    purpose_key: Mapped[str] = mapped_column(String(64))
    purpose_name: Mapped[str] = mapped_column(Text)
    legal_authority: Mapped[str] = mapped_column(Text)
    justification: Mapped[str] = mapped_column(Text)
    # pending (awaiting approval) -> open (searches allowed) -> closed; or pending -> rejected
    status: Mapped[str] = mapped_column(String(20), index=True)
    requires_approval: Mapped[bool] = mapped_column(Boolean)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("gov_users.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("gov_users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("gov_users.id"))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    close_note: Mapped[str | None] = mapped_column(Text)

    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])
    assignments: Mapped[list[CaseAssignment]] = relationship(
        back_populates="case", order_by="CaseAssignment.id"
    )


class CaseAssignment(Base):
    __tablename__ = "gov_case_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("gov_users.id"), index=True)
    assigned_by: Mapped[str] = mapped_column(String(64))
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    removed_by: Mapped[str | None] = mapped_column(String(64))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    case: Mapped[Case] = relationship(back_populates="assignments")
    user: Mapped[User] = relationship()


class Probe(Base):
    """A probe image used in a case (one row per distinct image per case)."""

    __tablename__ = "gov_probes"
    __table_args__ = (UniqueConstraint("case_id", "sha256", name="uq_gov_probe"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)  # NULL once purged
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Search(Base):
    __tablename__ = "gov_searches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("gov_users.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    probe_id: Mapped[int] = mapped_column(ForeignKey("gov_probes.id"))
    probe_sha256: Mapped[str] = mapped_column(String(64))
    probe_quality: Mapped[float | None] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String(120))
    model_sha256: Mapped[str] = mapped_column(String(64))
    threshold: Mapped[float | None] = mapped_column(Float)  # the "match" threshold
    thresholds: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)  # all, by name
    k_requested: Mapped[int] = mapped_column(Integer)
    k_used: Mapped[int] = mapped_column(Integer)
    face: Mapped[int | None] = mapped_column(Integer)  # index of the probe face searched
    collection: Mapped[str | None] = mapped_column(String(200))
    min_band_shown: Mapped[str] = mapped_column(String(40))
    hidden_below_band: Mapped[int] = mapped_column(Integer, default=0)
    hidden_suppressed: Mapped[int] = mapped_column(Integer, default=0)
    policy_sha256: Mapped[str] = mapped_column(String(64))
    audit_seq: Mapped[int | None] = mapped_column(Integer)
    results_purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the Art. 12(3) record (govern/authorisations.py): when the search started (``at``: when
    # it ended), the gallery's generation searched, and the authorisation it ran under
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    generation: Mapped[int | None] = mapped_column(Integer)
    authorisation_id: Mapped[int | None] = mapped_column(Integer, index=True)

    case: Mapped[Case] = relationship()
    user: Mapped[User] = relationship()
    probe: Mapped[Probe] = relationship()
    candidates: Mapped[list[CandidateRow]] = relationship(
        back_populates="search", order_by="CandidateRow.rank"
    )


class CandidateRow(Base):
    """One candidate shown to the searcher (after policy filters)."""

    __tablename__ = "gov_candidates"
    __table_args__ = (UniqueConstraint("search_id", "face_id", name="uq_gov_candidate"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("gov_searches.id"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    face_id: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(40))
    image_sha256: Mapped[str | None] = mapped_column(String(64))
    provenance: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    crop: Mapped[str | None] = mapped_column(String(64))

    search: Mapped[Search] = relationship(back_populates="candidates")
    reviews: Mapped[list[Review]] = relationship(back_populates="candidate", order_by="Review.id")


class Review(Base):
    """A person's decision on one candidate. Later decisions supersede earlier ones."""

    __tablename__ = "gov_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("gov_candidates.id"), index=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("gov_searches.id"), index=True)
    face_id: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(Text, default="")
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("gov_users.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    audit_seq: Mapped[int | None] = mapped_column(Integer)

    candidate: Mapped[CandidateRow] = relationship(back_populates="reviews")
    reviewer: Mapped[User] = relationship()


class Verification(Base):
    """A second examiner's independent verdict on a candidate reviewed as a possible match
    (confirm, reject, inconclusive). A verifier's later verdict supersedes their earlier one;
    every one is kept (``facesearch.govern.verifications``)."""

    __tablename__ = "gov_verifications"
    __table_args__ = (Index("ix_gov_verifications_candidate", "candidate_id", "verifier_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("gov_candidates.id"))
    search_id: Mapped[int] = mapped_column(ForeignKey("gov_searches.id"), index=True)
    face_id: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    basis: Mapped[str] = mapped_column(Text, default="")  # e.g. FISWG morphological comparison
    verifier_id: Mapped[int] = mapped_column(ForeignKey("gov_users.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    audit_seq: Mapped[int | None] = mapped_column(Integer)

    verifier: Mapped[User] = relationship()


class RemovalRequest(Base):
    """A request to remove a person from the gallery and keep them out of it."""

    __tablename__ = "gov_removal_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requester: Mapped[str] = mapped_column(Text)  # who asked (person, counsel, authority)
    reason: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(120))
    threshold: Mapped[float] = mapped_column(Float)
    # previewed -> applying -> applied | failed; previewed -> cancelled
    status: Mapped[str] = mapped_column(String(20))
    preview: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    removed: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    applied_by: Mapped[str | None] = mapped_column(String(64))
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Suppression(Base):
    """A face embedding (never an image) that ingest and search must leave out."""

    __tablename__ = "gov_suppressions"
    __table_args__ = (Index("ix_gov_suppressions_active_model", "active", "model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("gov_removal_requests.id"))
    model: Mapped[str] = mapped_column(String(120))
    dim: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32 little-endian, unit norm
    requester: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # the similarity at which a face counts as this person's, on the scale of the entry's model
    # (NULL: the policy's [suppression] threshold, which is on the shipped recognizer's); set
    # when the entry moved to another recognizer (govern/standing_moves.py; revision 0028)
    threshold: Mapped[float | None] = mapped_column(Float)


class AuditEntry(Base):
    """One audit log entry. ``hash`` = SHA-256 over all other columns (see audit.entry_hash)."""

    __tablename__ = "gov_audit"
    __table_args__ = (Index("ix_gov_audit_case", "case_number"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(32), index=True)  # UTC, 2024-05-01T12:00:00.000000Z
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    case_number: Mapped[str | None] = mapped_column(String(100))
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row (id 1) holding the latest audit sequence number and hash."""

    __tablename__ = "gov_audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


_SQLITE_DDL = [
    "CREATE TRIGGER IF NOT EXISTS gov_audit_no_update BEFORE UPDATE ON gov_audit "
    "BEGIN SELECT RAISE(ABORT, 'gov_audit is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS gov_audit_no_delete BEFORE DELETE ON gov_audit "
    "BEGIN SELECT RAISE(ABORT, 'gov_audit is append-only'); END",
]

_POSTGRES_DDL = [
    "CREATE OR REPLACE FUNCTION gov_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$fn$ BEGIN RAISE EXCEPTION 'gov_audit is append-only'; END $fn$",
    "CREATE TRIGGER gov_audit_no_change BEFORE UPDATE OR DELETE ON gov_audit "
    "FOR EACH ROW EXECUTE FUNCTION gov_audit_append_only()",
    "CREATE TRIGGER gov_audit_no_truncate BEFORE TRUNCATE ON gov_audit "
    "FOR EACH STATEMENT EXECUTE FUNCTION gov_audit_append_only()",
]


def append_only_ddl(dialect: str) -> list[str]:
    """SQL that makes ``gov_audit`` refuse UPDATE/DELETE on ``dialect`` (sqlite, postgresql).

    ``create_all`` runs it automatically; an Alembic migration must run it with ``op.execute``.
    """
    return {"sqlite": _SQLITE_DDL, "postgresql": _POSTGRES_DDL}.get(dialect, [])


for _stmt in _SQLITE_DDL:
    event.listen(AuditEntry.__table__, "after_create", DDL(_stmt).execute_if(dialect="sqlite"))
for _stmt in _POSTGRES_DDL:
    event.listen(AuditEntry.__table__, "after_create", DDL(_stmt).execute_if(dialect="postgresql"))


class Suspension(Base):
    """All searching suspended by an administrator (EU AI Act Art. 26(5): a deployer who
    suspects a risk suspends use); at most one row has no ``ended_at``
    (``facesearch.govern.incidents``)."""

    __tablename__ = "gov_suspensions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    started_by_id: Mapped[int] = mapped_column(ForeignKey("gov_users.id"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("gov_users.id"))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    end_note: Mapped[str] = mapped_column(Text, default="")

    started_by: Mapped[User] = relationship(foreign_keys=[started_by_id])
    ended_by: Mapped[User | None] = relationship(foreign_keys=[ended_by_id])


class Incident(Base):
    """An incident recorded by a user (a wrong identification acted on, a data breach, a
    malfunction); serious ones are reported to the authorities, with when and to whom."""

    __tablename__ = "gov_incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    serious: Mapped[bool] = mapped_column(Boolean, default=False)
    case_number: Mapped[str | None] = mapped_column(String(100))
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("gov_users.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    reported_to: Mapped[str] = mapped_column(Text, default="")  # authorities told, if any
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("gov_users.id"))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution: Mapped[str] = mapped_column(Text, default="")

    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])


class StandingQuery(Base):
    """A case's probe face searched again against every face a later ingest adds (the
    "unsolved photo file"): its vectors (sealed like the gallery's), the probe photo itself
    (to record each alert as a search of the case, with the probe kept), the last face id it
    was compared with, and its life: owner, objective, review date, expiry, end
    (``facesearch.govern.standing``)."""

    __tablename__ = "gov_standing_queries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("gov_users.id"))
    search_id: Mapped[int] = mapped_column(ForeignKey("gov_searches.id"))  # where it came from
    objective: Mapped[str] = mapped_column(Text)
    face: Mapped[int] = mapped_column(Integer)  # the probe face searched
    model: Mapped[str] = mapped_column(String(120))
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed; NULL once ended
    second_model: Mapped[str | None] = mapped_column(String(120))
    second_embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    yaw: Mapped[float | None] = mapped_column(Float)
    # the probe face as the search saw it: index, bbox, quality, flags (an alert's search
    # records them, so the policy's quality rules apply to it as to the first search)
    probe_face: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    probe: Mapped[bytes | None] = mapped_column(LargeBinary)  # encrypted when a key is set
    probe_sha256: Mapped[str] = mapped_column(String(64))
    after_face_id: Mapped[int] = mapped_column(Integer)  # faces above this are new to it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    review_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), index=True)  # active, ended, expired, stopped
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("gov_users.id"))
    end_note: Mapped[str] = mapped_column(Text, default="")
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    case: Mapped[Case] = relationship()
    owner: Mapped[User] = relationship(foreign_keys=[owner_id])
    ended_by: Mapped[User | None] = relationship(foreign_keys=[ended_by_id])


class StandingAlert(Base):
    """New candidates a standing query found, recorded as a search of its case (reviewed like
    any other); ``seen_at`` when one of the case's investigators opened it."""

    __tablename__ = "gov_standing_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("gov_standing_queries.id"), index=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("gov_searches.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("gov_cases.id"), index=True)
    candidates: Mapped[int] = mapped_column(Integer)
    best_score: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seen_by_id: Mapped[int | None] = mapped_column(ForeignKey("gov_users.id"))

    query: Mapped[StandingQuery] = relationship()
    seen_by: Mapped[User | None] = relationship()
