"""The queue of the second-vector pass, in the catalog: faces waiting for their second
recognizer's vector, the vectors stored, stale vectors queued again, and failures kept.

:class:`SecondVectorQueueMixin` is part of :class:`facesearch.store.catalog.SqlCatalog`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from facesearch.store.crypto import Cipher, seal_embedding
from facesearch.store.records import FROM_CROP, FROM_PHOTO, PendingSecond
from facesearch.store.schema import FaceRow, Image, SecondVectorQueue, utcnow


class SecondVectorQueueMixin:
    """The second-vector pass's side of the catalog; the catalog gives it ``session()``."""

    session: Callable[[], AbstractContextManager[Session]]
    cipher: Cipher | None

    def pending_second(self, after_id: int = 0, limit: int = 256) -> list[PendingSecond]:
        """Queued faces (not failed) with ids above ``after_id``, by id."""
        with self.session() as s:
            rows = s.execute(
                select(
                    SecondVectorQueue.face_id,
                    SecondVectorQueue.chip,
                    FaceRow.crop,
                    FaceRow.x,
                    FaceRow.y,
                    FaceRow.w,
                    FaceRow.h,
                    FaceRow.landmarks,
                    Image.width,
                    Image.height,
                )
                .join(FaceRow, FaceRow.id == SecondVectorQueue.face_id)
                .join(Image, Image.id == FaceRow.image_id)
                .where(SecondVectorQueue.face_id > after_id, SecondVectorQueue.error.is_(None))
                .order_by(SecondVectorQueue.face_id)
                .limit(limit)
            ).all()
        return [
            PendingSecond(
                face_id=int(r[0]), chip=r[1], crop=r[2], bbox=(r[3], r[4], r[5], r[6]),
                landmarks=tuple((float(x), float(y)) for x, y in (r[7] or [])),
                image_width=r[8], image_height=r[9],
            )
            for r in rows
        ]  # fmt: skip

    def store_second_vectors(
        self, model: str, vectors: dict[int, tuple[np.ndarray, str]]
    ) -> list[str]:
        """Store second vectors ({face id: (vector, source)}) and take those faces off the
        queue, in one transaction. Returns the chip blob keys no longer needed (for the caller
        to delete once this has committed)."""
        if not vectors:
            return []
        ids = [int(i) for i in vectors]
        with self.session() as s:
            chips = [
                c
                for c in s.scalars(
                    select(SecondVectorQueue.chip).where(SecondVectorQueue.face_id.in_(ids))
                )
                if c
            ]
            s.execute(
                update(FaceRow),
                [
                    {
                        "id": int(face_id),
                        "second_model": model,
                        "second_embedding": seal_embedding(
                            self.cipher, vec, face_id, model, "second_embedding"
                        ),
                        "second_source": source,
                    }
                    for face_id, (vec, source) in vectors.items()
                ],
            )
            s.execute(delete(SecondVectorQueue).where(SecondVectorQueue.face_id.in_(ids)))
        return chips

    def queue_stale_second(self, model: str) -> int:
        """Queue for the second-vector pass every face whose stored second vector was made
        by another model than ``model`` (e.g. plain dlib vectors once they are flip-averaged:
        search scores those faces with SFace alone until then). Their chips are gone, so the
        pass describes them from the stored crop; a face without a crop is left as it is.
        Returns how many faces were queued."""
        with self.session() as s:
            ids = s.scalars(
                select(FaceRow.id).where(
                    FaceRow.second_embedding.is_not(None),
                    FaceRow.second_model.is_distinct_from(model),
                    FaceRow.crop.is_not(None),
                    FaceRow.id.not_in(select(SecondVectorQueue.face_id)),
                )
            ).all()
            if ids:
                now = utcnow()
                s.execute(
                    insert(SecondVectorQueue),
                    [{"face_id": int(i), "chip": None, "created_at": now} for i in ids],
                )
        return len(ids)

    def fail_second(self, errors: dict[int, str]) -> None:
        """Keep faces the pass could not describe out of later passes, with the reason."""
        if not errors:
            return
        with self.session() as s:
            for face_id, reason in errors.items():
                s.execute(
                    update(SecondVectorQueue)
                    .where(SecondVectorQueue.face_id == int(face_id))
                    .values(error=reason)
                )

    def second_vector_counts(self, model: str | None = None) -> dict[str, int]:
        """Faces with a second vector (by what it was made from), pending, failed, without;
        with ``model``, also how many of those vectors were made by another model
        (``other_model``: scored by SFace alone until the second-vector pass remakes them)."""
        with self.session() as s:
            other = (
                s.scalar(
                    select(func.count(FaceRow.id)).where(
                        FaceRow.second_embedding.is_not(None),
                        FaceRow.second_model.is_distinct_from(model),
                    )
                )
                if model is not None
                else None
            )
            total = s.scalar(select(func.count(FaceRow.id))) or 0
            by_source = dict(
                s.execute(
                    select(FaceRow.second_source, func.count(FaceRow.id))
                    .where(FaceRow.second_embedding.is_not(None))
                    .group_by(FaceRow.second_source)
                ).all()
            )
            failed = s.scalar(select(func.count()).where(SecondVectorQueue.error.is_not(None)))
            queued = s.scalar(select(func.count(SecondVectorQueue.face_id))) or 0
        with_vector = sum(by_source.values())
        return {
            "with": with_vector,
            "from_photo": by_source.get(FROM_PHOTO, 0),
            "from_crop": by_source.get(FROM_CROP, 0),
            "made_before_0004": by_source.get(None, 0),
            "pending": queued - (failed or 0),
            "failed": failed or 0,
            "without": total - with_vector,
        } | ({} if other is None else {"other_model": other})
