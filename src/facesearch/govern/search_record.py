"""The Art. 12(3) record of a search (EU AI Act: for remote biometric identification, the
period of each use, the reference database checked, the input data that led to a match, and
the people who verified the results): start and end, the gallery's generation (raised by
every ingest and removal, ``store/generation.py``) and the collections searched, the probe's
hash and face, the candidates, the reviewers and verifiers, and the authorisation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.authorisations import KINDS
from facesearch.govern.authorisations_schema import Authorisation
from facesearch.govern.cases import require_readable_case
from facesearch.govern.multisearch_schema import SearchProbe
from facesearch.govern.schema import Review, Verification
from facesearch.govern.searches import require_search
from facesearch.govern.users import require_user

FORMAT = "facesearch-search-record/1"


def search_record(session: Session, audit: AuditLog, actor: str, search_id: int) -> dict[str, Any]:
    """The record of search ``search_id`` (whoever may read its case; audited)."""
    action = "search.record"
    user = require_user(session, actor, action)
    s = require_search(session, action, search_id)
    require_readable_case(session, user, s.case.number, action)
    probes = list(
        session.scalars(
            select(SearchProbe).where(SearchProbe.search_id == s.id).order_by(SearchProbe.position)
        )
    )
    reviews = session.scalars(select(Review).where(Review.search_id == s.id).order_by(Review.id))
    verifs = session.scalars(
        select(Verification).where(Verification.search_id == s.id).order_by(Verification.id)
    )
    auth = session.get(Authorisation, s.authorisation_id) if s.authorisation_id else None
    record: dict[str, Any] = {
        "format": FORMAT,
        "search_id": s.id,
        "case": s.case.number,
        "purpose": s.case.purpose_key,
        "user": s.user.username,
        "started_at": s.started_at or s.at,
        "ended_at": s.at,
        "gallery_generation": s.generation,
        "collections": [s.collection] if s.collection else "all",
        "probe": {
            "sha256": s.probe_sha256,
            "face": s.face,
            "quality": s.probe_quality,
            "kept": s.probe.data is not None,
        },
        "probes": [{"position": p.position, "sha256": p.sha256} for p in probes],
        "model": s.model,
        "model_sha256": s.model_sha256,
        "policy_sha256": s.policy_sha256,
        "results_deleted_at": s.results_purged_at,
        "candidates": [
            {"rank": c.rank, "face_id": c.face_id, "score": c.score, "band": c.band}
            for c in s.candidates
        ],
        "reviewers": sorted({r.reviewer.username for r in reviews}),
        "verifiers": sorted({v.verifier.username for v in verifs}),
        "authorisation": None
        if auth is None
        else {
            "id": auth.id,
            "kind": auth.kind,
            "kind_label": KINDS.get(auth.kind, auth.kind),
            "authority": auth.authority,
            "reference": auth.reference,
            "status": auth.status,
            "deadline_at": auth.deadline_at,
        },
        "audit_seq": s.audit_seq,
    }
    audit.record(actor, action, {"case": s.case.number, "search_id": s.id})
    return record
