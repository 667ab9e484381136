"""Sessions, CSRF, login rate limits and security headers for the HTTP server.

Sessions are kept server-side, in the catalog (``gov_web_sessions``, through
:class:`facesearch.app.web_state.WebState`), so a restart keeps everyone signed in and every
replica on the catalog knows every session: the cookie holds a random id from
``secrets.token_urlsafe(32)`` signed with the server's secret key (``FACESEARCH_SECRET_KEY``,
HMAC-SHA256), and the table is keyed by the id's HMAC under that key, so a database dump or a
log line never shows a usable id, a cookie not signed with this server's key is refused
before any lookup, and changing the key ends every session. Each session has its own CSRF
token (synchronizer token pattern): state-changing requests made with the cookie must echo it
in the ``X-CSRF-Token`` header. A new id is issued at every login (no session fixation), logout
deletes the session, and the policy's idle and absolute timeouts end it (expired rows are
purged at each login). Each session keeps the user's session epoch from when it began: a
password change raises the epoch in the catalog, which ends every other session of that user
(checked on each request), and :meth:`SessionStore.delete_user` deletes their rows at once.

Failed logins are counted in the catalog too (``gov_login_failures``, ``gov_login_lockouts``):
an account locked out on one replica is locked out on all of them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facesearch.app.web_state import (
    LoginCounters,
    LoginRules,
    SessionRecord,
    SessionRecords,
    WebState,
)

SESSION_COOKIE = "facesearch_session"
CSRF_COOKIE = "facesearch_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: A session's last use is written when it moved by this much (not at every request): the
#: idle timeout is measured to within these seconds.
TOUCH_S = 5.0

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


def _mac(secret: bytes, purpose: bytes, value: str) -> str:
    return hmac.new(secret, purpose + value.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(secret: bytes, session_id: str) -> str:
    """The cookie value for ``session_id``: the id and its signature under ``secret``."""
    return f"{session_id}.{_mac(secret, b'session-cookie:', session_id)}"


def unsign(secret: bytes, cookie: str) -> str | None:
    """The session id of a cookie value signed with ``secret``, else None."""
    session_id, _, signature = cookie.rpartition(".")
    if not session_id or not hmac.compare_digest(
        signature.encode(), _mac(secret, b"session-cookie:", session_id).encode()
    ):
        return None
    return session_id


@dataclass
class WebSession:
    username: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    address: str
    epoch: int = 0  # the user's session epoch when the session began

    def expires_at(self, idle: timedelta, absolute: timedelta) -> datetime:
        return min(self.last_seen_at + idle, self.created_at + absolute)


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class SessionStore:
    """Server-side sessions with idle and absolute timeouts, in the table ``records`` gives
    (a callable is asked at each use: the server's service is opened after the store is
    made); none: a table of this store alone, in memory. Thread-safe: each call is one
    short transaction."""

    def __init__(
        self,
        idle: timedelta,
        absolute: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        secret: str = "",
        records: SessionRecords | Callable[[], SessionRecords] | None = None,
    ) -> None:
        self.secret = secret.encode("utf-8")
        self.idle = idle
        self.absolute = absolute
        self.clock = clock
        self._records = records if records is not None else WebState.private().sessions

    @property
    def records(self) -> SessionRecords:
        records = self._records
        return records if isinstance(records, SessionRecords) else records()

    def _digest(self, cookie: str) -> str | None:
        """The table key of a signed cookie value (None: not signed with this server's key)."""
        session_id = unsign(self.secret, cookie)
        return None if session_id is None else _mac(self.secret, b"session-key:", session_id)

    def create(self, username: str, address: str, epoch: int = 0) -> tuple[str, WebSession]:
        """A new session (and a new id, never a client-chosen one) for ``username``, under
        their session ``epoch``; returns the signed cookie value and the session."""
        session_id = sign(self.secret, secrets.token_urlsafe(32))
        now = self.clock().timestamp()
        record = SessionRecord(
            str(self._digest(session_id)),
            username,
            secrets.token_urlsafe(32),
            now,
            now,
            address[:100],
            epoch,
        )
        self.records.add(
            record,
            idle_before=now - self.idle.total_seconds(),
            created_before=now - self.absolute.total_seconds(),
        )
        return session_id, self._session(record)

    @staticmethod
    def _session(r: SessionRecord) -> WebSession:
        return WebSession(
            r.username,
            r.csrf_token,
            _when(r.created_at),
            _when(r.last_seen_at),
            r.address,
            r.epoch,
        )

    def get(self, session_id: str) -> WebSession | None:
        """The live session with this id (touching it), or None if unknown or timed out."""
        key = self._digest(session_id) if session_id else None
        if key is None:
            return None
        now = self.clock()
        records = self.records
        record = records.get(key)
        if record is None:
            return None
        session = self._session(record)
        if now >= session.expires_at(self.idle, self.absolute):
            records.delete(key)
            return None
        if now.timestamp() - record.last_seen_at >= TOUCH_S:
            records.touch(key, now.timestamp())
        session.last_seen_at = now
        return session

    def delete(self, session_id: str) -> bool:
        key = self._digest(session_id)
        return key is not None and self.records.delete(key)

    def delete_user(self, username: str) -> int:
        """End every session of ``username`` (e.g. when the user is disabled or their
        password changed), in every server process on the catalog."""
        return self.records.delete_user(username)


def csrf_matches(session: WebSession, header_value: str | None) -> bool:
    return bool(header_value) and hmac.compare_digest(
        session.csrf_token.encode(), (header_value or "").encode()
    )


class LoginRateLimiter:
    """Failed logins limited per account, with backoff, and per client address, much higher.

    After ``limit`` failures for one account within ``window`` seconds, that account waits
    ``window`` seconds; each further lockout before a success doubles the wait (at most
    ``max_wait``). Other accounts are not affected, even from the same address (behind a shared
    proxy everyone has one address). One address may fail ``address_limit`` logins per
    ``window`` (any accounts) before it waits out the window: guessing across many accounts.

    The counts are kept in the table ``counters`` gives (a callable: asked at each use), the
    catalog's for a server, so every process on it counts the same failures; none: a table
    of this limiter alone, in memory. ``clock``: epoch seconds (shared between processes)."""

    def __init__(
        self,
        limit: int = 5,
        window: float = 60.0,
        clock: Callable[[], float] = time.time,
        *,
        address_limit: int = 100,
        max_wait: float = 3600.0,
        counters: LoginCounters | Callable[[], LoginCounters] | None = None,
    ) -> None:
        self.clock = clock
        self.rules = LoginRules(limit, window, address_limit, max_wait)
        self._counters = counters if counters is not None else WebState.private().logins

    @property
    def counters(self) -> LoginCounters:
        counters = self._counters
        return counters if isinstance(counters, LoginCounters) else counters()

    @staticmethod
    def _account(username: str) -> str:
        return f"user:{username.strip().lower()}"[:300]

    @staticmethod
    def _address(address: str) -> str:
        return f"addr:{address}"[:300]

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until another attempt is allowed (0: allowed now)."""
        wait = self.counters.retry_after(
            self._account(username), self._address(address), self.clock(), self.rules
        )
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, username: str, address: str) -> None:
        self.counters.failed(
            self._account(username), self._address(address), self.clock(), self.rules
        )

    def succeeded(self, username: str) -> None:
        self.counters.succeeded(self._account(username))


class SecurityHeadersMiddleware:
    """Adds the security headers to every response (pages and API) and drops ``Server``.

    API responses also get ``Cache-Control: no-store`` unless the endpoint set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = str(scope.get("path", "")).startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != b"server"
                    and k.lower() not in {name for name, _ in SECURITY_HEADERS}
                ]
                headers.extend(SECURITY_HEADERS)
                if is_api and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
