"""Multi-probe searches through the application service: several photos of one person, or a
case's media-set cluster, as one governed gallery query.

The same three steps as a single-probe search (``Governance.search``): the check (role, open
case, assignment, quota; for a cluster, that the cluster is the case's) in one transaction; the
probes embedded and the engine search on the search pool, holding no transaction; the record
(:func:`facesearch.govern.multisearch.record_multi_search`) in a second transaction. Refusals
and failures are logged.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.errors import RefusedError
from facesearch.govern.multisearch import MultiSearchOutcome, record_multi_search
from facesearch.govern.schema import Case
from facesearch.govern.searches import SearchPermit, permit_search
from facesearch.govern.suppression import SuppressionMatcher
from facesearch.search.multiprobe import (
    MAX_PROBES,
    MultiProbeResult,
    ProbeVector,
    multi_probe_search,
    probe_from_face,
)

if TYPE_CHECKING:
    from facesearch.app.principal import Principal
    from facesearch.app.service import SearchRequest, Service

DEFAULT_CLUSTER_PROBES = 5


def search_photos(
    service: Service,
    who: Principal,
    case: str | None,
    photos: Sequence[bytes],
    request: SearchRequest,
    *,
    names: Sequence[str] | None = None,
    faces: Sequence[int | None] | None = None,
) -> MultiSearchOutcome:
    """Search the gallery with several photos of one person (the largest face of each, or
    ``faces[i]``), as one query inside ``case``."""
    gov = service.governance
    labels = list(names) if names else [f"photo {i}" for i in range(1, len(photos) + 1)]
    asked = _asked(case, request, [hashlib.sha256(p).hexdigest() for p in photos])
    _check_count(service, who, case, len(photos), asked)
    for label, data in zip(labels, photos, strict=True):
        if not data:
            gov.refuse(who.username, "search", f"the probe {label} is empty", asked)
    permit = _permit(service, who, case, request, asked)
    chosen = list(faces) if faces else [request.face] * len(photos)

    def engine() -> MultiProbeResult:
        verifier = service._thread_verifier()
        start = time.perf_counter()
        with service.engine_lock.read():
            probes = []
            for label, data, face in zip(labels, photos, chosen, strict=True):
                _, found, choice = verifier.choose(data, face, photo=label)
                f = found[choice.used]
                probes.append(probe_from_face(f, hashlib.sha256(data).hexdigest(), label))
            return _search(service, probes, permit, request, start)

    result = _run_engine(service, who, engine, asked)
    return _record(service, who, permit, list(photos), result, request, asked, cluster=None)


def search_cluster(
    service: Service,
    who: Principal,
    case: str | None,
    cluster: int,
    request: SearchRequest,
    *,
    max_probes: int = DEFAULT_CLUSTER_PROBES,
) -> MultiSearchOutcome:
    """Search the gallery with the ``max_probes`` best faces (by quality) of a media-set
    cluster of ``case``. Their stored face crops are the probes kept with the search; the
    embeddings are the ones the import made (the primary model only: no fusion)."""
    from facesearch.media.schema import MediaFace, MediaFile
    from facesearch.media.service import MediaService

    gov = service.governance
    asked = {**_asked(case, request, []), "cluster": cluster, "max_probes": max_probes}
    _check_count(service, who, case, max_probes, asked)
    permit = _permit(service, who, case, request, asked)
    media = MediaService(gov, service.gallery)

    def load(s: Session, _a: Any) -> list[tuple[ProbeVector, bytes]]:
        c = s.execute(select(Case).where(Case.number == permit.case)).scalar_one()
        rows = s.execute(
            select(MediaFace, MediaFile.path)
            .join(MediaFile, MediaFile.id == MediaFace.file_id)
            .where(
                MediaFace.case_id == c.id,
                MediaFace.cluster_id == cluster,
                MediaFace.searchable.is_(True),
                MediaFace.crop.is_not(None),
            )
            .order_by(MediaFace.quality.desc(), MediaFace.id)
            .limit(max_probes)
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
                        embedding=np.frombuffer(f.embedding, "<f4").astype(np.float32),
                        sha256=hashlib.sha256(crop).hexdigest(),
                        quality=float(f.quality),
                        media_face_id=int(f.id),
                        label=f"media face {f.id} ({where})",
                    ),
                    crop,
                )
            )
        if any(f.model != service.gallery.model_key for f, _ in rows):
            raise RefusedError(
                "search",
                f"cluster {cluster}'s faces were embedded with another model than the "
                "gallery's; import the media again",
            )
        return out

    loaded = gov._run(who.username, "search", asked, load)
    probes = [p for p, _ in loaded]
    crops = [b for _, b in loaded]

    def engine() -> MultiProbeResult:
        start = time.perf_counter()
        with service.engine_lock.read():
            return _search(service, probes, permit, request, start)

    result = _run_engine(service, who, engine, asked)
    return _record(service, who, permit, crops, result, request, asked, cluster=cluster)


def _asked(case: str | None, request: SearchRequest, shas: list[str]) -> dict[str, Any]:
    filters = request.filters
    return {
        "case": case,
        "probe_sha256": shas,
        "k": request.k,
        "collection": filters.collection if filters else None,
        "multi_probe": True,
    }


def _check_count(
    service: Service, who: Principal, case: str | None, n: int, asked: dict[str, Any]
) -> None:
    gov = service.governance
    if not case:
        gov.refuse(
            who.username,
            "search",
            "a search needs a case: an open, approved case (the CLI's --case CASE)",
            asked,
        )
    if n < 1:
        gov.refuse(who.username, "search", "a multi-probe search needs at least one probe", asked)
    if n > MAX_PROBES:
        gov.refuse(
            who.username, "search", f"at most {MAX_PROBES} probes in one search, got {n}", asked
        )


def _permit(
    service: Service,
    who: Principal,
    case: str | None,
    request: SearchRequest,
    asked: dict[str, Any],
) -> SearchPermit:
    gov = service.governance
    assert case is not None
    permit: SearchPermit = gov._run(
        who.username,
        "search",
        asked,
        lambda s, _a: permit_search(s, gov.policy, who.username, case, request.k, gov.clock()),
    )
    return permit


def _search(
    service: Service,
    probes: list[ProbeVector],
    permit: SearchPermit,
    request: SearchRequest,
    start: float,
) -> MultiProbeResult:
    filters = request.filters
    return multi_probe_search(
        service.gallery,
        probes,
        permit.k_used,
        model=service.gallery.model_key,
        collection=filters.collection if filters else None,
        filters=filters,
        started=start,
    )


def _run_engine(service: Service, who: Principal, engine: Any, asked: dict[str, Any]) -> Any:
    gov = service.governance
    try:
        return service.pool.run(engine)
    except RefusedError:
        raise
    except Exception as exc:
        gov.record(
            who.username, "search.failed", {**asked, "error": f"{type(exc).__name__}: {exc}"}
        )
        raise


def _record(
    service: Service,
    who: Principal,
    permit: SearchPermit,
    probe_bytes: list[bytes],
    result: MultiProbeResult,
    request: SearchRequest,
    asked: dict[str, Any],
    *,
    cluster: int | None,
) -> MultiSearchOutcome:
    gov = service.governance
    filters = request.filters

    def record(s: Session, a: Any) -> MultiSearchOutcome:
        matcher = SuppressionMatcher.load(s, gov.policy.suppression.threshold)
        return record_multi_search(
            s,
            a,
            gov.policy,
            matcher,
            gov.cipher,
            permit,
            probe_bytes,
            result,
            filters.collection if filters else None,
            gov.clock(),
            cluster=cluster,
        )

    outcome: MultiSearchOutcome = gov._run(who.username, "search", asked, record)
    return outcome
