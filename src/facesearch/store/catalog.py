"""The catalog: the relational record of collections, images, provenance, faces and runs.

``Catalog`` is the interface the pipeline, ingest and search use; ``SqlCatalog`` implements it
with SQLAlchemy 2 on SQLite (the embedded default, in WAL mode) or PostgreSQL. The schema is
created and upgraded with Alembic when a catalog is opened.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from facesearch.store import generation
from facesearch.store.catalog_rows import face_values, image_values, provenance_dict
from facesearch.store.crypto import Cipher, open_embedding, seal_embedding
from facesearch.store.database import (
    embedding_from_bytes,
    embedding_to_bytes,
    make_engine,
    migrate,
)
from facesearch.store.records import (
    FROM_CROP,
    FROM_PHOTO,
    FaceRecord,
    ImageRecord,
    PendingSecond,
    ProvenanceRecord,
    SearchFilters,
    StoredFace,
    source_label,
)
from facesearch.store.schema import (
    Collection,
    FaceRow,
    Image,
    IngestFailure,
    IngestRunRow,
    Provenance,
    SecondVectorQueue,
    utcnow,
)
from facesearch.store.second_queue import SecondVectorQueueMixin
from facesearch.store.vectors.port import Facet

__all__ = [
    "FROM_CROP",
    "FROM_PHOTO",
    "FaceRecord",
    "ImageRecord",
    "PendingSecond",
    "ProvenanceRecord",
    "SearchFilters",
    "SqlCatalog",
    "StoredFace",
    "embedding_from_bytes",
    "embedding_to_bytes",
    "make_engine",
    "migrate",
]


class SqlCatalog(SecondVectorQueueMixin):
    """``cipher``: with an encryption key every stored vector (``faces.embedding`` and
    ``faces.second_embedding``) is AES-GCM encrypted and bound to its face id, model and
    column (``store/crypto.py``), and a vector read that is not encrypted is refused. The
    gallery sets it to its own cipher (``Gallery.cipher``)."""

    def __init__(
        self, url: str, *, run_migrations: bool = True, cipher: Cipher | None = None
    ) -> None:
        self.url = url
        self.cipher = cipher
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
        """Each collection with its distinct images and faces, counted in one grouped query
        (not one per collection) so the list stays cheap with many collections."""
        with self.session() as s:
            rows = s.execute(
                select(
                    Collection.name,
                    func.count(func.distinct(Provenance.image_id)),
                    func.count(func.distinct(FaceRow.id)),
                )
                .join(Provenance, Provenance.collection_id == Collection.id, isouter=True)
                .join(FaceRow, FaceRow.image_id == Provenance.image_id, isouter=True)
                .group_by(Collection.name)
                .order_by(Collection.name)
            ).all()
        return [{"name": name, "images": images, "faces": faces} for name, images, faces in rows]

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
                    [image_values(r) for r in fresh.values()],
                ).all()
                image_ids.update(zip(fresh, new_ids, strict=True))
                sealed = self.cipher is not None
                face_rows = [
                    face_values(image_ids[sha], f, sealed)
                    for sha, r in fresh.items()
                    for f in r.faces
                ]
                generation.number_faces(s, face_rows)
                created = (
                    s.scalars(
                        insert(FaceRow).returning(FaceRow.id, sort_by_parameter_order=True),
                        face_rows,
                    ).all()
                    if face_rows
                    else []
                )
                pos = 0
                for sha, r in fresh.items():
                    face_ids[sha] = list(created[pos : pos + len(r.faces)])
                    pos += len(r.faces)
                if sealed:  # the vectors are bound to the face ids the rows were given
                    s.execute(
                        update(FaceRow),
                        [
                            self._sealed_vectors(face_id, f)
                            for sha, r in fresh.items()
                            for f, face_id in zip(r.faces, face_ids[sha], strict=True)
                        ],
                    )
                queued = [
                    {"face_id": face_id, "chip": f.second_chip, "created_at": utcnow()}
                    for sha, r in fresh.items()
                    for f, face_id in zip(r.faces, face_ids[sha], strict=True)
                    if f.second_chip is not None
                ]
                if queued:
                    s.execute(insert(SecondVectorQueue), queued)
                if created:
                    generation.bump(s, max(created))
            self._insert_provenance(
                s, [(image_ids[r.sha256], r.provenance) for r in records], run_id
            )
            # face ids go to the first record of each new image
            return [face_ids.pop(rec.sha256, []) for rec in records]

    def _sealed_vectors(self, face_id: int, f: FaceRecord) -> dict[str, Any]:
        second = f.second_embedding
        return {
            "id": int(face_id),
            "embedding": seal_embedding(self.cipher, f.embedding, face_id, f.model),
            "second_embedding": None
            if second is None
            else seal_embedding(
                self.cipher, second, face_id, f.second_model or "", "second_embedding"
            ),
        }

    def _insert_provenance(
        self,
        session: Session,
        items: Sequence[tuple[int, ProvenanceRecord]],
        run_id: int | None,
    ) -> int:
        """Insert the provenance records not already stored; returns how many were new."""
        keyed: dict[tuple[int, int, str, str, str], ProvenanceRecord] = {}
        for image_id, prov in items:
            coll = self.collection_id(session, prov.collection)
            keyed.setdefault((image_id, coll, prov.path, prov.member, prov.source_url), prov)
        image_ids = sorted({k[0] for k in keyed})
        existing = {
            tuple(row)
            for row in session.execute(
                select(
                    Provenance.image_id,
                    Provenance.collection_id,
                    Provenance.path,
                    Provenance.member,
                    Provenance.source_url,
                ).where(Provenance.image_id.in_(image_ids))
            )
        }
        rows = [
            {
                "image_id": key[0],
                "collection_id": key[1],
                "path": prov.path,
                "member": prov.member,
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
            run = IngestRunRow(sources=sources, collection=collection, counts={})
            s.add(run)
            s.flush()
            return run.id

    def finish_run(self, run_id: int, status: str, counts: dict[str, int]) -> None:
        with self.session() as s:
            s.execute(
                update(IngestRunRow)
                .where(IngestRunRow.id == run_id)
                .values(status=status, counts=counts, finished_at=utcnow())
            )

    def add_failure(self, run_id: int, path: str, reason: str) -> None:
        with self.session() as s:
            s.add(IngestFailure(run_id=run_id, path=path, reason=reason))

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self.session() as s:
            rows = s.scalars(
                select(IngestRunRow).order_by(IngestRunRow.id.desc()).limit(limit)
            ).all()
            return [
                {
                    "id": r.id,
                    "started_at": r.started_at,
                    "finished_at": r.finished_at,
                    "status": r.status,
                    "sources": r.sources,
                    "collection": r.collection,
                    "counts": r.counts,
                    "reason": r.reason,
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

    # --- other processes' changes to the faces (store/generation.py) -------------------
    def generation(self) -> int:
        """The counter every commit that adds or removes faces raises (one primary-key read):
        a process holding the index in memory compares it before searching."""
        with self.session() as s:
            return generation.current(s)

    # --- search -----------------------------------------------------------------------
    def faces(self, face_ids: Sequence[int]) -> dict[int, StoredFace]:
        """The faces with their image and every provenance record: two queries in all."""
        ids = [int(i) for i in face_ids]
        if not ids:
            return {}
        with self.session() as s:
            rows = s.execute(
                select(
                    FaceRow.id,
                    FaceRow.face_index,
                    FaceRow.x,
                    FaceRow.y,
                    FaceRow.w,
                    FaceRow.h,
                    FaceRow.quality,
                    FaceRow.flags,
                    FaceRow.model,
                    FaceRow.crop,
                    Image.id,
                    Image.sha256,
                    Image.path,
                    Image.width,
                    Image.height,
                    Image.thumbnail,
                    FaceRow.second_model,
                    FaceRow.second_embedding,
                    FaceRow.landmarks,
                    Image.member,
                    Image.original,
                    Image.original_state,
                )
                .join(Image, Image.id == FaceRow.image_id)
                .where(FaceRow.id.in_(ids))
            ).all()
            provenance: dict[int, list[dict[str, Any]]] = {}
            image_ids = sorted({r[10] for r in rows})
            for p, collection in s.execute(
                select(Provenance, Collection.name)
                .join(Collection, Collection.id == Provenance.collection_id)
                .where(Provenance.image_id.in_(image_ids))
                .order_by(Provenance.id)
            ):
                provenance.setdefault(p.image_id, []).append(provenance_dict(p, collection))
        return {
            r[0]: StoredFace(
                face_id=r[0], face_index=r[1], bbox=(r[2], r[3], r[4], r[5]), quality=r[6],
                flags=tuple(x for x in r[7].split(",") if x), model=r[8], crop=r[9],
                image_id=r[10], image_sha256=r[11], image_path=source_label(r[12], r[19] or ""),
                image_file=r[12], image_member=r[19] or "", original=r[20],
                original_state=r[21], image_width=r[13],
                image_height=r[14], thumbnail=r[15], provenance=provenance.get(r[10], []),
                second_model=r[16],
                second_embedding=None if r[17] is None else open_embedding(
                    self.cipher, r[17], r[0], r[16] or "", "second_embedding"
                ),
                landmarks=tuple((float(x), float(y)) for x, y in (r[18] or [])),
            )
            for r in rows
        }  # fmt: skip

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
            q = select(FaceRow.id).where(FaceRow.model == model)
            if searchable_only:
                q = q.where(FaceRow.searchable.is_(True))
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
                q = q.where(FaceRow.image_id.in_(prov))
            ids = s.scalars(q.order_by(FaceRow.id)).all()
        return np.asarray(ids, dtype=np.int64)

    def iter_embeddings(
        self,
        model: str,
        searchable_only: bool = True,
        chunk: int = 50_000,
        flagged_only: bool = False,
        after: int = 0,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, embeddings) in chunks, by id: searchable faces, all, or only flagged ones;
        only the faces whose id is above ``after``."""
        last = int(after)
        while True:
            with self.session() as s:
                q = select(FaceRow.id, FaceRow.embedding).where(
                    FaceRow.model == model, FaceRow.id > last
                )
                if flagged_only:
                    q = q.where(FaceRow.searchable.is_(False))
                elif searchable_only:
                    q = q.where(FaceRow.searchable.is_(True))
                rows = s.execute(q.order_by(FaceRow.id).limit(chunk)).all()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.stack([open_embedding(self.cipher, r[1], r[0], model) for r in rows])
            last = int(ids[-1])
            yield ids, vecs

    def searchable_summary(self, model: str) -> tuple[int, int]:
        """(count, max id) of the searchable faces of ``model``: a cheap consistency check."""
        with self.session() as s:
            count, max_id = s.execute(
                select(func.count(FaceRow.id), func.max(FaceRow.id)).where(
                    FaceRow.model == model, FaceRow.searchable.is_(True)
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
                for face_id, blob, model in s.execute(
                    select(FaceRow.id, FaceRow.embedding, FaceRow.model).where(FaceRow.id.in_(part))
                ).all():
                    found[face_id] = open_embedding(self.cipher, blob, face_id, model)
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
                rows = s.execute(
                    select(FaceRow.id, FaceRow.image_id).where(FaceRow.id.in_(part))
                ).all()
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
                select(FaceRow.id)
                .where(
                    FaceRow.image_id.in_(ids), FaceRow.model == model, FaceRow.searchable.is_(True)
                )
                .order_by(FaceRow.id)
            ).all()
        return np.asarray(found, dtype=np.int64)

    def models(self) -> list[str]:
        with self.session() as s:
            return list(s.scalars(select(FaceRow.model).distinct()).all())

    def delete_faces(self, face_ids: Sequence[int]) -> int:
        ids = [int(i) for i in face_ids]
        if not ids:
            return 0
        with self.session() as s:
            result = s.execute(delete(FaceRow).where(FaceRow.id.in_(ids)))
            generation.bump(s)
            return int(getattr(result, "rowcount", 0) or 0)

    def remove_faces(self, face_ids: Sequence[int]) -> tuple[int, list[str]]:
        """Delete faces, and every image left without a face (with its provenance).

        Returns how many faces were deleted and the blob keys (crops, thumbnails, the
        originals of the images removed) that no remaining row refers to, for the caller to
        delete.
        """
        ids = [int(i) for i in face_ids]
        if not ids:
            return 0, []
        with self.session() as s:
            rows = s.execute(
                select(FaceRow.image_id, FaceRow.crop).where(FaceRow.id.in_(ids))
            ).all()
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
            s.execute(delete(FaceRow).where(FaceRow.id.in_(ids)))
            if rows:
                generation.bump(s)
            emptied = [
                image_id
                for image_id in image_ids
                if s.scalar(select(func.count(FaceRow.id)).where(FaceRow.image_id == image_id)) == 0
            ]
            if emptied:
                for thumbnail, original in s.execute(
                    select(Image.thumbnail, Image.original).where(Image.id.in_(emptied))
                ):
                    keys |= {k for k in (thumbnail, original) if k}
                s.execute(delete(Provenance).where(Provenance.image_id.in_(emptied)))
                s.execute(delete(Image).where(Image.id.in_(emptied)))
            still_used = (
                set(s.scalars(select(FaceRow.crop).where(FaceRow.crop.in_(keys))))
                | set(s.scalars(select(Image.thumbnail).where(Image.thumbnail.in_(keys))))
                | set(s.scalars(select(Image.original).where(Image.original.in_(keys))))
            )
        return len(rows), sorted(keys - still_used)

    def stats(self) -> dict[str, Any]:
        with self.session() as s:
            images = s.scalar(select(func.count(Image.id))) or 0
            faces = s.scalar(select(func.count(FaceRow.id))) or 0
            searchable = s.scalar(
                select(func.count(FaceRow.id)).where(FaceRow.searchable.is_(True))
            )
            provenance = s.scalar(select(func.count(Provenance.id))) or 0
            flagged: dict[str, int] = {}
            for flags, count in s.execute(
                select(FaceRow.flags, func.count(FaceRow.id))
                .where(FaceRow.searchable.is_(False))
                .group_by(FaceRow.flags)
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
