"""A small synthetic gallery for the encryption-at-rest tests: faces with random unit vectors,
crops and thumbnails in the blob store, written the way ingest writes them (no models run)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from facesearch.search.gallery import Gallery
from facesearch.settings import Settings
from facesearch.store.records import FaceRecord, ImageRecord, ProvenanceRecord


def open_gallery(data: Path, key: str | None = None, **settings: object) -> Gallery:
    return Gallery.open(data, settings=Settings(data_dir=data, encryption_key=key, **settings))


def unit_vectors(n: int, dim: int, seed: int = 7) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def fill(gallery: Gallery, n_images: int = 20, seed: int = 7) -> np.ndarray:
    """``n_images`` images of one face each (a second vector on every other face); returns
    the faces' vectors in face id order."""
    dim = gallery.pipeline_dim
    vectors = unit_vectors(n_images, dim, seed)
    records = []
    for i in range(n_images):
        crop = gallery.blobs.put(f"crop {seed}:{i}".encode() * 20)
        thumb = gallery.blobs.put(f"thumb {seed}:{i}".encode() * 20)
        face = FaceRecord(
            face_index=0,
            bbox=(1.0, 2.0, 50.0, 60.0),
            landmarks=[[0.0, 0.0]] * 5,
            detector_score=0.9,
            quality=0.8,
            sharpness=100.0,
            yaw=0.0,
            flags=(),
            embedding=vectors[i],
            model=gallery.model_key,
            crop=crop,
            second_model="second@1" if i % 2 == 0 else None,
            second_embedding=vectors[(i + 1) % n_images] if i % 2 == 0 else None,
        )
        sha = hashlib.sha256(f"image {seed}:{i}".encode()).hexdigest()
        records.append(
            ImageRecord(
                sha, 10, 100, 100, "jpeg", f"/p/{i}.jpg", thumb, [face],
                ProvenanceRecord(path=f"/p/{i}.jpg", collection="c"),
            )
        )  # fmt: skip
    ids = [x[0] for x in gallery.catalog.add_images(records, None)]
    gallery.vectors.add(ids, list(vectors))
    gallery.vectors.save()
    return vectors
