"""Catalog tables (SQLAlchemy 2 declarative). The catalog is the source of truth.

Every table any part of facesearch stores lives on ``Base.metadata`` so that one Alembic
migration history covers the whole catalog. Changes to these classes need a new migration in
``facesearch/migrations/versions``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: 64-bit ids on PostgreSQL (galleries of billions of faces); SQLite's rowid is 64-bit already.
FaceId = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Collection(Base):
    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Image(Base):
    """One distinct image file content (by SHA-256); duplicates share this row."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)  # where it was first read (the archive, if any)
    # the archive member it was read from ("" for a plain file): kept apart from ``path``, so
    # a "!" in a folder name is only a character (revision 0012)
    member: Mapped[str] = mapped_column(Text, default="", server_default="")
    thumbnail: Mapped[str | None] = mapped_column(String(64))  # blob key
    # the original photo's blob key (the full image never depends on where it was read);
    # None: not kept, and ``original_state`` says why (ORIGINAL_* in store/records.py)
    original: Mapped[str | None] = mapped_column(String(64))
    original_state: Mapped[str | None] = mapped_column(String(16))
    face_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    faces: Mapped[list[FaceRow]] = relationship(
        back_populates="image", cascade="all, delete-orphan"
    )
    provenance: Mapped[list[Provenance]] = relationship(
        back_populates="image", cascade="all, delete-orphan"
    )


class Provenance(Base):
    """Where an image came from. One image may have many provenance records."""

    __tablename__ = "provenance"
    __table_args__ = (
        UniqueConstraint(
            "image_id", "collection_id", "path", "member", "source_url", name="uq_provenance"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id"), index=True)
    path: Mapped[str] = mapped_column(Text)  # the file, or the archive (as it was named)
    member: Mapped[str] = mapped_column(Text, default="", server_default="")  # in the archive
    source_url: Mapped[str] = mapped_column(Text, default="")
    page_url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    captured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ingest_run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))

    image: Mapped[Image] = relationship(back_populates="provenance")
    collection: Mapped[Collection] = relationship()


class FaceRow(Base):
    """One detected face. Its id is also its vector id in the vector index."""

    __tablename__ = "faces"
    __table_args__ = (
        UniqueConstraint("image_id", "face_index", "model", name="uq_face"),
        Index("ix_faces_searchable_model", "searchable", "model"),
    )

    id: Mapped[int] = mapped_column(FaceId, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    face_index: Mapped[int] = mapped_column(Integer)
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    w: Mapped[float] = mapped_column(Float)
    h: Mapped[float] = mapped_column(Float)
    landmarks: Mapped[list[list[float]]] = mapped_column(JSON)
    detector_score: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float)
    sharpness: Mapped[float] = mapped_column(Float)
    yaw: Mapped[float] = mapped_column(Float)
    flags: Mapped[str] = mapped_column(String(200), default="")  # comma-separated reasons
    searchable: Mapped[bool] = mapped_column(Boolean, default=True)
    model: Mapped[str] = mapped_column(String(120))
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32 little-endian, unit norm
    # the second recognizer's vector (score fusion), absent when it did not run
    second_model: Mapped[str | None] = mapped_column(String(120))
    second_embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    # what the second vector was made from: "photo" (a chip aligned on the full-resolution
    # photo) or "crop" (the stored 160 px crop, for faces ingested before chips were kept);
    # None for vectors made before revision 0004, or no vector
    second_source: Mapped[str | None] = mapped_column(String(8))
    crop: Mapped[str | None] = mapped_column(String(64))  # blob key
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    image: Mapped[Image] = relationship(back_populates="faces")


class SecondVectorQueue(Base):
    """Faces waiting for the second recognizer's vector (the pass after ingest).

    ``chip`` is the blob key of the face's 150x150 chip, aligned by the ingest worker on the
    full-resolution photo and stored losslessly (PNG); None means: make it from the face's
    stored crop (faces ingested before revision 0004). A row goes, and its chip with it, once
    the vector is stored; ``error`` keeps a face the pass could not describe out of later
    passes, with the reason.
    """

    __tablename__ = "second_vector_queue"

    face_id: Mapped[int] = mapped_column(
        FaceId, ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True
    )
    chip: Mapped[str | None] = mapped_column(String(64))  # blob key
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IngestRunRow(Base):
    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="running")
    sources: Mapped[list[str]] = mapped_column(JSON, default=list)
    collection: Mapped[str | None] = mapped_column(String(200))
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(Text)  # why it was interrupted, when known

    failures: Mapped[list[IngestFailure]] = relationship(cascade="all, delete-orphan")


class IngestFailure(Base):
    __tablename__ = "ingest_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("ingest_runs.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CatalogGeneration(Base):
    """One row (id 1): ``value``, a counter every commit that adds or removes faces raises in
    the same transaction, and ``max_face_id``, the highest face id ever given (ids are never
    given twice). A process holding the vector index in memory (a server) reads ``value``
    before each search, one primary-key lookup, and brings its index up to date when another
    process (a CLI ingest or removal) changed the faces since (``store/generation.py``)."""

    __tablename__ = "catalog_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    max_face_id: Mapped[int] = mapped_column(BigInteger, default=0)


class RecognizerState(Base):
    """One row (id 1): the recognizer whose vectors the gallery searches (``active``, a model
    key of the manifest or the model store, and ``model_key``, the key its vectors carry), since
    when and who switched to it, and the one before (``store/recognizers.py``). No row: the
    packaged default recognizer, as before revision 0026."""

    __tablename__ = "recognizer_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    active: Mapped[str] = mapped_column(String(120))
    model_key: Mapped[str] = mapped_column(String(120))
    previous: Mapped[str | None] = mapped_column(String(120))
    previous_model_key: Mapped[str | None] = mapped_column(String(120))
    switched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    switched_by: Mapped[str] = mapped_column(String(64), default="")


class FaceVector(Base):
    """A face's vector made by a recognizer other than the one its ``faces`` row holds: the
    target of a model migration (``facesearch models migrate``) until the switch, the old
    model's after it (kept until an administrator drops them, so the gallery can switch
    back), or a fusion member's. Sealed like ``faces.embedding`` (bound to the face id and
    ``model``), so a switch moves the bytes between the two tables as they are."""

    __tablename__ = "face_vectors"
    __table_args__ = (Index("ix_face_vectors_model", "model", "face_id"),)

    face_id: Mapped[int] = mapped_column(
        FaceId, ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(120), primary_key=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    # what it was made from: "photo" (the stored original) or "crop" (the 160 px crop, where
    # the original is gone)
    source: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelMigration(Base):
    """One move of the gallery to another recognizer: the re-embedding pass (resumable: the
    faces already in ``face_vectors`` under ``target_model_key`` are done), then the switch.
    ``state``: running | interrupted | ready (every searchable face has its vector) |
    switched | cancelled | failed."""

    __tablename__ = "model_migrations"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(120))  # the model's key (manifest or store)
    target_model_key: Mapped[str] = mapped_column(String(120))
    source_model_key: Mapped[str] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(20), default="running")
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    from_crop: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # face id -> why
    started_by: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    switched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    switched_by: Mapped[str | None] = mapped_column(String(64))
