"""Small faces in large photos are found (issue 9): real CFP faces pasted into large photos
with real, non-uniform backgrounds, run through the whole pipeline and scored as the product
scores them."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from facesearch.engine.decode import decode_array, decode_file
from facesearch.engine.detect import tile_spans
from facesearch.engine.pipeline import Face, FacePipeline
from facesearch.evaluate.scenes import centre_inside, paste_face, real_background
from facesearch.search.scoring import Scoring

CFP_FACE = Path("cfp/Data/Images/007/frontal/02.jpg")


def faces_on(faces: list[Face], box: tuple[float, float, float, float]) -> list[Face]:
    """The detected faces whose centre lies inside ``box``."""
    return [f for f in faces if centre_inside(f.bbox, box)]


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


def test_most_24_pixel_faces_in_2_megapixel_photos_are_found(shared_faces, pipeline):
    """Issue 9's target at 24 pixels (at least 80% found), on 36 faces of 36 people pasted
    into three 2-megapixel scenes; the backgrounds alone give no detection where they are."""
    from facesearch.evaluate.scenes import plan_scene

    sources = []
    for folder in sorted((shared_faces / "cfp" / "Data" / "Images").iterdir())[:36]:
        pixels = decode_file(folder / "frontal" / "01.jpg").pixels
        sources.append((pixels, pipeline.detector.predict(pixels)[0].bbox))
    found, pasted, on_background = 0, 0, 0
    for seed in range(3):
        background = real_background(1632, 1224, seed=100 + seed)
        canvas = background.copy()
        boxes = []
        for p in plan_scene(1632, 1224, (24, 80), 12, len(sources), seed=seed):
            if p.width == 24:  # the 80-pixel cells only space the faces out
                photo, box = sources[pasted % len(sources)]
                boxes.append(paste_face(canvas, photo, box, 24, p.x, p.y))
                pasted += 1
        detections = pipeline.detector.predict(canvas)
        found += sum(
            any(centre_inside(d.bbox, b) and d.bbox[2] < 48 for d in detections) for b in boxes
        )
        empty = pipeline.detector.predict(background)
        on_background += sum(centre_inside(d.bbox, b) for d in empty for b in boxes)
    assert pasted == 36 and on_background == 0
    assert found >= 0.8 * pasted, f"{found} of {pasted} 24-pixel faces found"


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


def test_scene_plans_keep_faces_apart_and_inside_the_photo():
    from facesearch.evaluate.scenes import plan_scene

    sizes = (20, 40, 80)
    plan = plan_scene(1632, 1224, sizes, per_size=4, sources=5, seed=3)
    assert sorted(p.width for p in plan) == sorted(list(sizes) * 4)
    patches = [  # the pasted patch: half a box of context each side, boxes up to 1.4x tall
        (p.x - 0.5 * p.width, p.y - 0.7 * p.width, p.x + 1.5 * p.width, p.y + 2.1 * p.width)
        for p in plan
    ]
    assert all(x0 >= 0 and y0 >= 0 and x1 <= 1632 and y1 <= 1224 for x0, y0, x1, y1 in patches)
    for a, b in itertools.combinations(patches, 2):
        assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
    assert plan == plan_scene(1632, 1224, sizes, per_size=4, sources=5, seed=3)
    with pytest.raises(ValueError, match="do not fit"):
        plan_scene(400, 300, sizes, per_size=4, sources=5, seed=3)


def test_a_seeded_background_differs_by_seed_and_repeats_for_one():
    a, b = real_background(640, 480, seed=1), real_background(640, 480, seed=2)
    assert a.shape == (480, 640, 3) and a.std() > 10  # a real, non-uniform photo
    assert not np.array_equal(a, b)
    assert np.array_equal(a, real_background(640, 480, seed=1))
