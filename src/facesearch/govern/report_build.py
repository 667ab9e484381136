"""Building a case report's data (:mod:`facesearch.govern.report`) from the catalog: the
case, its probes and searches, which candidates are listed (those reviewed, or all when asked),
and which may be pictured.

A candidate whose face has been removed from the gallery, or who matches an active suppression
entry (the person asked to be removed), is never pictured, as the application never shows it;
a purged probe is not either. The rules are applied when the pictures are asked for
(:func:`picture_requests`) and again when the report is built (:func:`build_case_report`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import entries, verify
from facesearch.govern.cases import CaseSummary
from facesearch.govern.checkpoint import latest_recorded
from facesearch.govern.multisearch_schema import SearchProbe
from facesearch.govern.policy import Policy
from facesearch.govern.report import (
    AssignmentRow,
    CandidateShown,
    CaseReportData,
    PictureRequests,
    Pictures,
    ProbeRow,
    ProbeShown,
    ReportOptions,
    SearchRow,
    fmt_time,
)
from facesearch.govern.report_identifications import identification_tables, withhold_actors
from facesearch.govern.report_sections import ReportSections, ReportTable
from facesearch.govern.schema import Case, Probe, Search, User
from facesearch.govern.searches import CandidateView, SearchOutcome, outcome_of
from facesearch.govern.searches import searches_of_case as _searches_of_case
from facesearch.govern.suppression import SuppressionMatcher, candidate_embeddings
from facesearch.govern.verifications import for_viewer, identifications_of
from facesearch.store.crypto import Cipher, maybe_decrypt
from facesearch.store.schema import FaceRow


def listed_candidates(o: SearchOutcome, options: ReportOptions) -> list[CandidateView]:
    """The candidates a report lists: those reviewed, or all of them when asked."""
    if o.results_purged_at is not None:
        return []
    return [c for c in o.candidates if options.all_candidates or c.reviews]


def search_probes(
    session: Session, search: Search
) -> list[tuple[Probe | None, str, int | None, str]]:
    """A search's probes as (stored probe, SHA-256, face searched, label): its own, or each
    probe of a multi-probe search in order."""
    rows = (
        session.execute(
            select(SearchProbe)
            .where(SearchProbe.search_id == search.id)
            .order_by(SearchProbe.position)
        )
        .scalars()
        .all()
    )
    if not rows:
        return [(search.probe, search.probe_sha256, search.face, "probe")]
    return [
        (
            session.get(Probe, r.probe_id) if r.probe_id is not None else None,
            r.sha256,
            r.face,
            f"probe {r.position}" + (f" ({r.label})" if r.label else ""),
        )
        for r in rows
    ]


NOT_PICTURED_REMOVED = "not pictured: the face has been removed from the gallery"
NOT_PICTURED_SUPPRESSED = "not pictured: the person asked to be removed (suppressed)"
NOT_PICTURED_NO_CROP = "no face crop is stored"


def picture_rules(
    session: Session,
    candidates: Sequence[CandidateView],
    matcher: SuppressionMatcher,
    cipher: Cipher | None,
) -> dict[int, tuple[str | None, str]]:
    """For each candidate, ``(crop key, "")`` when it may be pictured, else ``(None,
    why not)``: a face removed from the gallery, or one matching an active suppression entry,
    is never pictured (as the application never shows it: its crop is gone, or its person
    asked to be removed)."""
    ids = sorted({c.face_id for c in candidates})
    crops: dict[int, str | None] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        crops.update(
            (int(fid), crop)
            for fid, crop in session.execute(
                select(FaceRow.id, FaceRow.crop).where(FaceRow.id.in_(chunk))
            )
        )
    present = [c for c in candidates if c.face_id in crops]
    suppressed: set[int] = set()
    if len(matcher) and present:
        for fid, (emb, model) in candidate_embeddings(session, present, cipher).items():
            if matcher.is_suppressed(emb, model):
                suppressed.add(fid)
    out: dict[int, tuple[str | None, str]] = {}
    for c in candidates:
        if c.face_id not in crops:
            out[c.face_id] = (None, NOT_PICTURED_REMOVED)
        elif c.face_id in suppressed:
            out[c.face_id] = (None, NOT_PICTURED_SUPPRESSED)
        elif not crops[c.face_id]:
            out[c.face_id] = (None, NOT_PICTURED_NO_CROP)
        else:
            out[c.face_id] = (crops[c.face_id], "")
    return out


def picture_requests(
    session: Session,
    case: Case,
    options: ReportOptions,
    matcher: SuppressionMatcher,
    cipher: Cipher | None,
) -> PictureRequests:
    """The pictures ``case``'s report may print (see :class:`PictureRequests`)."""
    out = PictureRequests()
    for search in _searches_of_case(session, case):
        for probe, sha, face, _ in search_probes(session, search):
            if probe is not None and probe.data is not None and (sha, face) not in out.probes:
                out.probes[(sha, face)] = maybe_decrypt(cipher, probe.data, aad=sha.encode())
        listed = listed_candidates(outcome_of(search), options)
        for fid, (key, _) in picture_rules(session, listed, matcher, cipher).items():
            if key is not None:
                out.crops[fid] = key
    return out


def build_case_report(
    session: Session,
    case: Case,
    generated_by: str,
    generated_at: datetime,
    policy_sha256: str,
    sections: ReportSections,
    *,
    options: ReportOptions | None = None,
    pictures: Pictures | None = None,
    matcher: SuppressionMatcher | None = None,
    cipher: Cipher | None = None,
    reader: tuple[User, Policy] | None = None,
) -> CaseReportData:
    """The report's data. ``pictures``: made beforehand from :func:`picture_requests`; the
    rules are applied again here (a face removed since is not pictured). With ``reader`` (the
    user asking and the policy in force), the possible matches and identifications section
    first among the sections, and what that user must not see before their own verification
    withheld (facesearch.govern.verifications)."""
    options = options or ReportOptions()
    pictures = pictures or Pictures()
    matcher = matcher or SuppressionMatcher({}, 1.0)
    searches = _searches_of_case(session, case)
    outcomes = [outcome_of(s) for s in searches]
    audit = list(entries(session, case=case.number))
    first: list[ReportTable] = []
    if reader is not None:
        user, policy = reader
        outcomes = for_viewer(session, policy, user, outcomes)
        found = identifications_of(session, policy, user, case)
        first = identification_tables(found, policy.review.verifications_required)
        audit = withhold_actors(audit, found)
    probes = session.execute(
        select(Probe).where(Probe.case_id == case.id).order_by(Probe.created_at, Probe.id)
    ).scalars()
    return CaseReportData(
        case=CaseSummary.of(case, len(searches)),
        assignments=tuple(
            AssignmentRow(a.user.username, a.assigned_by, a.assigned_at, a.removed_by, a.removed_at)
            for a in case.assignments
        ),
        probes=tuple(
            ProbeRow(p.sha256, p.size, p.created_at, p.purged_at, p.encrypted) for p in probes
        ),
        searches=tuple(
            _search_row(session, s, o, options, pictures, matcher, cipher)
            for s, o in zip(searches, outcomes, strict=True)
        ),
        audit=tuple(audit),
        chain=verify(session),
        checkpoint=latest_recorded(session),
        sections=(*first, *sections.tables(session, case)),
        generated_at=generated_at,
        generated_by=generated_by,
        policy_sha256=policy_sha256,
        options=options,
        pictured=pictures.made,
    )


def _search_row(
    session: Session,
    search: Search,
    o: SearchOutcome,
    options: ReportOptions,
    pictures: Pictures,
    matcher: SuppressionMatcher,
    cipher: Cipher | None,
) -> SearchRow:
    probes = []
    for probe, sha, face, label in search_probes(session, search):
        shown = pictures.probes.get((sha, face))
        note = ""
        if probe is None or probe.data is None:
            when = fmt_time(probe.purged_at) if probe is not None else "-"
            note = f"probe image purged under the retention policy ({when})"
        elif pictures.made and shown is None:
            note = "no picture could be made of this probe"
        probes.append(ProbeShown(sha, face, label, shown if not note else None, note))
    listed = listed_candidates(o, options)
    rules = picture_rules(session, listed, matcher, cipher) if pictures.made else {}
    shown_candidates = []
    for c in listed:
        key, note = rules.get(c.face_id, (None, ""))
        picture = pictures.crops.get(c.face_id) if key is not None else None
        if key is not None and picture is None:
            note = "the stored face crop could not be read"
        shown_candidates.append(CandidateShown(c, picture, note))
    unreviewed = 0 if o.results_purged_at else sum(c.decision is None for c in o.candidates)
    return SearchRow(
        outcome=o,
        face=search.face,
        collection=search.collection,
        policy_sha256=search.policy_sha256,
        probes=tuple(probes),
        listed=tuple(shown_candidates),
        unreviewed=0 if options.all_candidates else unreviewed,
    )
