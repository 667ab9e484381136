import numpy as np

from facesearch.engine.align import align_face, similarity_transform
from facesearch.models.manifest import load_manifest


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 200, size=(5, 2))
    angle, scale, t = 0.3, 1.7, np.array([12.0, -5.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ rot.T + t
    m = similarity_transform(src, dst)
    assert np.allclose(m[:, :2], scale * rot, atol=1e-9)
    assert np.allclose(m[:, 2], t, atol=1e-9)


def test_align_puts_landmarks_on_the_template():
    template = np.asarray(load_manifest().recognizer.alignment_template, np.float32)
    image = np.zeros((300, 300, 3), np.uint8)
    landmarks = template * 2.0 + 40.0  # a face twice the size, shifted
    for x, y in landmarks.astype(int):
        image[y - 1 : y + 2, x - 1 : x + 2] = 255
    crop = align_face(image, landmarks, template)
    assert crop.shape == (112, 112, 3)
    for x, y in template.round().astype(int):
        assert crop[y, x].max() > 100
