"""The one conversion of an in-memory face into the record workers return (ingest, media
photos and video frames alike), and the catalog taking that record as it is."""

from __future__ import annotations

import numpy as np

from facesearch.engine.pipeline import Face
from facesearch.engine.quality import QualityReport
from facesearch.ingest.worker import CROP_MAX_SIDE, crop_origin, face_record


def _face(flags: tuple[str, ...] = ()) -> Face:
    vec = np.zeros(128, np.float32)
    vec[0] = 1.0
    return Face(
        index=2,
        bbox=(40.0, 30.0, 60.0, 80.0),
        landmarks=np.array([[55.123, 60.456], [85, 60], [70, 75], [58, 90], [82, 90]], np.float32),
        detector_score=0.987654,
        quality=QualityReport(0.8, 70.0, 120.5, -0.1, 0.987654, flags),
        aligned=np.zeros((112, 112, 3), np.uint8),
        embedding=vec,
        model="sface@test",
    )


def test_a_face_becomes_one_record_with_its_crop():
    import cv2

    pixels = np.full((400, 300, 3), 90, np.uint8)
    record = face_record(_face(("blurry",)), pixels)
    assert record.face_index == 2 and record.bbox == (40.0, 30.0, 60.0, 80.0)
    assert record.landmarks[0] == [55.12, 60.46] and record.detector_score == 0.9877
    assert (record.quality, record.sharpness, record.yaw) == (0.8, 120.5, -0.1)
    assert record.flags == ("blurry",) and not record.searchable
    assert record.embedding[0] == 1.0 and record.crop is None and record.model == ""
    crop = cv2.imdecode(np.frombuffer(record.crop_jpeg, np.uint8), cv2.IMREAD_COLOR)
    _, (w, h) = crop_origin((300, 400), record.bbox)
    assert crop.shape[:2] == (h, w) and max(w, h) <= CROP_MAX_SIDE
    assert record.frame_ms is None and record.track is None


def test_a_video_face_keeps_its_time_and_track_and_no_crop_without_pixels():
    second = np.ones(128, np.float32) / np.sqrt(128)
    record = face_record(_face(), None, second=second, frame_ms=1500, track=3)
    assert record.crop_jpeg == b"" and record.searchable
    assert (record.frame_ms, record.track) == (1500, 3)
    assert record.second_embedding is second and record.second_chip_png is None
