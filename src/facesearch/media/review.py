"""The governed acts on the persons found in a case's media: cluster the faces, list the
persons and the appearances in videos, record a person's review decision and list them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.media.access import MediaAccess
from facesearch.media.persons import (
    ClusterRun,
    ClusterView,
    DecisionView,
    apply_decision,
    cluster_views,
    recluster,
)
from facesearch.media.schema import ClusterDecision
from facesearch.media.tracks import TrackView, track_views


class PersonReview(MediaAccess):
    """Clustering, the persons and video appearances of a case, and the decisions on them
    (a decision needs the case open; every one is recorded and kept by re-clustering)."""

    def cluster(self, actor: str, case: str) -> ClusterRun:
        """Group the case's faces into persons (again, incrementally: see :func:`recluster`)."""

        def fn(s: Session, a: AuditLog) -> ClusterRun:
            _, c = self._media_case(s, actor, case, "media.cluster")
            result = recluster(s, c, self.settings.clustering, self.cipher)
            a.record(
                actor,
                "media.cluster",
                {
                    "case": c.number,
                    **dataclasses.asdict(result),
                    "threshold": self.settings.clustering.threshold,
                },
            )
            return result

        return self._run(actor, "media.cluster", {"case": case}, fn)

    def clusters(self, actor: str, case: str, *, include_hidden: bool = False) -> list[ClusterView]:
        """The case's persons, largest first (hidden ones only when asked); logged."""

        def fn(s: Session, a: AuditLog) -> list[ClusterView]:
            _, c = self._media_case(s, actor, case, "media.clusters")
            views = cluster_views(s, c, include_hidden=include_hidden)
            a.record(
                actor,
                "media.clusters",
                {"case": c.number, "clusters": len(views), "include_hidden": include_hidden},
            )
            return views

        return self._run(actor, "media.clusters", {"case": case}, fn)

    def tracks(self, actor: str, case: str) -> list[TrackView]:
        """The appearances of faces in the case's videos (file, times, faces kept); logged."""

        def fn(s: Session, a: AuditLog) -> list[TrackView]:
            _, c = self._media_case(s, actor, case, "media.tracks")
            views = track_views(s, c)
            a.record(actor, "media.tracks", {"case": c.number, "tracks": len(views)})
            return views

        return self._run(actor, "media.tracks", {"case": case}, fn)

    def decide(
        self,
        actor: str,
        case: str,
        action: str,
        *,
        cluster: int | None = None,
        other: int | None = None,
        faces: Sequence[int] = (),
        name: str | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        """A person's decision on the clusters: ``merge`` (other into cluster), ``split``
        (faces out of cluster into a new one), ``move`` (faces into cluster), ``name``,
        ``hide``, ``show``. Recorded, audited, and kept by later re-clustering."""
        audit_action = f"media.person.{action}"
        asked = {"case": case, "cluster": cluster, "other": other, "faces": list(faces)}

        def fn(s: Session, a: AuditLog) -> dict[str, Any]:
            _, c = self._media_case(s, actor, case, audit_action, write=True)
            details = apply_decision(s, c, audit_action, action, cluster, other, list(faces), name)
            details["note"] = note
            row = ClusterDecision(case_id=c.id, action=action, details=details, actor=actor)
            s.add(row)
            s.flush()
            a.record(actor, audit_action, {"case": c.number, **details, "decision_id": row.id})
            return {**details, "decision_id": int(row.id)}

        return self._run(actor, audit_action, asked, fn)

    def decisions(self, actor: str, case: str) -> list[DecisionView]:
        """The review decisions on the case's persons, oldest first (who, when, what); logged."""

        def fn(s: Session, a: AuditLog) -> list[DecisionView]:
            _, c = self._media_case(s, actor, case, "media.decisions")
            rows = s.execute(
                select(ClusterDecision)
                .where(ClusterDecision.case_id == c.id)
                .order_by(ClusterDecision.at, ClusterDecision.id)
            ).scalars()
            views = [
                DecisionView(int(d.id), d.action, d.actor, d.at, dict(d.details or {}))
                for d in rows
            ]
            a.record(actor, "media.decisions", {"case": c.number, "decisions": len(views)})
            return views

        return self._run(actor, "media.decisions", {"case": case}, fn)
