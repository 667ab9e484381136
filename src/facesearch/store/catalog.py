"""The catalog: the relational record of collections, images, provenance, faces and runs.

``Catalog`` is the interface the pipeline, ingest and search use; ``SqlCatalog`` implements it
with SQLAlchemy 2 on SQLite (the embedded default, in WAL mode) or PostgreSQL. The schema is
created and upgraded with Alembic when a catalog is opened.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

import numpy as np
from sqlalchemy import Engine, create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from facesearch.store.schema import (
    Collection,
    Face,
    Image,
    IngestFailure,
    IngestRun,
    Provenance,
    SecondVectorQueue,
    utcnow,
)
from facesearch.store.vectors.port import Facet

#: What a face's second vector was made from (``faces.second_source``).
FROM_PHOTO, FROM_CROP = "photo", "crop"


@dataclass(frozen=True)
class ProvenanceRecord:
    path: str
    collection: str
    source_url: str = ""
    page_url: str | None = None
    title: str | None = None
    captured_at: datetime | None = None


@dataclass(frozen=True)
class FaceRecord:
    face_index: int
    bbox: tuple[float, float, float, float]
    landmarks: list[list[float]]
    detector_score: float
    quality: float
    sharpness: float
    yaw: float
    flags: tuple[str, ...]
    model: str
    embedding: np.ndarray
    crop: str | None = None
    second_model: str | None = None
    second_embedding: np.ndarray | None = None  # made in the worker, from the photo
    # blob key of the second recognizer's chip, aligned on the photo: queued for the pass
    second_chip: str | None = None

    @property
    def searchable(self) -> bool:
        return not self.flags


@dataclass(frozen=True)
class ImageRecord:
    sha256: str
    size_bytes: int
    width: int
    height: int
    format: str
    path: str
    thumbnail: str | None
    faces: list[FaceRecord]
    provenance: ProvenanceRecord


@dataclass(frozen=True)
class SearchFilters:
    """Restrict a search to faces whose image has a provenance record matching all of these."""

    collection: str | None = None
    captured_from: datetime | None = None
    captured_to: datetime | None = None
    source_prefix: str | None = None  # e.g. "https://evidence.example.org/case-114/"

    @property
    def empty(self) -> bool:
        return all(
            v is None
            for v in (self.collection, self.captured_from, self.captured_to, self.source_prefix)
        )


@dataclass(frozen=True)
class StoredFace:
    """A face as search results show it: the face, its image and every provenance record."""

    face_id: int
    face_index: int
    bbox: tuple[float, float, float, float]
    quality: float
    flags: tuple[str, ...]
    model: str
    crop: str | None
    image_id: int
    image_sha256: str
    image_path: str
    image_width: int
    image_height: int
    thumbnail: str | None
    provenance: list[dict[str, Any]] = field(default_factory=list)
    second_model: str | None = None
    second_embedding: np.ndarray | None = None  # the second recognizer's vector, if stored
    landmarks: tuple[tuple[float, float], ...] = ()  # five points, original image pixels


@dataclass(frozen=True)
class PendingSecond:
    """A face waiting for its second vector: its chip, or (``chip`` None) what is needed to
    make one from its stored crop."""

    face_id: int
    chip: str | None
    crop: str | None
    bbox: tuple[float, float, float, float]
    landmarks: tuple[tuple[float, float], ...]
    image_width: int
    image_height: int


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False},
            poolclass=StaticPool if in_memory else None,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema up to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("facesearch") / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def embedding_to_bytes(vec: np.ndarray) -> bytes:
    return np.asarray(vec, dtype="<f4").tobytes()


def embedding_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


class SqlCatalog:
    def __init__(self, url: str, *, run_migrations: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if run_migrations:
            migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._collections: dict[str, int] = {}

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    # --- collections -------------------------------------------------------------------
    def collection_id(self, session: Session, name: str) -> int:
        if name in self._collections:
            return self._collections[name]
        found = session.scalar(select(Collection.id).where(Collection.name == name))
        if found is None:
            coll = Collection(name=name)
            session.add(coll)
            session.flush()
            found = coll.id
        self._collections[name] = found
        return found

    def collections(self) -> list[dict[str, Any]]:
        with self.session() as s:
            rows = s.execute(
                select(Collection.name, func.count(func.distinct(Provenance.image_id)))
                .join(Provenance, Provenance.collection_id == Collection.id, isouter=True)
                .group_by(Collection.name)
                .order_by(Collection.name)
            ).all()
        return [{"name": name, "images": count} for name, count in rows]

    # --- ingest -----------------------------------------------------------------------
    def image_id_by_sha(self, sha256: str) -> int | None:
        with self.session() as s:
            return s.scalar(select(Image.id).where(Image.sha256 == sha256))

    def add_images(self, records: Sequence[ImageRecord], run_id: int | None) -> list[list[int]]:
        """Store images with their faces and provenance in one transaction.

        An image whose sha256 is already stored (or appears earlier in ``records``) only gains
        the new provenance record. Returns, per record, the ids of the faces created. Rows are
        written with multi-row INSERT ... RETURNING, a few statements per batch.
        """
        if not records:
            return []
        with self.session() as s:
            shas = list(dict.fromkeys(r.sha256 for r in records))
            image_ids: dict[str, int] = {
                sha: image_id
                for sha, image_id in s.execute(
                    select(Image.sha256, Image.id).where(Image.sha256.in_(shas))
                )
            }
            fresh: dict[str, ImageRecord] = {}
            for rec in records:
                if rec.sha256 not in image_ids and rec.sha256 not in fresh:
                    fresh[rec.sha256] = rec
            face_ids: dict[str, list[int]] = {}
            if fresh:
                new_ids = s.scalars(
                    insert(Image).returning(Image.id, sort_by_parameter_order=True),
                    [_image_values(r) for r in fresh.values()],
                ).all()
                image_ids.update(zip(fresh, new_ids, strict=True))
                face_rows = [
                    _face_values(image_ids[sha], f) for sha, r in fresh.items() for f in r.faces
                ]
                created = (
                    s.scalars(
                        insert(Face).returning(Face.id, sort_by_parameter_order=True), face_rows
                    ).all()
                    if face_rows
                    else []
                )
                pos = 0
                for sha, r in fresh.items():
                    face_ids[sha] = list(created[pos : pos + len(r.faces)])
                    pos += len(r.faces)
                queued = [
                    {"face_id": face_id, "chip": f.second_chip, "created_at": utcnow()}
                    for sha, r in fresh.items()
                    for f, face_id in zip(r.faces, face_ids[sha], strict=True)
                    if f.second_chip is not None
                ]
                if queued:
                    s.execute(insert(SecondVectorQueue), queued)
            self._insert_provenance(
                s, [(image_ids[r.sha256], r.provenance) for r in records], run_id
            )
            # face ids go to the first record of each new image
            return [face_ids.pop(rec.sha256, []) for rec in records]

    def _insert_provenance(
        self,
        session: Session,
        items: Sequence[tuple[int, ProvenanceRecord]],
        run_id: int | None,
    ) -> int:
        """Insert the provenance records not already stored; returns how many were new."""
        keyed: dict[tuple[int, int, str, str], ProvenanceRecord] = {}
        for image_id, prov in items:
            coll = self.collection_id(session, prov.collection)
            keyed.setdefault((image_id, coll, prov.path, prov.source_url), prov)
        image_ids = sorted({k[0] for k in keyed})
        existing = {
            tuple(row)
            for row in session.execute(
                select(
                    Provenance.image_id,
                    Provenance.collection_id,
                    Provenance.path,
                    Provenance.source_url,
                ).where(Provenance.image_id.in_(image_ids))
            )
        }
        rows = [
            {
                "image_id": key[0],
                "collection_id": key[1],
                "path": prov.path,
                "source_url": prov.source_url,
                "page_url": prov.page_url,
                "title": prov.title,
                "captured_at": prov.captured_at,
                "ingest_run_id": run_id,
                "ingested_at": utcnow(),
            }
            for key, prov in keyed.items()
            if key not in existing
        ]
        if rows:
            session.execute(insert(Provenance), rows)
        return len(rows)

    def add_provenance(self, image_id: int, prov: ProvenanceRecord, run_id: int | None) -> bool:
        """Add one provenance record to a stored image; False if it was already there."""
        with self.session() as s:
            return self._insert_provenance(s, [(image_id, prov)], run_id) == 1

    def start_run(self, sources: list[str], collection: str | None) -> int:
        with self.session() as s:
            run = IngestRun(sources=sources, collection=collection, counts={})
            s.add(run)
            s.flush()
            return run.id

    def finish_run(self, run_id: int, status: str, counts: dict[str, int]) -> None:
        with self.session() as s:
            s.execute(
                update(IngestRun)
                .where(IngestRun.id == run_id)
                .values(status=status, counts=counts, finished_at=utcnow())
            )

    def add_failure(self, run_id: int, path: str, reason: str) -> None:
        with self.session() as s:
            s.add(IngestFailure(run_id=run_id, path=path, reason=reason))

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self.session() as s:
            rows = s.scalars(select(IngestRun).order_by(IngestRun.id.desc()).limit(limit)).all()
            return [
                {
                    "id": r.id,
                    "started_at": r.started_at,
                    "finished_at": r.finished_at,
                    "status": r.status,
                    "sources": r.sources,
                    "collection": r.collection,
                    "counts": r.counts,
                }
                for r in rows
            ]

    def failures(self, run_id: int) -> list[tuple[str, str]]:
        with self.session() as s:
            rows = s.execute(
                select(IngestFailure.path, IngestFailure.reason)
                .where(IngestFailure.run_id == run_id)
                .order_by(IngestFailure.id)
            ).all()
        return [(p, r) for p, r in rows]

    # --- search -----------------------------------------------------------------------
    def faces(self, face_ids: Sequence[int]) -> dict[int, StoredFace]:
        """The faces with their image and every provenance record: two queries in all."""
        ids = [int(i) for i in face_ids]
        if not ids:
            return {}
        with self.session() as s:
            rows = s.execute(
                select(
                    Face.id,
                    Face.face_index,
                    Face.x,
                    Face.y,
                    Face.w,
                    Face.h,
                    Face.quality,
                    Face.flags,
                    Face.model,
                    Face.crop,
                    Image.id,
                    Image.sha256,
                    Image.path,
                    Image.width,
                    Image.height,
                    Image.thumbnail,
                    Face.second_model,
                    Face.second_embedding,
                    Face.landmarks,
                )
                .join(Image, Image.id == Face.image_id)
                .where(Face.id.in_(ids))
            ).all()
            provenance: dict[int, list[dict[str, Any]]] = {}
            image_ids = sorted({r[10] for r in rows})
            for p, collection in s.execute(
                select(Provenance, Collection.name)
                .join(Collection, Collection.id == Provenance.collection_id)
                .where(Provenance.image_id.in_(image_ids))
                .order_by(Provenance.id)
            ):
                provenance.setdefault(p.image_id, []).append(_provenance_dict(p, collection))
        return {
            r[0]: StoredFace(
                face_id=r[0], face_index=r[1], bbox=(r[2], r[3], r[4], r[5]), quality=r[6],
                flags=tuple(x for x in r[7].split(",") if x), model=r[8], crop=r[9],
                image_id=r[10], image_sha256=r[11], image_path=r[12], image_width=r[13],
                image_height=r[14], thumbnail=r[15], provenance=provenance.get(r[10], []),
                second_model=r[16],
                second_embedding=None if r[17] is None else embedding_from_bytes(r[17]),
                landmarks=tuple((float(x), float(y)) for x, y in (r[18] or [])),
            )
            for r in rows
        }  # fmt: skip

    # --- the second-vector pass ---------------------------------------------------------
    def pending_second(self, after_id: int = 0, limit: int = 256) -> list[PendingSecond]:
        """Queued faces (not failed) with ids above ``after_id``, by id."""
        with self.session() as s:
            rows = s.execute(
                select(
                    SecondVectorQueue.face_id,
                    SecondVectorQueue.chip,
                    Face.crop,
                    Face.x,
                    Face.y,
                    Face.w,
                    Face.h,
                    Face.landmarks,
                    Image.width,
                    Image.height,
                )
                .join(Face, Face.id == SecondVectorQueue.face_id)
                .join(Image, Image.id == Face.image_id)
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
                update(Face),
                [
                    {
                        "id": int(face_id),
                        "second_model": model,
                        "second_embedding": embedding_to_bytes(vec),
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
                select(Face.id).where(
                    Face.second_embedding.is_not(None),
                    Face.second_model.is_distinct_from(model),
                    Face.crop.is_not(None),
                    Face.id.not_in(select(SecondVectorQueue.face_id)),
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
                    select(func.count(Face.id)).where(
                        Face.second_embedding.is_not(None),
                        Face.second_model.is_distinct_from(model),
                    )
                )
                if model is not None
                else None
            )
            total = s.scalar(select(func.count(Face.id))) or 0
            by_source = dict(
                s.execute(
                    select(Face.second_source, func.count(Face.id))
                    .where(Face.second_embedding.is_not(None))
                    .group_by(Face.second_source)
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

    def face_ids(
        self,
        model: str,
        searchable_only: bool = True,
        collection: str | None = None,
        filters: SearchFilters | None = None,
    ) -> np.ndarray:
        """Ids of the faces of ``model``, optionally only those whose image has a provenance
        record matching every given filter (collection, capture dates, source URL prefix)."""
        f = filters or SearchFilters()
        if collection is not None:
            f = SearchFilters(collection, f.captured_from, f.captured_to, f.source_prefix)
        with self.session() as s:
            q = select(Face.id).where(Face.model == model)
            if searchable_only:
                q = q.where(Face.searchable.is_(True))
            if not f.empty:
                prov = select(Provenance.image_id)
                if f.collection is not None:
                    prov = prov.join(Collection, Collection.id == Provenance.collection_id).where(
                        Collection.name == f.collection
                    )
                if f.captured_from is not None:
                    prov = prov.where(Provenance.captured_at >= f.captured_from)
                if f.captured_to is not None:
                    prov = prov.where(Provenance.captured_at <= f.captured_to)
                if f.source_prefix is not None:
                    prov = prov.where(
                        Provenance.source_url.startswith(f.source_prefix, autoescape=True)
                    )
                q = q.where(Face.image_id.in_(prov))
            ids = s.scalars(q.order_by(Face.id)).all()
        return np.asarray(ids, dtype=np.int64)

    def iter_embeddings(
        self,
        model: str,
        searchable_only: bool = True,
        chunk: int = 50_000,
        flagged_only: bool = False,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, embeddings) in chunks, by id: searchable faces, all, or only flagged ones."""
        last = 0
        while True:
            with self.session() as s:
                q = select(Face.id, Face.embedding).where(Face.model == model, Face.id > last)
                if flagged_only:
                    q = q.where(Face.searchable.is_(False))
                elif searchable_only:
                    q = q.where(Face.searchable.is_(True))
                rows = s.execute(q.order_by(Face.id).limit(chunk)).all()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.stack([embedding_from_bytes(r[1]) for r in rows])
            last = int(ids[-1])
            yield ids, vecs

    def searchable_summary(self, model: str) -> tuple[int, int]:
        """(count, max id) of the searchable faces of ``model``: a cheap consistency check."""
        with self.session() as s:
            count, max_id = s.execute(
                select(func.count(Face.id), func.max(Face.id)).where(
                    Face.model == model, Face.searchable.is_(True)
                )
            ).one()
        return int(count or 0), int(max_id or 0)

    def embeddings(self, face_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Embeddings of the given faces, in the order given."""
        ids = [int(i) for i in face_ids]
        found: dict[int, np.ndarray] = {}
        with self.session() as s:
            for start in range(0, len(ids), 10_000):
                part = ids[start : start + 10_000]
                for face_id, blob in s.execute(
                    select(Face.id, Face.embedding).where(Face.id.in_(part))
                ).all():
                    found[face_id] = embedding_from_bytes(blob)
        return np.stack([found[i] for i in ids]) if ids else np.zeros((0, 0), np.float32)

    def facets(self, face_ids: Sequence[int] | np.ndarray) -> list[list[Facet]]:
        """Per face (in the order given), its image's provenance records as the vector store
        filters on them (collection, capture time, source URL): what a store that pushes the
        search filters down keeps beside each vector."""
        ids = [int(i) for i in face_ids]
        image_of: dict[int, int] = {}
        by_image: dict[int, list[Facet]] = {}
        with self.session() as s:
            for start in range(0, len(ids), 10_000):
                part = ids[start : start + 10_000]
                rows = s.execute(select(Face.id, Face.image_id).where(Face.id.in_(part))).all()
                image_of.update((int(f), int(i)) for f, i in rows)
            images = sorted(set(image_of.values()))
            for start in range(0, len(images), 10_000):
                part = images[start : start + 10_000]
                for image_id, name, captured, source in s.execute(
                    select(
                        Provenance.image_id,
                        Collection.name,
                        Provenance.captured_at,
                        Provenance.source_url,
                    )
                    .join(Collection, Collection.id == Provenance.collection_id)
                    .where(Provenance.image_id.in_(part))
                    .order_by(Provenance.id)
                ):
                    by_image.setdefault(int(image_id), []).append(
                        Facet(str(name), captured, str(source or ""))
                    )
        return [list(by_image.get(image_of.get(i, -1), [])) for i in ids]

    def image_face_ids(self, image_ids: Sequence[int], model: str) -> np.ndarray:
        """The searchable faces of ``model`` in these images (sorted)."""
        ids = [int(i) for i in image_ids]
        with self.session() as s:
            found = s.scalars(
                select(Face.id)
                .where(Face.image_id.in_(ids), Face.model == model, Face.searchable.is_(True))
                .order_by(Face.id)
            ).all()
        return np.asarray(found, dtype=np.int64)

    def models(self) -> list[str]:
        with self.session() as s:
            return list(s.scalars(select(Face.model).distinct()).all())

    def delete_faces(self, face_ids: Sequence[int]) -> int:
        ids = [int(i) for i in face_ids]
        if not ids:
            return 0
        with self.session() as s:
            result = s.execute(delete(Face).where(Face.id.in_(ids)))
            return int(getattr(result, "rowcount", 0) or 0)

    def remove_faces(self, face_ids: Sequence[int]) -> tuple[int, list[str]]:
        """Delete faces, and every image left without a face (with its provenance).

        Returns how many faces were deleted and the blob keys (crops, thumbnails) that no
        remaining row refers to, for the caller to delete.
        """
        ids = [int(i) for i in face_ids]
        if not ids:
            return 0, []
        with self.session() as s:
            rows = s.execute(select(Face.image_id, Face.crop).where(Face.id.in_(ids))).all()
            image_ids = {r[0] for r in rows}
            keys = {r[1] for r in rows if r[1]}
            keys |= {  # chips still waiting for the second pass
                c
                for c in s.scalars(
                    select(SecondVectorQueue.chip).where(SecondVectorQueue.face_id.in_(ids))
                )
                if c
            }
            s.execute(delete(SecondVectorQueue).where(SecondVectorQueue.face_id.in_(ids)))
            s.execute(delete(Face).where(Face.id.in_(ids)))
            emptied = [
                image_id
                for image_id in image_ids
                if s.scalar(select(func.count(Face.id)).where(Face.image_id == image_id)) == 0
            ]
            if emptied:
                keys |= {
                    t for t in s.scalars(select(Image.thumbnail).where(Image.id.in_(emptied))) if t
                }
                s.execute(delete(Provenance).where(Provenance.image_id.in_(emptied)))
                s.execute(delete(Image).where(Image.id.in_(emptied)))
            still_used = set(s.scalars(select(Face.crop).where(Face.crop.in_(keys)))) | set(
                s.scalars(select(Image.thumbnail).where(Image.thumbnail.in_(keys)))
            )
        return len(rows), sorted(keys - still_used)

    def stats(self) -> dict[str, Any]:
        with self.session() as s:
            images = s.scalar(select(func.count(Image.id))) or 0
            faces = s.scalar(select(func.count(Face.id))) or 0
            searchable = s.scalar(select(func.count(Face.id)).where(Face.searchable.is_(True)))
            provenance = s.scalar(select(func.count(Provenance.id))) or 0
            flagged: dict[str, int] = {}
            for flags, count in s.execute(
                select(Face.flags, func.count(Face.id))
                .where(Face.searchable.is_(False))
                .group_by(Face.flags)
            ).all():
                for flag in flags.split(","):
                    if flag:
                        flagged[flag] = flagged.get(flag, 0) + count
            collections = s.scalar(select(func.count(Collection.id))) or 0
        return {
            "images": images,
            "faces": faces,
            "searchable_faces": searchable or 0,
            "flagged_faces": flagged,
            "provenance_records": provenance,
            "collections": collections,
            "second_vectors": self.second_vector_counts(),
        }


def _image_values(r: ImageRecord) -> dict[str, Any]:
    return {
        "sha256": r.sha256,
        "bytes": r.size_bytes,
        "width": r.width,
        "height": r.height,
        "format": r.format,
        "path": r.path,
        "thumbnail": r.thumbnail,
        "face_count": len(r.faces),
        "created_at": utcnow(),
    }


def _face_values(image_id: int, f: FaceRecord) -> dict[str, Any]:
    return {
        "image_id": image_id,
        "face_index": f.face_index,
        "x": f.bbox[0],
        "y": f.bbox[1],
        "w": f.bbox[2],
        "h": f.bbox[3],
        "landmarks": f.landmarks,
        "detector_score": f.detector_score,
        "quality": f.quality,
        "sharpness": f.sharpness,
        "yaw": f.yaw,
        "flags": ",".join(f.flags),
        "searchable": f.searchable,
        "model": f.model,
        "embedding": embedding_to_bytes(f.embedding),
        "second_model": f.second_model if f.second_embedding is not None else None,
        "second_source": FROM_PHOTO if f.second_embedding is not None else None,
        "second_embedding": None
        if f.second_embedding is None
        else embedding_to_bytes(f.second_embedding),
        "crop": f.crop,
        "created_at": utcnow(),
    }


def _provenance_dict(p: Provenance, collection: str) -> dict[str, Any]:
    return {
        "collection": collection,
        "path": p.path,
        "source_url": p.source_url or None,
        "page_url": p.page_url,
        "title": p.title,
        "captured_at": p.captured_at.isoformat() if p.captured_at else None,
        "ingested_at": p.ingested_at.isoformat() if p.ingested_at else None,
    }
