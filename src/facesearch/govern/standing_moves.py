"""Governance's standing data moves with the gallery to another recognizer (issue 25, item 3;
the protocol: :mod:`facesearch.app.model_moves`).

* **Standing queries** (:class:`StandingQueryMove`): each active query keeps its probe photo,
  so :meth:`~StandingQueryMove.prepare` finds the probe face again in it with the target
  model's pipeline (the detection whose box overlaps the stored one most) and keeps the target
  model's vector in ``standing_query_vectors``. A media person's query (the mean of the
  person's best faces) takes the mean of those faces' target vectors, made by a callable the
  application passes (media faces are the media package's). Ended, expired and stopped queries
  keep no vectors and need nothing. The switch swaps the query's ``model``/``embedding`` with
  the kept target vector (the old one is kept for a switch back). A run compares a query only
  with gallery faces of the query's own model (``app/standing.py``), so a query left behind on
  the old model is never compared with the new model's faces.
* **Suppression entries** (:class:`SuppressionMove`): an entry keeps only a vector, never an
  image, so nothing can be re-embedded. Each entry of the source model without a target vector
  blocks the switch (so nobody stops being suppressed), naming the way out:
  ``facesearch suppress enrol-model ID PHOTO`` (:func:`enrol_entry`) embeds a photo of the
  person with the target model, after checking with the entry's own model that the photo is
  of the same person (at or above the suppression threshold). The switch swaps the entry's
  vector like a face's: the entry is then enforced with the target model's vector (ingest and
  search compare an entry only with vectors of its model: ``SuppressionMatcher``); the old
  vector stays recorded in ``suppression_vectors``.

Multi-probe searches (``gov_search_probes``, ``gov_multiprobe_scores``) keep no vectors, only
scores of past searches: records, left as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from facesearch.engine.pipeline import FacePipeline
from facesearch.govern.audit import AuditLog
from facesearch.govern.errors import RefusedError
from facesearch.govern.moves_schema import KEPT, PHOTO, StandingQueryVector, SuppressionVector
from facesearch.govern.multisearch_schema import SearchProbe
from facesearch.govern.policy import Policy
from facesearch.govern.schema import StandingQuery, Suppression
from facesearch.govern.standing import ACTIVE, EMBEDDING_COLUMN
from facesearch.govern.suppression import open_entry, seal_entry, unit_rows
from facesearch.govern.users import Role, require_user
from facesearch.store.crypto import Cipher, maybe_decrypt, seal_embedding

#: (session, the query's search id, target pipeline) -> the person's target vector
PersonVector = Callable[[Session, int, FacePipeline], np.ndarray]

MIN_OVERLAP = 0.5  # the probe face found again: its box overlaps the stored one this much


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def probe_vector(
    pipeline: FacePipeline, probe: bytes, stored: dict[str, Any], face: int
) -> np.ndarray:
    """The probe face's vector by ``pipeline``'s recognizer: the face detected in the probe
    photo whose box overlaps the stored box most (the face index where no box was stored).
    Raises ValueError when the face is not found again."""
    faces = pipeline.process_bytes(probe).faces
    if not faces:
        raise ValueError("no face found in the kept probe photo")
    if stored.get("bbox"):
        box = tuple(float(v) for v in stored["bbox"])
        best = max(faces, key=lambda f: _iou(tuple(f.bbox), box))
        overlap = _iou(tuple(best.bbox), box)
        if overlap < MIN_OVERLAP:
            raise ValueError(
                f"the probe face was not found again (best overlap {overlap:.2f} < {MIN_OVERLAP})"
            )
        return np.asarray(best.embedding, np.float32)
    if face >= len(faces):
        raise ValueError(f"the probe photo has {len(faces)} faces, not face {face}")
    return np.asarray(faces[face].embedding, np.float32)


def _person_search(session: Session, search_id: int) -> bool:
    found = session.scalar(
        select(SearchProbe.id).where(
            SearchProbe.search_id == search_id, SearchProbe.cluster_id.is_not(None)
        )
    )
    return found is not None


def pending_queries(session: Session, source: str, target: str) -> list[StandingQuery]:
    """Active queries of ``source`` without a vector of ``target``."""
    have = select(StandingQueryVector.query_id).where(StandingQueryVector.model == target)
    return list(
        session.scalars(
            select(StandingQuery)
            .where(
                StandingQuery.status == ACTIVE,
                StandingQuery.model == source,
                StandingQuery.embedding.is_not(None),
                StandingQuery.id.not_in(have),
            )
            .order_by(StandingQuery.id)
        )
    )


def ready_queries(session: Session, source: str, target: str) -> int:
    """Active queries of ``source`` that have a vector of ``target``."""
    return len(
        session.scalars(
            select(StandingQueryVector.query_id)
            .join(StandingQuery, StandingQuery.id == StandingQueryVector.query_id)
            .where(
                StandingQueryVector.model == target,
                StandingQuery.status == ACTIVE,
                StandingQuery.model == source,
            )
        ).all()
    )


def query_target_vector(
    session: Session,
    cipher: Cipher | None,
    query_id: int,
    pipeline: FacePipeline,
    person_vector: PersonVector | None,
) -> np.ndarray | None:
    """Query ``query_id``'s vector by ``pipeline``'s recognizer (None when it has ended
    meanwhile); raises ValueError when its probe face cannot be found again."""
    row = session.get(StandingQuery, query_id)
    if row is None or row.status != ACTIVE or row.probe is None:
        return None
    if _person_search(session, row.search_id):
        if person_vector is None:
            raise ValueError("a media person's query: no way to re-embed its faces here")
        vec = person_vector(session, row.search_id, pipeline)
    else:
        probe = maybe_decrypt(cipher, row.probe, aad=row.probe_sha256.encode())
        vec = probe_vector(pipeline, probe, row.probe_face or {}, row.face)
    return unit_rows(vec)[0]


def store_query_vector(
    session: Session, cipher: Cipher | None, query_id: int, model: str, vector: np.ndarray
) -> None:
    """Keep ``model``'s vector of query ``query_id`` (sealed like the query's own)."""
    session.execute(
        delete(StandingQueryVector).where(
            StandingQueryVector.query_id == query_id, StandingQueryVector.model == model
        )
    )
    session.add(
        StandingQueryVector(
            query_id=query_id,
            model=model,
            embedding=seal_embedding(cipher, vector, query_id, model, EMBEDDING_COLUMN),
            source=PHOTO,
        )
    )
    session.flush()


def query_blockers(session: Session, source: str, target: str) -> list[str]:
    return [
        f"standing query {q.id} (case {q.case.number}) has no vector of {target}: run the "
        "migration again (it re-embeds the query from its kept probe photo); if its probe face "
        "cannot be found again, end the query and make a new one after the switch"
        for q in pending_queries(session, source, target)
    ]


def switch_queries(session: Session, source: str, target: str) -> int:
    """Inside the switch: every query of ``source`` with a ``target`` vector answers with it
    (its ``source`` vector kept for a switch back); returns how many moved."""
    moved = 0
    rows = session.execute(
        select(StandingQuery, StandingQueryVector)
        .join(StandingQueryVector, StandingQueryVector.query_id == StandingQuery.id)
        .where(
            StandingQuery.model == source,
            StandingQuery.embedding.is_not(None),
            StandingQueryVector.model == target,
        )
    ).all()
    for query, vector in rows:
        session.execute(
            delete(StandingQueryVector).where(
                StandingQueryVector.query_id == query.id, StandingQueryVector.model == source
            )
        )
        assert query.embedding is not None
        session.add(
            StandingQueryVector(
                query_id=query.id, model=source, embedding=query.embedding, source=KEPT
            )
        )
        query.model, query.embedding = target, vector.embedding
        session.delete(vector)
        moved += 1
    session.flush()
    return moved


def drop_query_vectors(session: Session, model: str) -> int:
    gone = session.execute(delete(StandingQueryVector).where(StandingQueryVector.model == model))
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]


# --- suppression entries ------------------------------------------------------------------------


def missing_entries(session: Session, source: str, target: str) -> list[Suppression]:
    """Suppression entries of ``source`` (active or of a request not yet applied) without a
    vector of ``target``."""
    have = select(SuppressionVector.suppression_id).where(SuppressionVector.model == target)
    return list(
        session.scalars(
            select(Suppression)
            .where(Suppression.model == source, Suppression.id.not_in(have))
            .order_by(Suppression.id)
        )
    )


def entries_of(session: Session, model: str) -> int:
    return len(session.scalars(select(Suppression.id).where(Suppression.model == model)).all())


def suppression_blockers(session: Session, source: str, target: str) -> list[str]:
    return [
        f"suppression entry {e.id}: {enrol_hint(e, target)}"
        for e in missing_entries(session, source, target)
    ]


def switch_suppressions(session: Session, source: str, target: str) -> int:
    """Inside the switch: every entry of ``source`` with an enrolled ``target`` vector is
    enforced with it (its ``source`` vector kept, recorded); returns how many moved."""
    moved = 0
    rows = session.execute(
        select(Suppression, SuppressionVector)
        .join(SuppressionVector, SuppressionVector.suppression_id == Suppression.id)
        .where(Suppression.model == source, SuppressionVector.model == target)
    ).all()
    for entry, vector in rows:
        session.execute(
            delete(SuppressionVector).where(
                SuppressionVector.suppression_id == entry.id, SuppressionVector.model == source
            )
        )
        session.add(
            SuppressionVector(
                suppression_id=entry.id,
                model=source,
                dim=entry.dim,
                embedding=entry.embedding,
                source=KEPT,
                threshold=entry.threshold,
            )
        )
        entry.model, entry.dim, entry.embedding = target, vector.dim, vector.embedding
        entry.threshold = vector.threshold
        session.delete(vector)
        moved += 1
    session.flush()
    return moved


def drop_suppression_vectors(session: Session, model: str) -> int:
    gone = session.execute(delete(SuppressionVector).where(SuppressionVector.model == model))
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]


def enrol_hint(entry: Suppression, target_model_key: str) -> str:
    name = target_model_key.split("@", 1)[0]
    state = "active" if entry.active else f"of request {entry.request_id}, not yet applied"
    return (
        f"{state}; it keeps no image, so it cannot be re-embedded with {target_model_key}: "
        f"enrol a photo of the person with 'facesearch suppress enrol-model {entry.id} PHOTO "
        f"--model {name}'"
    )


@dataclass(frozen=True)
class Enrolment:
    suppression_id: int
    request_id: int | None
    model: str
    old_model: str
    old_score: float


def entry_model(session: Session, policy: Policy, entry_id: int) -> tuple[str, float]:
    """The model of suppression entry ``entry_id``'s vector and the entry's threshold on that
    model's scale (its own, else the policy's); refused if there is no such entry."""
    entry = session.get(Suppression, entry_id)
    if entry is None:
        raise RefusedError("suppression.enrol_model", f"no suppression entry {entry_id}")
    own = entry.threshold
    return entry.model, policy.suppression.threshold if own is None else float(own)


def carried_threshold(
    threshold: float, source_bands: Mapping[str, Any], target_bands: Mapping[str, Any]
) -> float:
    """A similarity threshold of one recognizer carried to another's scale: the same place
    relative to each model's own calibrated bands (``match``: FAR 1e-3, ``strong``: FAR 1e-4),
    linearly between and beyond them. A cosine means different things to different models
    (0.40 is about SFace's FAR 1e-4, but below nearly every impostor pair of dlib's ResNet), so
    an entry moved to another model takes its threshold along this way. Raises ValueError
    when either model has no calibrated bands."""
    try:
        m, s = float(source_bands["match"]), float(source_bands["strong"])
        m2, s2 = float(target_bands["match"]), float(target_bands["strong"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("both models need calibrated match and strong bands") from None
    if not s > m or not s2 > m2:
        raise ValueError("a model's strong band must be above its match band")
    carried = m2 + (threshold - m) * (s2 - m2) / (s - m)
    return float(min(max(carried, 1e-6), 1.0))


def enrol_entry(
    session: Session,
    audit: AuditLog,
    policy: Policy,
    cipher: Cipher | None,
    actor: str,
    entry_id: int,
    old_vectors: np.ndarray,
    new_vectors: np.ndarray,
    new_model: str,
    new_threshold: float,
    now: datetime,
) -> Enrolment:
    """Store ``new_model``'s vector of suppression entry ``entry_id``'s person, from a photo:
    ``old_vectors``/``new_vectors`` are the photo's faces by the entry's own model and by the
    new one (same order). The face scoring best against the entry with its own model is the
    person's; it must reach the entry's threshold (its own, else the policy's), else nothing is
    stored (another person). ``new_threshold``: the entry's threshold on the new model's scale
    (:func:`carried_threshold`). Administrators; audited."""
    action = "suppression.enrol_model"
    require_user(session, actor, action, {Role.ADMINISTRATOR})
    entry = session.get(Suppression, entry_id)
    if entry is None:
        raise RefusedError(action, f"no suppression entry {entry_id}")
    if entry.model == new_model:
        raise RefusedError(action, f"suppression entry {entry_id} is already of {new_model}")
    if len(old_vectors) == 0 or len(old_vectors) != len(new_vectors):
        raise RefusedError(action, "no face found in the photo")
    ref = open_entry(cipher, entry.embedding, entry.id, entry.model, entry.dim)
    old = unit_rows(old_vectors)
    if old.shape[1] != ref.shape[0]:
        raise RefusedError(action, f"the photo was not embedded with {entry.model}")
    scores = old @ (ref / np.linalg.norm(ref))
    best = int(np.argmax(scores))
    threshold = policy.suppression.threshold if entry.threshold is None else entry.threshold
    if float(scores[best]) < threshold:
        raise RefusedError(
            action,
            f"the photo's best face scores {float(scores[best]):.3f} against entry {entry_id} "
            f"with {entry.model}, below the suppression threshold {threshold}: not the same "
            "person; nothing stored",
        )
    vec = unit_rows(new_vectors)[best]
    session.execute(
        delete(SuppressionVector).where(
            SuppressionVector.suppression_id == entry.id, SuppressionVector.model == new_model
        )
    )
    session.add(
        SuppressionVector(
            suppression_id=entry.id,
            model=new_model,
            dim=int(vec.shape[0]),
            embedding=seal_entry(cipher, vec, entry.id, new_model),
            source=PHOTO,
            enrolled_by=actor,
            old_score=round(float(scores[best]), 6),
            threshold=float(new_threshold),
            created_at=now,
        )
    )
    session.flush()
    done = Enrolment(
        entry.id, entry.request_id, new_model, entry.model, round(float(scores[best]), 6)
    )
    audit.record(
        actor,
        action,
        {
            "suppression_id": entry.id,
            "request_id": entry.request_id,
            "model": new_model,
            "old_model": entry.model,
            "old_score": done.old_score,
            "threshold": round(float(new_threshold), 6),
        },
    )
    return done
