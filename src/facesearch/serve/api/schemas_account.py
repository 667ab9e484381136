"""Schemas of "my account" (the wellbeing setting, changing your own password) and of putting
a checked policy in force (issue 23): beside :mod:`.schemas`, in its style."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from facesearch.app.types import as_utc

UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]


class WellbeingIn(BaseModel):
    """Your own wellbeing setting, applied to results, full images and media alike."""

    model_config = {"extra": "forbid"}

    greyscale: bool
    blur_outside_face: bool


class WellbeingOut(BaseModel):
    greyscale: bool = False
    blur_outside_face: bool = True
    blur_forced: bool = Field(
        default=False,
        description="The policy in force keeps the blur on ([wellbeing] force_blur).",
    )


class OwnPasswordIn(BaseModel):
    """Changing your own password while signed in: the current one, the new one twice."""

    model_config = {"extra": "forbid"}

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)
    new_password_again: str = Field(min_length=1, max_length=1024)


class PolicyRequestIn(BaseModel):
    model_config = {"extra": "forbid"}

    text: str = Field(max_length=1_000_000)


class PolicyInForceOut(BaseModel):
    """The policy in force (its hash, since when, who put it in force) and, when one waits for
    approval, its change, hash and a unified diff against the one in force."""

    sha256: str
    source: str
    since: UtcDateTime | None
    activated_by: str | None
    pending_change_id: int | None
    pending_sha256: str | None
    diff: str
