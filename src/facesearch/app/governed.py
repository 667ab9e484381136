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

The request's face, collection and filters reach the engine once, through the steps. The
resource service that runs them is :class:`facesearch.app.searches.Searches`; the
multi-probe steps are in :mod:`facesearch.app.multisearch`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session

from facesearch.govern import Governance
from facesearch.govern.audit import AuditLog
from facesearch.govern.errors import RefusedError
from facesearch.govern.searches import SearchOutcome, SearchPermit, permit_search
from facesearch.govern.searches import record_search as record_one
from facesearch.govern.suppression import SuppressionMatcher
from facesearch.ingest.sources import parse_datetime
from facesearch.search.scoring import SearchResult
from facesearch.store.catalog import SearchFilters

__all__ = [
    "NO_CASE",
    "OnePhoto",
    "SearchFilters",
    "SearchRequest",
    "SearchSteps",
    "governed_search",
    "search_filters",
    "search_photo",
]

P = TypeVar("P")
R = TypeVar("R")
Out = TypeVar("Out")
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
    steps: SearchSteps[P, R, Out],
) -> tuple[Out, R]:
    """Permit, engine search, record (see the module docstring); returns the recorded
    outcome and the engine's result."""

    def permit_step(s: Session, _a: AuditLog) -> tuple[SearchPermit, P]:  # step 1
        permit = permit_search(
            s, gov.policy, actor, case, k, gov.clock(), collection=asked.get("collection")
        )
        return permit, steps.prepare(s, permit)

    permit, prepared = gov.run(actor, "search", asked, permit_step)
    try:  # step 2, holding no transaction
        result = steps.engine(permit, prepared)
    except RefusedError:
        raise
    except Exception as exc:
        gov.record(actor, "search.failed", {**asked, "error": f"{type(exc).__name__}: {exc}"})
        raise
    outcome = gov.run(  # step 3
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
        matcher = SuppressionMatcher.load(session, gov.policy.suppression.threshold, gov.cipher)
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
    return outcome, result
