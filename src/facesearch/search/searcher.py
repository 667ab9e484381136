"""Search of a gallery's faces: the index's nearest faces, re-ranked by fused score.

With the probe's second vector and fusion on, the index's best :data:`FUSION_CANDIDATES` (at
least k) are re-ranked by fused score from the second vectors stored in the catalog (made at
ingest or by the pass after it; search never makes one): a candidate without one keeps its
SFace score and SFace's bands. Flagged (low-quality) faces, kept out of the index, are found
by an exact scan of their embeddings in the catalog when asked for. Reads only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from facesearch.engine.quality import estimate_yaw
from facesearch.errors import ModelMismatchError
from facesearch.search.indexing import GalleryIndex
from facesearch.search.scoring import ProbeFace, Scoring, SearchCandidate, SearchResult
from facesearch.store.catalog import SearchFilters, SqlCatalog, StoredFace
from facesearch.store.member_vectors import member_matrix, member_vectors

if TYPE_CHECKING:
    from facesearch.store.blobs import FileBlobStore
    from facesearch.store.s3_blobs import S3BlobStore

# With score fusion, the index's best max(k, this) candidates are re-ranked by fused score, from
# the second vectors stored in the catalog (made at ingest or by the pass after it; search never
# makes one): a candidate without one keeps its SFace score and SFace's bands.
FUSION_CANDIDATES = 20


class Searcher:
    """One gallery's search: its index, catalog, scoring and blobs (for the crops' paths)."""

    def __init__(
        self,
        index: GalleryIndex,
        catalog: SqlCatalog,
        scoring: Scoring,
        blobs: FileBlobStore | S3BlobStore,
        model_sha256: str,
    ) -> None:
        self.index = index
        self.catalog = catalog
        self.scoring = scoring
        self.blobs = blobs
        self.model_sha256 = model_sha256

    def search_embedding(
        self,
        embedding: np.ndarray,
        k: int = 20,
        *,
        model: str,
        second: np.ndarray | None = None,
        yaw: float | None = None,
        collection: str | None = None,
        filters: SearchFilters | None = None,
        probe_sha256: str = "",
        probe_faces: list[ProbeFace] | None = None,
        face: int = 0,
        started: float | None = None,
        include_flagged: bool = False,
        members: Mapping[str, np.ndarray] | None = None,
    ) -> SearchResult:
        """The k gallery faces nearest to ``embedding``; with the probe's ``second`` vector
        and fusion on, the index's best :data:`FUSION_CANDIDATES` (at least k) are re-ranked
        by fused score from their stored second vectors (a face without one keeps its SFace
        score and SFace's bands, ``fused: False``). With an N-recognizer fusion
        (``Scoring.multi``) and the probe's vectors by its other ``members``, the same
        shortlist is re-ranked with the members' vectors in ``face_vectors``. Reads only."""
        start = time.perf_counter() if started is None else started
        if k < 1:
            raise ValueError("k must be at least 1")
        index = self.index.store
        if model != index.model_key:
            raise ModelMismatchError(
                f"probe embedded with {model} but the gallery holds {index.model_key}"
            )
        query = np.asarray(embedding, np.float32)
        fuse = self.scoring.fused and second is not None
        multi = self.scoring.multi is not None and members is not None
        shortlist = max(k, FUSION_CANDIDATES) if fuse or multi else k
        hits = self.index.search(query[None, :], shortlist, collection=collection, filters=filters)
        allowed = None
        filtered = collection is not None or (filters is not None and not filters.empty)
        if include_flagged and filtered:  # flagged faces live only in the catalog
            allowed = self.catalog.face_ids(
                index.model_key, searchable_only=False, collection=collection, filters=filters
            )
        pairs = [
            (int(i), float(s)) for i, s in zip(hits.ids[0], hits.scores[0], strict=True) if i >= 0
        ]
        if include_flagged:
            pairs = sorted(
                pairs + self._flagged_hits(query, shortlist, allowed), key=lambda p: -p[1]
            )[:shortlist]
        return self.result_of(
            pairs,
            k,
            second=second if fuse else None,
            yaw=yaw,
            members=members if multi else None,
            probe_sha256=probe_sha256,
            probe_faces=probe_faces,
            face=face,
            started=start,
        )

    def result_of(
        self,
        pairs: list[tuple[int, float]],
        k: int,
        *,
        second: np.ndarray | None = None,
        yaw: float | None = None,
        probe_sha256: str = "",
        probe_faces: list[ProbeFace] | None = None,
        face: int = 0,
        started: float | None = None,
        members: Mapping[str, np.ndarray] | None = None,
    ) -> SearchResult:
        """The result of (face id, primary score) ``pairs`` the caller found: re-ranked by
        fused score when the probe's ``second`` vector is given and fusion is on, the best k
        as candidates with their bands, images and provenance. ``search_embedding`` uses it
        for the index's shortlist; a standing query for the faces an ingest added."""
        start = time.perf_counter() if started is None else started
        fuse = self.scoring.fused and second is not None
        stored = self.catalog.faces([i for i, _ in pairs])
        pairs = [(i, s) for i, s in pairs if i in stored]  # deleted after the index was written
        if self.scoring.multi is not None and members is not None:
            scored = self._multi_fused(pairs, members)
        elif fuse:
            scored = self._fused(pairs, stored, second, yaw)
        else:
            scored = [(i, s, False) for i, s in pairs]
        candidates: list[SearchCandidate] = []
        for face_id, score, fused in scored[:k]:
            sf = stored[face_id]
            candidates.append(
                SearchCandidate(
                    rank=len(candidates) + 1,
                    face_id=face_id,
                    score=round(score, 4),
                    band=self.scoring.bands_for(fused).band(score),
                    fused=fused,
                    face_index=sf.face_index,
                    bbox=sf.bbox,
                    quality=sf.quality,
                    crop=sf.crop,
                    crop_path=str(self.blobs.path(sf.crop)) if sf.crop else None,
                    image_sha256=sf.image_sha256,
                    image_path=sf.image_path,
                    thumbnail=sf.thumbnail,
                    provenance=sf.provenance,
                )
            )
        return SearchResult(
            probe_sha256=probe_sha256,
            model=self.index.store.model_key,
            model_sha256=self.model_sha256,
            thresholds=self.scoring.thresholds(),
            k=k,
            face=face,
            probe_faces=probe_faces or [],
            candidates=candidates,
            gallery_size=len(self.index.store),
            seconds=round(time.perf_counter() - start, 4),
        )

    def _fused(
        self,
        pairs: list[tuple[int, float]],
        stored: dict[int, StoredFace],
        second: np.ndarray | None,
        yaw: float | None = None,
    ) -> list[tuple[int, float, bool]]:
        """Re-rank (id, SFace score) pairs by fused score, best first."""
        if not pairs:
            return []
        dim = len(second) if second is not None else 0
        others = np.full((len(pairs), dim), np.nan, np.float32)
        known = self._second_vectors([stored[face_id] for face_id, _ in pairs])
        for row, (face_id, _) in enumerate(pairs):
            if face_id in known:
                others[row] = known[face_id]
        others_yaw = None
        if self.scoring.fusion is not None and self.scoring.fusion.pose_dependent:
            others_yaw = np.array(
                [
                    estimate_yaw(np.asarray(stored[i].landmarks)) if stored[i].landmarks else np.nan
                    for i, _ in pairs
                ]
            )
        scores, fused = self.scoring.scores(
            np.array([s for _, s in pairs]), second, others, yaw, others_yaw
        )
        order = np.argsort(-scores, kind="stable")
        return [(pairs[i][0], float(scores[i]), bool(fused[i])) for i in order]

    def _multi_fused(
        self, pairs: list[tuple[int, float]], members: Mapping[str, np.ndarray]
    ) -> list[tuple[int, float, bool]]:
        """Re-rank (id, primary score) pairs by the N-recognizer fused score, best first: the
        gallery's member vectors from ``face_vectors`` (a face without one of them keeps its
        primary score and the primary's bands)."""
        if not pairs:
            return []
        ids = [face_id for face_id, _ in pairs]
        with self.catalog.session() as session:
            found = member_vectors(session, self.catalog.cipher, ids, self.scoring.member_models)
        others = {
            model: member_matrix(found[model], ids, int(np.size(members[model])))
            for model in self.scoring.member_models
            if model in members
        }
        scores, fused = self.scoring.scores_multi(np.array([s for _, s in pairs]), members, others)
        order = np.argsort(-scores, kind="stable")
        return [(pairs[i][0], float(scores[i]), bool(fused[i])) for i in order]

    def _second_vectors(self, faces: Sequence[StoredFace]) -> dict[int, np.ndarray]:
        """The stored second-recognizer vector of each face that has one (of the model in
        use). Read only: search never makes a gallery vector and never writes."""
        model = self.scoring.second_model
        return {
            sf.face_id: sf.second_embedding
            for sf in faces
            if sf.second_embedding is not None and sf.second_model == model
        }

    def _flagged_hits(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        """Exact top-k among the flagged (low-quality) faces, which the index does not hold."""
        best: list[tuple[int, float]] = []
        for ids, vectors in self.catalog.iter_embeddings(self.index.model_key, flagged_only=True):
            if allowed is not None:
                keep = np.isin(ids, allowed)
                ids, vectors = ids[keep], vectors[keep]
            scores = vectors @ query
            top = np.argsort(-scores)[:k]
            best = sorted(
                best + [(int(ids[i]), float(scores[i])) for i in top], key=lambda p: -p[1]
            )
            best = best[:k]
        return best
