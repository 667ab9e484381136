"""Conversions from the service's results to the response schemas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict

from facesearch.app.results import IngestJob, SearchView
from facesearch.app.types import (
    CaseSummary,
    Policy,
    ProbeScores,
    ProbeView,
    ReviewView,
    SearchOutcome,
)
from facesearch.serve.api.schemas import (
    CaseOut,
    IngestJobOut,
    PolicyOut,
    PurposeOut,
    ReviewOut,
    SearchOut,
    SearchProbeOut,
)

API = "/api/v1"


def case_out(c: CaseSummary) -> CaseOut:
    return CaseOut.model_validate(c)


def review_out(r: ReviewView) -> ReviewOut:
    return ReviewOut.model_validate(r)


def search_out(
    outcome: SearchOutcome,
    boxes: dict[int, tuple[float, float, float, float]],
    view: SearchView | None = None,
) -> SearchOut:
    """The outcome as sent, with its candidates' links and boxes and, when the engine has just
    run, what it said of the probe (``view``)."""
    context = {"search_id": outcome.search_id, "boxes": boxes, "view": view}
    return SearchOut.model_validate(outcome, context=context)


def job_out(job: IngestJob) -> IngestJobOut:
    # an upload is listed under the name it was uploaded as, not its temporary path
    return IngestJobOut.model_validate(job).model_copy(update={"sources": job.shown_sources})


def policy_out(p: Policy) -> PolicyOut:
    return PolicyOut(
        sha256=p.sha256,
        source=p.source,
        text=p.text,
        purposes=[PurposeOut.model_validate(x) for x in p.purposes],
        search={
            "max_candidates": p.search.max_candidates,
            "min_probe_quality": p.search.min_probe_quality,
            "bands": list(p.search.bands),
            "min_band_shown": p.search.min_band_shown,
            "quality_override": p.search.quality_override,
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
        review={"verifications_required": p.review.verifications_required},
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
            "probes": [SearchProbeOut.model_validate(p) for p in probes],
            "candidates": cands,
        }
    )
