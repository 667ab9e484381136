"""Worker processes: decode, detect, align, assess and embed a batch of images.

Each worker loads its own pipeline once (in ``init_worker``) and uses one OpenCV thread, so
that N workers keep N cores busy. Results carry only plain data (arrays, bytes, numbers).

With a :class:`ChipGeometry`, a worker also aligns each face for the second recognizer on the
full-resolution photo it holds (a warp, well under a millisecond). With a
:class:`SecondRecognizer` as well (the second recognizer on a fast runtime, see
``ingest/second_vectors.py``), the worker describes all the batch's chips at once and returns
each face's second vector with its first; without one, or for the faces of a batch the second
recognizer failed on, it returns the chip as a PNG, queued for the second-vector pass
(``ingest/second_pass.py``). Either way the vector comes from the photo itself, never from the
small stored crop.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from facesearch.engine.align import align_face
from facesearch.engine.decode import decode_bytes
from facesearch.engine.embed import DlibEmbedder, second_model_spec
from facesearch.engine.pipeline import Face, FacePipeline, PipelineSettings, ProcessedImage
from facesearch.errors import DecodeError
from facesearch.models.runtime import set_threads
from facesearch.store.records import FaceRecord

if TYPE_CHECKING:
    from facesearch.engine.embed import DlibEmbedder
    from facesearch.models.inference import InferenceSettings
    from facesearch.models.manifest import Manifest, ModelSpec

CROP_MAX_SIDE = 160
THUMB_MAX_SIDE = 320

#: One image of a batch: the run's key for it, its SHA-256 and its bytes.
WorkItem = tuple[int, str, bytes]


@dataclass
class ImageOut:
    key: int
    sha256: str
    ok: bool
    reason: str = ""
    width: int = 0
    height: int = 0
    format: str = ""
    size_bytes: int = 0
    thumbnail_jpeg: bytes = b""
    faces: list[FaceRecord] = field(default_factory=list)


@dataclass
class BatchOut:
    images: list[ImageOut]
    timings: dict[str, float]  # seconds per stage for the whole batch
    model: str
    # the second recognizer's error on this batch (its faces' chips were queued instead)
    second_error: str = ""


@dataclass(frozen=True)
class ChipGeometry:
    """Where the second recognizer wants the five landmarks, and its input size (w, h)."""

    template: np.ndarray
    size: tuple[int, int]

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> ChipGeometry | None:
        """The second recognizer's geometry, or None when the manifest has none."""

        spec = second_model_spec(manifest)
        if spec is None or spec.alignment_template is None:
            return None
        return cls(np.asarray(spec.alignment_template, np.float32), tuple(spec.input_size))  # type: ignore[arg-type]

    def align(self, pixels: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The face aligned on the photo's own pixels (BGR, ``size``)."""

        return align_face(pixels, landmarks, self.template, self.size)

    @staticmethod
    def png(chip: np.ndarray) -> bytes:
        """A chip as PNG (lossless, fast compression), for the queue of the pass."""
        import cv2

        ok, buf = cv2.imencode(".png", chip, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise ValueError("PNG encoding failed")
        return buf.tobytes()

    def chip_png(self, pixels: np.ndarray, landmarks: np.ndarray) -> bytes:
        """The face aligned on the photo's own pixels, PNG."""
        return self.png(self.align(pixels, landmarks))


@dataclass(frozen=True)
class SecondRecognizer:
    """The second recognizer to run inside the ingest workers: its manifest entry and the
    inference settings that choose its runtime (None: the manifest's, the default cache)."""

    spec: ModelSpec
    inference: InferenceSettings | None = None

    def load(self, batch_size: int = 32) -> DlibEmbedder:

        model = DlibEmbedder(self.spec, batch_size, self.inference)
        model.load()
        return model


class _WorkerState:
    pipeline: FacePipeline | None = None
    chips: ChipGeometry | None = None
    second: DlibEmbedder | None = None


_state = _WorkerState()


def init_worker(
    settings: PipelineSettings | None,
    threads: int = 1,
    chips: ChipGeometry | None = None,
    second: SecondRecognizer | None = None,
    nice: int = 0,
    manifest: Manifest | None = None,
) -> None:
    """Load the worker's pipeline: ``manifest``'s recognizer (the gallery's; None: the
    packaged manifest's), one thread."""
    import signal

    # Ctrl-C is handled by the main process, which stops the pool and keeps finished work.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lower_priority(nice)
    set_threads(threads)
    if manifest is None:
        _state.pipeline = FacePipeline.load(settings)
    else:
        _state.pipeline = FacePipeline(manifest, settings)
        _state.pipeline.load_models()
    _state.chips = chips
    _state.second = second.load() if second is not None and chips is not None else None


def lower_priority(nice: int) -> None:
    """Run this worker process ``nice`` steps below its parent's CPU priority (searches made
    during an ingest go first; an ingest alone on the machine loses nothing)."""
    if nice > 0:
        os.nice(nice)


def worker_pipeline() -> FacePipeline:
    """The pipeline ``init_worker`` loaded in this worker process."""
    if _state.pipeline is None:
        raise RuntimeError("worker used before init_worker")
    return _state.pipeline


def encode_jpeg(pixels: np.ndarray, max_side: int, quality: int = 85) -> bytes:
    import cv2

    h, w = pixels.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        pixels = cv2.resize(
            pixels,
            (max(1, round(w * scale)), max(1, round(h * scale))),
            interpolation=cv2.INTER_AREA,
        )
    ok, buf = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def crop_origin(
    image_size: tuple[int, int], bbox: tuple[float, float, float, float]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Top-left corner and (width, height), in image pixels, of the stored face crop: the
    face box with a 25% margin, clipped to the image (the whole image if that is empty)."""
    w, h = image_size
    x, y, bw, bh = bbox
    mx, my = 0.25 * bw, 0.25 * bh
    x0, y0 = max(0, int(x - mx)), max(0, int(y - my))
    x1, y1 = min(w, int(np.ceil(x + bw + mx))), min(h, int(np.ceil(y + bh + my)))
    if x1 > x0 and y1 > y0:
        return (x0, y0), (x1 - x0, y1 - y0)
    return (0, 0), (w, h)


def face_crop(pixels: np.ndarray, bbox: tuple[float, float, float, float]) -> np.ndarray:
    """The face box with a 25% margin, clipped to the image."""
    (x0, y0), (cw, ch) = crop_origin((pixels.shape[1], pixels.shape[0]), bbox)
    return pixels[y0 : y0 + ch, x0 : x0 + cw]


def face_record(
    face: Face,
    pixels: np.ndarray | None,
    *,
    second: np.ndarray | None = None,
    second_chip_png: bytes | None = None,
    frame_ms: int | None = None,
    track: int | None = None,
) -> FaceRecord:
    """The one conversion of an in-memory face into the record workers return: rounded
    landmarks and score, its quality, its vectors, and its crop (JPEG, cut from ``pixels``,
    the photo or frame it was found in; none without ``pixels``)."""
    return FaceRecord(
        face_index=face.index,
        bbox=face.bbox,
        landmarks=face.landmarks.astype(float).round(2).tolist(),
        detector_score=round(face.detector_score, 4),
        quality=face.quality.score,
        sharpness=face.quality.sharpness,
        yaw=face.quality.yaw,
        flags=face.quality.flags,
        embedding=face.embedding,
        crop_jpeg=b""
        if pixels is None
        else encode_jpeg(face_crop(pixels, face.bbox), CROP_MAX_SIDE),
        second_embedding=second,
        second_chip_png=second_chip_png,
        frame_ms=frame_ms,
        track=track,
    )


def process_batch(
    items: list[WorkItem],
    pipeline: FacePipeline | None = None,
    chips: ChipGeometry | None = None,
    second: DlibEmbedder | None = None,
) -> BatchOut:
    """Process (key, sha256, bytes) items; never raises for a bad image, reports it instead.

    In a worker process the pipeline, chip geometry and second recognizer are those of
    ``init_worker``; in-process callers pass them."""
    pipe = pipeline or _state.pipeline
    if pipeline is None:
        chips, second = _state.chips, _state.second
    if pipe is None:
        raise RuntimeError("worker used before init_worker")
    timings = {"decode": 0.0, "detect": 0.0, "align": 0.0, "embed": 0.0, "encode": 0.0}
    outs: dict[int, ImageOut] = {}
    decoded = []
    for key, sha, data in items:
        t0 = time.perf_counter()
        try:
            image = decode_bytes(data, pipe.settings.max_pixels)
        except DecodeError as exc:
            outs[key] = ImageOut(key=key, sha256=sha, ok=False, reason=str(exc))
            continue
        except Exception as exc:  # a decoder bug must not stop the run
            outs[key] = ImageOut(key=key, sha256=sha, ok=False, reason=f"decoder error: {exc}")
            continue
        finally:
            timings["decode"] += time.perf_counter() - t0
        decoded.append((key, image))
    processed = pipe.process_many([img for _, img in decoded], timings=timings)
    seconds: list[list[SecondOut]] = [[(f.second, None) for f in r.faces] for r in processed]
    second_error = ""
    if chips is not None:
        seconds, second_error = second_vectors(processed, chips, second, timings)
    for (key, image), result, made in zip(decoded, processed, seconds, strict=True):
        t0 = time.perf_counter()
        faces = [
            face_record(f, image.pixels, second=vec, second_chip_png=chip)
            for f, (vec, chip) in zip(result.faces, made, strict=True)
        ]
        outs[key] = ImageOut(
            key=key,
            sha256=image.sha256,
            ok=True,
            width=image.width,
            height=image.height,
            format=image.format,
            size_bytes=image.size_bytes,
            thumbnail_jpeg=encode_jpeg(image.pixels, THUMB_MAX_SIDE, quality=80),
            faces=faces,
        )
        timings["encode"] += time.perf_counter() - t0
    return BatchOut(
        images=[outs[k] for k, _, _ in items],
        timings=timings,
        model=pipe.model_key,
        second_error=second_error,
    )


SecondOut = tuple[np.ndarray | None, bytes | None]  # (vector, or the chip queued for the pass)


def second_vectors(
    processed: list[ProcessedImage],
    chips: ChipGeometry,
    second: DlibEmbedder | None,
    timings: dict[str, float],
) -> tuple[list[list[SecondOut]], str]:
    """Each face's second vector, or its chip (PNG) for the pass after ingest; and the second
    recognizer's error, if it failed on the batch.

    Every face of the batch is aligned on its photo (``chip`` seconds); with ``second``, all
    the chips are described in one call (``second`` seconds). Faces the pipeline already
    described keep their vector. Should the second recognizer fail, the batch's faces are
    queued as chips instead, so that the pass can retry them.
    """
    t0 = time.perf_counter()
    aligned: list[list[np.ndarray | None]] = [
        [
            None if f.second is not None else chips.align(r.image.pixels, f.landmarks)
            for f in r.faces
        ]
        for r in processed
    ]
    todo = [chip for per_image in aligned for chip in per_image if chip is not None]
    timings["chip"] = timings.get("chip", 0.0) + time.perf_counter() - t0
    vectors: list[np.ndarray] | None = None
    error = ""
    if second is not None and todo:
        t0 = time.perf_counter()
        try:
            vectors = list(second.predict(np.stack(todo)))
        except Exception as exc:  # a runtime error must not lose the faces: queue them instead
            error = f"{type(exc).__name__}: {exc}"
        timings["second"] = timings.get("second", 0.0) + time.perf_counter() - t0
    t0 = time.perf_counter()
    out: list[list[SecondOut]] = []
    pos = 0
    for r, per_image in zip(processed, aligned, strict=True):
        made: list[SecondOut] = []
        for f, chip in zip(r.faces, per_image, strict=True):
            if chip is None:
                made.append((f.second, None))
            elif vectors is not None:
                made.append((vectors[pos], None))
                pos += 1
            else:
                made.append((None, chips.png(chip)))
        out.append(made)
    timings["chip"] += time.perf_counter() - t0
    return out, error
