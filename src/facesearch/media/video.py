"""Faces from videos: decode with PyAV, sample frames, find and track faces, keep the best.

A video of a media set is one file (hashed, exact-matched against the hash sets and stored like
a photo) whose faces come from frames sampled at ``VideoSettings.fps`` (default 2 per second,
``FACESEARCH_MEDIA_VIDEO_FPS``): every sampled frame goes through the gallery's face pipeline
(detect, align, quality, embed), the faces are followed across frames by
:class:`facesearch.media.tracking.FaceTracker` (one track per appearance), and each track keeps
its ``faces_per_track`` best faces (unflagged first, then by quality) with their time in the
video (``frame_ms``, from the frame's own timestamp). Those faces join the set's faces, so
clustering and search treat them like faces of photos; the track's first and last time are
stored too (``media_tracks``).

Decoding is PyAV (its wheels bundle FFmpeg), in memory, one worker per video. Display rotation
(phones' portrait films) is applied to the frames. A file FFmpeg cannot open or decode, or one
without a video stream, is reported with FFmpeg's reason; it never stops the import. Videos get
no PDQ hash (PDQ is a photo hash; exact MD5/SHA-1/SHA-256 elimination applies to videos).
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facesearch.engine.decode import DecodedImage, decode_array
from facesearch.engine.detect import DetectorSettings
from facesearch.engine.pipeline import Face, FacePipeline, ProcessedImage
from facesearch.errors import DecodeError
from facesearch.ingest import worker as ingest_worker
from facesearch.ingest.worker import THUMB_MAX_SIDE, crop_origin, encode_jpeg, face_record
from facesearch.media.hashing import FileMetadata
from facesearch.media.payload import MediaBatchOut, MediaOut
from facesearch.media.sources import DEFAULT_MAX_VIDEO_BYTES
from facesearch.media.tracking import FaceTracker, TrackerSettings
from facesearch.store.records import FaceRecord


@dataclass(frozen=True)
class VideoSettings:
    fps: float = 2.0  # frames sampled per second of video
    faces_per_track: int = 3  # best faces kept of each appearance
    batch_frames: int = 8  # sampled frames detected and embedded together
    max_pixels: int = 8192 * 4320  # frames larger than 8K are refused
    decoder_threads: int = 1  # one worker per video; 0 lets FFmpeg choose
    max_bytes: int = DEFAULT_MAX_VIDEO_BYTES  # larger videos are refused unread
    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    # Detection on frames: one pass at the frame's own resolution up to this long side (the
    # photo detector's coarse + tiled fine passes see the same pixels twice), and no
    # retries on frames without a face (see detect.DetectorSettings.fallbacks).
    detect_max_side: int = 1920
    detect_fallbacks: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.fps <= 120:
            raise ValueError(f"video fps must be within (0, 120], got {self.fps}")
        if self.faces_per_track < 1:
            raise ValueError(f"faces_per_track must be ≥ 1, got {self.faces_per_track}")


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    codec: str
    duration_ms: int | None
    metadata: FileMetadata


@dataclass
class SampledFrame:
    ms: int
    image: DecodedImage


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "strerror", None) or exc)


def _open(data: bytes) -> Any:
    import av

    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise DecodeError(f"not a readable video: {_reason(exc)}") from None
    if not container.streams.video:
        container.close()
        raise DecodeError("no video stream in the file")
    return container


def _info(container: Any) -> VideoInfo:
    stream = container.streams.video[0]
    ctx = stream.codec_context
    duration_ms = None
    if stream.duration is not None and stream.time_base is not None:
        duration_ms = round(float(stream.duration * stream.time_base) * 1000)
    elif container.duration is not None:
        duration_ms = round(container.duration / 1000)
    meta = {str(k).lower(): str(v) for k, v in {**container.metadata, **stream.metadata}.items()}
    make = meta.get("com.apple.quicktime.make") or meta.get("make")
    model = meta.get("com.apple.quicktime.model") or meta.get("model")
    when = meta.get("com.apple.quicktime.creationdate") or meta.get("creation_time")
    return VideoInfo(
        width=int(ctx.width or 0),
        height=int(ctx.height or 0),
        codec=str(ctx.name or ""),
        duration_ms=duration_ms,
        metadata=FileMetadata(exif_datetime=when, camera_make=make, camera_model=model),
    )


def probe(data: bytes) -> VideoInfo:
    """The video's size, codec, duration and capture metadata, without decoding a frame."""
    container = _open(data)
    try:
        return _info(container)
    finally:
        container.close()


def sample_frames(
    data: bytes, settings: VideoSettings, counts: dict[str, int] | None = None
) -> Iterator[SampledFrame]:
    """Frames at ``settings.fps`` per second (BGR, display rotation applied), with their time
    in milliseconds from the start of the video stream. Raises DecodeError."""
    import av

    container = _open(data)
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx.width and ctx.height and ctx.width * ctx.height > settings.max_pixels:
            raise DecodeError(f"refused: {ctx.width}x{ctx.height} frames are over the pixel cap")
        if settings.decoder_threads != 1:
            stream.thread_type = "AUTO"
        ctx.thread_count = settings.decoder_threads
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        step = 1000.0 / settings.fps
        next_ms = 0.0
        decoded = 0
        try:
            for frame in container.decode(stream):
                decoded += 1
                t = frame.time
                ms = round((t - start) * 1000) if t is not None else round(decoded * step)
                if ms + 0.5 < next_ms:
                    continue
                while next_ms <= ms + 0.5:
                    next_ms += step
                pixels = frame.to_ndarray(format="bgr24")
                turns = round((frame.rotation or 0) / 90) % 4
                if turns:
                    pixels = np.ascontiguousarray(np.rot90(pixels, turns))
                yield SampledFrame(max(ms, 0), decode_array(pixels, rgb=False))
        except av.FFmpegError as exc:
            at = f" after {decoded} frames" if decoded else ""
            raise DecodeError(f"corrupt video{at}: {_reason(exc)}") from None
        if decoded == 0:
            raise DecodeError("corrupt video: no frame could be decoded")
        if counts is not None:
            counts["decoded"] = counts.get("decoded", 0) + decoded
    finally:
        container.close()


def box_in_crop(
    box: tuple[float, float, float, float], frame_size: tuple[int, int], crop_width: int
) -> tuple[float, float, float, float]:
    """The face box in the pixels of its stored crop (``face_crop`` of its frame, resized to
    ``crop_width`` wide): a video face's picture is its crop, not the video's thumbnail."""
    (x0, y0), (cw, _) = crop_origin(frame_size, box)
    k = crop_width / cw
    return ((box[0] - x0) * k, (box[1] - y0) * k, box[2] * k, box[3] * k)


class _VideoPipelines:
    """The detector settings of video frames on top of a loaded pipeline: a second detector
    (YuNet is small), the recognizers shared. One per worker process, built on first use."""

    def __init__(self) -> None:
        self._built: list[tuple[FacePipeline, DetectorSettings, FacePipeline]] = []

    def get(self, pipe: FacePipeline, settings: VideoSettings) -> FacePipeline:
        det = dataclasses.replace(
            pipe.settings.detector,
            max_side=max(pipe.settings.detector.max_side, settings.detect_max_side),
            fallbacks=settings.detect_fallbacks,
        )
        for base, d, built in self._built:
            if base is pipe and d == det:
                return built
        video = FacePipeline(pipe.manifest, dataclasses.replace(pipe.settings, detector=det))
        video.embedder, video.second = pipe.embedder, pipe.second
        video.detector.load()
        self._built.append((pipe, det, video))
        return video


_pipelines = _VideoPipelines()


def _rank(face: FaceRecord) -> tuple[bool, float, float]:
    return (not face.flags, face.quality, face.detector_score)


class _Keeper:
    """The best ``k`` faces of each track, and the frame of the best face of all."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.by_track: dict[int, list[FaceRecord]] = {}
        self.thumbnail: bytes | None = None
        self._thumb_rank: tuple[bool, float, float] | None = None

    def offer(self, frame: SampledFrame, face: Face, track: int) -> None:
        out = face_record(face, None, frame_ms=frame.ms, track=track)
        kept = self.by_track.setdefault(track, [])
        rank = _rank(out)
        if len(kept) >= self.k and rank <= _rank(kept[-1]):
            return
        kept.append(face_record(face, frame.image.pixels, frame_ms=frame.ms, track=track))
        kept.sort(key=_rank, reverse=True)
        del kept[self.k :]
        if self._thumb_rank is None or rank > self._thumb_rank:
            self._thumb_rank = rank
            self.thumbnail = encode_jpeg(frame.image.pixels, THUMB_MAX_SIDE, quality=80)

    def faces(self) -> list[FaceRecord]:
        every = [f for kept in self.by_track.values() for f in kept]
        return sorted(every, key=lambda f: (f.frame_ms or 0, f.track or 0))


def process_video(
    key: int,
    data: bytes,
    eliminated: bool,
    settings: VideoSettings,
    pipeline: FacePipeline | None = None,
) -> MediaBatchOut:
    """One video: its faces, tracks and thumbnail; a bad video is reported, never raised.

    In a worker process the pipeline is the worker's (``init_media_worker``); in-process
    callers pass their own. An eliminated video is only probed (size, duration)."""
    timings = {"decode": 0.0, "detect": 0.0, "align": 0.0, "embed": 0.0, "track": 0.0}
    timings["encode"] = 0.0
    t0 = time.perf_counter()
    try:
        info = probe(data)
    except DecodeError as exc:
        return MediaBatchOut([MediaOut(key=key, ok=False, reason=str(exc))], timings)
    except Exception as exc:  # a decoder bug must not stop the run
        return MediaBatchOut([MediaOut(key=key, ok=False, reason=f"video error: {exc}")], timings)
    timings["decode"] += time.perf_counter() - t0
    out = MediaOut(
        key=key,
        ok=True,
        kind="video",
        width=info.width,
        height=info.height,
        format=info.codec[:16],
        duration_ms=info.duration_ms,
        metadata=info.metadata,
    )
    if eliminated:
        return MediaBatchOut([out], timings)
    pipe = _pipelines.get(pipeline or ingest_worker.worker_pipeline(), settings)
    tracker = FaceTracker(settings.tracker)
    keeper = _Keeper(settings.faces_per_track)
    counts: dict[str, int] = {}
    frames = sample_frames(data, settings, counts)
    sampled = 0
    first: SampledFrame | None = None
    try:
        while True:
            t0 = time.perf_counter()
            batch = [f for _, f in zip(range(settings.batch_frames), frames, strict=False)]
            timings["decode"] += time.perf_counter() - t0
            if not batch:
                break
            first = first or batch[0]
            sampled += len(batch)
            processed = pipe.process_many([f.image for f in batch], timings=timings)
            _track(batch, processed, tracker, keeper, timings)
    except DecodeError as exc:
        return MediaBatchOut([MediaOut(key=key, ok=False, reason=str(exc))], timings)
    except Exception as exc:
        return MediaBatchOut([MediaOut(key=key, ok=False, reason=f"video error: {exc}")], timings)
    t0 = time.perf_counter()
    out.faces = list(keeper.faces())
    out.tracks = tracker.tracks()
    if keeper.thumbnail is None and first is not None:
        keeper.thumbnail = encode_jpeg(first.image.pixels, THUMB_MAX_SIDE, quality=80)
    out.thumbnail_jpeg = keeper.thumbnail
    if first is not None:  # the frames' size after display rotation
        out.width, out.height = first.image.width, first.image.height
    timings["encode"] += time.perf_counter() - t0
    timings["frames_decoded"] = float(counts.get("decoded", 0))
    timings["frames_sampled"] = float(sampled)
    return MediaBatchOut([out], timings)


def _track(
    batch: list[SampledFrame],
    processed: list[ProcessedImage],
    tracker: FaceTracker,
    keeper: _Keeper,
    timings: dict[str, float],
) -> None:
    for frame, result in zip(batch, processed, strict=True):
        t0 = time.perf_counter()
        faces = result.faces
        vectors = np.stack([f.embedding for f in faces]) if faces else np.zeros((0, 1))
        ids = tracker.update(frame.ms, [f.bbox for f in faces], vectors)
        timings["track"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        for face, track in zip(faces, ids, strict=True):
            keeper.offer(frame, face, track)
        timings["encode"] += time.perf_counter() - t0
