"""Governed searches, written once: permit, engine search, record.

:func:`governed_search` is the one way a search runs, for a single photo, several photos of
one person and a media-set cluster alike (each a :class:`SearchSteps`):

1. **permit**, in one governance transaction (:meth:`Governance.run`): role, open and approved
   case, assignment, quota (``govern.searches.permit_search``), then whatever the kind of
   search must read before the engine runs (a cluster's faces). Refusals are logged.
2. **engine search**, on the bounded search pool under the engine's read lock, holding no
   transaction; a failure is logged as ``search.failed``.
3. **record**, in a second transaction: the case checked again, the policy's quality, band and
   suppression rules applied, the probe(s) and candidates stored, the audit entry written.

The request's face, collection and filters reach the engine once, through the steps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy.orm import Session

from facesearch.app.principal import Principal
from facesearch.app.results import Media, SearchView, sniff_image_type
from facesearch.govern import Governance
from facesearch.govern.audit import AuditLog
from facesearch.govern.errors import RefusedError
from facesearch.govern.multisearch import MultiSearchOutcome, ProbeScores, ProbeView, multi_details
from facesearch.govern.searches import ReviewView, SearchOutcome, SearchPermit, permit_search
from facesearch.govern.searches import record_search as record_one
from facesearch.govern.suppression import SuppressionMatcher
from facesearch.ingest.sources import parse_datetime
from facesearch.search.scoring import SearchResult
from facesearch.store.catalog import SearchFilters

if TYPE_CHECKING:
    from facesearch.app.context import AppContext

P = TypeVar("P")
R = TypeVar("R")
O_co = TypeVar("O_co", covariant=True)

NO_CASE = "a search needs a case: an open, approved case (the CLI's --case CASE)"


@dataclass(frozen=True)
class SearchRequest:
    """What a client asks of a search besides the probe."""

    k: int | None = None
    face: int | None = None
    filters: SearchFilters | None = None
    include_flagged: bool = False

    @property
    def collection(self) -> str | None:
        return self.filters.collection if self.filters else None


class SearchSteps(Protocol[P, R, O_co]):
    """One kind of governed search: what it reads before the engine, the engine search, and
    how it is recorded (each step is given the permit)."""

    def prepare(self, session: Session, permit: SearchPermit) -> P: ...

    def engine(self, permit: SearchPermit, prepared: P) -> R: ...

    def record(
        self,
        gov: Governance,
        session: Session,
        audit: AuditLog,
        permit: SearchPermit,
        prepared: P,
        result: R,
    ) -> O_co: ...


def governed_search(
    gov: Governance,
    actor: str,
    case: str,
    k: int | None,
    asked: dict[str, Any],
    steps: SearchSteps[P, R, Any],
) -> tuple[Any, R]:
    """Permit, engine search, record (see the module docstring); returns the recorded
    outcome and the engine's result."""

    def permit_step(s: Session, _a: AuditLog) -> tuple[SearchPermit, P]:
        permit = permit_search(s, gov.policy, actor, case, k, gov.clock())
        return permit, steps.prepare(s, permit)

    permit, prepared = gov.run(actor, "search", asked, permit_step)
    try:
        result = steps.engine(permit, prepared)
    except RefusedError:
        raise
    except Exception as exc:
        gov.record(actor, "search.failed", {**asked, "error": f"{type(exc).__name__}: {exc}"})
        raise
    outcome = gov.run(
        actor,
        "search",
        asked,
        lambda s, a: steps.record(gov, s, a, permit, prepared, result),
    )
    return outcome, result


def search_filters(
    collection: str | None,
    captured_from: str | None,
    captured_to: str | None,
    source_prefix: str | None,
) -> SearchFilters:
    """The filters of a search from a client's text: ISO 8601 dates (a date alone as the
    end covers that whole day). ValueError names a date that is not one."""
    try:
        start = parse_datetime(captured_from) if captured_from else None
        end = parse_datetime(captured_to) if captured_to else None
    except ValueError as exc:
        raise ValueError(f"dates must be ISO 8601 (YYYY-MM-DD): {exc}") from None
    if end is not None and captured_to and len(captured_to.strip()) == 10:
        end = end.replace(hour=23, minute=59, second=59, microsecond=999999)  # whole last day
    return SearchFilters(collection or None, start, end, source_prefix or None)


EngineSearch = Callable[[bytes, int, SearchRequest], SearchResult]


@dataclass(frozen=True)
class OnePhoto:
    """A search with one photo: ``engine(probe, k, request)`` is the engine's search."""

    probe: bytes
    request: SearchRequest
    search: EngineSearch

    def prepare(self, session: Session, permit: SearchPermit) -> None:
        return None

    def engine(self, permit: SearchPermit, prepared: None) -> SearchResult:
        return self.search(self.probe, permit.k_used, self.request)

    def record(
        self,
        gov: Governance,
        session: Session,
        audit: AuditLog,
        permit: SearchPermit,
        prepared: None,
        result: SearchResult,
    ) -> SearchOutcome:
        matcher = SuppressionMatcher.load(session, gov.policy.suppression.threshold)
        return record_one(
            session,
            audit,
            gov.policy,
            matcher,
            gov.cipher,
            permit,
            self.probe,
            result,
            self.request.face,
            self.request.collection,
            gov.clock(),
        )


def search_photo(
    gov: Governance,
    actor: str,
    case: str | None,
    probe: bytes,
    request: SearchRequest,
    search: EngineSearch,
) -> tuple[SearchOutcome, SearchResult]:
    """A governed search with one photo: refused (and logged) without a case or with an
    empty probe, then :func:`governed_search`."""
    sha = hashlib.sha256(probe).hexdigest()
    if not case:
        gov.refuse(actor, "search", NO_CASE, {"probe_sha256": sha, "k": request.k})
    asked = {
        "case": case,
        "probe_sha256": sha,
        "k": request.k,
        "face": request.face,
        "collection": request.collection,
    }
    if not probe:
        gov.refuse(actor, "search", "the probe image is empty", asked)
    outcome, result = governed_search(
        gov, actor, case, request.k, asked, OnePhoto(probe, request, search)
    )
    found: SearchOutcome = outcome
    return found, result


class Searches:
    """Governed searches, their results, probes and reviews."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

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

    def engine_search(self, probe: bytes, k: int, request: SearchRequest) -> SearchResult:
        """The engine's search, on the calling (search pool) thread's own face pipeline,
        under the engine's read lock. Also what the load benchmark compares against."""
        verifier = self.ctx.verifier()
        with self.ctx.engine_lock.read():
            return self.ctx.gallery.search(
                probe,
                k,
                face=request.face,
                collection=request.collection,
                filters=request.filters,
                include_flagged=request.include_flagged,
                verifier=verifier,
            )

    def multi_search(
        self,
        who: Principal,
        case: str | None,
        photos: Sequence[bytes],
        request: SearchRequest,
        *,
        names: Sequence[str] | None = None,
    ) -> MultiSearchOutcome:
        """Several photos of one person as one governed query (see app/multisearch.py)."""
        from facesearch.app.multisearch import search_photos

        return search_photos(self.ctx, who, case, photos, request, names=names)

    def cluster_search(
        self,
        who: Principal,
        case: str | None,
        cluster: int,
        request: SearchRequest,
        max_probes: int = 5,
    ) -> MultiSearchOutcome:
        """The best faces of one of the case's media-set clusters as one governed query."""
        from facesearch.app.multisearch import search_cluster

        return search_cluster(self.ctx, who, case, cluster, request, max_probes=max_probes)

    def multi_probe_details(
        self, search_ids: Sequence[int]
    ) -> dict[int, tuple[tuple[ProbeView, ...], dict[int, ProbeScores], int | None]]:
        """The probes and per-candidate scores of those searches that were multi-probe (for
        searches the caller has just been allowed to see: no check, no audit entry)."""
        with self.ctx.governance.session() as s:
            return multi_details(s, search_ids)

    def grid(self, view: SearchView, probe: bytes) -> bytes:
        """A PNG of the probe face and each candidate's crop with rank, score, band, source."""
        from facesearch.search.grid import result_grid

        gallery = self.ctx.gallery
        pixels = gallery.decode(probe).pixels[:, :, ::-1]
        return result_grid(view.to_dict(), pixels, gallery.blobs)

    def of_case(self, who: Principal, number: str) -> list[SearchOutcome]:
        """The searches of a case (as ``case show`` lists them)."""
        found: list[SearchOutcome] = self.ctx.governance.show_case(who.username, number)[1]
        return found

    def view(self, who: Principal, search_id: int) -> SearchOutcome:
        found: SearchOutcome = self.ctx.governance.view_search(who.username, search_id)
        return found

    def probe_image(self, who: Principal, search_id: int) -> Media:
        data: bytes = self.ctx.governance.probe_image(who.username, search_id)
        return Media(data, sniff_image_type(data) or "application/octet-stream")

    def review(
        self, who: Principal, search_id: int, face_id: int, decision: str, note: str
    ) -> ReviewView:
        found: ReviewView = self.ctx.governance.review(
            who.username, search_id, face_id, decision, note
        )
        return found

    def face_boxes(self, face_ids: Sequence[int]) -> dict[int, tuple[float, float, float, float]]:
        stored = self.ctx.gallery.catalog.faces(list(face_ids))
        return {i: f.bbox for i, f in stored.items()}
