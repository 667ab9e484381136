"""The case report's victim-identification sections, as plain tables that the HTML and PDF
renderers of :mod:`facesearch.govern.report` print alike: the media sets and the known-image
elimination by category, hash set and match; the persons found (clusters) and every review
decision on them; after governance's multi-probe searches, the cross-case alerts (the other
case's number and supervisor only).

Governance does not import media: the composition root adds these sections to the case report
with :func:`register` (:mod:`facesearch.govern.report_sections`). Sections without content are
left out, so a case without media reads as before."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import as_utc
from facesearch.govern.report_sections import (
    MULTI_PROBE,
    ReportSections,
    ReportTable,
)
from facesearch.govern.schema import Case
from facesearch.media.alerts import alerts_of_case
from facesearch.media.material import media_summary
from facesearch.media.persons import cluster_views
from facesearch.media.schema import ClusterDecision, MediaCluster

MEDIA = "media"  # the sets, the elimination, the persons and the decisions on them
ALERTS = "media-alerts"  # the cross-case alerts


def register(sections: ReportSections) -> None:
    """Add media's sections to the case report: the media before the multi-probe searches,
    the alerts after them (idempotent; called by the composition root)."""
    sections.add(MEDIA, media_tables, before=MULTI_PROBE)
    sections.add(ALERTS, alert_tables)


def _t(dt: Any) -> str:
    return as_utc(dt).strftime("%Y-%m-%d %H:%M:%S UTC") if dt else "-"


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in d.items()) or "none"


def media_tables(s: Session, case: Case) -> list[ReportTable]:
    """The case's media sets, elimination, persons and decisions (a
    :class:`~facesearch.govern.report_sections.ReportSection`)."""
    out: list[ReportTable] = []
    summary = media_summary(s, case)
    if summary["files"]:
        rows = [
            ("Media sets", str(summary["media_sets"])),
            ("Files", str(summary["files"])),
            ("Files by outcome", _counts(summary["files_by_status"])),
            ("Eliminated as known material", str(summary["eliminated"])),
        ]
        rows += [
            (f"  category {cat}", str(n)) for cat, n in summary["eliminated_by_category"].items()
        ]
        rows += [
            ("Eliminated by hash set", _counts(summary["eliminated_by_hash_set"])),
            ("Eliminated by match", _counts(summary["eliminated_by_match"])),
            ("Faces (flagged, kept aside)", f"{summary['faces']} ({summary['faces_flagged']})"),
        ]
        out.append(
            ReportTable(
                "Media sets and known-image elimination",
                ("", ""),
                tuple(rows),
                (40, 60),
                "Eliminated files matched a hash set of known material and were not processed "
                "for faces.",
            )
        )
    views = cluster_views(s, case, include_hidden=True)
    if views:
        names = {
            c.id: c
            for c in s.execute(select(MediaCluster).where(MediaCluster.case_id == case.id))
            .scalars()
            .all()
        }
        out.append(
            ReportTable(
                f"Persons found in the media (clusters: {len(views)})",
                ("Cluster", "Faces", "Name", "Reviewed", "Hidden"),
                tuple(
                    (
                        str(v.cluster),
                        str(len(v.faces)),
                        v.name or "-",
                        "yes" if names[v.cluster].reviewed else "no",
                        "yes" if v.hidden else "no",
                    )
                    for v in views
                ),
                (14, 14, 40, 16, 16),
            )
        )
    decisions = (
        s.execute(
            select(ClusterDecision)
            .where(ClusterDecision.case_id == case.id)
            .order_by(ClusterDecision.at, ClusterDecision.id)
        )
        .scalars()
        .all()
    )
    if decisions:
        out.append(
            ReportTable(
                "Review decisions on the persons",
                ("Time", "By", "Decision", "Details"),
                tuple((_t(d.at), d.actor, d.action, _details(d.details)) for d in decisions),
                (22, 14, 12, 52),
                level=3,
            )
        )
    return out


def alert_tables(s: Session, case: Case) -> list[ReportTable]:
    """The case's cross-case alerts (the other case's number and supervisor only)."""
    out: list[ReportTable] = []
    alerts = alerts_of_case(s, case)
    if alerts:
        out.append(
            ReportTable(
                "Cross-case alerts",
                ("Other case", "Its supervisor", "This case's faces", "First", "Latest"),
                tuple(
                    (
                        a.other_case,
                        a.supervisor or "(none recorded)",
                        ", ".join(str(f) for f in a.faces),
                        _t(a.first_at),
                        _t(a.last_at),
                    )
                    for a in alerts
                ),
                (14, 18, 28, 20, 20),
                "A face of this case's media matched a face of the other case's media at or "
                "above the strong band. Nothing of the other case is shown: contact its "
                "supervisor.",
            )
        )
    return out


def _details(d: dict[str, Any] | None) -> str:
    if not d:
        return "-"
    return "; ".join(f"{k}: {v}" for k, v in d.items() if v not in (None, "", []))
