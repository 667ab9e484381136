"""Worker processes: decode, detect, align, assess and embed a batch of images.

Each worker loads its own pipeline once (in ``init_worker``) and uses one OpenCV thread, so
that N workers keep N cores busy. Results carry only plain data (arrays, bytes, numbers).

With a :class:`ChipGeometry`, a worker also aligns each face for the second recognizer on the
full-resolution photo it holds (a warp and a PNG encoding, about a millisecond) and returns the
chip, so that the second-vector pass (``ingest/second_pass.py``), which runs the slow recognizer
after ingest, describes the face from the photo itself and never from the small stored crop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from facesearch.errors import DecodeError
from facesearch.pipeline import FacePipeline, PipelineSettings

if TYPE_CHECKING:
    from facesearch.models.manifest import Manifest

CROP_MAX_SIDE = 160
THUMB_MAX_SIDE = 320


@dataclass
class FaceOut:
    bbox: tuple[float, float, float, float]
    landmarks: list[list[float]]
    detector_score: float
    quality: float
    sharpness: float
    yaw: float
    flags: tuple[str, ...]
    embedding: np.ndarray
    crop_jpeg: bytes
    second: np.ndarray | None = None  # the second recognizer's vector, when it ran
    second_chip_png: bytes | None = None  # its aligned chip, for the pass after ingest


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
    faces: list[FaceOut] = field(default_factory=list)


@dataclass
class BatchOut:
    images: list[ImageOut]
    timings: dict[str, float]  # seconds per stage for the whole batch
    model: str


@dataclass(frozen=True)
class ChipGeometry:
    """Where the second recognizer wants the five landmarks, and its input size (w, h)."""

    template: np.ndarray
    size: tuple[int, int]

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> ChipGeometry | None:
        """The second recognizer's geometry, or None when the manifest has none."""
        from facesearch.embed import second_model_spec

        spec = second_model_spec(manifest)
        if spec is None or spec.alignment_template is None:
            return None
        return cls(np.asarray(spec.alignment_template, np.float32), tuple(spec.input_size))  # type: ignore[arg-type]

    def chip_png(self, pixels: np.ndarray, landmarks: np.ndarray) -> bytes:
        """The face aligned on the photo's own pixels, PNG (lossless, fast compression)."""
        import cv2

        from facesearch.align import align_face

        chip = align_face(pixels, landmarks, self.template, self.size)
        ok, buf = cv2.imencode(".png", chip, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise ValueError("PNG encoding failed")
        return buf.tobytes()


class _WorkerState:
    pipeline: FacePipeline | None = None
    chips: ChipGeometry | None = None


_state = _WorkerState()


def init_worker(
    settings: PipelineSettings | None, threads: int = 1, chips: ChipGeometry | None = None
) -> None:
    import signal

    from facesearch.models.runtime import set_threads

    # Ctrl-C is handled by the main process, which stops the pool and keeps finished work.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_threads(threads)
    _state.pipeline = FacePipeline.load(settings)
    _state.chips = chips


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


def process_batch(
    items: list[tuple[int, str, bytes]],
    pipeline: FacePipeline | None = None,
    chips: ChipGeometry | None = None,
) -> BatchOut:
    """Process (key, sha256, bytes) items; never raises for a bad image, reports it instead.

    In a worker process the pipeline and chip geometry are those of ``init_worker``; in-process
    callers pass them."""
    from facesearch.decode import decode_bytes

    pipe = pipeline or _state.pipeline
    chips = chips if pipeline is not None else _state.chips
    if pipe is None:
        raise RuntimeError("worker used before init_worker")
    timings = {"decode": 0.0, "detect": 0.0, "align": 0.0, "embed": 0.0, "encode": 0.0}
    if chips is not None:
        timings["chip"] = 0.0
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
    for (key, image), result in zip(decoded, processed, strict=True):
        t0 = time.perf_counter()
        second_chips = [
            chips.chip_png(image.pixels, f.landmarks)
            if chips is not None and f.second is None
            else None
            for f in result.faces
        ]
        if chips is not None:
            timings["chip"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        faces = [
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
                second=f.second,
                second_chip_png=chip,
            )
            for f, chip in zip(result.faces, second_chips, strict=True)
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
    return BatchOut(images=[outs[k] for k, _, _ in items], timings=timings, model=pipe.model_key)
