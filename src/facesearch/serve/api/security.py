"""Sessions, CSRF, login rate limits and security headers for the HTTP server.

Sessions are kept server-side (in memory, per process): the cookie holds a random id from
``secrets.token_urlsafe(32)`` and the store keys sessions by that id's SHA-256, so a memory
dump or a log line never shows a usable id. Each session has its own CSRF token (synchronizer
token pattern): state-changing requests made with the cookie must echo it in the
``X-CSRF-Token`` header. A new id is issued at every login (no session fixation), logout
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


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


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
    ) -> None:
        self.idle = idle
        self.absolute = absolute
        self.clock = clock
        self._sessions: dict[str, WebSession] = {}
        self._lock = threading.Lock()

    def create(self, username: str, address: str, epoch: int = 0) -> tuple[str, WebSession]:
        """A new session (and a new id, never a client-chosen one) for ``username``, under
        their session ``epoch``."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        session = WebSession(username, secrets.token_urlsafe(32), now, now, address, epoch)
        with self._lock:
            self._drop_expired(now)
            self._sessions[_digest(session_id)] = session
        return session_id, session

    def get(self, session_id: str) -> WebSession | None:
        """The live session with this id (touching it), or None if unknown or timed out."""
        if not session_id:
            return None
        key = _digest(session_id)
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
            return self._sessions.pop(_digest(session_id), None) is not None

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
    """At most ``limit`` failed logins per ``window`` seconds per account and per address."""

    def __init__(
        self,
        limit: int = 5,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        return f"user:{username.strip().lower()}", f"addr:{address}"

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until another attempt is allowed (0: allowed now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in self._keys(username, address):
                q = self._failures.get(key)
                if not q:
                    continue
                while q and now - q[0] >= self.window:
                    q.popleft()
                if len(q) >= self.limit:
                    wait = max(wait, self.window - (now - q[0]))
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in self._keys(username, address):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(self._keys(username, "")[0], None)


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
