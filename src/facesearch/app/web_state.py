"""The web server's state that outlives a process: browser sessions and failed-login
counters, kept in the catalog (``govern/web_sessions.py``) so that a restart keeps everyone
signed in and every replica on the catalog shares the sessions and the lockouts. The HTTP
layer (``serve/api/security.py``) reaches them through :attr:`Service.web_state`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from facesearch.govern.web_sessions import (
    LoginCounters,
    LoginRules,
    SessionRecord,
    SessionRecords,
    in_memory,
)

__all__ = ["LoginCounters", "LoginRules", "SessionRecord", "SessionRecords", "WebState"]


@dataclass(frozen=True)
class WebState:
    sessions: SessionRecords
    logins: LoginCounters

    @classmethod
    def of_catalog(cls, engine: Engine) -> WebState:
        """The state in the catalog behind ``engine`` (shared with every other process)."""
        sessions = sessionmaker(engine, expire_on_commit=False)
        return cls(SessionRecords(sessions), LoginCounters(sessions))

    @classmethod
    def private(cls) -> WebState:
        """State of this process alone, in memory (a store or limiter made without a
        service: tests)."""
        sessions = in_memory()
        return cls(SessionRecords(sessions), LoginCounters(sessions))
