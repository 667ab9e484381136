"""Standing queries (``facesearch.govern.standing``): made from a one-photo search, run after
every ingest against the faces it added, alerts recorded as searches of the case.

A run reads each active query's vectors once, scans the new faces' vectors in chunks (one
matrix product per chunk for every query at once: the cost grows with new faces x queries,
never with the gallery), keeps each query's best :data:`SHORTLIST` faces whose primary score
comes near the possible band, re-scores them exactly as a search does (fusion with the second
recognizer where both vectors exist: ``Searcher.result_of``), and records, for each query whose
candidates reach the possible band, one search of its case under its owner's name with those
candidates, and an alert. Each query's mark moves past the faces compared, in the same
transaction: a run that fails is repeated by the next one, and two runs never alert twice.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from facesearch.app.context import AppContext
from facesearch.app.governed import SearchRequest
from facesearch.app.multisearch import DEFAULT_CLUSTER_PROBES, Cluster
from facesearch.app.principal import Principal
from facesearch.govern import standing as st
from facesearch.govern.collection_basis import held_back
from facesearch.govern.errors import RefusedError
from facesearch.govern.searches import SearchPermit
from facesearch.govern.searches import record_search as record_one
from facesearch.govern.standing import AlertView, DueQuery, QueryVectors, StandingView
from facesearch.govern.suppression import SuppressionMatcher
from facesearch.govern.users import Role
from facesearch.search.compare import probe_face
from facesearch.search.multiprobe import ProbeVector, mean_probe
from facesearch.search.scoring import POSSIBLE, STRONG, ProbeFace, SearchResult

log = logging.getLogger(__name__)

SHORTLIST = 20  # per query: the best new faces by primary score, re-scored like a search's
# A new face is re-scored when its primary score reaches the primary "match" threshold less
# this margin: fusion with the second recognizer can lift a face from just below it.
PREFILTER_MARGIN = 0.1


@dataclass
class StandingRun:
    """What one run did: queries compared, new faces scanned, alerts raised (their ids)."""

    queries: int = 0
    new_faces: int = 0
    alerts: list[int] = field(default_factory=list)
    seconds: float = 0.0
    skipped_model: int = 0  # queries of another recognizer than the gallery's (left as they are)

    def counts(self) -> dict[str, Any]:
        return {
            "standing_queries": self.queries,
            "standing_new_faces": self.new_faces,
            "standing_alerts": len(self.alerts),
        }


class _NothingShown(Exception):
    """The recorded search showed no candidate (all suppressed): roll it back."""


class Standing:
    """Standing queries and their alerts."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def _now(self) -> datetime:
        now: datetime = self.ctx.governance.clock()
        return now

    # --- making and managing queries ----------------------------------------------------------

    def create(
        self,
        who: Principal,
        search_id: int,
        objective: str,
        *,
        expires_at: datetime | None = None,
        review_at: datetime | None = None,
    ) -> StandingView:
        """Keep searching for the face of one-photo search ``search_id`` in every later ingest
        (investigators assigned to its open case; the policy caps the expiry; audited)."""
        gov = self.ctx.governance
        asked = {"search_id": search_id, "objective": objective}

        def read(s: Any, _a: Any) -> tuple[bytes, int, list[ProbeVector] | None]:
            search, _, cluster = st.require_search_for_query(s, who.username, search_id)
            person = None
            if cluster is not None:  # a media person: the best faces its search used
                n = DEFAULT_CLUSTER_PROBES
                steps = Cluster(self.ctx, cluster, n, SearchRequest())
                person = [
                    v
                    for v, _ in steps.prepare(
                        s, SearchPermit(who.username, search.case.number, n, n)
                    )
                ]
            return st.probe_of(s, gov.cipher, search), search.face or 0, person

        probe, face, person = gov.run(who.username, "standing.create", asked, read)
        if person:
            vectors = self._person_vectors(person, probe)
        else:
            vectors = self.ctx.pool.run(lambda: self._vectors(probe, face))
        _, after = self.ctx.gallery.catalog.searchable_summary(vectors.model)
        now = self._now()
        made: StandingView = gov.run(
            who.username,
            "standing.create",
            asked,
            lambda s, a: st.create_query(
                s, a, gov.policy, gov.cipher, who.username, search_id, objective, vectors,
                after, now, expires_at=expires_at, review_at=review_at,
            ),
        )  # fmt: skip
        return made

    def _vectors(self, probe: bytes, face: int) -> QueryVectors:
        """The probe face's vectors, made as a search makes them (this search thread's own
        pipeline)."""
        gallery = self.ctx.gallery
        _, _, chosen = self.ctx.verifier().face(gallery.decode(probe), face)
        seen = probe_face(chosen)
        second = chosen.second
        return QueryVectors(
            chosen.model,
            np.asarray(chosen.embedding, np.float32),
            gallery.scoring.second_model if second is not None else None,
            None if second is None else np.asarray(second, np.float32),
            chosen.quality.yaw,
            seen,
        )

    def _person_vectors(self, faces: list[ProbeVector], probe: bytes) -> QueryVectors:
        """A media person's query: the mean of its best faces' vectors, as its search made it
        (the primary recognizer only, as media faces have no second vector); the recorded
        probe is the person's best face crop, the search's first probe."""
        gallery = self.ctx.gallery
        mean = mean_probe(faces)
        h, w = gallery.decode(probe).pixels.shape[:2]
        quality = min((f.quality for f in faces if f.quality is not None), default=0.0)
        seen = ProbeFace(0, (0.0, 0.0, float(w), float(h)), float(quality), ())
        return QueryVectors(gallery.model_key, mean.embedding, None, None, None, seen)

    def end(self, who: Principal, query_id: int, note: str = "") -> StandingView:
        found: StandingView = self.ctx.governance.run(
            who.username,
            "standing.end",
            {"standing_query": query_id},
            lambda s, a: st.end_query(s, a, who.username, query_id, note, self._now()),
        )
        return found

    def renew(
        self,
        who: Principal,
        query_id: int,
        *,
        expires_at: datetime | None = None,
        review_at: datetime | None = None,
    ) -> StandingView:
        gov = self.ctx.governance
        found: StandingView = gov.run(
            who.username,
            "standing.renew",
            {"standing_query": query_id},
            lambda s, a: st.renew_query(
                s, a, gov.policy, who.username, query_id, self._now(),
                expires_at=expires_at, review_at=review_at,
            ),
        )  # fmt: skip
        return found

    def queries(
        self, who: Principal, case: str | None = None, *, active_only: bool = False
    ) -> list[StandingView]:
        found: list[StandingView] = self.ctx.governance.run(
            who.username,
            "standing.list",
            {"case": case},
            lambda s, a: st.list_queries(s, who.username, case, active_only=active_only),
        )
        return found

    def alerts(
        self, who: Principal, *, unseen_only: bool = True, case: str | None = None
    ) -> list[AlertView]:
        found: list[AlertView] = self.ctx.governance.run(
            who.username,
            "standing.alerts",
            {"case": case},
            lambda s, a: st.alerts(s, who.username, unseen_only=unseen_only, number=case),
        )
        return found

    def seen(self, who: Principal, alert_id: int) -> AlertView:
        found: AlertView = self.ctx.governance.run(
            who.username,
            "standing.alert.seen",
            {"alert": alert_id},
            lambda s, a: st.mark_seen(s, a, who.username, alert_id, self._now()),
        )
        return found

    # --- the run after an ingest ----------------------------------------------------------------

    def run(self, who: Principal) -> StandingRun:
        """Compare the faces added since each active query last ran with it; raise the alerts
        (administrators, as part of an ingest; audited as one ``standing.run`` entry)."""
        self.ctx.require(who, "standing.run", Role.ADMINISTRATOR)
        gov = self.ctx.governance
        actor = who.username
        started = time.perf_counter()
        now = self._now()
        due: list[DueQuery] = gov.run(
            actor,
            "standing.run",
            {},
            lambda s, a: st.expire_and_collect(s, a, gov.cipher, actor, now),
        )
        out = StandingRun()
        with gov.session() as s:  # jurisdiction profile: every collection's basis first
            held = held_back(s, gov.policy)
        if held:  # the new faces stay unseen: compared once the basis is recorded
            gov.record(actor, "standing.run", {**out.counts(), "held_back": held})
            return out
        if due:
            with self.ctx.reading():
                results, scanned, top = self._score(due, out)
            for query in due:
                if query.vectors.model != self.ctx.gallery.model_key:
                    continue
                try:
                    alert = self._record(query, results.get(query.id), top, now)
                except RefusedError as exc:  # logged by governance; the next run tries again
                    log.warning("standing query %s not run: %s", query.id, exc)
                    continue
                if alert is not None:
                    out.alerts.append(alert)
            out.queries, out.new_faces = len(due) - out.skipped_model, scanned
        out.seconds = round(time.perf_counter() - started, 3)
        gov.record(actor, "standing.run", {**out.counts(), "alerts": out.alerts})
        return out

    def _score(
        self, due: list[DueQuery], out: StandingRun
    ) -> tuple[dict[int, SearchResult], int, int]:
        """Each query's result over the faces newer than its mark; the number of new faces
        scanned and the highest face id seen."""
        gallery = self.ctx.gallery
        model = gallery.model_key
        queries = [q for q in due if q.vectors.model == model]
        out.skipped_model = len(due) - len(queries)
        if not queries:
            return {}, 0, 0
        matrix = np.stack([q.vectors.embedding for q in queries]).astype(np.float32)
        marks = np.array([q.after_face_id for q in queries], dtype=np.int64)
        floor = gallery.bands.match - PREFILTER_MARGIN
        best: list[list[tuple[float, int]]] = [[] for _ in queries]  # min-heaps of (score, id)
        scanned, top = 0, int(marks.max())
        for ids, vectors in gallery.catalog.iter_embeddings(model, after=int(marks.min())):
            scanned += len(ids)
            top = max(top, int(ids[-1]))
            scores = vectors @ matrix.T  # (new faces, queries)
            scores[ids[:, None] <= marks[None, :]] = -np.inf  # each query: its new faces only
            rows, cols = np.nonzero(scores >= floor)
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
                item = (float(scores[r, c]), int(ids[r]))
                heap = best[c]
                if len(heap) < SHORTLIST:
                    heapq.heappush(heap, item)
                elif item > heap[0]:
                    heapq.heapreplace(heap, item)
        results: dict[int, SearchResult] = {}
        searcher = gallery.searcher
        for query, heap in zip(queries, best, strict=True):
            if not heap:
                continue
            pairs = [(face_id, score) for score, face_id in sorted(heap, reverse=True)]
            v = query.vectors
            result = searcher.result_of(
                pairs,
                SHORTLIST,
                second=v.second if v.second_model == gallery.scoring.second_model else None,
                yaw=v.yaw,
                probe_sha256=hashlib.sha256(query.probe).hexdigest(),
                probe_faces=[v.probe_face] if v.probe_face else None,
                face=query.face,
            )
            kept = [c for c in result.candidates if c.band in (STRONG, POSSIBLE)]
            if kept:
                results[query.id] = replace(
                    result,
                    k=len(kept),
                    candidates=[replace(c, rank=r) for r, c in enumerate(kept, start=1)],
                )
        return results, scanned, top

    def _record(
        self, query: DueQuery, result: SearchResult | None, top: int, now: datetime
    ) -> int | None:
        """Record the query's alert (a search of its case) and move its mark, in one
        transaction; or only move its mark. Returns the alert's id, if one was raised."""
        gov = self.ctx.governance
        seen_up_to = max(top, query.after_face_id)
        if result is None:
            gov.run(
                query.owner,
                "standing.run",
                {"standing_query": query.id},
                lambda s, a: st.advance(s, query.id, seen_up_to, query.after_face_id, now),
            )
            return None
        k = len(result.candidates)
        asked = {"case": query.case, "standing_query": query.id, "k": k}

        def record(s: Any, a: Any) -> int | None:
            if not st.advance(s, query.id, seen_up_to, query.after_face_id, now):
                return None  # another run compared these faces first
            permit = SearchPermit(
                query.owner, query.case, k, min(k, gov.policy.search.max_candidates)
            )
            matcher = SuppressionMatcher.load(s, gov.policy.suppression.threshold, gov.cipher)
            outcome = record_one(
                s, a, gov.policy, matcher, gov.cipher, permit, query.probe, result, query.face,
                None, now,
            )  # fmt: skip
            if not outcome.candidates:
                raise _NothingShown
            best = max(c.score for c in outcome.candidates)
            alert = st.record_alert(
                s, a, query.owner, query.id, outcome.search_id, len(outcome.candidates), best, now
            )
            return alert.id

        try:
            found: int | None = gov.run(query.owner, "search", asked, record)
        except _NothingShown:
            gov.run(
                query.owner,
                "standing.run",
                {"standing_query": query.id},
                lambda s, a: st.advance(s, query.id, seen_up_to, query.after_face_id, now),
            )
            return None
        return found
