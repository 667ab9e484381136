"""Who is acting: an authenticated user with their roles."""

from __future__ import annotations

from dataclasses import dataclass

from facesearch.govern.actor import Actor, AuthMethod
from facesearch.govern.users import Role


@dataclass(frozen=True)
class Principal:
    """An authenticated, active user. Built only by :class:`facesearch.app.Service` after it
    checked a session, a token or a password (the command line too: a name alone is no
    identity there, see :meth:`facesearch.app.accounts.Accounts.for_cli`).

    ``via="local"`` is the operator of the machine that holds the data, for the CLI commands
    that never named a user (``stats``, ``runs``, ``policy show``): it holds no role, and the
    service lets it do only those reads (:data:`facesearch.app.service.LOCAL_READS`). The HTTP
    layer never makes one."""

    username: str
    roles: frozenset[Role]
    display_name: str = ""
    via: AuthMethod = "session"
    # where the act comes from: the client address over HTTP, "cli uid=N(name)@host" locally
    origin: str = ""
    # the API token's id when ``via == "token"``
    token_id: int | None = None

    def __post_init__(self) -> None:
        # The name handed to governance carries how it was authenticated, so every audit
        # entry of this principal's acts says so (facesearch.govern.actor).
        if self.via != "local":
            actor = Actor(
                self.username, method=self.via, origin=self.origin, token_id=self.token_id
            )
            object.__setattr__(self, "username", actor)

    def has(self, *roles: Role) -> bool:
        return bool(self.roles & set(roles))

    @property
    def is_admin(self) -> bool:
        return Role.ADMINISTRATOR in self.roles
