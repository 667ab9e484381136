"""Helpers of the recognizer switch tests: a gallery ingested from scratch with the agency
model as recognizer, and the target vectors of a gallery's faces filled in from it (what the
migration pass does: the agency model's vector of the same face of the same photo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import select

from facesearch.models.card import parse_card, read_card
from facesearch.models.manifest import load_manifest
from facesearch.models.store import ModelStore
from facesearch.search.gallery import Gallery
from facesearch.store.crypto import open_embedding, seal_embedding
from facesearch.store.recognizers import set_active
from facesearch.store.schema import FaceRow, FaceVector, Image

AGENCY = "test-resnet"
#: plausible bands of dlib's ResNet on unit vectors (cosine): its 0.6 distance rule is ~0.82
BANDS = {"thresholds": {"match": 0.82, "strong": 0.88}, "note": "test bands"}


def add_agency_model(data_dir: Path, agency_model: tuple[Path, Path], *, calibrate: bool) -> str:
    """Add the test model to ``data_dir``'s model store (calibrated or not); its model key."""
    onnx, card = agency_model
    store = ModelStore.of(data_dir)
    stored = store.add(onnx, parse_card(read_card(card), load_manifest()), added_by="test")
    if calibrate:
        store.write_calibration(AGENCY, BANDS)
    return stored.spec.model_key


def scratch_gallery(data_dir: Path, agency_model: tuple[Path, Path], photos: Path) -> Gallery:
    """A gallery whose recognizer is the agency model from the start, ``photos`` ingested."""
    first = Gallery.open(data_dir)  # the catalog made; nothing loaded
    key = add_agency_model(data_dir, agency_model, calibrate=True)
    with first.catalog.session() as s:
        set_active(s, AGENCY, key, previous="", previous_model_key="", by="test")
    first.close()
    gallery = Gallery.open(data_dir)
    assert gallery.model_key == key
    gallery.ingest([photos], workers=0)
    return gallery


def _faces(gallery: Gallery) -> dict[tuple[str, int], tuple[int, str, bytes]]:
    with gallery.catalog.session() as s:
        rows = s.execute(
            select(
                Image.path, FaceRow.face_index, FaceRow.id, FaceRow.model, FaceRow.embedding
            ).join(Image, Image.id == FaceRow.image_id)
        ).all()
    return {(Path(p).name, i): (fid, model, emb) for p, i, fid, model, emb in rows}


def fill_target_vectors(gallery: Gallery, scratch: Gallery, *, skip: int = 0) -> int:
    """Each face of ``gallery`` gets the scratch gallery's vector of the same face (by photo
    name and face index) in ``face_vectors`` under the scratch model's key, sealed for its own
    face id; ``skip``: leave that many faces without one. Returns how many were written."""
    theirs = _faces(scratch)
    target = scratch.model_key
    written = 0
    with gallery.catalog.session() as s:
        for where, (fid, _model, _emb) in sorted(_faces(gallery).items())[skip:]:
            other = theirs.get(where)
            if other is None:
                continue
            vec = open_embedding(scratch.cipher, other[2], other[0], target)
            blob = seal_embedding(gallery.cipher, np.asarray(vec), fid, target)
            s.add(FaceVector(face_id=fid, model=target, embedding=blob, source="photo"))
            written += 1
    return written


def face_names(gallery: Gallery) -> dict[int, tuple[str, int]]:
    """Face id -> (photo name, face index)."""
    return {fid: where for where, (fid, _m, _e) in _faces(gallery).items()}
