"""Media faces' vectors of other recognizers (issue 25, item 3; media/model_moves.py):
``media_face_vectors`` holds a media face's vector made by the model the gallery moves to
(from the face's stored crop, aligned on its stored landmarks: ``source`` "crop"), and after the
switch the old model's (``source`` "kept"), until an administrator drops them. Sealed like
``media_faces.embedding`` (bound to the face's id and the vector's model), so a switch moves the
bytes between the two tables as they are."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from facesearch.store.schema import Base, FaceId, utcnow

__all__ = ["MediaFaceVector"]


class MediaFaceVector(Base):
    __tablename__ = "media_face_vectors"
    __table_args__ = (Index("ix_media_face_vectors_model", "model", "face_id"),)

    face_id: Mapped[int] = mapped_column(
        FaceId, ForeignKey("media_faces.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(120), primary_key=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(8))  # crop | kept
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
