import cv2
import numpy as np
import pytest

from facesearch.engine.decode import decode_array


def _faces(pipeline, rgb):
    return pipeline.process_image(decode_array(rgb)).faces


def test_astronaut_face_with_landmarks(pipeline, astronaut):
    faces = _faces(pipeline, astronaut)
    assert len(faces) == 1
    x, y, w, h = faces[0].bbox
    assert 150 < x < 210 and 40 < y < 90 and 70 < w < 120
    lm = faces[0].landmarks
    assert lm.shape == (5, 2)
    assert lm[0, 0] < lm[1, 0]  # eye on the image's left first
    assert all(x <= px <= x + w and y <= py <= y + h for px, py in lm)
    assert faces[0].searchable


@pytest.mark.parametrize("size", [96, 160, 2400])
def test_face_found_whatever_the_photo_size(pipeline, astronaut, size):
    resized = cv2.resize(astronaut, (size, size), interpolation=cv2.INTER_AREA)
    faces = _faces(pipeline, resized)
    assert faces, f"no face at {size}px"
    scale = size / 512
    assert abs(faces[0].bbox[0] / scale - 180) < 25


def test_small_face_in_a_large_photo_is_found(pipeline, astronaut):
    canvas = np.full((3000, 4000, 3), 90, np.uint8)
    face = cv2.resize(astronaut[30:230, 150:300], (60, 80), interpolation=cv2.INTER_AREA)
    canvas[2100:2180, 3100:3160] = face
    faces = _faces(pipeline, canvas)
    assert faces, "a 60-pixel face in a 4000x3000 photo was missed"
    x, y, _, _ = faces[0].bbox
    assert 3080 < x < 3140 and 2080 < y < 2150


def test_face_filling_the_frame_is_found(pipeline, astronaut):
    tight = astronaut[50:190, 165:280]
    assert _faces(pipeline, tight)


def test_no_face_in_an_image_without_faces(pipeline):
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 255, size=(240, 320, 3), dtype=np.uint8)
    assert _faces(pipeline, noise) == []


def test_several_faces_are_sorted_largest_first(pipeline, astronaut, other_faces):
    canvas = np.full((600, 1000, 3), 200, np.uint8)
    canvas[50:562, 0:512] = astronaut
    hopper = cv2.resize(other_faces[0], (256, 300))
    canvas[100:400, 650:906] = hopper
    faces = _faces(pipeline, canvas)
    assert len(faces) >= 2
    assert [f.index for f in faces] == list(range(len(faces)))
    areas = [f.bbox[2] * f.bbox[3] for f in faces]
    assert areas == sorted(areas, reverse=True)
