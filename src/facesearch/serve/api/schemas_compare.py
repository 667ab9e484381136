"""Schemas of the probe pictures and the side-by-side comparison (routers/compare.py)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, model_validator

from facesearch.serve.api.schemas import Out

Point = tuple[float, float]
LANDMARKS = (
    "Five points (x, y): right eye, left eye, nose tip, right and left mouth corner "
    "(the subject's right and left)"
)


class FacePictureOut(Out):
    width: int
    height: int
    landmarks: list[Point] = Field(description=f"{LANDMARKS}, in this picture's pixels")


class ProbeGeometryOut(Out):
    """One probe of a search: the searched face found again, boxed, with its landmarks."""

    position: int
    count: int
    sha256: str
    label: str
    purged: bool = Field(description="retention deleted the stored copy: no pictures (410)")
    image_width: int | None = None
    image_height: int | None = None
    faces_found: int | None = Field(default=None, description="faces the detector finds")
    face: int | None = Field(
        default=None, description="the face searched (0 = largest); null: not found again"
    )
    bbox: tuple[float, float, float, float] | None = None
    landmarks: list[Point] = Field(default_factory=list, description=f"{LANDMARKS}, photo pixels")
    face_picture: FacePictureOut | None = None
    face_url: str | None = None
    image_url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_info(cls, data: Any, info: ValidationInfo) -> Any:
        """A :class:`facesearch.app.compare.ProbeInfo`, with the links to its pictures."""
        if isinstance(data, dict) or not info.context:
            return data
        e, g = data.entry, data.geometry
        out: dict[str, Any] = {
            "position": e.position,
            "count": e.count,
            "sha256": e.sha256,
            "label": e.label,
            "purged": e.purged,
        }
        if g is not None:
            base = f"/api/v1/searches/{info.context['search_id']}/probes/{e.position}"
            out |= {
                "image_width": g.image_width,
                "image_height": g.image_height,
                "faces_found": g.faces_found,
                "face": g.face,
                "bbox": g.bbox,
                "landmarks": g.landmarks,
                "face_picture": FacePictureOut.model_validate(g.picture),
                "face_url": f"{base}/face",
                "image_url": f"{base}/image",
            }
        return out


class ProbesGeometryOut(Out):
    search_id: int
    probes: list[ProbeGeometryOut]


class CandidateLandmarksOut(Out):
    face_id: int
    rank: int
    image_width: int
    image_height: int
    bbox: tuple[float, float, float, float]
    landmarks: list[Point] = Field(description=f"{LANDMARKS}, in the photo's pixels")
    crop: FacePictureOut = Field(description="the stored face crop (crop_url): its size, landmarks")


class CandidatesLandmarksOut(Out):
    search_id: int
    candidates: list[CandidateLandmarksOut]
