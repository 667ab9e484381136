"""Media faces move with the gallery to another recognizer (issue 25, item 3; the protocol:
:mod:`facesearch.app.model_moves`).

A case's seized material is not kept, only each face's crop (the face box with a 25% margin,
at most 160 px: ``ingest/worker.face_crop``) and its landmarks. The target model's vector of a
media face is made from the crop, the landmarks moved into it and the face aligned with the
target model's own template and input size (no new detection: face ids, clusters and people's
decisions stay as they are). It is kept in ``media_face_vectors`` until the switch, which swaps
it with ``media_faces.embedding`` in a few set-based statements (the old vector kept for a
switch back). Persons (clusters) keep their ids and members: they are people's decisions, never
re-clustered by a switch; a person search after it uses the faces' new vectors
(``app/multisearch.py`` refuses a cluster whose faces are of another model than the gallery's).

Cross-case alerts (``media_alerts``) are records of past comparisons, made with the model they
name: they stay as they are. New cross-case checks compare only faces of the gallery's model
(``media/alerts.cross_check``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np
from sqlalchemy import Table, and_, delete, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session

from facesearch.engine.align import align_face
from facesearch.engine.pipeline import FacePipeline
from facesearch.errors import FacesearchError
from facesearch.govern.multisearch_schema import SearchProbe
from facesearch.govern.schema import Case
from facesearch.ingest.worker import crop_origin
from facesearch.media.moves_schema import MediaFaceVector
from facesearch.media.schema import MediaFace, MediaFile
from facesearch.media.vectors import open_face_vector, seal_face_vector
from facesearch.store.crypto import Cipher
from facesearch.store.schema import utcnow

CROP, KEPT = "crop", "kept"
#: a blob key -> the stored crop's bytes (raises FileNotFoundError when it is gone)
CropReader = Callable[[str], bytes | None]


@dataclass(frozen=True)
class CropJob:
    """One media face to embed from its stored crop."""

    face_id: int
    crop: str | None  # blob key
    landmarks: list[list[float]]
    bbox: tuple[float, float, float, float]
    frame_size: tuple[int, int]  # of the photo or video frame the face was found in


@dataclass
class Embedded:
    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)


def aligned_from_crop(pipeline: FacePipeline, job: CropJob, data: bytes) -> np.ndarray:
    """The face of ``job`` aligned for ``pipeline``'s recognizer on its stored crop (raises
    ValueError when it cannot be)."""
    import cv2

    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise ValueError("unreadable crop")
    if len(job.landmarks) != 5:
        raise ValueError("no landmarks stored for this face")
    (x0, y0), (cw, ch) = crop_origin(job.frame_size, job.bbox)
    scale = np.array([pixels.shape[1] / cw, pixels.shape[0] / ch], np.float32)
    points = (np.asarray(job.landmarks, np.float32) - np.array([x0, y0], np.float32)) * scale
    return align_face(pixels, points, pipeline.template, pipeline.input_size)


def embed_crops(pipeline: FacePipeline, jobs: list[CropJob], crop_of: CropReader) -> Embedded:
    """The jobs' vectors by ``pipeline``'s recognizer, in one batch; each failure with why."""
    out = Embedded()
    chips, ids = [], []
    for job in jobs:
        try:
            data = crop_of(job.crop) if job.crop else None
            if not data:
                raise ValueError("no crop stored for this face")
            chips.append(aligned_from_crop(pipeline, job, data))
            ids.append(job.face_id)
        except FileNotFoundError:
            out.errors[job.face_id] = "its stored crop is gone"
        except (ValueError, OSError, FacesearchError) as exc:  # unreadable, or the wrong key
            out.errors[job.face_id] = str(exc)
    if chips:
        vectors = pipeline.embed_aligned(np.stack(chips))
        out.vectors = {i: np.asarray(v, np.float32) for i, v in zip(ids, vectors, strict=True)}
    return out


def _job(face: MediaFace, width: int | None, height: int | None) -> CropJob:
    return CropJob(
        int(face.id),
        face.crop,
        face.landmarks or [],
        (float(face.x), float(face.y), float(face.w), float(face.h)),
        (int(width or 0), int(height or 0)),
    )


def _lacking(source: str, target: str) -> object:
    have = exists().where(MediaFaceVector.face_id == MediaFace.id, MediaFaceVector.model == target)
    return and_(MediaFace.model == source, ~have)


def pending_media_faces(
    session: Session, source: str, target: str, after: int, limit: int
) -> list[CropJob]:
    """Media faces of ``source`` without a ``target`` vector, by id after ``after``."""
    rows = session.execute(
        select(MediaFace, MediaFile.width, MediaFile.height)
        .join(MediaFile, MediaFile.id == MediaFace.file_id)
        .where(_lacking(source, target), MediaFace.id > after)  # type: ignore[arg-type]
        .order_by(MediaFace.id)
        .limit(limit)
    ).all()
    return [_job(f, w, h) for f, w, h in rows]


def count_media_faces(session: Session, model: str, target: str | None = None) -> int:
    """Media faces of ``model`` (with a ``target`` vector, when given)."""
    q = select(func.count(MediaFace.id)).where(MediaFace.model == model)
    if target is not None:
        q = q.where(
            exists().where(MediaFaceVector.face_id == MediaFace.id, MediaFaceVector.model == target)
        )
    return int(session.scalar(q) or 0)


def store_media_vectors(
    session: Session, cipher: Cipher | None, model: str, vectors: dict[int, np.ndarray]
) -> None:
    """Keep ``model``'s vectors of media faces (sealed like ``media_faces.embedding``)."""
    if not vectors:
        return
    session.execute(
        delete(MediaFaceVector).where(
            MediaFaceVector.model == model, MediaFaceVector.face_id.in_(list(vectors))
        )
    )
    session.add_all(
        MediaFaceVector(
            face_id=face_id,
            model=model,
            embedding=seal_face_vector(cipher, vec, face_id, model),
            source=CROP,
        )
        for face_id, vec in vectors.items()
    )
    session.flush()


def media_blockers(session: Session, source: str, target: str) -> list[str]:
    """One line per case whose searchable media faces of ``source`` lack a ``target`` vector
    (person searches and clustering compare a case's faces with each other: all must move)."""
    rows = session.execute(
        select(Case.number, func.count(MediaFace.id))
        .join(Case, Case.id == MediaFace.case_id)
        .where(_lacking(source, target), MediaFace.searchable.is_(True))  # type: ignore[arg-type]
        .group_by(Case.number)
        .order_by(Case.number)
    ).all()
    return [
        f"case {number}: {n} searchable media face(s) have no vector of {target}: run the "
        "migration again (it re-embeds them from their stored crops); a face whose crop is gone "
        "cannot be moved: hide it (media review) or import the material again"
        for number, n in rows
    ]


def switch_media_faces(session: Session, source: str, target: str) -> int:
    """Inside the switch: every media face of ``source`` with a ``target`` vector takes it
    (set-based; its ``source`` vector kept in ``media_face_vectors``); returns how many."""
    vec = cast(Table, MediaFaceVector.__table__)
    faces = cast(Table, MediaFace.__table__)
    moving = select(faces.c.id).where(
        faces.c.model == source,
        exists().where(vec.c.face_id == faces.c.id, vec.c.model == target),
    )
    count = int(session.scalar(select(func.count()).select_from(moving.subquery())) or 0)
    if count == 0:
        return 0
    session.execute(delete(vec).where(vec.c.model == source, vec.c.face_id.in_(moving)))
    session.execute(
        insert(vec).from_select(
            ["face_id", "model", "embedding", "source", "created_at"],
            select(
                faces.c.id,
                faces.c.model,
                faces.c.embedding,
                literal(KEPT),
                literal(utcnow(), type_=vec.c.created_at.type),
            ).where(faces.c.id.in_(moving)),
        )
    )
    target_vector = (
        select(vec.c.embedding)
        .where(vec.c.face_id == faces.c.id, vec.c.model == target)
        .scalar_subquery()
    )
    session.execute(
        update(faces)
        .where(
            faces.c.model == source,
            exists().where(vec.c.face_id == faces.c.id, vec.c.model == target),
        )
        .values(model=target, embedding=target_vector)
    )
    session.execute(
        delete(vec).where(
            vec.c.model == target,
            vec.c.face_id.in_(select(faces.c.id).where(faces.c.model == target)),
        )
    )
    session.flush()
    session.expire_all()
    return count


def drop_media_vectors(session: Session, model: str) -> int:
    gone = session.execute(delete(MediaFaceVector).where(MediaFaceVector.model == model))
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]


def person_query_vector(
    session: Session,
    cipher: Cipher | None,
    crop_of: CropReader,
    pipeline: FacePipeline,
    search_id: int,
) -> np.ndarray:
    """A media person's standing query by ``pipeline``'s recognizer: the mean of the normalised
    vectors of the faces its search used (their kept target vectors, else made from their
    crops), normalised, as ``search.multiprobe.mean_probe`` makes it."""
    target = pipeline.model_key
    ids = [
        int(i)
        for i in session.scalars(
            select(SearchProbe.media_face_id).where(
                SearchProbe.search_id == search_id, SearchProbe.media_face_id.is_not(None)
            )
        )
        if i is not None
    ]
    if not ids:
        raise ValueError(f"search {search_id} names no media face")
    vectors: dict[int, np.ndarray] = {}
    for face_id, blob in session.execute(
        select(MediaFaceVector.face_id, MediaFaceVector.embedding).where(
            MediaFaceVector.model == target, MediaFaceVector.face_id.in_(ids)
        )
    ):
        vectors[int(face_id)] = open_face_vector(cipher, blob, int(face_id), target)
    for face_id, blob in session.execute(
        select(MediaFace.id, MediaFace.embedding).where(
            MediaFace.model == target, MediaFace.id.in_(ids)
        )
    ):
        vectors[int(face_id)] = open_face_vector(cipher, blob, int(face_id), target)
    rest = [i for i in ids if i not in vectors]
    if rest:
        rows = session.execute(
            select(MediaFace, MediaFile.width, MediaFile.height)
            .join(MediaFile, MediaFile.id == MediaFace.file_id)
            .where(MediaFace.id.in_(rest))
        ).all()
        made = embed_crops(pipeline, [_job(f, w, h) for f, w, h in rows], crop_of)
        vectors.update(made.vectors)
    if not vectors:
        raise ValueError(f"none of the person's {len(ids)} faces could be re-embedded")
    units = [v / np.linalg.norm(v) for v in vectors.values()]
    mean = np.mean(units, axis=0)
    return np.asarray(mean / np.linalg.norm(mean), np.float32)
