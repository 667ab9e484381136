"""A face still matches itself after everyday edits, and ranks first among other faces."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from facesearch.engine.decode import decode_array, decode_bytes


def _jpeg(rgb: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


EDITS = {
    "flip": lambda im: decode_array(np.ascontiguousarray(im[:, ::-1])),
    "crop": lambda im: decode_array(np.ascontiguousarray(im[20:330, 100:400])),
    "downscale": lambda im: decode_array(cv2.resize(im, (200, 200), interpolation=cv2.INTER_AREA)),
    "upscale": lambda im: decode_array(cv2.resize(im, (900, 900), interpolation=cv2.INTER_CUBIC)),
    "jpeg_q30": lambda im: decode_bytes(_jpeg(im, 30)),
    "brighter": lambda im: decode_array(np.clip(im.astype(int) + 50, 0, 255).astype(np.uint8)),
    "darker": lambda im: decode_array((im * 0.55).astype(np.uint8)),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_edited_face_matches_and_ranks_first(gallery, astronaut, other_embeddings, edit):
    threshold = gallery.bands.match
    original = gallery.embed(astronaut)[0].embedding
    edited = gallery.pipeline.process_image(EDITS[edit](astronaut)).faces
    assert edited, f"no face after {edit}"
    score = float(np.dot(original, edited[0].embedding))
    assert score > threshold, f"{edit}: similarity {score:.3f} below {threshold}"

    assert len(other_embeddings) >= 50
    impostor_best = float(np.max(other_embeddings @ edited[0].embedding))
    assert impostor_best < score, f"{edit}: another face scored {impostor_best:.3f} >= {score:.3f}"


def test_astronaut_is_found_in_a_gallery_of_other_faces(gallery, astronaut, other_faces, tmp_path):
    from tests.conftest import write_image

    folder = tmp_path / "photos"
    write_image(folder / "astronaut.png", astronaut)
    for i, img in enumerate(other_faces[:40]):
        write_image(folder / f"other_{i:03d}.png", img)
    report = gallery.ingest([folder], collection="packaged", workers=0)
    assert report.images_new == 41 and not report.failures
    probe = np.clip(astronaut[::-1, ::-1][::-1].astype(int) - 30, 0, 255).astype(np.uint8)
    result = gallery.search(probe[:, ::-1], k=5)
    top = result.candidates[0]
    assert top.image_path.endswith("astronaut.png")
    assert top.band == "strong"
    assert all(c.score < top.score for c in result.candidates[1:])
    assert top.provenance[0]["collection"] == "packaged"
