"""Users (administrators manage them; auditors read the list), pending changes (the
two-person rule), password changes and API tokens. ``PATCH /users/{username}`` changes a
user's display name, roles, state or password (a reset: they choose a new one at sign-in).

Granting administrator or supervisor and re-enabling a user answer ``202 Accepted`` with the
pending change: it takes effect when a second administrator approves it
(``POST /changes/{id}/approve``). ``POST /auth/password`` changes your own password with the
current one; it needs no session, as a user whose password was reset cannot sign in until they
change it. Every session of that user ends (sign in again)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from facesearch.app.accounts import ChangeView
from facesearch.app.types import AuthenticationError
from facesearch.serve.api.deps import (
    CurrentPrincipal,
    LimiterDep,
    PageDep,
    PathId,
    ServiceDep,
    SessionsDep,
    client_address,
    page,
)
from facesearch.serve.api.errors import ApiError
from facesearch.serve.api.schemas import (
    ChangeDecisionIn,
    ChangeOut,
    Page,
    PasswordChangeIn,
    TokenCreatedOut,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    UserPatch,
)

router = APIRouter(tags=["users"])


@router.get("/users", response_model=Page[UserOut])
def list_users(who: CurrentPrincipal, service: ServiceDep, params: PageDep) -> dict[str, Any]:
    return page(service.accounts.list_users(who), params)


@router.post(
    "/users",
    response_model=UserOut,
    status_code=201,
    responses={202: {"model": ChangeOut, "description": "pending a second administrator"}},
)
def add_user(body: UserIn, who: CurrentPrincipal, service: ServiceDep) -> Any:
    added = service.accounts.add_user(
        who, body.username, body.roles, body.password, body.display_name
    )
    if isinstance(added, ChangeView):
        out = ChangeOut.model_validate(added)
        return JSONResponse(out.model_dump(mode="json"), status_code=202)
    return added


@router.patch("/users/{username}", response_model=UserOut)
def update_user(
    username: str,
    body: UserPatch,
    who: CurrentPrincipal,
    service: ServiceDep,
    sessions: SessionsDep,
) -> dict[str, Any]:
    user = service.accounts.update_user(
        who,
        username,
        roles=body.roles,
        active=body.active,
        password=body.password,
        current_password=body.current_password,
        display_name=body.display_name,
    )
    if body.password is not None or body.active is False:
        sessions.delete_user(user["username"])  # here at once; elsewhere by the session epoch
    return user


@router.post(
    "/auth/password",
    status_code=204,
    response_class=Response,
    responses={
        401: {"description": "wrong user name or current password"},
        403: {"description": "the new password is refused (too short, the same)"},
        429: {"description": "rate limited"},
    },
)
def change_password(
    body: PasswordChangeIn,
    request: Request,
    service: ServiceDep,
    sessions: SessionsDep,
    limiter: LimiterDep,
) -> Response:
    address = client_address(request)
    wait = limiter.retry_after(body.username, address)
    if wait:
        service.accounts.log_refusal(
            body.username,
            "user.passwd",
            "too many failed attempts; rate limited",
            {"address": address},
        )
        raise ApiError(
            429, f"too many failed attempts; try again in {wait} s", {"Retry-After": str(wait)}
        )
    try:
        service.accounts.change_password(body.username, body.current_password, body.new_password)
    except AuthenticationError:
        limiter.failed(body.username, address)
        raise ApiError(401, "wrong user name or current password") from None
    limiter.succeeded(body.username)
    sessions.delete_user(body.username.strip().lower())
    return Response(status_code=204)


# --- pending changes (two-person rule) --------------------------------------------------------


@router.get("/changes", response_model=Page[ChangeOut])
def list_changes(
    who: CurrentPrincipal,
    service: ServiceDep,
    params: PageDep,
    status: Annotated[
        Literal["pending", "approved", "rejected", "superseded", "all"], Query()
    ] = "pending",
) -> dict[str, Any]:
    found = service.accounts.list_changes(who, None if status == "all" else status)
    return page([ChangeOut.model_validate(c) for c in found], params)


@router.post("/changes/{change_id}/approve", response_model=ChangeOut)
def approve_change(
    change_id: PathId, body: ChangeDecisionIn, who: CurrentPrincipal, service: ServiceDep
) -> ChangeOut:
    return ChangeOut.model_validate(service.accounts.approve_change(who, change_id, body.note))


@router.post("/changes/{change_id}/reject", response_model=ChangeOut)
def reject_change(
    change_id: PathId, body: ChangeDecisionIn, who: CurrentPrincipal, service: ServiceDep
) -> ChangeOut:
    return ChangeOut.model_validate(service.accounts.reject_change(who, change_id, body.note))


# --- tokens -------------------------------------------------------------------------------------


@router.get("/tokens", response_model=Page[TokenOut])
def list_tokens(
    who: CurrentPrincipal,
    service: ServiceDep,
    params: PageDep,
    user: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    return page(service.accounts.list_tokens(who, user), params)


@router.post("/tokens", response_model=TokenCreatedOut, status_code=201)
def create_token(body: TokenIn, who: CurrentPrincipal, service: ServiceDep) -> TokenCreatedOut:
    token, token_id = service.accounts.create_token(
        who, body.username, body.name, body.expires_days
    )
    return TokenCreatedOut(id=token_id, token=token)


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response)
def revoke_token(token_id: PathId, who: CurrentPrincipal, service: ServiceDep) -> Response:
    service.accounts.revoke_token(who, token_id)
    return Response(status_code=204)
