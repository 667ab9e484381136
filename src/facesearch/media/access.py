"""Who may see a case's media, and the transaction every governed media act runs in.

Media of a case are for its assigned investigators and for supervisors; not for auditors or
administrators, who see the audit log but never the material. Every act of
:class:`~facesearch.media.acts.MediaService` is one governance unit of work: the act and its
audit entry commit together; a refusal is logged and raised as :class:`RefusedError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.cases import OPEN, active_assignment, require_case
from facesearch.govern.errors import RefusedError
from facesearch.govern.schema import Case, User
from facesearch.govern.users import Role, has_role, require_user
from facesearch.media.config import MediaSettings
from facesearch.store.blobs import FileBlobStore

if TYPE_CHECKING:
    from facesearch.govern import Governance
    from facesearch.search.gallery import Gallery

T = TypeVar("T")
MEDIA_BLOBS = "media-blobs"
DEFAULT_SET = "default"


class MediaAccess:
    """The state every group of media acts shares: governance, the gallery (its models and
    bands), the media settings, the media blob store (encrypted like the gallery's) and the
    gallery's cipher, which also seals the media faces' vectors (media/vectors.py)."""

    def __init__(
        self, governance: Governance, gallery: Gallery, settings: MediaSettings | None = None
    ) -> None:
        self.gov = governance
        self.gallery = gallery
        self.settings = settings or MediaSettings()
        self.cipher = gallery.cipher
        self.blobs = FileBlobStore(gallery.data_dir / MEDIA_BLOBS, cipher=gallery.blobs.cipher)

    def _media_case(
        self, s: Session, actor: str, number: str, action: str, *, write: bool = False
    ) -> tuple[User, Case]:
        """The case whose media ``actor`` may see: an investigator assigned to it, or a
        supervisor. ``write`` also needs the case to be open."""
        user = require_user(s, actor, action, {Role.INVESTIGATOR, Role.SUPERVISOR})
        case = require_case(s, number, action)
        if not has_role(user, Role.SUPERVISOR) and active_assignment(case, user) is None:
            raise RefusedError(
                action,
                f"user {user.username!r} is not assigned to case {case.number!r}: its media "
                "are for its investigators and supervisors",
            )
        if write and case.status != OPEN:
            raise RefusedError(action, f"case {case.number!r} is {case.status}, not open")
        return user, case

    def _run(
        self,
        actor: str,
        action: str,
        asked: Mapping[str, Any],
        fn: Callable[[Session, AuditLog], T],
    ) -> T:
        """``fn`` in one governance unit of work (the act and its audit entry commit together;
        a refusal is logged in a transaction of its own). The one call into governance's
        runner for every media act."""
        return self.gov.run(actor, action, asked, fn)
