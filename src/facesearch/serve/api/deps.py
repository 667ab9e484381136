"""Typed dependencies: the settings, the service, the session store, the current principal.

State lives on ``app.state`` (set by :func:`facesearch.serve.api.app.create_app`); nothing is a
module global. ``current_principal`` accepts a Bearer token or a session cookie; with the
cookie, a state-changing method also needs the session's CSRF token in ``X-CSRF-Token``. A
token that the request guard already checked (a request with a body) is not checked again:
the guard leaves its principal in the request's ASGI state (:func:`remember_token_principal`).
Every refusal here (no credentials, a bad token, a failed CSRF check) is logged in the audit
chain with who (when known), from which address, and why; anonymous ones rate-limited
(:mod:`facesearch.serve.api.refusals`). ``client_address`` is the peer, or the client a
trusted proxy names (:mod:`facesearch.serve.api.proxy` rewrites the scope).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Query, Request

from facesearch.app import Principal, Service
from facesearch.app.types import AuthenticationError
from facesearch.serve.api.errors import ApiError
from facesearch.serve.api.refusals import (
    ANONYMOUS,
    BAD_SCHEME,
    BAD_TOKEN,
    NO_CREDENTIALS,
    SESSION_ENDED,
    RefusalLog,
    cut,
)
from facesearch.serve.api.security import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    LoginRateLimiter,
    SessionStore,
    WebSession,
    csrf_matches,
)
from facesearch.settings import Settings

T = TypeVar("T")
# The request's ASGI state key under which the guard leaves the principal of a Bearer token it
# checked (with the token), so that the token is checked once per request.
TOKEN_PRINCIPAL = "facesearch.token_principal"


def remember_token_principal(scope: MutableMapping[str, Any], token: str, who: Principal) -> None:
    """Called by the request guard once it checked ``token``: the dependency takes ``who``
    from the request's state instead of checking the token again."""
    scope.setdefault("state", {})[TOKEN_PRINCIPAL] = (token, who)


def _token_principal(request: Request, token: str) -> Principal | None:
    """The principal the guard found for this very token, if it checked it."""
    found = request.scope.get("state", {}).get(TOKEN_PRINCIPAL)
    if found is None or found[0] != token:
        return None
    who: Principal = found[1]
    return who


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def get_sessions(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions


def get_rate_limiter(request: Request) -> LoginRateLimiter:
    limiter: LoginRateLimiter = request.app.state.login_limiter
    return limiter


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class Caller:
    """The principal and, for browser sessions, the session (None for Bearer tokens)."""

    principal: Principal
    session: WebSession | None
    session_id: str | None


def get_refusals(request: Request) -> RefusalLog:
    refusals: RefusalLog = request.app.state.refusals
    return refusals


def _refuse(
    service: Service,
    request: Request,
    actor: str,
    status: int,
    reason: str,
    shown: str | None = None,
) -> ApiError:
    """The error to raise, logged: anonymous refusals through the rate-limited
    :class:`RefusalLog` (counted by ``reason``), a known user's always in full (the path cut
    to a sane length). ``shown``: what the client is told, when it says more than ``reason``."""
    address, method, path = client_address(request), request.method, request.url.path
    if actor == ANONYMOUS:
        get_refusals(request).refused(address, reason, method, path)
    else:
        asked = {"method": cut(method, 20), "path": cut(path), "address": address}
        service.accounts.log_refusal(actor, "http", reason, asked)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return ApiError(status, shown or reason, headers)


def follow_session_timeouts(service: Service, sessions: SessionStore) -> None:
    """Set the session store's idle and absolute timeouts to the policy in force now (a
    policy approved in another process ends sessions by its own timeouts from the next
    request, without a restart)."""
    access = service.admin.access_in_force()
    idle = timedelta(minutes=access.session_idle_minutes)
    absolute = timedelta(hours=access.session_absolute_hours)
    if (sessions.idle, sessions.absolute) != (idle, absolute):
        sessions.idle, sessions.absolute = idle, absolute


def current_caller(
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    sessions: Annotated[SessionStore, Depends(get_sessions)],
) -> Caller:
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _refuse(service, request, ANONYMOUS, 401, BAD_SCHEME)
        principal = _token_principal(request, token.strip())  # checked by the guard
        if principal is None:
            try:
                principal = service.accounts.from_token(
                    token.strip(), origin=client_address(request), log=False
                )
            except AuthenticationError as exc:
                raise _refuse(service, request, ANONYMOUS, 401, BAD_TOKEN, exc.reason) from None
        return Caller(principal, None, None)
    session_id = request.cookies.get(SESSION_COOKIE, "")
    if session_id:
        follow_session_timeouts(service, sessions)
    session = sessions.get(session_id) if session_id else None
    if session is None:
        reason = SESSION_ENDED if session_id else NO_CREDENTIALS
        raise _refuse(service, request, ANONYMOUS, 401, reason)
    if request.method not in SAFE_METHODS and not csrf_matches(
        session, request.headers.get(CSRF_HEADER)
    ):
        raise _refuse(
            service,
            request,
            session.username,
            403,
            f"missing or wrong {CSRF_HEADER} header (CSRF protection)",
        )
    try:
        principal = service.accounts.principal(
            session.username,
            "session",
            origin=client_address(request),
            session_epoch=session.epoch,
        )
    except AuthenticationError as exc:
        sessions.delete(session_id)
        raise _refuse(service, request, session.username, 401, exc.reason) from None
    return Caller(principal, session, session_id)


def has_credentials(
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    sessions: Annotated[SessionStore, Depends(get_sessions)],
) -> bool:
    """Whether the request carries a valid token or a live session's cookie, for routes open
    to anyone that tell a signed-in caller more; nothing is refused (a wrong token is logged
    by its check, like everywhere)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        try:
            service.accounts.from_token(token.strip(), origin=client_address(request), log=False)
        except AuthenticationError:
            return False
        return True
    session_id = request.cookies.get(SESSION_COOKIE, "")
    return bool(session_id) and sessions.get(session_id) is not None


def current_principal(caller: Annotated[Caller, Depends(current_caller)]) -> Principal:
    return caller.principal


CurrentCaller = Annotated[Caller, Depends(current_caller)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
SignedInDep = Annotated[bool, Depends(has_credentials)]
ServiceDep = Annotated[Service, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionsDep = Annotated[SessionStore, Depends(get_sessions)]
LimiterDep = Annotated[LoginRateLimiter, Depends(get_rate_limiter)]
RefusalsDep = Annotated[RefusalLog, Depends(get_refusals)]


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit, offset)


PageDep = Annotated[PageParams, Depends(page_params)]


def page(items: list[T], params: PageParams) -> dict[str, Any]:
    """The ``Page`` shape for one slice of ``items``."""
    return {
        "items": items[params.offset : params.offset + params.limit],
        "total": len(items),
        "limit": params.limit,
        "offset": params.offset,
    }


# a path or query id: bounded so that no client number overflows a database integer
PathId = Annotated[int, Path(ge=0, le=2**31 - 1)]
QueryId = Annotated[int | None, Query(ge=0, le=2**31 - 1)]
