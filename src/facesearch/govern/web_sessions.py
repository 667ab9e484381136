"""Web sessions and failed-login counters, as catalog rows shared by every server process.

The HTTP server's session store and login limiter (``serve/api/security.py``) keep their
state here rather than in one process's memory, so a restart keeps everyone signed in, and two
replicas on one catalog see the same sessions and count the same failed logins (the lockout
of an account holds on every replica).

``gov_web_sessions`` is keyed by the HMAC of the session id under the server's secret key,
computed by the caller: the raw id is never stored, and a database dump holds no usable
cookie. Times are epoch seconds. Expired sessions are purged whenever a session is created;
failed-login rows older than the window, and lockouts quiet for longer than the longest wait,
whenever a login fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Float, Integer, String, Table, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from facesearch.store.database import make_engine
from facesearch.store.schema import Base

__all__ = [
    "LoginCounters",
    "LoginFailureRow",
    "LoginLockoutRow",
    "LoginRules",
    "SessionRecord",
    "SessionRecords",
    "WebSessionRow",
    "in_memory",
]


class WebSessionRow(Base):
    """A signed-in browser session (keyed by the HMAC of its id; never the id itself)."""

    __tablename__ = "gov_web_sessions"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    last_seen_at: Mapped[float] = mapped_column(Float, index=True)
    address: Mapped[str] = mapped_column(String(100))
    epoch: Mapped[int] = mapped_column(Integer, default=0)  # the user's session epoch


class LoginFailureRow(Base):
    """One failed login, counted for its account (``user:NAME``) and its address."""

    __tablename__ = "gov_login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), index=True)
    at: Mapped[float] = mapped_column(Float, index=True)


class LoginLockoutRow(Base):
    """An account locked out until ``locked_until``; ``lockouts`` since its last success."""

    __tablename__ = "gov_login_lockouts"

    account: Mapped[str] = mapped_column(String(300), primary_key=True)
    locked_until: Mapped[float] = mapped_column(Float)
    lockouts: Mapped[int] = mapped_column(Integer, default=0)


TABLES: list[Table] = [
    WebSessionRow.__table__,  # type: ignore[list-item]
    LoginFailureRow.__table__,  # type: ignore[list-item]
    LoginLockoutRow.__table__,  # type: ignore[list-item]
]


def in_memory() -> sessionmaker[Session]:
    """Sessions of a private in-memory SQLite database holding these tables (a store or
    limiter made without a catalog: tests, a throwaway server)."""
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine, tables=TABLES)
    return sessionmaker(engine, expire_on_commit=False)


class _Rows:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s


@dataclass
class SessionRecord:
    key: str
    username: str
    csrf_token: str
    created_at: float
    last_seen_at: float
    address: str
    epoch: int = 0


class SessionRecords(_Rows):
    """The sessions table (every method one short transaction)."""

    def add(self, record: SessionRecord, *, idle_before: float, created_before: float) -> None:
        """Store a new session, first purging those idle since ``idle_before`` or created
        before ``created_before`` (timed out)."""
        with self._session() as s:
            s.execute(
                delete(WebSessionRow).where(
                    or_(
                        WebSessionRow.last_seen_at <= idle_before,
                        WebSessionRow.created_at <= created_before,
                    )
                )
            )
            s.add(WebSessionRow(**vars(record)))

    def get(self, key: str) -> SessionRecord | None:
        with self._session() as s:
            row = s.get(WebSessionRow, key)
            if row is None:
                return None
            return SessionRecord(
                row.key,
                row.username,
                row.csrf_token,
                row.created_at,
                row.last_seen_at,
                row.address,
                row.epoch,
            )

    def touch(self, key: str, at: float) -> None:
        with self._session() as s:
            s.execute(
                update(WebSessionRow)
                .where(WebSessionRow.key == key, WebSessionRow.last_seen_at < at)
                .values(last_seen_at=at)
            )

    def delete(self, key: str) -> bool:
        with self._session() as s:
            done = s.execute(delete(WebSessionRow).where(WebSessionRow.key == key))
            return bool(getattr(done, "rowcount", 0))

    def delete_user(self, username: str) -> int:
        with self._session() as s:
            done = s.execute(delete(WebSessionRow).where(WebSessionRow.username == username))
            return int(getattr(done, "rowcount", 0))

    def keys(self) -> list[str]:
        with self._session() as s:
            return list(s.scalars(select(WebSessionRow.key)))


@dataclass(frozen=True)
class LoginRules:
    """After ``limit`` failures of one account within ``window`` seconds the account waits
    ``window`` seconds, doubled at each further lockout before a success (at most
    ``max_wait``); one address may fail ``address_limit`` times per window."""

    limit: int = 5
    window: float = 60.0
    address_limit: int = 100
    max_wait: float = 3600.0


class LoginCounters(_Rows):
    """Failed logins per account and per address, and the accounts' lockouts. ``now`` is
    the caller's clock (epoch seconds when processes share the tables)."""

    def retry_after(self, account: str, address: str, now: float, rules: LoginRules) -> float:
        """Seconds until another attempt is allowed (0 or less: allowed now)."""
        with self._session() as s:
            until = s.scalar(
                select(LoginLockoutRow.locked_until).where(LoginLockoutRow.account == account)
            )
            wait = (until or 0.0) - now
            recent = s.execute(
                select(func.count(), func.min(LoginFailureRow.at)).where(
                    LoginFailureRow.key == address, LoginFailureRow.at > now - rules.window
                )
            ).one()
            if recent[0] >= rules.address_limit:
                wait = max(wait, rules.window - (now - float(recent[1])))
            return wait

    def failed(self, account: str, address: str, now: float, rules: LoginRules) -> None:
        """Count a failure of ``account`` from ``address``; lock the account out when it
        reached the limit."""
        for attempt in range(3):  # two processes creating one lockout row: the loser retries
            try:
                self._failed(account, address, now, rules)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    def _failed(self, account: str, address: str, now: float, rules: LoginRules) -> None:
        with self._session() as s:
            s.execute(delete(LoginFailureRow).where(LoginFailureRow.at <= now - rules.window))
            s.execute(
                delete(LoginLockoutRow).where(LoginLockoutRow.locked_until < now - rules.max_wait)
            )
            s.add_all([LoginFailureRow(key=account, at=now), LoginFailureRow(key=address, at=now)])
            s.flush()
            count = s.scalar(
                select(func.count()).where(
                    LoginFailureRow.key == account, LoginFailureRow.at > now - rules.window
                )
            )
            if (count or 0) < rules.limit:
                return
            row = s.get(LoginLockoutRow, account, with_for_update=True)
            lockouts = 0 if row is None else row.lockouts
            if row is not None and now - row.locked_until > rules.max_wait:
                lockouts = 0  # quiet for longer than the longest wait: start again
            until = now + min(rules.window * 2**lockouts, rules.max_wait)
            if row is None:
                s.add(LoginLockoutRow(account=account, locked_until=until, lockouts=1))
            else:
                row.locked_until, row.lockouts = until, lockouts + 1
            s.execute(delete(LoginFailureRow).where(LoginFailureRow.key == account))

    def succeeded(self, account: str) -> None:
        with self._session() as s:
            s.execute(delete(LoginFailureRow).where(LoginFailureRow.key == account))
            s.execute(delete(LoginLockoutRow).where(LoginLockoutRow.account == account))
