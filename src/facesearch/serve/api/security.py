"""Sessions, CSRF, login rate limits and security headers for the HTTP server.

Sessions are kept server-side (in memory, per process): the cookie holds a random id from
``secrets.token_urlsafe(32)`` signed with the server's secret key (``FACESEARCH_SECRET_KEY``,
HMAC-SHA256), and the store keys sessions by the id's HMAC under that key, so a memory dump or
a log line never shows a usable id, a cookie not signed with this server's key is refused
before any lookup, and changing the key ends every session. Each session has its own CSRF
token (synchronizer token pattern): state-changing requests made with the cookie must echo it
in the ``X-CSRF-Token`` header. A new id is issued at every login (no session fixation), logout
deletes the session, and the policy's idle and absolute timeouts end it. Each session keeps
the user's session epoch from when it began: a password change raises the epoch in the
catalog, which ends every other session of that user in every server process (checked on each
request), and :meth:`SessionStore.delete_user` ends them in this one at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "facesearch_session"
CSRF_COOKIE = "facesearch_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_TRACKED = 10_000  # locked accounts remembered before the quiet ones are forgotten

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


class SessionStore:
    """Server-side sessions with idle and absolute timeouts (thread-safe)."""

    def __init__(
        self,
        idle: timedelta,
        absolute: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        secret: str = "",
    ) -> None:
        self.secret = secret.encode("utf-8")
        self.idle = idle
        self.absolute = absolute
        self.clock = clock
        self._sessions: dict[str, WebSession] = {}
        self._lock = threading.Lock()

    def _digest(self, cookie: str) -> str | None:
        """The table key of a signed cookie value (None: not signed with this server's key)."""
        session_id = unsign(self.secret, cookie)
        return None if session_id is None else _mac(self.secret, b"session-key:", session_id)

    def create(self, username: str, address: str, epoch: int = 0) -> tuple[str, WebSession]:
        """A new session (and a new id, never a client-chosen one) for ``username``, under
        their session ``epoch``; returns the signed cookie value and the session."""
        session_id = sign(self.secret, secrets.token_urlsafe(32))
        now = self.clock()
        session = WebSession(username, secrets.token_urlsafe(32), now, now, address, epoch)
        with self._lock:
            self._drop_expired(now)
            self._sessions[str(self._digest(session_id))] = session
        return session_id, session

    def get(self, session_id: str) -> WebSession | None:
        """The live session with this id (touching it), or None if unknown or timed out."""
        key = self._digest(session_id) if session_id else None
        if key is None:
            return None
        now = self.clock()
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if now >= session.expires_at(self.idle, self.absolute):
                del self._sessions[key]
                return None
            session.last_seen_at = now
            return session

    def delete(self, session_id: str) -> bool:
        with self._lock:
            key = self._digest(session_id)
            return key is not None and self._sessions.pop(key, None) is not None

    def delete_user(self, username: str) -> int:
        """End every session of ``username`` in this process (e.g. when the user is disabled
        or their password changed)."""
        with self._lock:
            keys = [k for k, s in self._sessions.items() if s.username == username]
            for k in keys:
                del self._sessions[k]
        return len(keys)

    def _drop_expired(self, now: datetime) -> None:
        for key in [
            k for k, s in self._sessions.items() if now >= s.expires_at(self.idle, self.absolute)
        ]:
            del self._sessions[key]


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
    ``window`` (any accounts) before it waits out the window: guessing across many accounts."""

    def __init__(
        self,
        limit: int = 5,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        address_limit: int = 100,
        max_wait: float = 3600.0,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.address_limit = address_limit
        self.max_wait = max_wait
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lockouts: dict[str, int] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _account(username: str) -> str:
        return f"user:{username.strip().lower()}"

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until another attempt is allowed (0: allowed now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            until = self._locked_until.get(self._account(username), 0.0)
            wait = max(wait, until - now)
            q = self._recent(f"addr:{address}", now)
            if len(q) >= self.address_limit:
                wait = max(wait, self.window - (now - q[0]))
        return int(wait) + 1 if wait > 0 else 0

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] >= self.window:
            q.popleft()
        if not q:
            del self._failures[key]
        return q

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        account = self._account(username)
        with self._lock:
            for key in (account, f"addr:{address}"):
                self._recent(key, now)
                self._failures.setdefault(key, deque()).append(now)
            if len(self._locked_until) > MAX_TRACKED or len(self._failures) > MAX_TRACKED:
                self._forget_quiet(now)
            if len(self._failures[account]) >= self.limit:
                lockouts = self._lockouts.get(account, 0)
                if now - self._locked_until.get(account, now) > self.max_wait:
                    lockouts = 0  # quiet for longer than the longest wait: start again
                wait = min(self.window * 2**lockouts, self.max_wait)
                self._locked_until[account] = now + wait
                self._lockouts[account] = lockouts + 1
                self._failures.pop(account, None)

    def _forget_quiet(self, now: float) -> None:
        """Drop the accounts whose last lockout ended more than ``max_wait`` ago (so many
        user names tried cannot grow the tables without end)."""
        for account in [
            a for a, until in self._locked_until.items() if now - until > self.max_wait
        ]:
            self._locked_until.pop(account, None)
            self._lockouts.pop(account, None)
        for key in list(self._failures):
            self._recent(key, now)  # drops the keys whose failures are all past the window

    def succeeded(self, username: str) -> None:
        account = self._account(username)
        with self._lock:
            for table in (self._failures, self._locked_until, self._lockouts):
                table.pop(account, None)


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
