"""Synthetic scenes for measuring small-face detection: real faces pasted, at a chosen size, into
large photos with real, non-uniform backgrounds (photos without people from scikit-image).

Used by ``benchmarks/detect_small.py`` and the small-face tests. The backgrounds hold no
person, so every detection away from a pasted face is a false detection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Box = tuple[float, float, float, float]  # x, y, w, h


def background_sources() -> list[np.ndarray]:
    """Photos without people that scikit-image ships (no download), as BGR uint8."""
    import cv2
    from skimage import data

    colour = [data.coffee(), data.rocket(), data.chelsea(), data.hubble_deep_field()]
    grey = [data.brick(), data.grass(), data.gravel(), data.clock()]
    more_colour = [data.immunohistochemistry(), data.retina()]
    more_grey = [data.coins(), data.moon(), data.page()]
    out = [cv2.cvtColor(c, cv2.COLOR_RGB2BGR) for c in colour]
    out += [np.repeat(g[:, :, None], 3, axis=2) for g in grey]
    out += [cv2.cvtColor(c, cv2.COLOR_RGB2BGR) for c in more_colour]
    out += [np.repeat(g[:, :, None], 3, axis=2) for g in more_grey]
    return out


def real_background(
    width: int, height: int, seed: int | None = None, sources: Sequence[np.ndarray] | None = None
) -> np.ndarray:
    """A ``width`` x ``height`` BGR photo: a grid of real photos without people, resized to fill
    the frame. ``seed=None`` gives the fixed 4 x 2 grid of the first eight sources; a seed
    shuffles the sources and the grid (3 to 6 columns, 2 to 4 rows) and crops each source at
    random, so that each scene differs."""
    import cv2

    pool = list(sources) if sources is not None else background_sources()
    if seed is None:
        cols, rows, crops = 4, 2, pool[:8]
    else:
        rng = np.random.default_rng(seed)
        cols, rows = int(rng.integers(3, 7)), int(rng.integers(2, 5))
        picks = rng.choice(len(pool), size=cols * rows, replace=True)
        crops = []
        for p in picks:
            src = pool[int(p)]
            sh, sw = src.shape[:2]
            fw, fh = rng.uniform(0.5, 1.0, size=2)
            cw, ch = max(16, int(sw * fw)), max(16, int(sh * fh))
            x0, y0 = int(rng.integers(0, sw - cw + 1)), int(rng.integers(0, sh - ch + 1))
            crop = src[y0 : y0 + ch, x0 : x0 + cw]
            crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    canvas = np.zeros((height, width, 3), np.uint8)
    cw, ch = -(-width // cols), -(-height // rows)
    for i, image in enumerate(crops[: cols * rows]):
        x, y = (i % cols) * cw, (i // cols) * ch
        tile = cv2.resize(np.ascontiguousarray(image), (cw, ch), interpolation=cv2.INTER_LINEAR)
        canvas[y : y + ch, x : x + cw] = tile[: height - y, : width - x]
    return canvas


def paste_face(canvas: np.ndarray, photo: np.ndarray, box: Box, width: int, x: int, y: int) -> Box:
    """Paste the face ``box`` of ``photo`` (with half a box of context on each side) so that
    the box is ``width`` pixels wide and its top left corner lands at (x, y), with a feathered
    elliptical edge; returns the face box in the canvas. The patch must fit in the canvas."""
    import cv2

    bx, by, bw, bh = box
    x0, y0 = max(0, int(bx - bw / 2)), max(0, int(by - bh / 2))
    x1 = min(photo.shape[1], int(bx + 1.5 * bw))
    y1 = min(photo.shape[0], int(by + 1.5 * bh))
    scale = width / bw
    patch = cv2.resize(photo[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ph, pw = patch.shape[:2]
    mask = np.zeros((ph, pw), np.float32)
    cv2.ellipse(mask, (pw // 2, ph // 2), (pw // 2, ph // 2), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, min(pw, ph) / 12))[:, :, None]
    px, py = x - round((bx - x0) * scale), y - round((by - y0) * scale)
    if px < 0 or py < 0 or px + pw > canvas.shape[1] or py + ph > canvas.shape[0]:
        raise ValueError(f"a {width}-pixel face at ({x}, {y}) does not fit in the canvas")
    region = canvas[py : py + ph, px : px + pw].astype(np.float32)
    canvas[py : py + ph, px : px + pw] = (mask * patch + (1 - mask) * region).astype(np.uint8)
    return (float(x), float(y), bw * scale, bh * scale)


def centre_inside(bbox: Sequence[float], box: Box) -> bool:
    """Whether the centre of ``bbox`` (x, y, w, h) lies inside ``box``."""
    x, y, w, h = box
    cx, cy = bbox[0] + bbox[2] / 2, bbox[1] + bbox[3] / 2
    return x <= cx <= x + w and y <= cy <= y + h


@dataclass(frozen=True)
class Placement:
    """A face to paste: which source face, how wide, where (top left of its box)."""

    source: int
    width: int
    x: int
    y: int


def plan_scene(
    width: int, height: int, sizes: Sequence[int], per_size: int, sources: int, seed: int
) -> list[Placement]:
    """``per_size`` faces of each size at random, well-separated places (one per cell of a
    jittered grid whose cells hold the largest face with room around it)."""
    rng = np.random.default_rng(seed)
    cell = int(3.2 * max(sizes))
    cols, rows = width // cell, height // cell
    wanted = len(sizes) * per_size
    if cols * rows < wanted:
        raise ValueError(f"{wanted} faces do not fit in a {width}x{height} photo")
    cells = rng.choice(cols * rows, size=wanted, replace=False)
    widths = np.repeat(np.asarray(sizes), per_size)
    rng.shuffle(widths)
    out = []
    for c, w in zip(cells, widths, strict=True):
        cx, cy = int(c % cols) * cell, int(c // cols) * cell
        # the patch holds half a box of context on each side; boxes are up to 1.4 times as
        # tall as wide
        x_lo, x_hi = cx + int(0.5 * w), cx + cell - int(1.5 * w)
        y_lo, y_hi = cy + int(0.7 * w), cy + cell - int(2.1 * w)
        x = int(rng.integers(x_lo, max(x_lo, x_hi) + 1))
        y = int(rng.integers(y_lo, max(y_lo, y_hi) + 1))
        out.append(Placement(int(rng.integers(0, sources)), int(w), x, y))
    return out
