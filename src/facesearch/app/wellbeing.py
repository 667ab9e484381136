"""A user's wellbeing setting, as the server applies it to the pictures it sends.

One per-user setting (greyscale pictures; blur outside the face) decides how a media set's
face pictures are drawn (media/wellbeing.py); a reveal of the picture as it is stays an
explicit, logged act whatever the setting. The server decides, from the principal: the client
only shows what it gets.

MERGE NOTE (helper "media"): the users' storage of the setting is helper "users"' work
(``GET /auth/me`` answers ``wellbeing: {"greyscale": bool, "blur_outside_face": bool}``). Until
it is connected here, :func:`user_wellbeing` reads a ``wellbeing`` attribute of the user row
when there is one (a dict with those keys) and otherwise answers the defaults (colour, blurred
outside the face: those the web app assumes). Connect this one function at merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facesearch.govern import Governance
from facesearch.govern.users import find_user


@dataclass(frozen=True)
class Wellbeing:
    """The defaults are those of ``GET /auth/me``: colour, blurred outside the face."""

    greyscale: bool = False
    blur_outside_face: bool = True

    @classmethod
    def of(cls, stored: Any) -> Wellbeing:
        """From a stored mapping; a key missing or not a bool keeps its default."""
        if not isinstance(stored, dict):
            return cls()
        grey, blur = stored.get("greyscale"), stored.get("blur_outside_face")
        return cls(
            greyscale=grey if isinstance(grey, bool) else cls.greyscale,
            blur_outside_face=blur if isinstance(blur, bool) else cls.blur_outside_face,
        )


#: The policy minimum the server keeps whatever a user chose (none today: a user may see
#: colour and an unblurred scene; the picture as it is on a reveal is logged as such).
POLICY_MINIMUM = Wellbeing(greyscale=False, blur_outside_face=False)


def user_wellbeing(governance: Governance, username: str) -> Wellbeing:
    """``username``'s wellbeing setting (the defaults when none is stored), with the policy
    minimum applied."""
    with governance.session() as s:
        user = find_user(s, username)
        stored = getattr(user, "wellbeing", None) if user is not None else None
    mine = Wellbeing.of(stored)
    return Wellbeing(
        greyscale=mine.greyscale or POLICY_MINIMUM.greyscale,
        blur_outside_face=mine.blur_outside_face or POLICY_MINIMUM.blur_outside_face,
    )
