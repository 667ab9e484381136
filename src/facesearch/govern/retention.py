"""Retention: delete probe images and stored search results once a closed case's time is up.

For a case closed at time C, with policy ``retention.probe_days_after_close`` = P and
``retention.results_days_after_close`` = R:

* at or after C + P days the case's probe images are deleted (``gov_probes.data`` set NULL,
  ``purged_at`` set; the SHA-256 and size stay);
* at or after C + R days its stored results are deleted (every ``gov_candidates`` row and
  the ``gov_reviews`` on them; ``gov_searches.results_purged_at`` set; the search row, with
  who/when/probe hash/model/threshold, stays).

Open, pending and rejected cases are never purged (rejected cases have no searches).
``purge(now=...)`` is idempotent: a second run at the same time finds nothing due. Every run
is logged, with the hashes purged; the audit log itself is never purged and holds no images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog, as_utc
from facesearch.govern.cases import CLOSED
from facesearch.govern.multisearch_schema import MultiProbeScore
from facesearch.govern.policy import Policy
from facesearch.govern.schema import CandidateRow, Case, Probe, Review, Search, Verification
from facesearch.govern.users import Role, require_user


@dataclass
class PurgeResult:
    now: datetime
    probes_purged: int = 0
    searches_purged: int = 0
    candidates_deleted: int = 0
    reviews_deleted: int = 0
    cases: list[str] = field(default_factory=list)
    audit_seq: int | None = None

    @property
    def nothing_due(self) -> bool:
        return self.probes_purged == 0 and self.searches_purged == 0


def due_dates(case: Case, policy: Policy) -> tuple[datetime, datetime] | None:
    """(probe purge date, results purge date) for a closed case; None if not closed."""
    if case.status != CLOSED or case.closed_at is None:
        return None
    closed = as_utc(case.closed_at)
    r = policy.retention
    return (
        closed + timedelta(days=r.probe_days_after_close),
        closed + timedelta(days=r.results_days_after_close),
    )


def purge(
    session: Session, audit: AuditLog, policy: Policy, actor: str, now: datetime
) -> PurgeResult:
    require_user(session, actor, "retention.purge", {Role.ADMINISTRATOR})
    now = as_utc(now)
    result = PurgeResult(now=now)
    per_case: list[dict[str, object]] = []
    closed_cases = session.execute(
        select(Case).where(Case.status == CLOSED).order_by(Case.id)
    ).scalars()
    for case in closed_cases:
        dates = due_dates(case, policy)
        if dates is None:
            continue
        probe_due, results_due = dates
        probe_hashes: list[str] = []
        search_ids: list[int] = []
        if now >= probe_due:
            probes = session.execute(
                select(Probe).where(Probe.case_id == case.id, Probe.purged_at.is_(None))
            ).scalars()
            for p in probes:
                p.data = None
                p.purged_at = now
                probe_hashes.append(p.sha256)
        n_cands = n_reviews = 0
        if now >= results_due:
            searches = list(
                session.execute(
                    select(Search).where(
                        Search.case_id == case.id, Search.results_purged_at.is_(None)
                    )
                ).scalars()
            )
            ids = [s.id for s in searches]
            if ids:
                session.execute(delete(Verification).where(Verification.search_id.in_(ids)))
                n_reviews = _count_deleted(
                    session.execute(delete(Review).where(Review.search_id.in_(ids)))
                )
                n_cands = _count_deleted(
                    session.execute(delete(CandidateRow).where(CandidateRow.search_id.in_(ids)))
                )
                # the per-probe scores of multi-probe searches go with their candidates
                session.execute(delete(MultiProbeScore).where(MultiProbeScore.search_id.in_(ids)))
                for s in searches:
                    s.results_purged_at = now
                search_ids = ids
        if probe_hashes or search_ids:
            result.cases.append(case.number)
            result.probes_purged += len(probe_hashes)
            result.searches_purged += len(search_ids)
            result.candidates_deleted += n_cands
            result.reviews_deleted += n_reviews
            per_case.append(
                {
                    "case": case.number,
                    "closed_at": case.closed_at,
                    "probe_sha256": sorted(probe_hashes),
                    "search_ids": search_ids,
                    "candidates_deleted": n_cands,
                    "reviews_deleted": n_reviews,
                }
            )
    session.flush()
    session.expire_all()
    entry = audit.record(
        actor,
        "retention.purge",
        {
            "now": now,
            "probe_days_after_close": policy.retention.probe_days_after_close,
            "results_days_after_close": policy.retention.results_days_after_close,
            "policy_sha256": policy.sha256,
            "probes_purged": result.probes_purged,
            "searches_purged": result.searches_purged,
            "cases": per_case,
        },
    )
    result.audit_seq = entry.seq
    return result


def _count_deleted(cursor_result: object) -> int:
    return int(getattr(cursor_result, "rowcount", 0) or 0)
