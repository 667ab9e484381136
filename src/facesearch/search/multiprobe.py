"""Multi-probe search: several photos of one person (or a media-set cluster) as one query.

The query is the mean of the probes' normalised embeddings, normalised again (and, with score
fusion, the same for the probes' second-recognizer vectors). Candidates are the union of the
index's best for the mean and for each probe alone, so a face that only one probe finds is
still scored. Every candidate gets:

* ``mean_score``: the (fused, as for single probes: see :class:`facesearch.search.scoring.Scoring`)
  score against the mean; candidates are ranked by it and banded by it;
* ``best_score``, ``best_probe``: the best single probe's score and which probe gave it;
* ``scores``: each probe's own score, and ``matched``: the probes whose own score is at or above
  the match band (the result says which probes matched each candidate).

Pure engine: reads the gallery only; governance (case, audit, storage) is the caller's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from facesearch.engine.quality import estimate_yaw
from facesearch.errors import ModelMismatchError
from facesearch.search.scoring import LEADS_NOTICE

if TYPE_CHECKING:
    from facesearch.search.gallery import Gallery
    from facesearch.store.catalog import SearchFilters, StoredFace

MAX_PROBES = 20
# each probe's (and the mean's) best this many from the index (at least k) are scored
SHORTLIST = 20


@dataclass(frozen=True)
class ProbeVector:
    """One probe as searched: its unit embedding (and second vector with fusion), quality and
    where it came from (``sha256`` of the bytes given, ``face`` searched in them, or the media
    face of a cluster)."""

    embedding: np.ndarray
    sha256: str
    quality: float | None = None
    second: np.ndarray | None = None
    yaw: float | None = None
    face: int | None = None
    media_face_id: int | None = None
    label: str = ""
    flags: tuple[str, ...] = ()  # the engine's quality flags of the face (profile, blurred...)


@dataclass(frozen=True)
class MultiCandidate:
    rank: int
    face_id: int
    score: float  # against the mean: the rank score
    band: str
    fused: bool
    best_score: float
    best_band: str
    best_probe: int  # position, from 1
    scores: tuple[float, ...]  # by probe position
    matched: tuple[int, ...]  # positions whose own score is at or above the match band
    bbox: tuple[float, float, float, float]
    crop: str | None
    image_sha256: str
    image_path: str
    provenance: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class MultiProbeResult:
    """Fits what governance reads of a search result (``SearchResultLike``): the first probe's
    hash, the model, thresholds, the lowest probe quality (so the policy's minimum applies to
    every probe) and the candidates."""

    probe_sha256: str
    model: str
    model_sha256: str
    thresholds: dict[str, float]
    k: int
    probes: tuple[ProbeVector, ...]
    candidates: list[MultiCandidate]
    gallery_size: int
    seconds: float
    notice: str = LEADS_NOTICE

    @property
    def probe_quality(self) -> float | None:
        known = [p.quality for p in self.probes if p.quality is not None]
        return min(known) if len(known) == len(self.probes) else None

    face = None  # no single face was searched


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    if n == 0.0:
        raise ValueError("the probes' embeddings cancel out (mean of zero length)")
    return (v / n).astype(np.float32)


def mean_probe(probes: Sequence[ProbeVector]) -> ProbeVector:
    """The mean of the probes' normalised embeddings (normalised), and of their second
    vectors when every probe has one."""
    emb = _unit(np.mean([_unit(np.asarray(p.embedding, np.float32)) for p in probes], axis=0))
    seconds = [p.second for p in probes]
    second = None
    if all(s is not None for s in seconds):
        second = _unit(np.mean([_unit(np.asarray(s, np.float32)) for s in seconds], axis=0))
    yaws = [p.yaw for p in probes if p.yaw is not None and np.isfinite(p.yaw)]
    return ProbeVector(
        emb, "", second=second, yaw=float(np.mean(yaws)) if yaws else None, label="mean"
    )


def multi_probe_search(
    gallery: Gallery,
    probes: Sequence[ProbeVector],
    k: int,
    *,
    model: str,
    collection: str | None = None,
    filters: SearchFilters | None = None,
    started: float | None = None,
) -> MultiProbeResult:
    """The k gallery faces best matching the mean of ``probes`` (see the module's text)."""
    start = time.perf_counter() if started is None else started
    if not probes:
        raise ValueError("a multi-probe search needs at least one probe")
    if len(probes) > MAX_PROBES:
        raise ValueError(f"at most {MAX_PROBES} probes in one search, got {len(probes)}")
    if k < 1:
        raise ValueError("k must be at least 1")
    index = gallery.index
    if model != index.model_key:
        raise ModelMismatchError(
            f"probes embedded with {model} but the gallery holds {index.model_key}"
        )
    mean = mean_probe(probes)
    queries = np.stack([mean.embedding, *[_unit(np.asarray(p.embedding)) for p in probes]])
    hits = gallery.search_index(queries, max(k, SHORTLIST), collection=collection, filters=filters)
    ids = sorted({int(i) for i in hits.ids.ravel() if i >= 0})
    stored = gallery.catalog.faces(ids)
    ids = [i for i in ids if i in stored]  # deleted after the index was written
    spec = gallery.manifest.recognizer

    def result(candidates: list[MultiCandidate]) -> MultiProbeResult:
        return MultiProbeResult(
            probe_sha256=probes[0].sha256,
            model=index.model_key,
            model_sha256=spec.sha256,
            thresholds=gallery.scoring.thresholds(),
            k=k,
            probes=tuple(probes),
            candidates=candidates,
            gallery_size=len(index),
            seconds=round(time.perf_counter() - start, 4),
        )

    if not ids:
        return result([])
    vectors = gallery.catalog.embeddings(ids).astype(np.float32)
    faces = [stored[i] for i in ids]
    others_second, others_yaw = _others(gallery, faces, mean, probes)
    scoring = gallery.scoring

    def score(p: ProbeVector) -> tuple[np.ndarray, np.ndarray]:
        primary = vectors @ _unit(np.asarray(p.embedding, np.float32))
        s, fused = scoring.scores(primary, p.second, others_second, p.yaw, others_yaw)
        return np.asarray(s, np.float64), np.asarray(fused, bool)

    mean_scores, mean_fused = score(mean)
    per = [score(p) for p in probes]
    per_scores = np.stack([s for s, _ in per], axis=1)  # (n, probes)
    per_fused = np.stack([f for _, f in per], axis=1)
    order = np.argsort(-mean_scores, kind="stable")[:k]
    candidates = []
    for rank, row in enumerate(order.tolist(), start=1):
        sf = faces[row]
        best = int(np.argmax(per_scores[row]))
        matched = tuple(
            j + 1
            for j in range(len(probes))
            if per_scores[row, j] >= scoring.bands_for(bool(per_fused[row, j])).match
        )
        candidates.append(
            MultiCandidate(
                rank=rank,
                face_id=sf.face_id,
                score=round(float(mean_scores[row]), 4),
                band=scoring.bands_for(bool(mean_fused[row])).band(float(mean_scores[row])),
                fused=bool(mean_fused[row]),
                best_score=round(float(per_scores[row, best]), 4),
                best_band=scoring.bands_for(bool(per_fused[row, best])).band(
                    float(per_scores[row, best])
                ),
                best_probe=best + 1,
                scores=tuple(round(float(x), 4) for x in per_scores[row]),
                matched=matched,
                bbox=sf.bbox,
                crop=sf.crop,
                image_sha256=sf.image_sha256,
                image_path=sf.image_path,
                provenance=sf.provenance,
            )
        )
    return result(candidates)


def _others(
    gallery: Gallery,
    faces: Sequence[StoredFace],
    mean: ProbeVector,
    probes: Sequence[ProbeVector],
) -> tuple[np.ndarray, np.ndarray | None]:
    """The candidates' stored second vectors (NaN rows where absent) and yaws (for a
    pose-dependent fusion), as single-probe search reads them."""
    scoring = gallery.scoring
    dims = [len(p.second) for p in (mean, *probes) if p.second is not None]
    dim = dims[0] if dims else 0
    others = np.full((len(faces), dim), np.nan, np.float32)
    if dim and scoring.fused:
        for row, sf in enumerate(faces):
            if sf.second_embedding is not None and sf.second_model == scoring.second_model:
                others[row] = sf.second_embedding
    others_yaw = None
    if scoring.fusion is not None and scoring.fusion.pose_dependent:
        others_yaw = np.array(
            [estimate_yaw(np.asarray(sf.landmarks)) if sf.landmarks else np.nan for sf in faces]
        )
    return others, others_yaw


def probe_from_face(face: Any, sha256: str, label: str = "") -> ProbeVector:
    """A :class:`ProbeVector` from a pipeline face (``facesearch.engine.pipeline.Face``)."""
    second = getattr(face, "second", None)
    return ProbeVector(
        embedding=np.asarray(face.embedding, np.float32),
        sha256=sha256,
        quality=float(face.quality.score),
        second=None if second is None else np.asarray(second, np.float32),
        yaw=float(face.quality.yaw),
        face=int(face.index),
        label=label,
        flags=tuple(face.quality.flags),
    )
