"""Small faces in large photos are found (issue 9): real CFP faces pasted into large photos
with real, non-uniform backgrounds, run through the whole pipeline and scored as the product
scores them."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from facesearch.decode import decode_array, decode_file
from facesearch.detect import tile_spans
from facesearch.pipeline import Face, FacePipeline
from facesearch.search import Scoring

CFP_FACE = Path("cfp/Data/Images/007/frontal/02.jpg")


def real_background(width: int, height: int) -> np.ndarray:
    """A grid of real photos without people from scikit-image, resized to fill the frame."""
    from skimage import data

    sources = [data.coffee(), data.rocket(), data.chelsea(), data.hubble_deep_field()]
    gray = [data.brick(), data.grass(), data.gravel(), data.clock()]
    sources += [np.repeat(g[:, :, None], 3, axis=2) for g in gray]
    canvas = np.zeros((height, width, 3), np.uint8)
    cols, rows = 4, 2
    cw, ch = -(-width // cols), -(-height // rows)
    for i, image in enumerate(sources):
        x, y = (i % cols) * cw, (i // cols) * ch
        tile = cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), (cw, ch))
        canvas[y : y + ch, x : x + cw] = tile[: height - y, : width - x]
    return canvas


def paste_face(
    canvas: np.ndarray, photo: np.ndarray, box: tuple[float, ...], width: int, x: int, y: int
) -> tuple[float, float, float, float]:
    """Paste the face ``box`` of ``photo`` (with half a box of context on each side) so that
    the box is ``width`` pixels wide and its top left corner lands at (x, y), with a feathered
    edge; returns the face box in the canvas."""
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
    region = canvas[py : py + ph, px : px + pw].astype(np.float32)
    canvas[py : py + ph, px : px + pw] = (mask * patch + (1 - mask) * region).astype(np.uint8)
    return (float(x), float(y), bw * scale, bh * scale)


def faces_on(faces: list[Face], box: tuple[float, float, float, float]) -> list[Face]:
    """The detected faces whose centre lies inside ``box``."""
    x, y, w, h = box
    return [
        f
        for f in faces
        if x <= f.bbox[0] + f.bbox[2] / 2 <= x + w and y <= f.bbox[1] + f.bbox[3] / 2 <= y + h
    ]


@pytest.fixture(scope="module")
def original(shared_faces: Path, pipeline: FacePipeline) -> tuple[np.ndarray, Face]:
    image = decode_file(shared_faces / CFP_FACE)
    faces = pipeline.process_image(image).faces
    assert faces, f"no face in {CFP_FACE}"
    return image.pixels, faces[0]


def assert_matches(pipeline: FacePipeline, found: Face, original: Face) -> None:
    """Same person by the product's own scoring: the score reaches the match band."""
    scoring = Scoring.from_manifest(pipeline.manifest, fusion=pipeline.second is not None)
    score, fused = scoring.score(found.embedding, original.embedding, found.second, original.second)
    assert fused == (pipeline.second is not None)
    match = scoring.bands_for(fused).match
    assert score >= match, f"the small face scores {score:.3f} against its original (< {match})"


@pytest.mark.slow
def test_a_40_pixel_face_in_a_24_megapixel_photo_is_found_and_matches(pipeline, original):
    photo, face = original
    canvas = real_background(6000, 4000)
    # Across the seam between the fine pass's first two tiles: found once, not cut in two.
    seam = tile_spans(6000, pipeline.detector.settings.tile_side, 300)[0][1]
    box = paste_face(canvas, photo, face.bbox, 40, seam - 20, 2500)
    faces = pipeline.process_image(decode_array(canvas, rgb=False)).faces
    found = faces_on(faces, box)
    assert len(found) == 1, f"{len(found)} detections of the 40-pixel face, among {len(faces)}"
    assert abs(found[0].bbox[2] - box[2]) < 0.3 * box[2]
    assert_matches(pipeline, found[0], face)


@pytest.mark.xfail(
    strict=True, reason="issue 9: 24-pixel faces are not found yet (the 40-pixel target holds)"
)
def test_a_24_pixel_face_in_a_2_megapixel_photo_is_found(pipeline, original):
    photo, face = original
    canvas = real_background(1632, 1224)
    box = paste_face(canvas, photo, face.bbox, 24, 1100, 300)
    faces = pipeline.process_image(decode_array(canvas, rgb=False)).faces
    assert len(faces_on(faces, box)) == 1


@pytest.mark.parametrize(
    ("length", "tile", "overlap"), [(6000, 2048, 312), (4000, 2048, 312), (2049, 2048, 100)]
)
def test_tiles_are_equal_cover_the_photo_and_overlap(length, tile, overlap):
    spans = tile_spans(length, tile, overlap)
    sides = {end - start for start, end in spans}
    assert len(sides) == 1 and sides.pop() <= tile
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(b[0] <= a[1] - overlap for a, b in itertools.pairwise(spans))


def test_one_tile_when_the_photo_fits():
    assert tile_spans(1224, 2048, 100) == [(0, 1224)]
