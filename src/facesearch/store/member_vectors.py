"""Reading a fusion's member vectors: the vectors of gallery faces made by recognizers other
than the one that answers searches, held in ``face_vectors`` (``store/schema.FaceVector``,
sealed as ``faces.embedding`` is, bound to the face id and the member's model key).

A search scored with an N-recognizer fusion (``engine/fusion.MultiFusion``) re-ranks its
shortlist with these; a face without a member's vector is scored by the primary alone. Reads
only: search never makes a gallery vector. (Writing and counting them is
``store/face_vectors.py``'s, the model migration's.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facesearch.store.crypto import Cipher, open_embedding
from facesearch.store.schema import FaceRow, FaceVector

CHUNK = 10_000


def member_vectors(
    session: Session,
    cipher: Cipher | None,
    face_ids: Sequence[int],
    models: Sequence[str],
) -> dict[str, dict[int, np.ndarray]]:
    """Per model key in ``models``, the vectors ``face_vectors`` holds of ``face_ids`` (faces
    without one are left out)."""
    out: dict[str, dict[int, np.ndarray]] = {m: {} for m in models}
    ids = sorted({int(i) for i in face_ids})
    if not ids or not models:
        return out
    for start in range(0, len(ids), CHUNK):
        part = ids[start : start + CHUNK]
        rows = session.execute(
            select(FaceVector.face_id, FaceVector.model, FaceVector.embedding).where(
                FaceVector.face_id.in_(part), FaceVector.model.in_(list(models))
            )
        ).all()
        for face_id, model, blob in rows:
            out[model][int(face_id)] = open_embedding(cipher, blob, int(face_id), model)
    return out


def member_matrix(found: dict[int, np.ndarray], face_ids: Sequence[int], dim: int) -> np.ndarray:
    """(len(face_ids), dim) float32 of one member's vectors, NaN rows for faces without one."""
    out = np.full((len(face_ids), dim), np.nan, np.float32)
    for row, face_id in enumerate(face_ids):
        vec = found.get(int(face_id))
        if vec is not None and vec.size == dim:
            out[row] = vec
    return out


def member_vector_counts(
    session: Session, face_model: str, models: Sequence[str]
) -> dict[str, int]:
    """Per member model key, how many faces of ``face_model`` (the active recognizer's) have
    that member's vector: the others are scored by the primary alone."""
    out = {m: 0 for m in models}
    if not models:
        return out
    rows = session.execute(
        select(FaceVector.model, func.count(FaceVector.face_id))
        .join(FaceRow, FaceRow.id == FaceVector.face_id)
        .where(FaceRow.model == face_model, FaceVector.model.in_(list(models)))
        .group_by(FaceVector.model)
    ).all()
    for model, count in rows:
        out[str(model)] = int(count)
    return out
