"""Request and response models of the gallery's recognizer: the migration's progress, the
switch and the switch back."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from facesearch.serve.api.schemas import In, Out, UtcDateTime


class MigrationOut(Out):
    """The latest model migration (``facesearch models migrate``)."""

    id: int
    target: str = Field(description="the recognizer it moves the gallery to")
    target_model_key: str
    source_model_key: str
    state: str = Field(description="running | interrupted | ready | switched | cancelled | failed")
    total: int = Field(description="faces to re-embed")
    done: int
    from_crop: int = Field(description="made from the stored crop (the original is gone)")
    failed: int
    errors: dict[str, str] = Field(description="face id -> why")
    started_by: str
    started_at: UtcDateTime | None
    updated_at: UtcDateTime | None
    finished_at: UtcDateTime | None
    switched_at: UtcDateTime | None
    switched_by: str | None

    @field_validator("errors", mode="before")
    @classmethod
    def _face_ids_as_text(cls, value: Any) -> Any:
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else value


class ModelsMigrationOut(Out):
    """The recognizer the gallery searches with, the previous one and the latest migration."""

    active: str
    active_model_key: str = Field(description="the key its vectors carry")
    switched_at: UtcDateTime | None
    switched_by: str | None
    previous: str | None
    previous_model_key: str | None
    can_switch_back: bool
    switch_back_blockers: list[str] = Field(description="why not, each with what to do")
    migration: MigrationOut | None
    can_switch: bool = Field(description="the latest migration covers every searchable face")
    switch_blockers: list[str]


class SwitchIn(In):
    target: str = Field(min_length=1, max_length=120, description="the recognizer's name")


class SwitchOut(Out):
    action: str = Field(description="models.switch or models.switch_back")
    source: str
    source_model_key: str
    target: str
    target_model_key: str
    moved: int = Field(description="faces now answering with the target's vectors")
    kept: int = Field(description="faces left on the old model (none searchable)")
    standing: dict[str, int] = Field(description="standing data moved, by kind")
    migration_id: int | None
    audit_seq: int
