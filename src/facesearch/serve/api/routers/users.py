"""Users (administrators manage them; auditors read the list) and API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from facesearch.serve.api.deps import CurrentPrincipal, PageDep, PathId, ServiceDep, page
from facesearch.serve.api.schemas import (
    Page,
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


@router.post("/users", response_model=UserOut, status_code=201)
def add_user(body: UserIn, who: CurrentPrincipal, service: ServiceDep) -> dict[str, Any]:
    return service.accounts.add_user(
        who, body.username, body.roles, body.password, body.display_name
    )


@router.patch("/users/{username}", response_model=UserOut)
def update_user(
    username: str, body: UserPatch, who: CurrentPrincipal, service: ServiceDep
) -> dict[str, Any]:
    return service.accounts.update_user(
        who, username, roles=body.roles, active=body.active, password=body.password
    )


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
