"""The search resource: governed searches (one photo, several photos, a media-set cluster),
their results, probes and reviews. Each search runs through
:func:`facesearch.app.governed.governed_search` (permit, engine search, record)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from facesearch.app.governed import SearchRequest, governed_search, search_photo
from facesearch.app.multisearch import (
    DEFAULT_CLUSTER_PROBES,
    Cluster,
    Photos,
    asked_of,
    case_for_probes,
)
from facesearch.app.overrides import Overrides
from facesearch.app.principal import Principal
from facesearch.app.probes import ProbeFaces, probe_faces
from facesearch.app.results import Media, SearchView
from facesearch.engine.formats import sniff_mime
from facesearch.govern.multisearch import MultiSearchOutcome, ProbeScores, ProbeView, multi_details
from facesearch.govern.searches import ReviewView, SearchOutcome, VerificationView
from facesearch.govern.verifications import Identification
from facesearch.search.grid import result_grid
from facesearch.search.scoring import SearchResult

if TYPE_CHECKING:
    from facesearch.app.context import AppContext

__all__ = ["SearchRequest", "Searches"]


class Searches:
    """Governed searches, their results, probes and reviews."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        # supervised quality overrides: asked, granted or refused, used by a search
        self.overrides = Overrides(ctx)

    def search(
        self, who: Principal, case: str | None, probe: bytes, request: SearchRequest
    ) -> SearchView:
        """A governed search: refused (and logged) without a case, outside an open, approved
        case, without an assignment, or over the quota; BusyError when the queue is full."""
        pool = self.ctx.pool
        outcome, engine = search_photo(
            self.ctx.governance,
            who.username,
            case,
            probe,
            request,
            lambda p, k, r: pool.run(lambda: self.engine_search(p, k, r)),
        )
        return SearchView(
            outcome=outcome,
            face=engine.face,
            probe_faces=tuple(engine.probe_faces),
            gallery_size=engine.gallery_size,
            seconds=engine.seconds,
            boxes={c.face_id: c.bbox for c in engine.candidates},
            probe_ambiguous=bool(engine.probe_ambiguous),
        )

    def probe_faces(self, who: Principal, case: str | None, probe: bytes) -> ProbeFaces:
        """The faces of a probe before any search (nothing searched, stored or counted):
        each with box, detector confidence, quality and flags, and the one to preselect
        (:mod:`facesearch.app.probes`); allowed to whoever may search ``case``."""
        return probe_faces(self.ctx, who, case, probe)

    def engine_search(self, probe: bytes, k: int, request: SearchRequest) -> SearchResult:
        """The engine's search, on the calling (search pool) thread's own face pipeline,
        under the engine's read lock, over every face committed before it started (other
        processes' too: ``AppContext.reading``). Also what the load benchmark compares
        against."""
        with self.ctx.reading():  # the verifier after catching up: of the index's model
            verifier = self.ctx.verifier()
            return self.ctx.gallery.search(
                probe,
                k,
                face=request.face,
                collection=request.collection,
                filters=request.filters,
                include_flagged=request.include_flagged,
                verifier=verifier,
                refresh=False,
            )

    def multi_search(
        self,
        who: Principal,
        case: str | None,
        photos: Sequence[bytes],
        request: SearchRequest,
        *,
        names: Sequence[str] | None = None,
        faces: Sequence[int | None] | None = None,
    ) -> MultiSearchOutcome:
        """Several photos of one person (the largest face of each, or ``faces[i]``) as one
        governed query inside ``case`` (its steps: app/multisearch.py)."""
        gov = self.ctx.governance
        labels = list(names) if names else [f"photo {i}" for i in range(1, len(photos) + 1)]
        asked = asked_of(case, request, [hashlib.sha256(p).hexdigest() for p in photos])
        number = case_for_probes(gov, who, case, len(photos), asked)
        for label, data in zip(labels, photos, strict=True):
            if not data:
                gov.refuse(who.username, "search", f"the probe {label} is empty", asked)
        chosen = list(faces) if faces else [request.face] * len(photos)
        steps = Photos(self.ctx, list(photos), labels, chosen, request)
        outcome, _ = governed_search(gov, who.username, number, request.k, asked, steps)
        return outcome

    def cluster_search(
        self,
        who: Principal,
        case: str | None,
        cluster: int,
        request: SearchRequest,
        max_probes: int = DEFAULT_CLUSTER_PROBES,
    ) -> MultiSearchOutcome:
        """The ``max_probes`` best faces (by quality) of one of the case's media-set clusters
        as one governed query. Their stored face crops are the probes kept with the search;
        the embeddings are the ones the import made (the primary model only: no fusion)."""
        gov = self.ctx.governance
        asked = {**asked_of(case, request, []), "cluster": cluster, "max_probes": max_probes}
        number = case_for_probes(gov, who, case, max_probes, asked)
        steps = Cluster(self.ctx, cluster, max_probes, request)
        outcome, _ = governed_search(gov, who.username, number, request.k, asked, steps)
        return outcome

    def multi_probe_details(
        self, search_ids: Sequence[int]
    ) -> dict[int, tuple[tuple[ProbeView, ...], dict[int, ProbeScores], int | None]]:
        """The probes and per-candidate scores of those searches that were multi-probe (for
        searches the caller has just been allowed to see: no check, no audit entry)."""
        with self.ctx.governance.session() as s:
            return multi_details(s, search_ids)

    def grid(self, view: SearchView, probe: bytes) -> bytes:
        """A PNG of the probe face and each candidate's crop with rank, score, band, source."""

        gallery = self.ctx.gallery
        pixels = gallery.decode(probe).pixels[:, :, ::-1]
        return result_grid(view.to_dict(), pixels, gallery.blobs)

    def view(self, who: Principal, search_id: int) -> SearchOutcome:
        found: SearchOutcome = self.ctx.governance.view_search(who.username, search_id)
        return found

    def probe_image(self, who: Principal, search_id: int) -> Media:
        data: bytes = self.ctx.governance.probe_image(who.username, search_id)
        return Media(data, sniff_mime(data) or "application/octet-stream")

    def review(
        self, who: Principal, search_id: int, face_id: int, decision: str, note: str
    ) -> ReviewView:
        found: ReviewView = self.ctx.governance.review(
            who.username, search_id, face_id, decision, note
        )
        return found

    def verify(
        self,
        who: Principal,
        search_id: int,
        face_id: int,
        verdict: str,
        note: str = "",
        basis: str = "",
    ) -> VerificationView:
        """A second examiner's independent verdict (confirm, reject, inconclusive) on a
        candidate reviewed as a possible match; refused (and logged) for the searcher, the
        possible-match reviewer, auditors, administrators and people outside the case."""
        found: VerificationView = self.ctx.governance.verify(
            who.username, search_id, face_id, verdict, note, basis
        )
        return found

    def identifications(
        self, who: Principal, case: str, status: str | None = None
    ) -> list[Identification]:
        """The case's possible matches with their reviews, verifications and status, as
        ``who`` may see them (others' verdicts withheld until they record their own)."""
        found: list[Identification] = self.ctx.governance.identifications(
            who.username, case, status
        )
        return found

    def face_boxes(self, face_ids: Sequence[int]) -> dict[int, tuple[float, float, float, float]]:
        stored = self.ctx.gallery.catalog.faces(list(face_ids))
        return {i: f.bbox for i, f in stored.items()}
