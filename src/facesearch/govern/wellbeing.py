"""Each user's wellbeing setting: how the pictures of faces are shown to them (issue 23).

One setting per user, applied alike to search results, full images and media: ``greyscale``
(default off) and ``blur_outside_face`` (default on: only the face is sharp, revealed on
request, the reveal logged by the viewers). A user without a row has the defaults. The policy
may force the blur (``[wellbeing] force_blur = true``): then nobody may turn it off, and a
user's stored choice is overridden when read. Every change is audited (``user.wellbeing``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer
from sqlalchemy.orm import Mapped, Session, mapped_column

from facesearch.govern.audit import AuditLog
from facesearch.govern.errors import RefusedError
from facesearch.govern.policy import Policy
from facesearch.govern.users import require_user
from facesearch.store.schema import Base, utcnow

__all__ = ["UserSettings", "Wellbeing", "set_wellbeing", "wellbeing_of"]

ACTION = "user.wellbeing"


class UserSettings(Base):
    """A user's own settings (one row per user, made at their first change)."""

    __tablename__ = "gov_user_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("gov_users.id"), primary_key=True)
    greyscale: Mapped[bool] = mapped_column(Boolean, default=False)
    blur_outside_face: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the number of changes so far (0: never changed)
    changes: Mapped[int] = mapped_column(Integer, default=0)


@dataclass(frozen=True)
class Wellbeing:
    """A user's wellbeing setting as applied: ``blur_forced`` when the policy forces the
    blur (whatever the user chose)."""

    greyscale: bool = False
    blur_outside_face: bool = True
    blur_forced: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "greyscale": self.greyscale,
            "blur_outside_face": self.blur_outside_face,
            "blur_forced": self.blur_forced,
        }


def wellbeing_of(session: Session, policy: Policy, username: str) -> Wellbeing:
    """The setting applied to ``username`` (the defaults for a user who never chose)."""
    user = require_user(session, username, "user.wellbeing.show")
    row = session.get(UserSettings, user.id)
    forced = policy.wellbeing.force_blur
    if row is None:
        return Wellbeing(blur_forced=forced)
    return Wellbeing(bool(row.greyscale), bool(row.blur_outside_face) or forced, forced)


def set_wellbeing(
    session: Session,
    audit: AuditLog,
    policy: Policy,
    actor: str,
    greyscale: bool,
    blur_outside_face: bool,
    now: datetime,
) -> Wellbeing:
    """Change the acting user's own setting (nobody changes another's). Turning the blur off
    is refused while the policy forces it."""
    user = require_user(session, actor, ACTION)
    if not blur_outside_face and policy.wellbeing.force_blur:
        raise RefusedError(
            ACTION,
            "the policy in force ([wellbeing] force_blur) keeps the pictures blurred outside "
            "the face: the blur cannot be turned off",
        )
    row = session.get(UserSettings, user.id)
    before = (
        Wellbeing() if row is None else Wellbeing(bool(row.greyscale), bool(row.blur_outside_face))
    )
    if row is None:
        row = UserSettings(user_id=user.id, changes=0)
        session.add(row)
    row.greyscale = greyscale
    row.blur_outside_face = blur_outside_face
    row.updated_at = now
    row.changes = (row.changes or 0) + 1
    audit.record(
        actor,
        ACTION,
        {
            "user": user.username,
            "from": {"greyscale": before.greyscale, "blur_outside_face": before.blur_outside_face},
            "to": {"greyscale": greyscale, "blur_outside_face": blur_outside_face},
        },
    )
    return Wellbeing(greyscale, blur_outside_face, policy.wellbeing.force_blur)
