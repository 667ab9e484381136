"""Errors raised by governance. Every refusal says why, in words a user can act on."""

from __future__ import annotations

from facesearch.errors import ConfigError, FacesearchError


class GovernanceError(FacesearchError):
    """Base class for governance errors."""


class PolicyError(ConfigError):
    """The policy file is invalid. ``problems`` lists ``(field, message)`` pairs, all of them."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"invalid policy {source}:"]
        lines += [f"  field '{f}': {m}" if f else f"  {m}" for f, m in problems]
        super().__init__("\n".join(lines))

    @property
    def fields(self) -> list[str]:
        return [f for f, _ in self.problems]


class RefusedError(GovernanceError):
    """A governed operation was refused; the refusal has been written to the audit log."""

    def __init__(self, action: str, reason: str) -> None:
        self.action = action
        self.reason = reason
        super().__init__(f"{action} refused: {reason}")


class NotVisibleError(RefusedError):
    """A case (or what is in it) exists but the actor may not read it. ``reason`` (logged)
    says so; ``shown`` is what an interface tells the actor, the same words as for a case that
    does not exist, so case numbers cannot be probed."""

    def __init__(self, action: str, reason: str, shown: str) -> None:
        super().__init__(action, reason)
        self.shown = shown


class AuthenticationError(RefusedError):
    """Credentials (password or API token) were missing, wrong, revoked or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__("authenticate", reason)
