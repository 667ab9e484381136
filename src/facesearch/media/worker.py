"""Media-import workers: decode, PDQ, metadata, near-match elimination, then faces.

A worker holds the face pipeline (loaded once by :func:`init_media_worker`, one OpenCV thread)
and the trusted PDQ hashes of the hash sets, so that a file eliminated by PDQ never reaches the
detector. Results carry plain data only.
"""

from __future__ import annotations

import time

import numpy as np

from facesearch.engine.decode import decode_bytes
from facesearch.engine.pipeline import FacePipeline, PipelineSettings
from facesearch.errors import DecodeError
from facesearch.ingest import worker as ingest_worker
from facesearch.ingest.worker import THUMB_MAX_SIDE, encode_jpeg, face_record
from facesearch.media.elimination import EliminationSettings, PdqIndex
from facesearch.media.hashing import pdq_hash, read_metadata
from facesearch.media.payload import MediaBatchOut, MediaItem, MediaOut
from facesearch.media.video import VideoSettings, process_video


class _MediaWorkerState:
    pdq: PdqIndex | None = None


_state = _MediaWorkerState()


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
    items: list[MediaItem],
    pipeline: FacePipeline | None = None,
    pdq: PdqIndex | None = None,
    video: VideoSettings | None = None,
) -> MediaBatchOut:
    """Process (key, bytes, already_eliminated, kind) items, photos together and each video
    on its own (:func:`facesearch.media.video.process_video`, with ``video``); a bad file is
    reported, never raised. Results come in the items' order.

    In a worker process the pipeline and PDQ index are those of :func:`init_media_worker`;
    in-process callers pass their own."""
    photos = [(key, data, eliminated) for key, data, eliminated, kind in items if kind != "video"]
    out = _process_photos(photos, pipeline, pdq) if photos else MediaBatchOut([], {})
    by_key = {o.key: o for o in out.items}
    timings = dict(out.timings)
    for key, data, eliminated, kind in items:
        if kind != "video":
            continue
        one = process_video(key, data, eliminated, video or VideoSettings(), pipeline=pipeline)
        by_key.update((o.key, o) for o in one.items)
        for stage, value in one.timings.items():
            timings[stage] = timings.get(stage, 0.0) + value
    return MediaBatchOut([by_key[key] for key, _, _, _ in items], timings)


def _process_photos(
    items: list[tuple[int, bytes, bool]],
    pipeline: FacePipeline | None,
    pdq: PdqIndex | None,
) -> MediaBatchOut:
    """The photos of a batch: decode, PDQ, metadata, elimination by PDQ, then faces."""
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
        out.faces = [face_record(f, image.pixels) for f in result.faces]
        timings["encode"] += time.perf_counter() - t0
    return MediaBatchOut([outs[k] for k, _, _ in items], timings)
