"""Who is acting, and the accounts that may act: sign-in, principals, users and API tokens."""

from __future__ import annotations

import difflib
import os
import pwd
import socket
from collections.abc import Sequence
from typing import Any, NoReturn

from sqlalchemy import select

from facesearch.app.context import AppContext
from facesearch.app.principal import AuthMethod, Principal
from facesearch.govern import changes as changes_mod
from facesearch.govern import users as users_mod
from facesearch.govern import wellbeing as wellbeing_mod
from facesearch.govern.actor import Actor
from facesearch.govern.changes import ChangeView
from facesearch.govern.errors import AuthenticationError, PolicyError, RefusedError
from facesearch.govern.policy import parse_policy
from facesearch.govern.profiles import policy_gaps
from facesearch.govern.schema import PolicyVersion
from facesearch.govern.users import PasswordChangeRequired, Role

__all__ = ["Accounts", "ChangeView", "PasswordChangeRequired"]

LOCAL_OPERATOR = "(local)"
"""The name of the operator at the data's machine (the local reads, the bootstrap)."""


def local_origin() -> str:
    """Where an act at the data's machine (the command line) comes from, for the audit log:
    the OS account and the host."""
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = "?"
    return f"cli uid={uid}({name})@{socket.gethostname()}"


class Accounts:
    """Principals (from a session, a token, a password or the CLI), users and tokens."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    # --- who is acting ----------------------------------------------------------------------

    def principal(
        self,
        username: str,
        via: AuthMethod,
        *,
        origin: str = "",
        token_id: int | None = None,
        session_epoch: int | None = None,
    ) -> Principal:
        """The principal of an active user (after their credentials were checked): ``via``
        how, ``origin`` from where (a client address, or the CLI's OS account and host),
        ``token_id`` which API token; every audit entry of the principal's acts records them.
        For a web session, ``session_epoch`` is the user's epoch when it began: a password
        change since (which raises the epoch) has ended it."""
        with self.ctx.governance.session() as s:
            user = users_mod.find_user(s, username)
            if user is None or not user.active:
                raise AuthenticationError(f"user {username!r} is unknown or disabled")
            if session_epoch is not None and session_epoch != (user.session_epoch or 0):
                raise AuthenticationError(
                    f"the password of {user.username!r} changed since this session began; "
                    "sign in again"
                )
            roles = frozenset(Role(r) for r in user.role_set)
            return Principal(user.username, roles, user.display_name or "", via, origin, token_id)

    def login(self, username: str, password: str, *, origin: str = "") -> Principal:
        """Check a password (argon2id); failures are logged and raise AuthenticationError."""
        gov = self.ctx.governance
        name = gov.authenticate_password(username, password)
        principal = self.principal(name, "password", origin=origin)
        gov.record(principal.username, "login", {"method": "password"})
        return principal

    def change_password(self, username: str, current: str, new: str) -> None:
        """A user changes their own password, proving who they are with the current one (no
        session needed: a user whose password was reset has none). A wrong user name or
        current password raises AuthenticationError (logged; as slow for an unknown user as
        for a known one); the user's web sessions end."""
        gov = self.ctx.governance
        try:
            name = gov.authenticate_password(username, current)
        except PasswordChangeRequired:
            name = username.strip().lower()  # the reason for coming here
        gov.set_password(name, name, new, current)

    def sign_in(self, username: str, password: str, *, origin: str = "") -> tuple[Principal, int]:
        """:meth:`login` for a web session: the principal, and the session epoch read
        *before* the password was checked (a password changed meanwhile ends the session)."""
        epoch = self.ctx.governance.session_epoch(username)
        principal = self.login(username, password, origin=origin)
        return principal, -1 if epoch is None else epoch

    def logout(self, principal: Principal) -> None:
        self.ctx.governance.record(principal.username, "logout", {"method": principal.via})

    def from_token(self, token: str, *, origin: str = "", log: bool = True) -> Principal:
        """The owner of a valid API token (checked and read in one transaction). A refused
        token is logged, unless ``log`` is False: the caller then logs it (rate-limited)."""
        user = self.ctx.governance.token_owner(token, log=log)
        roles = frozenset(Role(r) for r in user.roles)
        return Principal(user.username, roles, user.display_name, "token", origin, user.token_id)

    def for_cli(
        self, username: str | None, token: str | None = None, *, password: str | None = None
    ) -> Principal:
        """The command line's acting user, proven by a credential: an API token (the user is
        its owner; a ``username`` given too must be that owner) or ``username``'s password.
        A name alone is no identity: it is refused, and so is a wrong password, a bad token
        or a name that is not the token's, each refusal written to the audit log
        (``authenticate.refused``, with the name and where it came from: the OS account and
        host). The principal's acts record ``via`` "token" (with the token's id) or
        "password", and the same origin."""
        origin = local_origin()
        name = (username or "").strip().lower()
        gov = self.ctx.governance
        if token:
            principal = self.from_token(token, origin=origin)  # a bad token is logged, refused
            if name and name != principal.username:
                owner = str(principal.username)
                self.refuse_credential(name, f"the token belongs to {owner!r}, not {name!r}")
            return principal
        if name and password:
            # a wrong password costs one argon2 verification whoever is named, and is logged
            # with how and from where it was tried (the Actor's auth)
            checked = gov.authenticate_password(
                Actor(name, method="password", origin=origin), password
            )
            return self.principal(checked, "password", origin=origin)
        if not name:
            reason = "no credential: give --token, --token-file, or --as USER with a password"
        elif password is None:
            reason = (
                f"no credential for {name!r}: a user name alone is no identity; give the "
                "password (a terminal prompt, or --password-stdin) or an API token"
            )
        else:
            reason = f"no credential for {name!r}: the password given is empty"
        self.refuse_credential(name, reason)

    def refuse_credential(self, username: str | None, reason: str) -> NoReturn:
        """Refuse the command line's credential for ``username`` (None: no name given): the
        refusal is logged as ``authenticate.refused`` with the name and the origin (the OS
        account and host), and raised as :class:`AuthenticationError`."""
        name = (username or "").strip().lower() or "(none)"
        self.ctx.governance.log_refusal(name, "authenticate", reason, {"origin": local_origin()})
        raise AuthenticationError(reason)

    @staticmethod
    def local_operator() -> Principal:
        """The operator at the data's machine, for the reads in
        :data:`facesearch.app.context.LOCAL_READS`."""
        return Principal(LOCAL_OPERATOR, frozenset(), "", "local")

    def log_refusal(
        self, actor: str, action: str, reason: str, asked: dict[str, Any] | None = None
    ) -> None:
        """Log a refusal decided by an interface (no credentials, CSRF, rate limit)."""
        self.ctx.governance.log_refusal(actor, action, reason, asked)

    # --- users and tokens -------------------------------------------------------------------

    def list_users(self, who: Principal) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = self.ctx.governance.list_users(who.username)
        return users

    def add_user(
        self,
        who: Principal,
        username: str,
        roles: Sequence[str],
        password: str | None,
        display_name: str = "",
    ) -> dict[str, Any] | ChangeView:
        """The user added, or the pending change when a second administrator must approve
        (an administrator or supervisor)."""
        change = self.ctx.governance.add_user(who.username, username, roles, password, display_name)
        return change if change is not None else self.user(username)

    def set_password(
        self, who: Principal, username: str, password: str, current: str | None = None
    ) -> bool:
        """Your own password (``current`` needed), or another user's reset by an
        administrator (True: they must change it at next login)."""
        reset: bool = self.ctx.governance.set_password(who.username, username, password, current)
        return reset

    def update_user(
        self,
        who: Principal,
        username: str,
        *,
        roles: Sequence[str] | None = None,
        active: bool | None = None,
        password: str | None = None,
        current_password: str | None = None,
        display_name: str | None = None,
    ) -> dict[str, Any]:
        """Change display name, roles, state or password; the user as shown, with
        ``pending_changes``: the changes (granting administrator or supervisor, re-enabling)
        that wait for a second administrator."""
        gov = self.ctx.governance
        pending: list[ChangeView] = []
        if display_name is not None:
            gov.run(
                who.username,
                "user.rename",
                {"user": username},
                lambda s, a: users_mod.set_display_name(s, a, who.username, username, display_name),
            )
        if roles is not None:
            change = gov.set_roles(who.username, username, roles)
            pending += [change] if change else []
        if active is True:
            change = gov.enable_user(who.username, username)
            pending += [change] if change else []
        elif active is False:
            gov.disable_user(who.username, username)
        if password is not None:
            gov.set_password(who.username, username, password, current_password)
        if roles is None and active is None and password is None and display_name is None:
            self.ctx.require(who, "user.update", Role.ADMINISTRATOR)
        return {**self.user(username), "pending_changes": [c.as_dict() for c in pending]}

    # --- my account ---------------------------------------------------------------------------

    def change_own_password(self, who: Principal, current: str, new: str) -> int:
        """A signed-in user changes their own password (the current one proves it is them: a
        wrong one is refused and logged). Every session of theirs ends (the session epoch goes
        up); returns the new epoch, for the one session the caller starts again."""
        gov = self.ctx.governance
        gov.set_password(who.username, who.username, new, current)
        epoch: int | None = gov.session_epoch(who.username)
        return -1 if epoch is None else epoch

    def wellbeing(self, who: Principal) -> dict[str, Any]:
        """The user's wellbeing setting as applied (the policy may force the blur): read, not
        logged (it is their own)."""
        gov = self.ctx.governance
        with gov.session() as s:
            return wellbeing_mod.wellbeing_of(s, gov.policy, who.username).as_dict()

    def set_wellbeing(
        self, who: Principal, greyscale: bool, blur_outside_face: bool
    ) -> dict[str, Any]:
        """Change your own wellbeing setting (audited; turning the blur off is refused while
        the policy forces it)."""
        gov = self.ctx.governance
        gov.refresh_policy()
        found = gov.run(
            who.username,
            "user.wellbeing",
            {"greyscale": greyscale, "blur_outside_face": blur_outside_face},
            lambda s, a: wellbeing_mod.set_wellbeing(
                s, a, gov.policy, who.username, greyscale, blur_outside_face, gov.clock()
            ),
        )
        out: dict[str, Any] = found.as_dict()
        return out

    # --- putting a checked policy in force (two-person rule) --------------------------------

    def request_policy(self, who: Principal, text: str) -> ChangeView:
        """Ask to put a policy text in force (administrators): it is parsed whole first
        (:class:`PolicyError` lists every problem), then recorded as a pending change that a
        second administrator approves; on approval it is in force at once."""
        gov = self.ctx.governance
        self.ctx.require(who, "policy.request", Role.ADMINISTRATOR)
        policy = parse_policy(text, source=f"<asked for by {who.username}>")
        gaps = policy_gaps(policy)  # a profile turns its settings on: all of them, or none
        if gaps:
            raise PolicyError(
                policy.source,
                [(f"profile {policy.profile.name}: {g.rule}", g.todo) for g in gaps],
            )
        in_force = gov.refresh_policy()

        def fn(s: Any, a: Any) -> ChangeView:
            row = changes_mod.request_policy(
                s,
                a,
                who.username,
                policy.sha256,
                policy.text,
                policy.source,
                in_force.sha256,
                gov.clock(),
            )
            return ChangeView.of(row, changes_mod.waiting_message(s, row))

        view: ChangeView = gov.run(
            who.username, "policy.request", {"policy_sha256": policy.sha256}, fn
        )
        return view

    def policy_in_force(self, who: Principal) -> dict[str, Any]:
        """The policy in force: its hash, since when and by whom; and, when a policy waits
        for approval, its hash and a line diff against the one in force."""
        self.ctx.require(who, "policy.show")
        gov = self.ctx.governance
        policy = gov.refresh_policy()
        with gov.session() as s:
            row = s.execute(
                select(PolicyVersion)
                .where(PolicyVersion.sha256 == policy.sha256)
                .order_by(PolicyVersion.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            pending = changes_mod.pending_policy(s)
        diff = ""
        if pending is not None:
            diff = "".join(
                difflib.unified_diff(
                    policy.text.splitlines(keepends=True),
                    pending.text.splitlines(keepends=True),
                    f"in force ({policy.sha256[:12]})",
                    f"pending ({pending.sha256[:12]})",
                )
            )
        return {
            "sha256": policy.sha256,
            "source": policy.source,
            "since": row.activated_at if row is not None else None,
            "activated_by": row.activated_by if row is not None else None,
            "pending_change_id": pending.change_id if pending is not None else None,
            "pending_sha256": pending.sha256 if pending is not None else None,
            "diff": diff,
        }

    # --- pending changes (two-person rule) --------------------------------------------------

    def list_changes(self, who: Principal, status: str | None = "pending") -> list[ChangeView]:
        found: list[ChangeView] = self.ctx.governance.list_changes(who.username, status)
        return found

    def approve_change(self, who: Principal, change_id: int, note: str = "") -> ChangeView:
        view: ChangeView = self.ctx.governance.approve_change(who.username, change_id, note)
        return view

    def reject_change(self, who: Principal, change_id: int, note: str = "") -> ChangeView:
        view: ChangeView = self.ctx.governance.reject_change(who.username, change_id, note)
        return view

    def user(self, username: str) -> dict[str, Any]:
        """A user's account as shown (after the caller was allowed to see it)."""
        with self.ctx.governance.session() as s:
            u = users_mod.find_user(s, username)
            if u is None:
                raise RefusedError("user.view", f"unknown user {username!r}")
            return {
                "username": u.username,
                "display_name": u.display_name,
                "roles": sorted(u.role_set),
                "active": u.active,
                "created_at": u.created_at,
                "disabled_at": u.disabled_at,
                "must_change_password": bool(u.must_change_password),
            }

    def list_tokens(self, who: Principal, username: str | None = None) -> list[dict[str, Any]]:
        tokens: list[dict[str, Any]] = self.ctx.governance.list_tokens(who.username, username)
        return tokens

    def create_token(
        self, who: Principal, username: str | None, name: str, expires_days: int | None
    ) -> tuple[str, int]:
        token: tuple[str, int] = self.ctx.governance.create_token(
            who.username, username or who.username, name, expires_days
        )
        return token

    def revoke_token(self, who: Principal, token_id: int) -> None:
        self.ctx.governance.revoke_token(who.username, token_id)
