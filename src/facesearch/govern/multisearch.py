"""Governed multi-probe searches: the record of a search made with several probes.

The search is governed exactly as a single-probe one (:mod:`facesearch.govern.searches`: open
case, assigned investigator, quota, the policy's minimum probe quality applied to every probe,
bands shown, suppression, the maximum count) and recorded as one ``gov_searches`` row, which
names the first probe. Besides that row, every probe is stored under the case's retention
(``gov_probes``) and listed by position (``gov_search_probes``), and each candidate shown keeps
its per-probe scores (``gov_multiprobe_scores``). A second audit entry, ``search.probes``, in
the same transaction, names every probe's SHA-256 (and the media face a cluster's probe came
from) and, per candidate, the mean and best scores and the probes that matched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.errors import RefusedError
from facesearch.govern.multisearch_schema import MultiProbeScore, SearchProbe
from facesearch.govern.policy import Policy
from facesearch.govern.probe_quality import quality_refusal
from facesearch.govern.schema import Case, Search
from facesearch.govern.searches import (
    SearchOutcome,
    SearchPermit,
    outcome_of,
    record_search,
    searches_of_case,
    store_probe,
)
from facesearch.govern.suppression import SuppressionMatcher
from facesearch.search.multiprobe import MultiProbeResult, ProbeVector
from facesearch.store.crypto import Cipher


@dataclass(frozen=True)
class ProbeView:
    position: int
    sha256: str
    quality: float | None
    face: int | None
    media_face_id: int | None
    label: str


@dataclass(frozen=True)
class ProbeScores:
    """A candidate's scores in a multi-probe search (its rank score, ``gov_candidates.score``,
    is ``mean_score``)."""

    face_id: int
    mean_score: float
    best_score: float
    best_band: str
    best_probe: int
    scores: tuple[float, ...]
    matched: tuple[int, ...]


@dataclass(frozen=True)
class MultiSearchOutcome:
    outcome: SearchOutcome
    probes: tuple[ProbeView, ...]
    scores: dict[int, ProbeScores] = field(default_factory=dict)
    cluster: int | None = None

    def to_dict(self) -> dict[str, Any]:
        view = asdict(self.outcome)
        view["multi_probe"] = True
        view["cluster"] = self.cluster
        view["probes"] = [asdict(p) for p in self.probes]
        for cand in view["candidates"]:
            sc = self.scores.get(int(cand["face_id"]))
            cand["mean_score"] = cand["score"]
            cand["best_score"] = sc.best_score if sc else None
            cand["best_band"] = sc.best_band if sc else None
            cand["best_probe"] = sc.best_probe if sc else None
            cand["probe_scores"] = list(sc.scores) if sc else []
            cand["matched_probes"] = list(sc.matched) if sc else []
        return view


def record_multi_search(
    session: Session,
    audit: AuditLog,
    policy: Policy,
    matcher: SuppressionMatcher,
    cipher: Cipher | None,
    permit: SearchPermit,
    probe_bytes: Sequence[bytes],
    result: MultiProbeResult,
    collection: str | None,
    now: datetime,
    *,
    cluster: int | None = None,
) -> MultiSearchOutcome:
    """Step 3 of a governed multi-probe search (see ``record_search``): ``result`` is a
    :class:`facesearch.search.multiprobe.MultiProbeResult` whose probes are ``probe_bytes``,
    in order (a cluster's probes are its faces' stored crops)."""
    probes = list(result.probes)
    if len(probes) != len(probe_bytes) or not probes:
        raise RefusedError("search", "the probes searched are not the probes given")
    low = [
        (i, p.quality)
        for i, p in enumerate(probes, start=1)
        if p.quality is not None and p.quality < policy.search.min_probe_quality
    ]
    if low:
        raise RefusedError("search", low_probes_refusal(probes, low, policy))
    outcome = record_search(
        session,
        audit,
        policy,
        matcher,
        cipher,
        permit,
        probe_bytes[0],
        result,
        None,
        collection,
        now,
    )
    search = session.get(Search, outcome.search_id)
    assert search is not None
    case = search.case
    views = []
    for pos, (p, data) in enumerate(zip(probes, probe_bytes, strict=True), start=1):
        row = search.probe if pos == 1 else store_probe(session, case, cipher, data, now)
        session.flush()
        session.add(
            SearchProbe(
                search_id=search.id,
                position=pos,
                probe_id=row.id,
                sha256=row.sha256,
                quality=p.quality,
                face=p.face,
                media_face_id=p.media_face_id,
                cluster_id=cluster,
                label=p.label[:300],
            )
        )
        views.append(ProbeView(pos, row.sha256, p.quality, p.face, p.media_face_id, p.label))
    shown = {c.face_id for c in outcome.candidates}
    scores: dict[int, ProbeScores] = {}
    for c in result.candidates:
        if c.face_id not in shown:
            continue
        sc = ProbeScores(
            c.face_id, c.score, c.best_score, c.best_band, c.best_probe, c.scores, c.matched
        )
        scores[c.face_id] = sc
        session.add(
            MultiProbeScore(
                search_id=search.id,
                face_id=c.face_id,
                mean_score=c.score,
                best_score=c.best_score,
                best_probe=c.best_probe,
                best_band=c.best_band,
                scores=list(c.scores),
                matched=list(c.matched),
            )
        )
    session.flush()
    audit.record(
        permit.actor,
        "search.probes",
        {
            "case": case.number,
            "search_id": search.id,
            "cluster": cluster,
            "ranking": "mean of the normalised embeddings",
            "probes": [
                {
                    "position": v.position,
                    "sha256": v.sha256,
                    "quality": v.quality,
                    "face": v.face,
                    "media_face_id": v.media_face_id,
                }
                for v in views
            ],
            "candidates": [
                {
                    "face_id": c.face_id,
                    "mean_score": round(float(c.mean_score), 6),
                    "best_score": round(float(c.best_score), 6),
                    "best_probe": c.best_probe,
                    "matched": list(c.matched),
                }
                for c in scores.values()
            ],
        },
    )
    return MultiSearchOutcome(outcome, tuple(views), scores, cluster)


def low_probes_refusal(
    probes: Sequence[ProbeVector], low: Sequence[tuple[int, float]], policy: Policy
) -> str:
    """The refusal of a multi-probe search with probes below the quality minimum: each one
    named (position and label) with its cause in plain words, and what to do."""
    minimum = policy.search.min_probe_quality
    named = [f"photo {i} ({probes[i - 1].label or probes[i - 1].sha256[:12]})" for i, _ in low]
    parts = [
        quality_refusal(q, minimum, getattr(probes[i - 1], "flags", ()), photo=name).split(" Try ")[
            0
        ]
        for (i, q), name in zip(low, named, strict=True)
    ]
    which = "it" if len(low) == 1 else "them"
    return (
        f"{len(low)} of {len(probes)} probes cannot be searched. "
        + " ".join(parts)
        + f" Drop {which} and search the rest, use a more frontal, sharper or larger photo, "
        "or ask a supervisor of the case for a quality override."
    )


def multi_details(
    session: Session, search_ids: Sequence[int]
) -> dict[int, tuple[tuple[ProbeView, ...], dict[int, ProbeScores], int | None]]:
    """The probes and per-candidate scores of those of ``search_ids`` that were multi-probe
    searches (no access check: callers do it)."""
    ids = [int(i) for i in search_ids]
    if not ids:
        return {}
    probes: dict[int, list[ProbeView]] = {}
    clusters: dict[int, int | None] = {}
    for p in session.execute(
        select(SearchProbe)
        .where(SearchProbe.search_id.in_(ids))
        .order_by(SearchProbe.search_id, SearchProbe.position)
    ).scalars():
        clusters.setdefault(p.search_id, p.cluster_id)
        probes.setdefault(p.search_id, []).append(
            ProbeView(p.position, p.sha256, p.quality, p.face, p.media_face_id, p.label)
        )
    scores: dict[int, dict[int, ProbeScores]] = {}
    for r in session.execute(
        select(MultiProbeScore).where(MultiProbeScore.search_id.in_(list(probes)))
    ).scalars():
        scores.setdefault(r.search_id, {})[r.face_id] = ProbeScores(
            r.face_id,
            r.mean_score,
            r.best_score,
            r.best_band,
            r.best_probe,
            tuple(r.scores or ()),
            tuple(r.matched or ()),
        )
    return {sid: (tuple(v), scores.get(sid, {}), clusters[sid]) for sid, v in probes.items()}


def multi_searches_of_case(session: Session, case: Case) -> list[MultiSearchOutcome]:
    """The case's multi-probe searches, oldest first (for the case report)."""

    searches = searches_of_case(session, case)
    details = multi_details(session, [s.id for s in searches])
    out = []
    for s in searches:
        if s.id in details:
            probes, scores, cluster = details[s.id]
            out.append(MultiSearchOutcome(outcome_of(s), probes, scores, cluster))
    return out
