"""Who acted, and how they proved it: the acting user's name together with the credential
that authenticated them and where the act came from.

Every governance operation takes its actor as a ``str``. An :class:`Actor` *is* that name
(it compares, hashes and stores as the plain name) and also carries :attr:`Actor.auth`, which
the audit log writes into every entry it records for that actor (``details["auth"]``): the
method (``session``, ``token``, ``password``), the API token's id when a token was used, and
the origin (the client address over HTTP, the OS account and host at the command line).
A plain ``str`` actor (``system``, a refusal before anyone was identified) records none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

#: How a principal proved who they are: the one list the application and the API's schemas
#: use (``local``: the operator of the machine that holds the data, at the command line).
AuthMethod = Literal["session", "token", "password", "local"]
AUTH_METHODS: tuple[str, ...] = get_args(AuthMethod)


class Actor(str):
    """A user's name with its authentication (see the module docstring)."""

    auth: Mapping[str, Any]

    def __new__(
        cls, name: str, *, method: AuthMethod, origin: str = "", token_id: int | None = None
    ) -> Actor:
        self = super().__new__(cls, name)
        auth: dict[str, Any] = {"method": method}
        if token_id is not None:
            auth["token_id"] = int(token_id)
        if origin:
            auth["origin"] = origin[:200]
        self.auth = auth
        return self


def auth_of(actor: str) -> dict[str, Any] | None:
    """How ``actor`` was authenticated, if it is an :class:`Actor` (else None)."""
    auth = getattr(actor, "auth", None)
    return dict(auth) if auth else None
