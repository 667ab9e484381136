"""Removal on request and suppression.

A person (or someone acting for them) asks to be removed. The steps, each logged:

1. **preview** - the person's face embeddings (from photos they supply, run through the
   pipeline) are compared with the gallery; faces at or above the threshold (policy
   ``suppression.threshold`` unless given) are listed for a human to check. The embeddings
   are kept as *inactive* suppression entries; no image is stored.
2. **apply** - a person confirms all or some of the previewed faces. The suppression entries
   become active at once (so the person is left out of results even if removal then fails),
   the faces are removed through the callable the caller supplies (e.g.
   ``gallery.remove_faces``), and the request records what was removed.
   (**cancel** instead drops the request and its inactive entries.)
3. From then on :class:`SuppressionMatcher` answers ``is_suppressed(embedding)`` for ingest
   (skip the face) and search (drop the candidate).

With an encryption key the entries' vectors are stored sealed (AES-GCM, bound to the entry's
id and model: ``store/crypto.py``) and read strictly (a plain entry is refused until
``facesearch keys rotate --from-plain``).

Trade-off: suppression works by similarity, so a look-alike scoring above the threshold is
suppressed too; the preview makes that visible before anything is removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.errors import RefusedError
from facesearch.govern.policy import Policy
from facesearch.govern.schema import RemovalRequest, Suppression
from facesearch.govern.users import Role, require_user
from facesearch.store.crypto import SUPPRESSION_COLUMN, Cipher, open_embedding, seal_embedding
from facesearch.store.records import source_label
from facesearch.store.schema import FaceRow as Face
from facesearch.store.schema import Image

# (queries (n, d) unit float32, threshold) -> [(face_id, best score)], best first
FaceFinder = Callable[[np.ndarray, float], list[tuple[int, float]]]


def unit_rows(vectors: np.ndarray | Sequence[Any]) -> np.ndarray:
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"expected embeddings of shape (n, d), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("embeddings contain NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("an embedding is all zeros")
    return np.ascontiguousarray(arr / norms, dtype=np.float32)


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes, dim: int | None = None) -> np.ndarray:
    v = np.frombuffer(blob, dtype="<f4").astype(np.float32)
    if dim is not None and v.shape[0] != dim:
        raise ValueError(f"stored embedding has {v.shape[0]} values, expected {dim}")
    return v


def seal_entry(cipher: Cipher | None, vector: np.ndarray, entry_id: int, model: str) -> bytes:
    """A suppression entry's vector as stored: float32, sealed to its id and model with a
    cipher (plain without one)."""
    return seal_embedding(cipher, vector, entry_id, model, SUPPRESSION_COLUMN)


def open_entry(
    cipher: Cipher | None, blob: bytes, entry_id: int, model: str, dim: int | None = None
) -> np.ndarray:
    """A stored suppression entry's vector (strict: a plain one is refused with a key)."""
    v = open_embedding(cipher, blob, entry_id, model, SUPPRESSION_COLUMN)
    if dim is not None and v.shape[0] != dim:
        raise ValueError(f"stored embedding has {v.shape[0]} values, expected {dim}")
    return v


class SuppressionMatcher:
    """The active suppression entries, loaded once; cheap to query per face.

    ``threshold``: the policy's; an entry moved to another recognizer carries its own, on
    that model's scale (``limits``: per model, one per entry, in the order of ``by_model``)."""

    def __init__(
        self,
        by_model: dict[str, np.ndarray],
        threshold: float,
        limits: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.by_model = by_model
        self.threshold = threshold
        self.limits = {
            m: (limits or {}).get(m, np.full(len(ref), threshold, np.float32))
            for m, ref in by_model.items()
        }

    @classmethod
    def load(cls, session: Session, threshold: float, cipher: Cipher | None) -> SuppressionMatcher:
        """The active entries; ``cipher``: the key they are sealed with (None: stored plain)."""
        rows = session.execute(
            select(
                Suppression.id,
                Suppression.model,
                Suppression.dim,
                Suppression.embedding,
                Suppression.threshold,
            ).where(Suppression.active.is_(True))
        ).all()
        grouped: dict[str, list[np.ndarray]] = {}
        limits: dict[str, list[float]] = {}
        for entry_id, model, dim, blob, own in rows:
            grouped.setdefault(model, []).append(open_entry(cipher, blob, entry_id, model, dim))
            limits.setdefault(model, []).append(threshold if own is None else float(own))
        return cls(
            {m: unit_rows(np.stack(v)) for m, v in grouped.items()},
            threshold,
            {m: np.asarray(v, np.float32) for m, v in limits.items()},
        )

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_model.values())

    def _refs(self, model: str | None, dim: int) -> list[tuple[np.ndarray, np.ndarray]]:
        if model is not None:
            ref = self.by_model.get(model)
            ok = ref is not None and ref.shape[1] == dim
            return [(ref, self.limits[model])] if ok else []  # type: ignore[list-item]
        return [(r, self.limits[m]) for m, r in self.by_model.items() if r.shape[1] == dim]

    def scores(self, embeddings: np.ndarray, model: str | None = None) -> np.ndarray:
        """Best similarity of each embedding to any suppressed face (-1 when none apply)."""
        q = unit_rows(embeddings)
        best = np.full(q.shape[0], -1.0, dtype=np.float32)
        for ref, _ in self._refs(model, q.shape[1]):
            best = np.maximum(best, (q @ ref.T).max(axis=1))
        return best

    def matches(self, embeddings: np.ndarray, model: str | None = None) -> np.ndarray:
        """Whether each embedding reaches any entry's threshold (its own, or the policy's)."""
        q = unit_rows(embeddings)
        hit = np.zeros(q.shape[0], dtype=bool)
        for ref, limit in self._refs(model, q.shape[1]):
            hit |= ((q @ ref.T) >= limit[None, :]).any(axis=1)
        return hit

    def is_suppressed(self, embedding: np.ndarray, model: str | None = None) -> bool:
        """True if this face is a suppressed person's (model: compare only its entries)."""
        if len(self) == 0:
            return False
        return bool(self.matches(embedding, model)[0])


def candidate_embeddings(
    session: Session, candidates: Sequence[Any], cipher: Cipher | None = None
) -> dict[int, tuple[np.ndarray, str | None]]:
    """Embeddings of candidates: their ``embedding`` attribute, else the catalog's faces
    (decrypted with ``cipher`` when the catalog's vectors are encrypted)."""
    out: dict[int, tuple[np.ndarray, str | None]] = {}
    missing: list[int] = []
    for c in candidates:
        emb = getattr(c, "embedding", None)
        if emb is not None:
            out[int(c.face_id)] = (np.asarray(emb, dtype=np.float32), None)
        else:
            missing.append(int(c.face_id))
    for i in range(0, len(missing), 500):
        chunk = missing[i : i + 500]
        for face_id, blob, model in session.execute(
            select(Face.id, Face.embedding, Face.model).where(Face.id.in_(chunk))
        ):
            out[int(face_id)] = (open_embedding(cipher, blob, face_id, model), model)
    return out


def filter_candidates(
    session: Session,
    matcher: SuppressionMatcher,
    candidates: Sequence[Any],
    model: str | None,
    cipher: Cipher | None = None,
) -> tuple[list[Any], int]:
    """``(kept, number suppressed)``: candidates whose face matches a suppression entry are
    dropped. A candidate whose embedding cannot be found (neither on the object nor in the
    catalog) is kept."""
    if len(matcher) == 0 or not candidates:
        return list(candidates), 0
    embs = candidate_embeddings(session, candidates, cipher)
    kept: list[Any] = []
    dropped = 0
    for c in candidates:
        found = embs.get(int(c.face_id))
        if found is not None and matcher.is_suppressed(found[0], found[1] or model):
            dropped += 1
        else:
            kept.append(c)
    return kept, dropped


# --- finding a person's faces in the gallery ------------------------------------------------


def catalog_finder(
    session: Session, model: str, batch: int = 5000, cipher: Cipher | None = None
) -> FaceFinder:
    """Exact search over the catalog's stored embeddings of ``model`` (a full scan)."""

    def find(queries: np.ndarray, threshold: float) -> list[tuple[int, float]]:
        best: dict[int, float] = {}
        q = select(Face.id, Face.embedding).where(Face.model == model).order_by(Face.id)
        ids: list[int] = []
        vecs: list[np.ndarray] = []

        def flush() -> None:
            if not ids:
                return
            sims = (np.stack(vecs) @ queries.T).max(axis=1)
            for face_id, s in zip(ids, sims, strict=True):
                if s >= threshold:
                    best[face_id] = max(best.get(face_id, -1.0), float(s))
            ids.clear()
            vecs.clear()

        for face_id, blob in session.execute(q.execution_options(yield_per=batch)):
            ids.append(int(face_id))
            vecs.append(open_embedding(cipher, blob, face_id, model))
            if len(ids) >= batch:
                flush()
        flush()
        return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))

    return find


def index_finder(index_search: Callable[[np.ndarray, int], Any], k: int = 1000) -> FaceFinder:
    """A finder over a vector index: ``index_search(queries, k)`` returns an object with
    ``scores`` and ``ids`` arrays of shape (n, k), ids -1 where empty (as ``VectorIndex``).
    Faces beyond the k nearest of each query are not found: choose k generously."""

    def find(queries: np.ndarray, threshold: float) -> list[tuple[int, float]]:
        hits = index_search(queries, k)
        best: dict[int, float] = {}
        for row_scores, row_ids in zip(np.asarray(hits.scores), np.asarray(hits.ids), strict=True):
            for s, face_id in zip(row_scores, row_ids, strict=True):
                if face_id >= 0 and s >= threshold:
                    best[int(face_id)] = max(best.get(int(face_id), -1.0), float(s))
        return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))

    return find


@dataclass(frozen=True)
class PreviewMatch:
    face_id: int
    score: float
    image_sha256: str | None
    image_path: str | None
    crop: str | None


def _describe_faces(session: Session, found: list[tuple[int, float]]) -> list[PreviewMatch]:
    info: dict[int, tuple[str | None, str | None, str | None]] = {}
    ids = [f for f, _ in found]
    for i in range(0, len(ids), 500):
        rows = session.execute(
            select(Face.id, Image.sha256, Image.path, Image.member, Face.crop)
            .join(Image, Face.image_id == Image.id)
            .where(Face.id.in_(ids[i : i + 500]))
        )
        for face_id, sha, path, member, crop in rows:  # a member shown as archive!member
            info[int(face_id)] = (sha, source_label(path, member or ""), crop)
    out = []
    for face_id, score in found:
        image_sha, image_path, crop_key = info.get(face_id, (None, None, None))
        out.append(PreviewMatch(face_id, round(score, 6), image_sha, image_path, crop_key))
    return out


def preview_removal(
    session: Session,
    audit: AuditLog,
    policy: Policy,
    actor: str,
    embeddings: np.ndarray | Sequence[Any],
    model: str,
    requester: str,
    reason: str,
    now: datetime,
    finder: FaceFinder | None = None,
    threshold: float | None = None,
    cipher: Cipher | None = None,
    entry_threshold: float | None = None,
) -> tuple[RemovalRequest, list[PreviewMatch]]:
    action = "removal.preview"
    require_user(session, actor, action, {Role.ADMINISTRATOR})
    if not requester.strip() or not reason.strip():
        raise RefusedError(action, "a removal request needs a requester and a reason")
    try:
        queries = unit_rows(embeddings)
    except ValueError as exc:
        raise RefusedError(action, f"bad embeddings: {exc}") from None
    thr = policy.suppression.threshold if threshold is None else float(threshold)
    if not 0.0 < thr <= 1.0:
        raise RefusedError(action, f"threshold must be in (0, 1], got {thr}")
    find = finder or catalog_finder(session, model, cipher=cipher)
    matches = _describe_faces(session, find(queries, thr))
    req = RemovalRequest(
        requester=requester.strip(),
        reason=reason.strip(),
        model=model,
        threshold=thr,
        status="previewed",
        preview=[m.__dict__ for m in matches],
        removed=[],
        created_by=actor,
        created_at=now,
    )
    session.add(req)
    session.flush()
    entries = [
        Suppression(
            request_id=req.id,
            model=model,
            dim=int(q.shape[0]),
            # with a key: sealed once the row has its id (the vector is bound to it)
            embedding=b"" if cipher is not None else to_blob(q),
            requester=req.requester,
            reason=req.reason,
            active=False,
            created_by=actor,
            created_at=now,
            # on a model other than the one the policy's threshold is for: its own
            threshold=entry_threshold,
        )
        for q in queries
    ]
    session.add_all(entries)
    session.flush()
    if cipher is not None:
        for entry, q in zip(entries, queries, strict=True):
            entry.embedding = seal_entry(cipher, q, entry.id, model)
        session.flush()
    audit.record(
        actor,
        action,
        {
            "request_id": req.id,
            "requester": req.requester,
            "reason": req.reason,
            "model": model,
            "threshold": thr,
            "embeddings": int(queries.shape[0]),
            "matches": [{"face_id": m.face_id, "score": m.score} for m in matches],
        },
    )
    return req, matches


def _require_request(session: Session, action: str, request_id: int) -> RemovalRequest:
    req = session.get(RemovalRequest, request_id)
    if req is None:
        raise RefusedError(action, f"no removal request {request_id}")
    return req


def start_removal(
    session: Session,
    audit: AuditLog,
    actor: str,
    request_id: int,
    face_ids: Iterable[int] | None,
    now: datetime,
) -> tuple[RemovalRequest, list[int], list[int]]:
    """Activate the request's suppression entries; returns (request, face ids to remove,
    suppression ids).

    A request left ``applying`` is an apply whose process died between this step and the
    removal (killed, power lost): its suppression is active but the faces may still be
    stored, so it is started again, with the faces that apply chose (kept in ``removed``
    until the end) unless others are named. Removing faces already gone removes nothing."""
    action = "removal.apply"
    require_user(session, actor, action, {Role.ADMINISTRATOR})
    req = _require_request(session, action, request_id)
    if req.status not in ("previewed", "failed", "applying"):
        raise RefusedError(action, f"removal request {request_id} is {req.status}")
    resumed = req.status == "applying"
    previewed = [int(m["face_id"]) for m in req.preview]
    if face_ids is None:
        chosen = sorted(int(f) for f in req.removed) if resumed and req.removed else previewed
    else:
        chosen = sorted({int(f) for f in face_ids})
    extra = sorted(set(chosen) - set(previewed))
    if extra:
        raise RefusedError(action, f"faces {extra} were not in the preview of request {request_id}")
    sups = list(
        session.execute(select(Suppression).where(Suppression.request_id == req.id)).scalars()
    )
    for s in sups:
        s.active = True
    req.status = "applying"
    req.removed = chosen  # the faces being removed, until finish_removal records the outcome
    req.applied_by = actor
    req.applied_at = now
    details: dict[str, Any] = {
        "request_id": req.id,
        "suppression_ids": [s.id for s in sups],
        "model": req.model,
    }
    if resumed:
        details["resumed"] = True
    audit.record(actor, "suppression.activate", details)
    return req, chosen, [s.id for s in sups]


def finish_removal(
    session: Session,
    audit: AuditLog,
    actor: str,
    request_id: int,
    removed: list[int],
    outcome: Any,
    error: str | None = None,
) -> RemovalRequest:
    req = _require_request(session, "removal.apply", request_id)
    req.removed = sorted(removed) if error is None else []
    req.status = "applied" if error is None else "failed"
    details: dict[str, Any] = {"request_id": req.id, "face_ids": sorted(removed)}
    if error is None:
        details["outcome"] = outcome if isinstance(outcome, int | str | None) else repr(outcome)
        audit.record(actor, "removal.apply", details)
    else:
        details["error"] = error
        audit.record(actor, "removal.failed", details)
    return req


def rename_preview_crops(session: Session, moves: dict[str, str]) -> int:
    """Rename the crops the removal requests' previews name (``moves``: old blob name -> new,
    from a key rotation, whose blob names are keyed); returns how many requests changed."""
    changed = 0
    for req in session.execute(select(RemovalRequest)).scalars():
        preview = req.preview or []
        if not any(m.get("crop") in moves for m in preview):
            continue
        req.preview = [
            {**m, "crop": moves[m["crop"]]} if m.get("crop") in moves else m for m in preview
        ]
        changed += 1
    session.flush()
    return changed


def cancel_removal(
    session: Session, audit: AuditLog, actor: str, request_id: int, note: str
) -> RemovalRequest:
    action = "removal.cancel"
    require_user(session, actor, action, {Role.ADMINISTRATOR})
    req = _require_request(session, action, request_id)
    if req.status != "previewed":
        raise RefusedError(action, f"removal request {request_id} is {req.status}")
    for s in session.execute(select(Suppression).where(Suppression.request_id == req.id)).scalars():
        session.delete(s)
    req.status = "cancelled"
    audit.record(actor, action, {"request_id": req.id, "note": note})
    return req
