"""The bootstrap: the first administrators of an empty catalog.

Nobody can act before there is a user, so the first users are made by the operator of the
machine that holds the data (``facesearch init``), not by a user: one or more administrators,
in one transaction, refused as soon as any user exists. Two of them let the rules that need a
second administrator's approval work from the start.

This is the only way to make a user without an acting administrator; it does not go through
:func:`facesearch.govern.users.add_user` and its rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.errors import RefusedError
from facesearch.govern.schema import User
from facesearch.govern.unit import GovernanceCore
from facesearch.govern.users import (
    USERNAME_RE,
    Role,
    count_users,
    hash_password,
    roles_text,
)

ACTION = "user.add"


@dataclass(frozen=True)
class FirstAdministrator:
    """An administrator made by the bootstrap. ``password`` None: token-only (the command
    line always gives one)."""

    username: str
    password: str | None = None
    display_name: str = ""


def bootstrap_administrators(
    gov: GovernanceCore, actor: str, admins: Sequence[FirstAdministrator]
) -> list[str]:
    """Make ``admins`` the catalog's first users, all administrators, in one transaction
    logged as ``user.add`` entries (``"bootstrap": true``) by ``actor`` (the operator at the
    machine). Refused, and the refusal logged, if any user exists, if no administrator is
    named, if a name is invalid or given twice, or if a password is too short: then nobody is
    made. Returns the user names as stored."""
    names = [a.username.strip().lower() for a in admins]
    asked = {"users": names, "roles": [Role.ADMINISTRATOR.value]}

    def make(s: Session, audit: AuditLog) -> list[str]:
        if count_users(s) > 0:
            raise RefusedError(ACTION, "the catalog has users already: init makes the first only")
        if not admins:
            raise RefusedError(ACTION, "name at least one administrator")
        if len(set(names)) != len(names):
            raise RefusedError(ACTION, "each administrator needs a name of their own")
        for admin, name in zip(admins, names, strict=True):
            s.add(_user(admin, name))
        s.flush()
        for admin, name in zip(admins, names, strict=True):
            audit.record(
                actor,
                ACTION,
                {
                    "user": name,
                    "roles": [Role.ADMINISTRATOR.value],
                    "display_name": admin.display_name.strip(),
                    "password_set": admin.password is not None,
                    "bootstrap": True,
                },
            )
        return names

    return gov.run(actor, ACTION, asked, make)


def _user(admin: FirstAdministrator, name: str) -> User:
    if not USERNAME_RE.match(name):
        raise RefusedError(
            ACTION, f"invalid username {admin.username!r}: use a-z, 0-9, '.', '_' or '-' (max 64)"
        )
    pw_hash = None
    if admin.password is not None:
        try:
            pw_hash = hash_password(admin.password)
        except ValueError as exc:
            raise RefusedError(ACTION, f"{name}: {exc}") from None
    return User(
        username=name,
        display_name=admin.display_name.strip(),
        roles=roles_text({Role.ADMINISTRATOR}),
        password_hash=pw_hash,
        active=True,
    )
