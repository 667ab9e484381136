"""Multi-probe searches: several photos of one person, or a case's media-set cluster, as one
governed gallery query.

Both run through :func:`facesearch.app.governed.governed_search` (permit, engine search on the
search pool holding no transaction, record), called by
:meth:`facesearch.app.searches.Searches.multi_search` and
:meth:`~facesearch.app.searches.Searches.cluster_search`: :class:`Photos` and :class:`Cluster`
are their steps; the record is :func:`facesearch.govern.multisearch.record_multi_search`.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.app.governed import NO_CASE, SearchRequest
from facesearch.govern import Governance
from facesearch.govern.audit import AuditLog
from facesearch.govern.errors import RefusedError
from facesearch.govern.multisearch import MultiSearchOutcome, record_multi_search
from facesearch.govern.schema import Case
from facesearch.govern.searches import SearchPermit
from facesearch.govern.suppression import SuppressionMatcher
from facesearch.media.acts import MediaService
from facesearch.media.schema import MediaFace, MediaFile
from facesearch.media.vectors import open_face_vector
from facesearch.search.multiprobe import (
    MAX_PROBES,
    MultiProbeResult,
    ProbeVector,
    multi_probe_search,
    probe_from_face,
)

if TYPE_CHECKING:
    from facesearch.app.context import AppContext
    from facesearch.app.principal import Principal

DEFAULT_CLUSTER_PROBES = 5


@dataclass(frozen=True)
class Photos:
    """The steps of a search with several photos (the largest face of each, or ``faces[i]``)."""

    ctx: AppContext
    photos: list[bytes]
    labels: list[str]
    faces: list[int | None]
    request: SearchRequest

    def prepare(self, session: Session, permit: SearchPermit) -> None:
        return None

    def engine(self, permit: SearchPermit, prepared: None) -> MultiProbeResult:
        ctx = self.ctx

        def run() -> MultiProbeResult:
            start = time.perf_counter()
            with ctx.reading():  # the verifier after catching up: of the index's model
                verifier = ctx.verifier()
                probes = []
                for label, data, face in zip(self.labels, self.photos, self.faces, strict=True):
                    _, found, choice = verifier.choose(data, face, photo=label)
                    f = found[choice.used]
                    probes.append(probe_from_face(f, hashlib.sha256(data).hexdigest(), label))
                return _search(ctx, probes, permit, self.request, start)

        return ctx.pool.run(run)

    def record(
        self,
        gov: Governance,
        session: Session,
        audit: AuditLog,
        permit: SearchPermit,
        prepared: None,
        result: MultiProbeResult,
    ) -> MultiSearchOutcome:
        return _record(gov, session, audit, permit, self.photos, result, self.request, None)


@dataclass(frozen=True)
class Cluster:
    """The steps of a search with the ``max_probes`` best faces (by quality) of a media-set
    cluster of the case: read in the permit's transaction, after the case was checked."""

    ctx: AppContext
    cluster: int
    max_probes: int
    request: SearchRequest

    def prepare(self, session: Session, permit: SearchPermit) -> list[tuple[ProbeVector, bytes]]:

        ctx, cluster = self.ctx, self.cluster
        media = MediaService(ctx.governance, ctx.gallery)
        c = session.execute(select(Case).where(Case.number == permit.case)).scalar_one()
        rows = session.execute(
            select(MediaFace, MediaFile.path)
            .join(MediaFile, MediaFile.id == MediaFace.file_id)
            .where(
                MediaFace.case_id == c.id,
                MediaFace.cluster_id == cluster,
                MediaFace.searchable.is_(True),
                MediaFace.crop.is_not(None),
            )
            .order_by(MediaFace.quality.desc(), MediaFace.id)
            .limit(self.max_probes)
        ).all()
        if not rows:
            raise RefusedError("search", f"case {c.number!r} has no cluster {cluster} to search")
        out = []
        for f, path in rows:
            crop = media.blobs.get(str(f.crop))
            where = path if f.frame_ms is None else f"{path}@{f.frame_ms}ms"
            out.append(
                (
                    ProbeVector(
                        embedding=open_face_vector(media.cipher, f.embedding, f.id, f.model),
                        sha256=hashlib.sha256(crop).hexdigest(),
                        quality=float(f.quality),
                        media_face_id=int(f.id),
                        label=f"media face {f.id} ({where})",
                    ),
                    crop,
                )
            )
        if any(f.model != ctx.gallery.model_key for f, _ in rows):
            raise RefusedError(
                "search",
                f"cluster {cluster}'s faces were embedded with another model than the "
                "gallery's; import the media again",
            )
        return out

    def engine(
        self, permit: SearchPermit, prepared: list[tuple[ProbeVector, bytes]]
    ) -> MultiProbeResult:
        ctx = self.ctx
        probes = [p for p, _ in prepared]

        def run() -> MultiProbeResult:
            start = time.perf_counter()
            with ctx.reading():
                return _search(ctx, probes, permit, self.request, start)

        return ctx.pool.run(run)

    def record(
        self,
        gov: Governance,
        session: Session,
        audit: AuditLog,
        permit: SearchPermit,
        prepared: list[tuple[ProbeVector, bytes]],
        result: MultiProbeResult,
    ) -> MultiSearchOutcome:
        crops = [b for _, b in prepared]
        return _record(gov, session, audit, permit, crops, result, self.request, self.cluster)


def asked_of(case: str | None, request: SearchRequest, shas: list[str]) -> dict[str, Any]:
    return {
        "case": case,
        "probe_sha256": shas,
        "k": request.k,
        "collection": request.collection,
        "multi_probe": True,
    }


def case_for_probes(
    gov: Governance, who: Principal, case: str | None, n: int, asked: dict[str, Any]
) -> str:
    """The case, once it is known that there is one and a number of probes allowed."""
    if not case:
        gov.refuse(who.username, "search", NO_CASE, asked)
    if n < 1:
        gov.refuse(who.username, "search", "a multi-probe search needs at least one probe", asked)
    if n > MAX_PROBES:
        gov.refuse(
            who.username, "search", f"at most {MAX_PROBES} probes in one search, got {n}", asked
        )
    return case


def _search(
    ctx: AppContext,
    probes: list[ProbeVector],
    permit: SearchPermit,
    request: SearchRequest,
    start: float,
) -> MultiProbeResult:
    return multi_probe_search(
        ctx.gallery,
        probes,
        permit.k_used,
        model=ctx.gallery.model_key,
        collection=request.collection,
        filters=request.filters,
        started=start,
    )


def _record(
    gov: Governance,
    session: Session,
    audit: AuditLog,
    permit: SearchPermit,
    probe_bytes: list[bytes],
    result: MultiProbeResult,
    request: SearchRequest,
    cluster: int | None,
) -> MultiSearchOutcome:
    matcher = SuppressionMatcher.load(session, gov.policy.suppression.threshold, gov.cipher)
    return record_multi_search(
        session,
        audit,
        gov.policy,
        matcher,
        gov.cipher,
        permit,
        probe_bytes,
        result,
        request.collection,
        gov.clock(),
        cluster=cluster,
    )
