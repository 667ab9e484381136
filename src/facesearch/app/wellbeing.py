"""A user's wellbeing setting, as the server applies it to the pictures it sends.

One per-user setting (greyscale pictures; blur outside the face), stored and checked against
the policy's ``[wellbeing]`` minimum in :mod:`facesearch.govern.wellbeing` (``GET /auth/me``
answers it, **My account** changes it), decides how a media set's face pictures are drawn
(media/wellbeing.py); a reveal of the picture as it is stays an explicit, logged act whatever
the setting. The server decides, from the principal: the client only shows what it gets.
"""

from __future__ import annotations

from facesearch.govern import Governance
from facesearch.govern.wellbeing import Wellbeing, wellbeing_of

__all__ = ["Wellbeing", "user_wellbeing"]


def user_wellbeing(governance: Governance, username: str) -> Wellbeing:
    """``username``'s wellbeing setting as applied (the defaults when none is stored; the blur
    kept on while the policy forces it)."""
    with governance.session() as s:
        return wellbeing_of(s, governance.policy, username)
