"""Response models of the recognizers (``GET /models``): shipped ones and those an agency added
with a model card (docs/models.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from facesearch.serve.api.schemas import Out


class ModelOut(Out):
    name: str
    version: str
    licence: str
    source: Literal["store", "package"] = Field(
        description="store: added by the agency (facesearch models add); package: shipped"
    )
    key: str = Field(description="the key its vectors carry: name@first 12 hex of the SHA-256")
    sha256: str
    embedding_size: int | None
    input_size: tuple[int, int]
    runtime: str
    active: bool = Field(description="the recognizer the gallery searches with")
    calibrated: bool = Field(description="has its own bands (uncalibrated: not switchable)")
    thresholds: dict[str, float] = Field(description="its bands (match, strong, ...)")
    fusion: dict[str, Any] | None = Field(description="the score fusion its calibration records")
    description: str
    added_at: str
    added_by: str
    smoke_summary: str = Field(description="passed/FAILED, margin and ms per face, in a line")
    problem: str = Field(description="why a stored model cannot be read ('' when it can)")


class ModelDetailOut(ModelOut):
    smoke: dict[str, Any] = Field(description="what the smoke test measured when it was added")
    card: dict[str, Any] = Field(description="the model card as stored (empty when shipped)")
