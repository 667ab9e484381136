"""Media-import workers: decode, PDQ, metadata, near-match elimination, then faces.

A worker holds the face pipeline (loaded once by :func:`init_media_worker`, one OpenCV thread)
and the trusted PDQ hashes of the hash sets, so that a file eliminated by PDQ never reaches the
detector. Results carry plain data only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from facesearch.engine.pipeline import FacePipeline, PipelineSettings
from facesearch.errors import DecodeError
from facesearch.ingest import worker as ingest_worker
from facesearch.ingest.worker import THUMB_MAX_SIDE, FaceOut, encode_jpeg, face_crop
from facesearch.media.elimination import EliminationSettings, PdqIndex, PdqMatch
from facesearch.media.hashing import FileMetadata, PdqHash, pdq_hash, read_metadata
from facesearch.media.tracking import TrackOut

CROP_MAX_SIDE = 160


@dataclass
class MediaOut:
    key: int
    ok: bool
    reason: str = ""
    width: int = 0
    height: int = 0
    format: str = ""
    pdq: PdqHash | None = None
    pdq_match: PdqMatch | None = None
    metadata: FileMetadata = field(default_factory=FileMetadata)
    thumbnail_jpeg: bytes | None = None
    faces: list[FaceOut] = field(default_factory=list)
    # videos (victim/video.py): faces are VideoFaceOut, with their time and track
    kind: str = "image"
    duration_ms: int | None = None
    tracks: list[TrackOut] = field(default_factory=list)


@dataclass
class MediaBatchOut:
    items: list[MediaOut]
    timings: dict[str, float]


class _State:
    pdq: PdqIndex | None = None


_state = _State()


def init_media_worker(
    settings: PipelineSettings | None,
    pdq_codes: np.ndarray,
    pdq_ids: np.ndarray,
    elimination: EliminationSettings,
    pdq_crop_of: np.ndarray | None = None,
) -> None:
    ingest_worker.init_worker(settings, 1, None)
    _state.pdq = PdqIndex(pdq_codes, pdq_ids, elimination, pdq_crop_of)


def process_media_batch(
    items: list[tuple[int, bytes, bool]],
    pipeline: FacePipeline | None = None,
    pdq: PdqIndex | None = None,
) -> MediaBatchOut:
    """Process (key, bytes, already_eliminated) items; a bad file is reported, never raised.

    In a worker process the pipeline and PDQ index are those of :func:`init_media_worker`;
    in-process callers pass their own."""
    from facesearch.engine.decode import decode_bytes

    pipe = pipeline or ingest_worker.worker_pipeline()
    index = pdq if pipeline is not None else _state.pdq
    timings = {"decode": 0.0, "pdq": 0.0, "detect": 0.0, "align": 0.0, "embed": 0.0}
    timings["encode"] = 0.0
    outs: dict[int, MediaOut] = {}
    to_faces = []
    for key, data, eliminated in items:
        t0 = time.perf_counter()
        try:
            image = decode_bytes(data, pipe.settings.max_pixels)
        except DecodeError as exc:
            outs[key] = MediaOut(key=key, ok=False, reason=str(exc))
            continue
        except Exception as exc:  # a decoder bug must not stop the run
            outs[key] = MediaOut(key=key, ok=False, reason=f"decoder error: {exc}")
            continue
        finally:
            timings["decode"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        hashed = pdq_hash(image.pixels, crops=True)  # crops: see hashing.PDQ_CROPS
        match = None if eliminated or index is None else index.match(hashed)
        timings["pdq"] += time.perf_counter() - t0
        out = MediaOut(
            key=key,
            ok=True,
            width=image.width,
            height=image.height,
            format=image.format,
            pdq=hashed,
            pdq_match=match,
            metadata=read_metadata(data),
        )
        outs[key] = out
        if not eliminated and match is None:
            to_faces.append((out, image))
    processed = pipe.process_many([img for _, img in to_faces], timings=timings)
    for (out, image), result in zip(to_faces, processed, strict=True):
        t0 = time.perf_counter()
        out.thumbnail_jpeg = encode_jpeg(image.pixels, THUMB_MAX_SIDE, quality=80)
        out.faces = [
            FaceOut(
                bbox=f.bbox,
                landmarks=f.landmarks.astype(float).round(2).tolist(),
                detector_score=round(f.detector_score, 4),
                quality=f.quality.score,
                sharpness=f.quality.sharpness,
                yaw=f.quality.yaw,
                flags=f.quality.flags,
                embedding=f.embedding,
                crop_jpeg=encode_jpeg(face_crop(image.pixels, f.bbox), CROP_MAX_SIDE),
            )
            for f in result.faces
        ]
        timings["encode"] += time.perf_counter() - t0
    return MediaBatchOut([outs[k] for k, _, _ in items], timings)
