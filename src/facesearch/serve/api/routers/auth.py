"""Login, logout and the current user (with their wellbeing setting).

Login checks the password (argon2id), refuses after too many failures per account or address
(429 with ``Retry-After``), and issues a new session id every time (never reusing one the
browser sent: no session fixation). Logout ends the session on the server.

``PUT /auth/me/wellbeing`` changes your own wellbeing setting (greyscale, blur outside the
face; the policy may force the blur). ``POST /auth/me/password`` changes your own password
while signed in: every other session of yours ends, and this browser gets a new session."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from facesearch.app import Principal
from facesearch.app.accounts import PasswordChangeRequired
from facesearch.app.types import AuthenticationError, RefusedError
from facesearch.serve.api.deps import (
    CurrentCaller,
    LimiterDep,
    RefusalsDep,
    ServiceDep,
    SessionsDep,
    SettingsDep,
    client_address,
)
from facesearch.serve.api.errors import ApiError
from facesearch.serve.api.schemas import LoginIn, LoginOut, MeOut
from facesearch.serve.api.schemas_account import OwnPasswordIn, WellbeingIn, WellbeingOut
from facesearch.serve.api.security import CSRF_COOKIE, SESSION_COOKIE, WebSession

router = APIRouter(prefix="/auth", tags=["auth"])


def me_out(
    principal: Principal,
    session: WebSession | None,
    sessions: SessionsDep,
    service: ServiceDep,
) -> MeOut:
    return MeOut(
        username=principal.username,
        display_name=principal.display_name,
        roles=sorted(r.value for r in principal.roles),
        auth="session" if session else principal.via,
        csrf_token=session.csrf_token if session else None,
        session_expires_at=(
            session.expires_at(sessions.idle, sessions.absolute) if session else None
        ),
        wellbeing=WellbeingOut.model_validate(service.accounts.wellbeing(principal)),
    )


@router.post(
    "/login",
    response_model=LoginOut,
    responses={
        401: {"description": "wrong credentials"},
        403: {"description": "the password was reset: change it first (POST /auth/password)"},
        429: {"description": "rate limited"},
    },
)
def login(
    body: LoginIn,
    request: Request,
    response: Response,
    service: ServiceDep,
    sessions: SessionsDep,
    limiter: LimiterDep,
    settings: SettingsDep,
    refusals: RefusalsDep,
) -> LoginOut:
    address = client_address(request)
    wait = limiter.retry_after(body.username, address)
    if wait:  # logged, but a flood of them as one summary a minute (serve/api/refusals.py)
        refusals.refused(
            address,
            "too many failed logins; rate limited",
            "password",
            request.url.path,
            actor=body.username,
            action="authenticate.refused",
        )
        raise ApiError(
            429, f"too many failed logins; try again in {wait} s", {"Retry-After": str(wait)}
        )
    try:
        principal, epoch = service.accounts.sign_in(body.username, body.password, origin=address)
    except PasswordChangeRequired as exc:
        raise ApiError(
            403, exc.reason, password_change_required=True, change_at="/api/v1/auth/password"
        ) from None
    except AuthenticationError:
        limiter.failed(body.username, address)
        raise ApiError(401, "wrong user name or password") from None
    limiter.succeeded(body.username)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        sessions.delete(old)  # a new id at every login
    session_id, session = sessions.create(principal.username, address, epoch)
    _set_cookies(request, response, settings, sessions, session_id, session.csrf_token)
    user = me_out(principal, session, sessions, service)
    user.auth = "session"
    return LoginOut(
        user=user,
        csrf_token=session.csrf_token,
        expires_at=session.expires_at(sessions.idle, sessions.absolute),
    )


def _set_cookies(
    request: Request,
    response: Response,
    settings: SettingsDep,
    sessions: SessionsDep,
    session_id: str,
    csrf_token: str,
) -> None:
    secure = (
        settings.secure_cookies
        if settings.secure_cookies is not None
        else request.url.scheme == "https"
    )
    max_age = int(sessions.absolute.total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=max_age,
        httponly=True,
        secure=secure,
        samesite="strict",
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token,
        max_age=max_age,
        httponly=False,
        secure=secure,
        samesite="strict",
        path="/",
    )


@router.post("/logout", status_code=204, response_class=Response)
def logout(caller: CurrentCaller, service: ServiceDep, sessions: SessionsDep) -> Response:
    if caller.session_id:
        sessions.delete(caller.session_id)
    service.accounts.logout(caller.principal)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="strict")
    return response


@router.get("/me", response_model=MeOut)
def me(caller: CurrentCaller, sessions: SessionsDep, service: ServiceDep) -> MeOut:
    return me_out(caller.principal, caller.session, sessions, service)


@router.put(
    "/me/wellbeing",
    response_model=WellbeingOut,
    responses={403: {"description": "the policy forces the blur: it cannot be turned off"}},
)
def set_wellbeing(body: WellbeingIn, caller: CurrentCaller, service: ServiceDep) -> WellbeingOut:
    """Change your own wellbeing setting (audited): applied to results, full images and
    media alike, from the next page shown."""
    found = service.accounts.set_wellbeing(caller.principal, body.greyscale, body.blur_outside_face)
    return WellbeingOut.model_validate(found)


@router.post(
    "/me/password",
    response_model=LoginOut,
    responses={
        403: {"description": "the current password is wrong, or the new one is refused"},
        400: {"description": "not a browser session (a token: POST /auth/password)"},
        422: {"description": "the two new passwords differ"},
        429: {"description": "too many wrong current passwords: rate limited"},
    },
)
def change_own_password(
    body: OwnPasswordIn,
    request: Request,
    response: Response,
    caller: CurrentCaller,
    service: ServiceDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> LoginOut:
    """Change your own password (the current one, the new one twice; audited). Every session
    of yours ends, in every browser; this one gets a new session (and CSRF token)."""
    if body.new_password != body.new_password_again:
        raise ApiError(422, "the two new passwords differ")
    if caller.session is None:
        raise ApiError(400, "for a signed-in browser; with a token, use POST /auth/password")
    principal = caller.principal
    address = client_address(request)
    wait = limiter.retry_after(principal.username, address)
    if wait:  # a session is no licence to guess the current password
        service.accounts.log_refusal(
            principal.username,
            "user.passwd",
            "too many failed attempts; rate limited",
            {"address": address},
        )
        raise ApiError(
            429, f"too many failed attempts; try again in {wait} s", {"Retry-After": str(wait)}
        )
    try:
        epoch = service.accounts.change_own_password(
            principal, body.current_password, body.new_password
        )
    except RefusedError as exc:
        if "current password" in exc.reason:
            limiter.failed(principal.username, address)
        raise
    limiter.succeeded(principal.username)
    sessions.delete_user(principal.username)
    session_id, session = sessions.create(principal.username, address, epoch)
    _set_cookies(request, response, settings, sessions, session_id, session.csrf_token)
    user = me_out(principal, session, sessions, service)
    return LoginOut(
        user=user,
        csrf_token=session.csrf_token,
        expires_at=session.expires_at(sessions.idle, sessions.absolute),
    )
