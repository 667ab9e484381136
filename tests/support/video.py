"""Videos made in the tests from real photos, written with PyAV: people enter and leave at known
times, so that the tracks found can be checked against the truth."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Appearance:
    photo: Path
    start_ms: int  # first frame it is on screen
    end_ms: int  # first frame it is gone again
    x: int  # left edge at start (it drifts right by `drift` pixels per second)
    y: int


def face_tile(photo: Path, height: int) -> np.ndarray:
    from PIL import Image

    im = Image.open(photo).convert("RGB")
    w = round(im.width * height / im.height)
    return np.asarray(im.resize((w, height), Image.Resampling.BILINEAR))


def make_video(
    appearances: list[Appearance],
    *,
    seconds: float,
    fps: int = 10,
    size: tuple[int, int] = (640, 360),
    tile_height: int = 150,
    drift: float = 20.0,
    codec: str = "libx264",
) -> bytes:
    """An MP4 (H.264) of ``seconds`` at ``fps``: a grey room where each appearance's photo is on
    screen from ``start_ms`` (inclusive) to ``end_ms`` (exclusive), moving slowly."""
    import av

    width, height = size
    tiles = [face_tile(a.photo, tile_height) for a in appearances]
    yy, xx = np.mgrid[0:height, 0:width]
    room = np.stack([90 + 40 * xx / width, 100 + 30 * yy / height, 110 + 0 * xx], -1)
    room = room.astype(np.uint8)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(round(seconds * fps)):
            ms = i * 1000 // fps
            frame = room.copy()
            for a, tile in zip(appearances, tiles, strict=True):
                if a.start_ms <= ms < a.end_ms:
                    x = min(a.x + int(drift * (ms - a.start_ms) / 1000), width - tile.shape[1])
                    frame[a.y : a.y + tile.shape[0], x : x + tile.shape[1]] = tile
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = i
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()
