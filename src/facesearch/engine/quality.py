"""Quality: a score per face from size, sharpness, pose and detector confidence.

Faces under the configured minimums keep their place in the catalog, flagged with the reason,
and are left out of search by default; they are never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOO_SMALL = "too_small"
BLURRED = "blurred"
PROFILE = "profile"
LOW_CONFIDENCE = "low_confidence"
FLAG_REASONS = (TOO_SMALL, BLURRED, PROFILE, LOW_CONFIDENCE)


@dataclass(frozen=True)
class QualitySettings:
    min_face_px: float = 40.0  # shorter side of the face box, original pixels
    min_sharpness: float = 20.0  # variance of the Laplacian on the aligned 112x112 grey crop
    max_abs_yaw: float = 0.45  # |nose offset| / eye distance; ~0.5 and up is a near profile
    min_detector_score: float = 0.75


@dataclass(frozen=True)
class QualityReport:
    score: float  # 0 (unusable) .. 1 (ideal)
    face_px: float
    sharpness: float
    yaw: float
    detector_score: float
    flags: tuple[str, ...]

    @property
    def searchable(self) -> bool:
        return not self.flags


def estimate_yaw(landmarks: np.ndarray) -> float:
    """Signed horizontal offset of the nose from the eye/mouth midline, per eye distance.

    About 0 for a frontal face; its magnitude grows as the head turns (a near profile
    gives 0.5 or more).
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    right_eye, left_eye, nose, mouth_r, mouth_l = lm
    eye_vec = left_eye - right_eye
    eye_dist = float(np.hypot(*eye_vec))
    mid = (right_eye + left_eye + mouth_r + mouth_l) / 4.0
    if eye_dist < 1e-6:
        return 1.0
    axis = eye_vec / eye_dist
    return float(np.dot(nose - mid, axis) / eye_dist)


def sharpness(aligned_bgr: np.ndarray) -> float:
    import cv2

    grey = cv2.cvtColor(aligned_bgr, cv2.COLOR_BGR2GRAY)
    # the central region only: the aligned crop's border is background or padding
    h, w = grey.shape
    centre = grey[h // 6 : h - h // 8, w // 6 : w - w // 6]
    return float(cv2.Laplacian(centre, cv2.CV_64F).var())


def assess(
    bbox: tuple[float, float, float, float],
    landmarks: np.ndarray,
    detector_score: float,
    aligned_bgr: np.ndarray,
    settings: QualitySettings,
) -> QualityReport:
    face_px = float(min(bbox[2], bbox[3]))
    sharp = sharpness(aligned_bgr)
    yaw = estimate_yaw(landmarks)
    flags = []
    if face_px < settings.min_face_px:
        flags.append(TOO_SMALL)
    if sharp < settings.min_sharpness:
        flags.append(BLURRED)
    if abs(yaw) > settings.max_abs_yaw:
        flags.append(PROFILE)
    if detector_score < settings.min_detector_score:
        flags.append(LOW_CONFIDENCE)
    size_q = np.clip((face_px - 16.0) / (112.0 - 16.0), 0.0, 1.0)
    sharp_q = np.clip(sharp / (4.0 * settings.min_sharpness), 0.0, 1.0)
    pose_q = np.clip(1.0 - abs(yaw) / (2.0 * settings.max_abs_yaw), 0.0, 1.0)
    conf_q = np.clip(detector_score, 0.0, 1.0)
    score = float((size_q * sharp_q * pose_q * conf_q) ** 0.25)
    return QualityReport(
        score=round(score, 4),
        face_px=face_px,
        sharpness=round(sharp, 2),
        yaw=round(yaw, 4),
        detector_score=float(detector_score),
        flags=tuple(flags),
    )
