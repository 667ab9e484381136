"""The request guard: credentials and size are checked before a body is read (pure ASGI).

A request with a body (a ``Content-Length`` above 0, or a streamed ``Transfer-Encoding``
body) to a protected route must carry credentials first: a Bearer token that checks out, or a
session cookie of a live session; otherwise it is answered 401 at once, without reading a
byte of the body (nothing is spooled to disk). Then a declared ``Content-Length`` above the
route's cap is answered 413 at once; a body without one is counted while it streams and cut
with 413 as soon as it passes the cap. The caps come from the settings: the archive upload
``max_archive_bytes``, probe and removal uploads ``max_probe_bytes`` per photo, everything
else ``max_request_bytes``. The full checks (CSRF, roles, the upload's own type and size)
still run in the routes; this only makes sure nobody anonymous, and nothing oversized, gets
as far as the body parser. A Bearer token it checked is not checked again: its principal is
left in the request's state for the dependency (``deps.remember_token_principal``).
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from anyio import to_thread
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facesearch.app.types import MAX_PROBES, MAX_SCAN, AuthenticationError
from facesearch.serve.api.deps import remember_token_principal
from facesearch.serve.api.refusals import BAD_SCHEME, BAD_TOKEN, NO_CREDENTIALS, SESSION_ENDED
from facesearch.serve.api.routers.removals import MAX_PHOTOS
from facesearch.serve.api.security import SESSION_COOKIE
from facesearch.settings import Settings

API = "/api/v1"
PUBLIC_PATHS = frozenset({f"{API}/health", f"{API}/auth/login", f"{API}/auth/password"})
MULTIPART_SLACK = 64 * 1024  # a form's other fields and boundaries
PROBE_UPLOADS = re.compile(
    rf"{API}/cases/[^/]+/searches|{API}/cases/[^/]+/searches/multi|{API}/removals"
    rf"|{API}/cases/[^/]+/probe-faces"  # the faces of the photos a search would take
)
SCAN_UPLOADS = re.compile(rf"{API}/cases/[^/]+/authorisations")  # a warrant's scan
MEDIA_UPLOADS = re.compile(rf"{API}/cases/[^/]+/media/upload")
PROBLEM_JSON = "application/problem+json"
# a Content-Length: ASCII digits ("²".isdigit() is true too), few enough for int()
DIGITS = re.compile(r"[0-9]{1,4000}")


def is_protected(path: str) -> bool:
    """Whether ``path`` needs credentials (every API route but health and login)."""
    return path.startswith("/api/") and path.rstrip("/") not in PUBLIC_PATHS


def body_cap(settings: Settings, path: str) -> int:
    """The largest body the route at ``path`` takes."""
    if path == f"{API}/ingest/jobs/upload" or MEDIA_UPLOADS.fullmatch(path):
        return settings.max_archive_bytes + MULTIPART_SLACK
    if PROBE_UPLOADS.fullmatch(path):
        return settings.max_probe_bytes * max(MAX_PROBES, MAX_PHOTOS) + MULTIPART_SLACK
    if SCAN_UPLOADS.fullmatch(path):
        return max(MAX_SCAN + MULTIPART_SLACK, settings.max_request_bytes)
    return settings.max_request_bytes


def problem_response(
    status: int, detail: str, path: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": path[:200],
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def too_large(cap: int, path: str) -> JSONResponse:
    detail = f"the request body is larger than this route's limit of {cap} bytes"
    return problem_response(413, detail, path, {"Connection": "close"})


class BodyTooLarge(Exception):
    """Raised from ``receive`` once a streamed body passes its cap."""


class RequestGuard:
    """See the module docstring. Reads the settings, service, sessions and the anonymous
    refusal log from the application's state (``scope["app"].state``) at each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "").strip()
        streamed = "transfer-encoding" in headers
        if not streamed and (not declared or declared == "0"):
            await self.app(scope, receive, send)  # no body
            return
        state = scope["app"].state
        path = str(scope.get("path", ""))
        if is_protected(path):
            refusal = await self._refusal(scope, headers, state)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        cap = body_cap(state.settings, path)
        if declared and (not DIGITS.fullmatch(declared) or int(declared) > cap):
            if not DIGITS.fullmatch(declared):
                response = problem_response(400, "invalid Content-Length", path)
            else:
                response = too_large(cap, path)
            await response(scope, receive, send)
            return
        await self._capped(scope, receive, send, cap, path)

    async def _refusal(self, scope: Scope, headers: Headers, state: Any) -> JSONResponse | None:
        """The 401 for a request without usable credentials, None when they check out."""
        address = scope["client"][0] if scope.get("client") else "unknown"
        method, path = str(scope.get("method", "")), str(scope.get("path", ""))
        unauthorised = {"WWW-Authenticate": "Bearer", "Connection": "close"}
        auth = headers.get("authorization", "")
        if auth:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                state.refusals.refused(address, BAD_SCHEME, method, path)
                return problem_response(401, BAD_SCHEME, path, unauthorised)
            service, token = state.service, token.strip()
            try:  # a wrong token is counted like every anonymous refusal
                who = await to_thread.run_sync(
                    lambda: service.accounts.from_token(token, origin=address, log=False)
                )
            except AuthenticationError as exc:
                state.refusals.refused(address, BAD_TOKEN, method, path)
                return problem_response(401, exc.reason, path, unauthorised)
            remember_token_principal(scope, token, who)  # the dependency does not check again
            return None
        cookie = _cookie(headers, SESSION_COOKIE)
        if cookie and state.sessions.get(cookie) is not None:
            return None
        reason = SESSION_ENDED if cookie else NO_CREDENTIALS
        state.refusals.refused(address, reason, method, path)
        return problem_response(401, reason, path, unauthorised)

    async def _capped(
        self, scope: Scope, receive: Receive, send: Send, cap: int, path: str
    ) -> None:
        """Run the app with the body counted as it streams; past ``cap``, answer 413 instead
        of whatever the app was about to answer."""
        received = 0
        exceeded = False
        started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the app's own answer to the cut body is replaced by the 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except Exception:  # BodyTooLarge, however the app wrapped it
            if not exceeded:
                raise
        if exceeded and not started:
            await too_large(cap, path)(scope, receive, send)


def _cookie(headers: Headers, name: str) -> str:
    for raw in headers.getlist("cookie"):
        for part in raw.split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value.strip().strip('"')
    return ""
