"""Read queries of the administrators' gallery browser: a collection's images page by page
(optionally only those with flagged faces), their provenance in the collection and their
faces; the flagged faces per collection; and the removal of an image that has no face (an
image with faces goes with its last face: ``SqlCatalog.remove_faces``).

Functions of an open session (``SqlCatalog.session()``), so that the catalog module keeps to
what ingest and search need.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from facesearch.store.catalog_rows import provenance_dict
from facesearch.store.records import source_label
from facesearch.store.schema import Collection, FaceRow, Image, Provenance


def collection_id(s: Session, name: str) -> int | None:
    found: int | None = s.scalar(select(Collection.id).where(Collection.name == name))
    return found


def flagged_by_collection(s: Session) -> dict[str, int]:
    """Per collection, its distinct faces kept out of search for a quality reason."""
    rows = s.execute(
        select(Collection.name, func.count(func.distinct(FaceRow.id)))
        .join(Provenance, Provenance.collection_id == Collection.id)
        .join(FaceRow, FaceRow.image_id == Provenance.image_id)
        .where(FaceRow.searchable.is_(False), FaceRow.flags != "")
        .group_by(Collection.name)
    ).all()
    return {name: int(n) for name, n in rows}


def _image_ids(coll: int, flagged: bool) -> Select[Any]:
    """The distinct images of a collection (with a flagged face, if ``flagged``)."""
    query = select(Provenance.image_id).where(Provenance.collection_id == coll)
    if flagged:
        query = query.join(FaceRow, FaceRow.image_id == Provenance.image_id).where(
            FaceRow.searchable.is_(False), FaceRow.flags != ""
        )
    return query.distinct()


def count_images(s: Session, coll: int, flagged: bool = False) -> int:
    ids = _image_ids(coll, flagged).subquery()
    return int(s.scalar(select(func.count()).select_from(ids)) or 0)


def images_page(
    s: Session, coll: int, *, flagged: bool = False, limit: int = 20, offset: int = 0
) -> list[dict[str, Any]]:
    """One page of a collection's images, by id: each with its file, size, provenance in
    this collection (title, source, captured), and its faces (only the flagged ones when
    ``flagged``), each with its quality and flags."""
    ids_query = _image_ids(coll, flagged).subquery()
    images = s.execute(
        select(Image)
        .where(Image.id.in_(select(ids_query.c.image_id)))
        .order_by(Image.id)
        .limit(limit)
        .offset(offset)
    ).scalars()
    out: dict[int, dict[str, Any]] = {}
    for img in images:
        out[img.id] = {
            "id": img.id,
            "sha256": img.sha256,
            "file": source_label(img.path, img.member or ""),
            "width": img.width,
            "height": img.height,
            "format": img.format,
            "bytes": img.bytes,
            "created_at": img.created_at,
            "face_count": 0,
            "provenance": [],
            "faces": [],
        }
    if not out:
        return []
    name = s.scalar(select(Collection.name).where(Collection.id == coll)) or ""
    for p in s.execute(
        select(Provenance)
        .where(Provenance.image_id.in_(out), Provenance.collection_id == coll)
        .order_by(Provenance.id)
    ).scalars():
        out[p.image_id]["provenance"].append(provenance_dict(p, name))
    faces = select(
        FaceRow.id,
        FaceRow.image_id,
        FaceRow.face_index,
        FaceRow.x,
        FaceRow.y,
        FaceRow.w,
        FaceRow.h,
        FaceRow.quality,
        FaceRow.flags,
        FaceRow.searchable,
        FaceRow.crop,
    ).where(FaceRow.image_id.in_(out))
    for row in s.execute(faces.order_by(FaceRow.image_id, FaceRow.face_index)):
        image = out[row.image_id]
        image["face_count"] += 1
        flags = [f for f in (row.flags or "").split(",") if f]
        if flagged and (row.searchable or not flags):
            continue
        image["faces"].append(
            {
                "id": row.id,
                "face_index": row.face_index,
                "bbox": [row.x, row.y, row.w, row.h],
                "quality": row.quality,
                "flags": flags,
                "searchable": bool(row.searchable),
                "has_crop": bool(row.crop),
            }
        )
    return list(out.values())


def image_row(s: Session, image_id: int) -> tuple[str, list[int]] | None:
    """An image's SHA-256 and the ids of its faces; None if there is no such image."""
    sha = s.scalar(select(Image.sha256).where(Image.id == image_id))
    if sha is None:
        return None
    ids = [int(i) for i in s.scalars(select(FaceRow.id).where(FaceRow.image_id == image_id))]
    return str(sha), ids


def remove_faceless_image(s: Session, image_id: int) -> list[str]:
    """Delete an image that has no face, with its provenance; returns its blob keys
    (thumbnail, kept original) that no other row refers to, for the caller to delete."""
    if s.scalar(select(func.count(FaceRow.id)).where(FaceRow.image_id == image_id)):
        raise ValueError(f"image {image_id} has faces: remove them instead")
    found = s.execute(
        select(Image.thumbnail, Image.original).where(Image.id == image_id)
    ).one_or_none()
    if found is None:
        return []
    s.execute(delete(Provenance).where(Provenance.image_id == image_id))
    s.execute(delete(Image).where(Image.id == image_id))
    keys = {k for k in found if k}
    used = set(s.scalars(select(Image.thumbnail).where(Image.thumbnail.in_(keys)))) | set(
        s.scalars(select(Image.original).where(Image.original.in_(keys)))
    )
    return sorted(keys - used)
