"""Users, roles, passwords (argon2id) and API tokens.

Roles:

* ``administrator`` - manages users and tokens, runs retention purges and removals.
* ``investigator`` - opens cases, searches and reviews in cases assigned to them.
* ``supervisor`` - approves or rejects cases (never their own), assigns investigators,
  closes cases, reads case reports.
* ``auditor`` - reads everything needed for oversight (audit verify/report, case reports);
  changes nothing.

A user may hold several roles, but a case is never approved by the user who requested it.

Separation of duties (:mod:`.changes`): granting ``administrator`` or ``supervisor`` (adding
such a user or changing roles) and re-enabling a disabled user are pending changes that a
second administrator must approve; only the very first user (the bootstrap administrator) is
exempt. A user changes their own password by giving the current one; an administrator setting
another user's password resets it, and that user must change it before doing anything else.
Every password change raises the user's ``session_epoch``, which ends their other web
sessions. Disabling a user revokes all their tokens for good.

API tokens are ``fst_`` + 43 random URL-safe characters (256 bits). Only their SHA-256 is
stored (a fast hash is right for a random secret of that size; passwords get argon2id). A
token is shown once, at creation. Revoked or expired tokens, and tokens of disabled users,
are refused.

The functions here work inside a caller's session and raise :class:`RefusedError`; the
:class:`~facesearch.govern.governance.Governance` facade commits, and logs refusals.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facesearch.govern import changes
from facesearch.govern.audit import AuditLog, as_utc
from facesearch.govern.errors import AuthenticationError, RefusedError
from facesearch.govern.schema import PendingChange, Token, User


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    INVESTIGATOR = "investigator"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"


# roles a second administrator must approve before a user gets them
PRIVILEGED = frozenset({Role.ADMINISTRATOR, Role.SUPERVISOR})
# what a user whose password was reset may still do
PASSWORD_CHANGE_ACTIONS = frozenset({"user.passwd"})
PASSWORD_MIN_LENGTH = 12
TOKEN_PREFIX = "fst_"
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)


class PasswordChangeRequired(AuthenticationError):
    """The password is right, but an administrator reset it: it must be changed (with the
    current one) before the user may do anything else."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


# What an unknown user's (or a password-less user's) password is checked against, so that a
# failed login costs one argon2 verification whoever is named (no user enumeration by timing).
# Built with the hasher's own parameters and random salt and digest (no password has it, and
# building it costs nothing, unlike hashing one).
_DUMMY_HASH = (
    f"$argon2id$v=19$m={_hasher.memory_cost},t={_hasher.time_cost},p={_hasher.parallelism}"
    f"${_b64(secrets.token_bytes(_hasher.salt_len))}${_b64(secrets.token_bytes(_hasher.hash_len))}"
)


def parse_roles(roles: Iterable[str | Role]) -> frozenset[Role]:
    out: set[Role] = set()
    for r in roles:
        name = str(r).strip().lower()
        if not name:
            continue
        try:
            out.add(Role(name))
        except ValueError:
            valid = ", ".join(x.value for x in Role)
            raise ValueError(f"unknown role {name!r}; roles are {valid}") from None
    if not out:
        raise ValueError("a user needs at least one role")
    return frozenset(out)


def roles_text(roles: Iterable[Role]) -> str:
    return ",".join(sorted(r.value for r in roles))


def hash_password(password: str) -> str:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise ValueError(f"a password needs at least {PASSWORD_MIN_LENGTH} characters")
    return _hasher.hash(password)


def _burn_verification(password: str) -> None:
    """As long as checking a real password, for a user who has none (or does not exist)."""
    with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
        _hasher.verify(_DUMMY_HASH, password)


def check_password(user: User, password: str) -> bool:
    """True if ``password`` is the user's; rehashes in place if the parameters changed. A user
    without a password costs the same argon2 verification (and is refused)."""
    if not user.password_hash:
        _burn_verification(password)
        return False
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return True


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def find_user(session: Session, username: str) -> User | None:
    return session.execute(
        select(User).where(User.username == username.strip().lower())
    ).scalar_one_or_none()


def count_users(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(User)).scalar_one())


def require_user(
    session: Session, username: str, action: str, roles: Iterable[Role] | None = None
) -> User:
    """The active user ``username``, holding one of ``roles`` (any role when None)."""
    user = find_user(session, username) if username else None
    if user is None:
        raise RefusedError(action, f"unknown user {username!r}")
    if not user.active:
        raise RefusedError(action, f"user {user.username!r} is disabled")
    if user.must_change_password and action not in PASSWORD_CHANGE_ACTIONS:
        raise RefusedError(
            action,
            f"user {user.username!r} must change their password first (an administrator "
            "reset it): give the current password and a new one",
        )
    wanted = frozenset(roles or ())
    if wanted and not (user.role_set & {r.value for r in wanted}):
        need = " or ".join(sorted(r.value for r in wanted))
        have = ", ".join(sorted(user.role_set)) or "none"
        raise RefusedError(
            action, f"user {user.username!r} lacks the role needed ({need}); has: {have}"
        )
    return user


def has_role(user: User, role: Role) -> bool:
    return role.value in user.role_set


def add_user(
    session: Session,
    audit: AuditLog,
    actor: str,
    username: str,
    roles: Iterable[str | Role],
    password: str | None,
    display_name: str = "",
    now: datetime | None = None,
) -> User | PendingChange:
    """Add a user. The very first user needs no actor and must be an administrator. A user
    with the administrator or supervisor role is a pending change (returned) until a second
    administrator approves it; other users are added at once (returned)."""
    action = "user.add"
    bootstrap = count_users(session) == 0
    role_set = roles_or_refuse(action, roles)
    if bootstrap:
        if Role.ADMINISTRATOR not in role_set:
            raise RefusedError(action, "the first user must be an administrator")
    else:
        require_user(session, actor, action, {Role.ADMINISTRATOR})
    name = username.strip().lower()
    if not USERNAME_RE.match(name):
        raise RefusedError(
            action, f"invalid username {username!r}: use a-z, 0-9, '.', '_' or '-' (max 64)"
        )
    if find_user(session, name) is not None:
        raise RefusedError(action, f"user {name!r} already exists")
    waiting = changes.pending_for(session, "user.add", name)
    if waiting is not None:
        raise RefusedError(action, f"change {waiting.id} already asks to add {name!r}")
    pw_hash = None
    if password is not None:
        try:
            pw_hash = hash_password(password)
        except ValueError as exc:
            raise RefusedError(action, str(exc)) from None
    if not bootstrap and role_set & PRIVILEGED:
        if now is None:
            raise RefusedError(action, "a pending change needs the time")
        return changes.request(
            session,
            audit,
            actor,
            "user.add",
            name,
            {
                "roles": sorted(r.value for r in role_set),
                "display_name": display_name.strip(),
                "password_hash": pw_hash,
            },
            f"add user {name} ({roles_text(role_set)})",
            now,
            {"user": name, "roles": sorted(r.value for r in role_set)},
        )
    return insert_user(
        session, audit, actor, name, role_set, pw_hash, display_name, now, bootstrap=bootstrap
    )


def insert_user(
    session: Session,
    audit: AuditLog,
    actor: str,
    name: str,
    role_set: frozenset[Role],
    pw_hash: str | None,
    display_name: str,
    now: datetime | None,
    *,
    bootstrap: bool = False,
    change_id: int | None = None,
) -> User:
    user = User(
        username=name,
        display_name=display_name.strip(),
        roles=roles_text(role_set),
        password_hash=pw_hash,
        active=True,
    )
    if now is not None:
        user.created_at = now
    session.add(user)
    session.flush()
    details: dict[str, object] = {
        "user": name,
        "roles": sorted(r.value for r in role_set),
        "display_name": user.display_name,
        "password_set": pw_hash is not None,
        "bootstrap": bootstrap,
    }
    if change_id is not None:
        details["change_id"] = change_id
    audit.record(actor, "user.add", details)
    return user


def roles_or_refuse(action: str, roles: Iterable[str | Role]) -> frozenset[Role]:
    try:
        return parse_roles(roles)
    except ValueError as exc:
        raise RefusedError(action, str(exc)) from None


def set_password(
    session: Session,
    audit: AuditLog,
    actor: str,
    username: str,
    password: str,
    current: str | None = None,
) -> bool:
    """Users change their own password by giving the ``current`` one (a wrong or missing one
    is refused); an administrator setting another user's password resets it, and that user
    must change it at their next login. Either way the user's other web sessions end (their
    ``session_epoch`` goes up). Returns True for a reset."""
    action = "user.passwd"
    acting = require_user(session, actor, action)
    target = target_user(session, action, username)
    reset = acting.id != target.id
    if reset and not has_role(acting, Role.ADMINISTRATOR):
        raise RefusedError(action, "only an administrator may set another user's password")
    if not reset:
        if not current:
            raise RefusedError(action, "changing your own password needs the current one")
        if not check_password(target, current):
            raise RefusedError(action, "the current password is wrong")
        if current == password:
            raise RefusedError(action, "the new password must differ from the current one")
    try:
        target.password_hash = hash_password(password)
    except ValueError as exc:
        raise RefusedError(action, str(exc)) from None
    target.must_change_password = reset
    target.session_epoch = (target.session_epoch or 0) + 1
    audit.record(
        actor,
        "user.passwd.reset" if reset else action,
        {"user": target.username, "must_change": reset, "other_sessions_ended": True},
    )
    return reset


def set_active(
    session: Session, audit: AuditLog, actor: str, username: str, active: bool, now: datetime
) -> PendingChange | None:
    """Disable a user (at once: every token of theirs is revoked for good and their sessions
    end) or ask to re-enable one (a pending change a second administrator approves)."""
    action = "user.enable" if active else "user.disable"
    acting = require_user(session, actor, action, {Role.ADMINISTRATOR})
    target = target_user(session, action, username)
    if not active and acting.id == target.id:
        raise RefusedError(action, "administrators cannot disable themselves")
    if active:
        if target.active:
            raise RefusedError(action, f"user {target.username!r} is not disabled")
        return changes.request(
            session,
            audit,
            actor,
            "user.enable",
            target.username,
            {},
            f"re-enable user {target.username}",
            now,
            {"user": target.username},
        )
    target.active = False
    target.disabled_at = now
    target.session_epoch = (target.session_epoch or 0) + 1
    revoked = []
    for token in session.execute(
        select(Token).where(Token.user_id == target.id, Token.revoked_at.is_(None))
    ).scalars():
        token.revoked_at = now
        token.revoked_by = acting.username
        revoked.append(token.id)
    audit.record(actor, action, {"user": target.username, "tokens_revoked": revoked})
    return None


def set_roles(
    session: Session,
    audit: AuditLog,
    actor: str,
    username: str,
    roles: Iterable[str | Role],
    now: datetime,
) -> PendingChange | None:
    """Change a user's roles: at once when no administrator or supervisor role is added,
    else a pending change a second administrator approves."""
    action = "user.roles"
    require_user(session, actor, action, {Role.ADMINISTRATOR})
    target = target_user(session, action, username)
    role_set = roles_or_refuse(action, roles)
    old = sorted(target.role_set)
    new = sorted(r.value for r in role_set)
    granted = sorted(r.value for r in role_set & PRIVILEGED if r.value not in target.role_set)
    if granted:
        return changes.request(
            session,
            audit,
            actor,
            "user.roles",
            target.username,
            {"from": old, "to": new},
            f"roles of {target.username}: {','.join(old) or '-'} -> {','.join(new)}",
            now,
            {"user": target.username, "from": old, "to": new, "grants": granted},
        )
    target.roles = roles_text(role_set)
    audit.record(actor, action, {"user": target.username, "from": old, "to": new})
    return None


def set_display_name(
    session: Session, audit: AuditLog, actor: str, username: str, display_name: str
) -> None:
    """An administrator changes a user's display name (at once: it grants nothing)."""
    action = "user.rename"
    require_user(session, actor, action, {Role.ADMINISTRATOR})
    target = target_user(session, action, username)
    new = display_name.strip()
    if len(new) > 200:
        raise RefusedError(action, "a display name has at most 200 characters")
    old = target.display_name or ""
    if new == old:
        return
    target.display_name = new
    audit.record(actor, action, {"user": target.username, "from": old, "to": new})


def target_user(session: Session, action: str, username: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise RefusedError(action, f"unknown user {username!r}")
    return user


def authenticate_password(session: Session, username: str, password: str) -> User:
    user = find_user(session, username)
    if user is None:
        _burn_verification(password)  # as slow as a known user's wrong password
        raise AuthenticationError("wrong username or password")
    if not check_password(user, password):
        raise AuthenticationError("wrong username or password")
    if not user.active:
        raise AuthenticationError(f"user {user.username!r} is disabled")
    if user.must_change_password:
        raise PasswordChangeRequired(
            f"the password of {user.username!r} was reset by an administrator: change it "
            "(with the current one) before signing in"
        )
    return user


# --- API tokens ---------------------------------------------------------------------------


def create_token(
    session: Session,
    audit: AuditLog,
    actor: str,
    username: str,
    name: str,
    now: datetime,
    expires_days: int | None = None,
) -> tuple[str, Token]:
    """Create a token for ``username``, who must be the actor: a token is created only by
    its owner (an administrator may list and revoke others' tokens, never mint one that
    would act as them).

    Returns ``(token, row)``; the token itself is never stored and cannot be shown again.
    """
    action = "token.create"
    acting = require_user(session, actor, action)
    target = target_user(session, action, username)
    if acting.id != target.id:
        raise RefusedError(action, "a token is created only by its owner")
    if not target.active:
        raise RefusedError(action, f"user {target.username!r} is disabled")
    if expires_days is not None and expires_days < 1:
        raise RefusedError(action, "expires_days must be at least 1")
    token = new_token()
    row = Token(
        user_id=target.id,
        name=name.strip(),
        prefix=token[:12],
        token_hash=token_digest(token),
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(row)
    session.flush()
    audit.record(
        actor,
        action,
        {
            "token_id": row.id,
            "prefix": row.prefix,
            "user": target.username,
            "name": row.name,
            "expires_at": row.expires_at,
        },
    )
    return token, row


def list_tokens(session: Session, actor: str, username: str | None = None) -> list[Token]:
    """Tokens of ``username`` (or all, for administrators). Never includes the secrets."""
    action = "token.list"
    acting = require_user(session, actor, action)
    is_admin = has_role(acting, Role.ADMINISTRATOR)
    q = select(Token).join(User).order_by(Token.id)
    if username is not None:
        target = target_user(session, action, username)
        if target.id != acting.id and not is_admin:
            raise RefusedError(action, "only an administrator may list another user's tokens")
        q = q.where(Token.user_id == target.id)
    elif not is_admin:
        q = q.where(Token.user_id == acting.id)
    return list(session.execute(q).scalars())


def revoke_token(
    session: Session, audit: AuditLog, actor: str, token_id: int, now: datetime
) -> Token:
    action = "token.revoke"
    acting = require_user(session, actor, action)
    row = session.get(Token, token_id)
    if row is None:
        raise RefusedError(action, f"no token with id {token_id}")
    if row.user_id != acting.id and not has_role(acting, Role.ADMINISTRATOR):
        raise RefusedError(action, "only an administrator may revoke another user's token")
    if row.revoked_at is None:
        row.revoked_at = now
        row.revoked_by = acting.username
    audit.record(
        actor, action, {"token_id": row.id, "prefix": row.prefix, "user": row.user.username}
    )
    return row


LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class UserInfo:
    """A user's name, roles and display name, read out of a session."""

    username: str
    roles: frozenset[str]
    display_name: str
    # the id of the API token the user was authenticated with, if any
    token_id: int | None = None

    @classmethod
    def of(cls, user: User, token_id: int | None = None) -> UserInfo:
        return cls(user.username, user.role_set, user.display_name or "", token_id)


def authenticate_token(session: Session, token: str, now: datetime) -> User:
    """The user a token belongs to; :class:`AuthenticationError` if it is not valid now."""
    return token_row(session, token, now).user


def token_row(session: Session, token: str, now: datetime) -> Token:
    """The valid token row of ``token``; :class:`AuthenticationError` if it is not valid now."""
    if not token or not token.startswith(TOKEN_PREFIX):
        raise AuthenticationError("not a facesearch API token")
    digest = token_digest(token)
    row = session.execute(select(Token).where(Token.token_hash == digest)).scalar_one_or_none()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise AuthenticationError(f"unknown token {token[:12]}...")
    if row.revoked_at is not None:
        raise AuthenticationError(f"token {row.prefix}... was revoked")
    if row.expires_at is not None and as_utc(row.expires_at) <= as_utc(now):
        raise AuthenticationError(f"token {row.prefix}... expired")
    if not row.user.active:
        raise AuthenticationError(f"user {row.user.username!r} is disabled")
    last = row.last_used_at
    if last is None or as_utc(now) - as_utc(last) >= LAST_USED_RESOLUTION:
        row.last_used_at = now  # to the minute: a busy client does not write on every call
    return row
