"""Conversions from the service's results to the response schemas."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from facesearch.app.results import IngestJob, SearchView
from facesearch.app.types import (
    CandidateView,
    CaseSummary,
    Policy,
    ProbeScores,
    ProbeView,
    ReviewView,
    SearchOutcome,
)
from facesearch.serve.api.schemas import (
    CandidateOut,
    CaseOut,
    IngestJobOut,
    PolicyOut,
    ProbeFaceOut,
    ProvenanceOut,
    PurposeOut,
    ReviewOut,
    SearchOut,
    SearchProbeOut,
)

API = "/api/v1"


def case_out(c: CaseSummary) -> CaseOut:
    data = asdict(c)
    data["assigned"] = list(c.assigned)
    return CaseOut(**data)


def review_out(r: ReviewView) -> ReviewOut:
    return ReviewOut(decision=r.decision, note=r.note, reviewer=r.reviewer, at=r.at)


def candidate_out(
    search_id: int, c: CandidateView, bbox: tuple[float, float, float, float] | None
) -> CandidateOut:
    media = f"{API}/faces/{c.face_id}"
    query = f"?search_id={search_id}"
    return CandidateOut(
        rank=c.rank,
        face_id=c.face_id,
        score=c.score,
        band=c.band,
        image_sha256=c.image_sha256,
        provenance=[ProvenanceOut(**_provenance(p)) for p in c.provenance],
        crop_url=f"{media}/crop{query}",
        image_url=f"{media}/image{query}",
        thumbnail_url=f"{media}/thumbnail{query}",
        bbox=bbox,
        decision=c.decision,
        reviews=[review_out(r) for r in c.reviews],
    )


def _provenance(p: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v if isinstance(v, str | int | float | bool) or v is None else str(v))
        for k, v in p.items()
    }


def search_out(
    outcome: SearchOutcome,
    boxes: dict[int, tuple[float, float, float, float]],
    view: SearchView | None = None,
) -> SearchOut:
    return SearchOut(
        search_id=outcome.search_id,
        case=outcome.case,
        purpose=outcome.purpose,
        user=outcome.user,
        at=outcome.at,
        probe_sha256=outcome.probe_sha256,
        probe_quality=outcome.probe_quality,
        model=outcome.model,
        model_sha256=outcome.model_sha256,
        threshold=outcome.threshold,
        thresholds=outcome.thresholds,
        k_requested=outcome.k_requested,
        k_used=outcome.k_used,
        min_band_shown=outcome.min_band_shown,
        hidden_below_band=outcome.hidden_below_band,
        hidden_suppressed=outcome.hidden_suppressed,
        audit_seq=outcome.audit_seq,
        results_purged_at=outcome.results_purged_at,
        statement=outcome.statement,
        face=view.face if view else None,
        probe_faces=[
            ProbeFaceOut(index=f.index, bbox=f.bbox, quality=f.quality, flags=list(f.flags))
            for f in (view.probe_faces if view else ())
        ],
        gallery_size=view.gallery_size if view else None,
        seconds=view.seconds if view else None,
        candidates=[
            candidate_out(outcome.search_id, c, boxes.get(c.face_id)) for c in outcome.candidates
        ],
    )


def job_out(job: IngestJob) -> IngestJobOut:
    return IngestJobOut(
        id=job.id,
        status=job.status,
        sources=job.sources,
        collection=job.collection,
        files_total=job.files_total,
        files_done=job.files_done,
        faces=job.faces,
        run_id=job.run_id,
        counts=job.counts,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        created_by=job.created_by,
    )


def policy_out(p: Policy) -> PolicyOut:
    return PolicyOut(
        sha256=p.sha256,
        source=p.source,
        text=p.text,
        purposes=[
            PurposeOut(key=x.key, name=x.name, requires_approval=x.requires_approval)
            for x in p.purposes
        ],
        search={
            "max_candidates": p.search.max_candidates,
            "min_probe_quality": p.search.min_probe_quality,
            "bands": list(p.search.bands),
            "min_band_shown": p.search.min_band_shown,
        },
        retention=asdict(p.retention),
        session={
            "idle_minutes": p.access.session_idle_minutes,
            "absolute_hours": p.access.session_absolute_hours,
        },
        quota={
            "searches_per_user_per_hour": p.access.searches_per_user_per_hour,
            "searches_per_user_per_day": p.access.searches_per_user_per_day,
        },
    )


def with_probes(
    out: SearchOut,
    probes: Sequence[ProbeView],
    scores: Mapping[int, ProbeScores],
    cluster: int | None,
) -> SearchOut:
    """``out`` with a multi-probe search's probes and per-candidate probe scores."""
    cands = []
    for c in out.candidates:
        sc = scores.get(c.face_id)
        cands.append(
            c.model_copy(
                update={
                    "best_score": sc.best_score,
                    "best_band": sc.best_band,
                    "best_probe": sc.best_probe,
                    "probe_scores": list(sc.scores),
                    "matched_probes": list(sc.matched),
                }
            )
            if sc
            else c
        )
    return out.model_copy(
        update={
            "multi_probe": True,
            "cluster": cluster,
            "probes": [SearchProbeOut(**dataclasses.asdict(p)) for p in probes],
            "candidates": cands,
        }
    )
