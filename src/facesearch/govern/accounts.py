"""The governed operations on users, tokens and pending changes (the two-person rule), as a
part of the :class:`~facesearch.govern.governance.Governance` facade.

Each method is one transaction (:meth:`GovernanceCore.run`); the rules are in :mod:`.users`
and :mod:`.changes`. Acts that need a second administrator return the pending change
(:class:`~facesearch.govern.changes.ChangeView`, its ``message`` saying who must approve);
acts done at once return None.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern import changes, user_changes, users
from facesearch.govern.audit import AuditLog
from facesearch.govern.changes import ChangeView
from facesearch.govern.errors import AuthenticationError
from facesearch.govern.schema import PendingChange, Token
from facesearch.govern.unit import GovernanceCore
from facesearch.govern.users import Role


def _pending_view(s: Session, found: object) -> ChangeView | None:
    if isinstance(found, PendingChange):
        return ChangeView.of(found, changes.waiting_message(s, found))
    return None


class AccountGovernance(GovernanceCore):
    """Users, passwords, tokens and pending changes."""

    def add_user(
        self,
        actor: str,
        username: str,
        roles: Iterable[str | Role],
        password: str | None = None,
        display_name: str = "",
    ) -> ChangeView | None:
        """Add a user; an administrator or supervisor is a pending change (returned)."""
        roles = list(roles)
        return self.run(
            actor,
            "user.add",
            {"user": username, "roles": [str(r) for r in roles]},
            lambda s, a: _pending_view(
                s,
                users.add_user(s, a, actor, username, roles, password, display_name, self.clock()),
            ),
        )

    def set_password(
        self, actor: str, username: str, password: str, current: str | None = None
    ) -> bool:
        """Change your own password (``current`` needed) or reset another user's (an
        administrator; they must change it at next login). Returns True for a reset."""
        return self.run(
            actor,
            "user.passwd",
            {"user": username},
            lambda s, a: users.set_password(s, a, actor, username, password, current),
        )

    def session_epoch(self, username: str) -> int | None:
        """The user's session epoch (web sessions made under an older one have ended), or
        None for an unknown or disabled user."""
        with self.session() as s:
            user = users.find_user(s, username)
            return None if user is None or not user.active else int(user.session_epoch or 0)

    def disable_user(self, actor: str, username: str) -> None:
        self.run(
            actor,
            "user.disable",
            {"user": username},
            lambda s, a: users.set_active(s, a, actor, username, False, self.clock()),
        )

    def enable_user(self, actor: str, username: str) -> ChangeView | None:
        """Ask to re-enable a disabled user: a pending change (returned)."""
        return self.run(
            actor,
            "user.enable",
            {"user": username},
            lambda s, a: _pending_view(
                s, users.set_active(s, a, actor, username, True, self.clock())
            ),
        )

    def set_roles(
        self, actor: str, username: str, roles: Iterable[str | Role]
    ) -> ChangeView | None:
        """Change roles; granting administrator or supervisor is a pending change."""
        roles = list(roles)
        return self.run(
            actor,
            "user.roles",
            {"user": username, "roles": [str(r) for r in roles]},
            lambda s, a: _pending_view(
                s, users.set_roles(s, a, actor, username, roles, self.clock())
            ),
        )

    def list_users(self, actor: str) -> list[dict[str, Any]]:
        def fn(s: Session, audit: AuditLog) -> list[dict[str, Any]]:
            users.require_user(s, actor, "user.list", {Role.ADMINISTRATOR, Role.AUDITOR})
            rows = s.execute(select(users.User).order_by(users.User.username)).scalars()
            out = [
                {
                    "username": u.username,
                    "display_name": u.display_name,
                    "roles": sorted(u.role_set),
                    "active": u.active,
                    "created_at": u.created_at,
                    "disabled_at": u.disabled_at,
                    "must_change_password": bool(u.must_change_password),
                }
                for u in rows
            ]
            audit.record(actor, "user.list", {"count": len(out)})
            return out

        return self.run(actor, "user.list", {}, fn)

    # --- pending changes (two-person rule) ----------------------------------------------------

    def list_changes(self, actor: str, status: str | None = "pending") -> list[ChangeView]:
        """Pending changes (``status=None``: all), for administrators."""
        return self.run(
            actor,
            "change.list",
            {"status": status},
            lambda s, a: changes.list_changes(s, actor, status),
        )

    def approve_change(self, actor: str, change_id: int, note: str = "") -> ChangeView:
        """Approve a change another administrator asked for: it takes effect now."""
        appliers: dict[str, changes.Applier] = {
            "user.add": user_changes.apply_change,
            "user.roles": user_changes.apply_change,
            "user.enable": user_changes.apply_change,
            "policy": self._apply_policy_change,
        }
        view = self.run(
            actor,
            "change.approve",
            {"change_id": change_id},
            lambda s, a: changes.approve(s, a, actor, change_id, self.clock(), appliers, note),
        )
        if view.kind == "policy" and view.status == changes.APPROVED:
            self.refresh_policy()  # in force from now on (other processes: their next act)
        return view

    def reject_change(self, actor: str, change_id: int, note: str = "") -> ChangeView:
        return self.run(
            actor,
            "change.reject",
            {"change_id": change_id},
            lambda s, a: changes.reject(s, a, actor, change_id, self.clock(), note),
        )

    # --- tokens ---------------------------------------------------------------------------------

    def create_token(
        self, actor: str, username: str, name: str = "", expires_days: int | None = None
    ) -> tuple[str, int]:
        """Returns ``(token, token_id)``. Show the token once; it is not stored."""

        def fn(s: Session, a: AuditLog) -> tuple[str, int]:
            token, row = users.create_token(s, a, actor, username, name, self.clock(), expires_days)
            return token, row.id

        return self.run(actor, "token.create", {"user": username, "name": name}, fn)

    def list_tokens(self, actor: str, username: str | None = None) -> list[dict[str, Any]]:
        def fn(s: Session, a: AuditLog) -> list[dict[str, Any]]:
            rows: list[Token] = users.list_tokens(s, actor, username)
            return [
                {
                    "id": t.id,
                    "user": t.user.username,
                    "name": t.name,
                    "prefix": t.prefix,
                    "created_at": t.created_at,
                    "expires_at": t.expires_at,
                    "revoked_at": t.revoked_at,
                    "last_used_at": t.last_used_at,
                }
                for t in rows
            ]

        return self.run(actor, "token.list", {"user": username}, fn)

    def revoke_token(self, actor: str, token_id: int) -> None:
        self.run(
            actor,
            "token.revoke",
            {"token_id": token_id},
            lambda s, a: users.revoke_token(s, a, actor, token_id, self.clock()),
        )

    def authenticate_token(self, token: str) -> str:
        """The username a valid token belongs to; failures are logged and raise
        :class:`AuthenticationError`."""
        return self.token_owner(token).username

    def token_owner(self, token: str, *, log: bool = True) -> users.UserInfo:
        """The active user a valid token belongs to, with their roles, read in the one
        transaction that checks the token; failures raise :class:`AuthenticationError` and
        are logged unless ``log`` is False (the HTTP layer counts them itself, so that a flood
        of bad tokens cannot fill the log)."""
        try:
            with self.session() as s:
                row = users.token_row(s, token, self.clock())
                return users.UserInfo.of(row.user, row.id)
        except AuthenticationError as exc:
            if not log:
                raise
            self._log_refusal(
                "(token)", "authenticate", exc.reason, {"method": "token", "prefix": token[:12]}
            )
            raise

    def authenticate_password(self, username: str, password: str) -> str:
        """The user whose password this is; failures (and a password that must be changed:
        :class:`~facesearch.govern.users.PasswordChangeRequired`) are logged and raised."""
        try:
            with self.session() as s:
                return users.authenticate_password(s, username, password).username
        except AuthenticationError as exc:
            self._log_refusal(username, "authenticate", exc.reason, {"method": "password"})
            raise

    def resolve_actor(self, username: str | None, token: str | None = None) -> str:
        """The acting user for a CLI or API call: from the token when one is given (it must
        then match ``username`` if that is given too), else ``username``."""
        if token:
            owner = self.authenticate_token(token)
            if username and username.strip().lower() != owner:
                self._log_refusal(
                    username, "authenticate", f"token belongs to {owner!r}", {"method": "token"}
                )
                raise AuthenticationError(f"the token belongs to {owner!r}, not {username!r}")
            return owner
        if not username:
            raise AuthenticationError("no acting user: pass --as USER or set FACESEARCH_USER")
        return username.strip().lower()
