"""Collections with a lawful basis (issue 24, item 5): each collection's legal basis, source
attestation, DPIA or PIA reference and retention rule, recorded by an administrator (audited;
recording again replaces them, the audit log keeps every version).

Where the policy's jurisdiction profile names basis fields (``Profile.basis_fields``), a search
is refused while any collection it would search (the search's collection, or every collection
when it names none) lacks one of them (:func:`check_searchable`).

Retention rules: ``""`` or ``"keep"`` (kept until removed), ``"<N> days"`` (``facesearch purge``
removes the collection's images ingested more than N days ago), ``"not-convicted-purge"``
(records of people not convicted are removed: the agency marks them for removal; the purge
lists the collection so that it is not forgotten).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.compliance_schema import CollectionBasis
from facesearch.govern.errors import RefusedError
from facesearch.govern.policy import Policy
from facesearch.govern.profiles import BASIS_LABELS, missing_basis, profile_of
from facesearch.govern.users import Role, require_user
from facesearch.store.schema import Collection, FaceRow, Provenance

READERS = {Role.ADMINISTRATOR, Role.AUDITOR, Role.SUPERVISOR}
NOT_CONVICTED = "not-convicted-purge"
_DAYS_RE = re.compile(r"^(\d{1,5})\s*(d|days?)$")
MAX_TEXT = 4000


@dataclass(frozen=True)
class NewBasis:
    legal_basis: str
    source_attestation: str = ""
    dpia_reference: str = ""
    retention_rule: str = ""


@dataclass(frozen=True)
class BasisView:
    collection: str
    recorded: bool
    legal_basis: str
    source_attestation: str
    dpia_reference: str
    retention_rule: str
    recorded_by: str | None
    recorded_at: datetime | None
    missing: tuple[str, ...]  # the fields the profile requires that are not recorded
    searchable: bool


def retention_days(rule: str) -> int | None:
    """N of a ``"<N> days"`` rule, else None."""
    m = _DAYS_RE.match(rule.strip().lower())
    return int(m.group(1)) if m else None


def normalise_rule(rule: str, action: str) -> str:
    text = rule.strip().lower()
    if text in ("", "keep", NOT_CONVICTED):
        return text
    days = retention_days(text)
    if days is None or days < 1:
        raise RefusedError(
            action,
            f'retention rule must be "keep", "{NOT_CONVICTED}" or a number of days '
            f'("365 days"), got {rule!r}',
        )
    return f"{days} days"


def _view(name: str, row: CollectionBasis | None, fields: tuple[str, ...]) -> BasisView:
    missing = tuple(missing_basis(row, fields))
    if row is None:
        return BasisView(name, False, "", "", "", "", None, None, missing, not missing)
    return BasisView(
        name,
        True,
        row.legal_basis,
        row.source_attestation,
        row.dpia_reference,
        row.retention_rule,
        row.recorded_by.username,
        row.recorded_at,
        missing,
        not missing,
    )


def _text(value: str, what: str, action: str) -> str:
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise RefusedError(action, f"the {what} is longer than {MAX_TEXT} characters")
    return text


def record_basis(
    session: Session,
    audit: AuditLog,
    policy: Policy,
    actor: str,
    collection: str,
    new: NewBasis,
    now: datetime,
) -> BasisView:
    """Record (or replace) a collection's basis (administrators; audited)."""
    action = "collection.basis"
    admin = require_user(session, actor, action, {Role.ADMINISTRATOR})
    name = collection.strip()
    if session.scalar(select(Collection.id).where(Collection.name == name)) is None:
        raise RefusedError(action, f"no collection {collection!r}")
    legal = _text(new.legal_basis, "legal basis", action)
    if not legal:
        raise RefusedError(action, "the legal basis is required")
    if len(new.dpia_reference.strip()) > 200:
        raise RefusedError(action, "the DPIA/PIA reference is longer than 200 characters")
    values = {
        "legal_basis": legal,
        "source_attestation": _text(new.source_attestation, "source attestation", action),
        "dpia_reference": new.dpia_reference.strip(),
        "retention_rule": normalise_rule(new.retention_rule, action),
    }
    row = session.scalars(select(CollectionBasis).where(CollectionBasis.collection == name)).first()
    if row is None:
        row = CollectionBasis(collection=name, recorded_by_id=admin.id, recorded_at=now, **values)
        session.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
        row.recorded_by_id, row.recorded_at = admin.id, now
    session.flush()
    audit.record(actor, action, {"collection": name, **values})
    session.refresh(row)
    return _view(name, row, profile_of(policy).basis_fields)


def bases(session: Session, policy: Policy, actor: str) -> list[BasisView]:
    """Every collection of the catalog with its basis (recorded or not) and what the profile
    still requires (administrators, auditors, supervisors)."""
    require_user(session, actor, "collection.bases", READERS)
    names = session.scalars(select(Collection.name).order_by(Collection.name)).all()
    rows = {r.collection: r for r in session.scalars(select(CollectionBasis)).all()}
    fields = profile_of(policy).basis_fields
    return [_view(n, rows.get(n), fields) for n in names]


def check_searchable(session: Session, policy: Policy, collection: str | None) -> None:
    """Refuse a search over ``collection`` (every collection when None) while one of them
    lacks a basis field the profile requires, naming the collection and the fields."""
    prof = profile_of(policy)
    if not prof.basis_fields:
        return
    query = select(Collection.name).order_by(Collection.name)
    if collection:
        query = query.where(Collection.name == collection)
    rows = {r.collection: r for r in session.scalars(select(CollectionBasis)).all()}
    for name in session.scalars(query).all():
        missing = missing_basis(rows.get(name), prof.basis_fields)
        if missing:
            what = ", ".join(BASIS_LABELS[f] for f in missing)
            raise RefusedError(
                "search",
                f"collection {name!r} has no recorded {what}, which the {prof.name} profile "
                "requires before its faces are searched; an administrator records it "
                "(facesearch collection basis set)",
            )


def held_back(session: Session, policy: Policy) -> str:
    """Why standing queries (which search every collection) must wait, or "" (the same rule
    as a search without a collection filter: :func:`check_searchable`)."""
    try:
        check_searchable(session, policy, None)
    except RefusedError as exc:
        return exc.reason
    return ""


@dataclass(frozen=True)
class CollectionPurge:
    """What a collection's retention rule makes due: the faces of its images ingested more
    than ``days`` ago (an image also held in another collection is kept)."""

    collection: str
    days: int
    face_ids: tuple[int, ...]


def purge_due(session: Session, now: datetime) -> list[CollectionPurge]:
    """Per collection with an ``"N days"`` retention rule, the faces due for deletion."""
    out = []
    for row in session.scalars(select(CollectionBasis).order_by(CollectionBasis.collection)):
        days = retention_days(row.retention_rule)
        coll = session.scalar(select(Collection.id).where(Collection.name == row.collection))
        if days is None or coll is None:
            continue
        old = select(Provenance.image_id).where(
            Provenance.collection_id == coll, Provenance.ingested_at < now - timedelta(days=days)
        )
        elsewhere = select(Provenance.image_id).where(Provenance.collection_id != coll)
        ids = session.scalars(
            select(FaceRow.id)
            .where(FaceRow.image_id.in_(old), FaceRow.image_id.not_in(elsewhere))
            .order_by(FaceRow.id)
        ).all()
        out.append(CollectionPurge(row.collection, days, tuple(int(i) for i in ids)))
    return out


def not_convicted_collections(session: Session) -> list[str]:
    """Collections whose rule says records of people not convicted are purged (the agency
    marks those records; the purge names the collections so that they are not forgotten)."""
    rows = session.scalars(
        select(CollectionBasis.collection).where(CollectionBasis.retention_rule == NOT_CONVICTED)
    )
    return sorted(rows)
