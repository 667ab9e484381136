"""The catalog's rows as the multi-row INSERTs write them, and provenance as results show it
(helpers of :mod:`facesearch.store.catalog`)."""

from __future__ import annotations

from typing import Any

from facesearch.store.database import embedding_to_bytes
from facesearch.store.records import FROM_PHOTO, FaceRecord, ImageRecord, source_label
from facesearch.store.schema import Provenance, utcnow


def image_values(r: ImageRecord) -> dict[str, Any]:
    return {
        "sha256": r.sha256,
        "bytes": r.size_bytes,
        "width": r.width,
        "height": r.height,
        "format": r.format,
        "path": r.path,
        "member": r.member,
        "thumbnail": r.thumbnail,
        "original": r.original,
        "original_state": r.original_state,
        "face_count": len(r.faces),
        "created_at": utcnow(),
    }


def face_values(image_id: int, f: FaceRecord, sealed: bool = False) -> dict[str, Any]:
    """A face's row; ``sealed``: its vectors are left out (empty) to be written encrypted once
    the row has its id."""
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
        "embedding": b"" if sealed else embedding_to_bytes(f.embedding),
        "second_model": f.second_model if f.second_embedding is not None else None,
        "second_source": FROM_PHOTO if f.second_embedding is not None else None,
        "second_embedding": None
        if f.second_embedding is None or sealed
        else embedding_to_bytes(f.second_embedding),
        "crop": f.crop,
        "created_at": utcnow(),
    }


def provenance_dict(p: Provenance, collection: str) -> dict[str, Any]:
    """A provenance record as results show it: ``path`` is the label (``archive!member`` for
    an archive member, shown, never parsed)."""
    return {
        "collection": collection,
        "path": source_label(p.path, p.member or ""),
        "source_url": p.source_url or None,
        "page_url": p.page_url,
        "title": p.title,
        "captured_at": p.captured_at.isoformat() if p.captured_at else None,
        "ingested_at": p.ingested_at.isoformat() if p.ingested_at else None,
    }
