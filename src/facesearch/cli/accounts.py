"""``facesearch user`` and ``facesearch token``: accounts, roles and API tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from facesearch.app.types import Role, fmt_time
from facesearch.cli.common import NO_CREDENTIAL, Credential, authenticated
from facesearch.cli.groups import ServiceFactory, acting_with, guard, principal_for, read_secret


def build_account_apps(factory: ServiceFactory) -> dict[str, typer.Typer]:
    """The ``user`` and ``token`` command groups."""
    acting = acting_with(factory)

    # --- user ---------------------------------------------------------------------------------
    user_app = typer.Typer(help="Users and roles.", no_args_is_help=True)

    @user_app.command("add")
    @guard
    @authenticated(stdin=False)
    def user_add(
        ctx: typer.Context,
        username: str,
        role: Annotated[
            list[Role],
            typer.Option(
                "--role",
                "-r",
                metavar="ROLE",
                help=f"A role: {', '.join(r.value for r in Role)} (repeatable).",
            ),
        ],
        name: Annotated[str, typer.Option(metavar="TEXT", help="Display name.")] = "",
        password_stdin: Annotated[
            bool,
            typer.Option("--password-stdin", help="Read the password from standard input."),
        ] = False,
        no_password: Annotated[
            bool, typer.Option("--no-password", help="No password: a token-only user.")
        ] = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Add a user (administrators; the first administrators are made by init)."""
        service = factory(ctx)
        who = principal_for(service, cred)
        password = None if no_password else read_secret("Password", password_stdin)
        service.accounts.add_user(who, username, role, password, name)
        typer.echo(f"added user {username.lower()} ({', '.join(sorted(r.value for r in role))})")

    @user_app.command("list")
    @guard
    @authenticated
    def user_list(ctx: typer.Context, cred: Credential = NO_CREDENTIAL) -> None:
        """List users."""
        service, who = acting(ctx, cred)
        for u in service.accounts.list_users(who):
            state = "active" if u["active"] else f"disabled {fmt_time(u['disabled_at'])}"
            typer.echo(f"{u['username']:<24} {','.join(u['roles']):<36} {state}")

    @user_app.command("passwd")
    @guard
    @authenticated(stdin=False)
    def user_passwd(
        ctx: typer.Context,
        username: str,
        password_stdin: Annotated[
            bool,
            typer.Option("--password-stdin", help="Read the new password from standard input."),
        ] = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Set a password (your own, or anyone's as an administrator)."""
        service, who = acting(ctx, cred)
        service.accounts.update_user(
            who, username, password=read_secret("New password", password_stdin)
        )
        typer.echo(f"password set for {username}")

    @user_app.command("disable")
    @guard
    @authenticated
    def user_disable(ctx: typer.Context, username: str, cred: Credential = NO_CREDENTIAL) -> None:
        """Disable a user: they, and their tokens, are refused from now on."""
        service, who = acting(ctx, cred)
        service.accounts.update_user(who, username, active=False)
        typer.echo(f"disabled {username}")

    @user_app.command("enable")
    @guard
    @authenticated
    def user_enable(ctx: typer.Context, username: str, cred: Credential = NO_CREDENTIAL) -> None:
        """Enable a disabled user."""
        service, who = acting(ctx, cred)
        service.accounts.update_user(who, username, active=True)
        typer.echo(f"enabled {username}")

    # --- token --------------------------------------------------------------------------------
    token_app = typer.Typer(help="API tokens (only their hash is stored).", no_args_is_help=True)

    @token_app.command("create")
    @guard
    @authenticated
    def token_create(
        ctx: typer.Context,
        user: Annotated[
            str | None,
            typer.Option(metavar="USER", help="Owner: you (a token is created only by its owner)."),
        ] = None,
        name: Annotated[str, typer.Option(metavar="TEXT", help="What the token is for.")] = "",
        expires_days: Annotated[
            int | None,
            typer.Option(
                min=1, metavar="DAYS", help="Expire after this many days (default: never)."
            ),
        ] = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Create a token. It is shown once, now."""
        service, who = acting(ctx, cred)
        secret, token_id = service.accounts.create_token(who, user, name, expires_days)
        typer.echo(f"token {token_id} for {user or who.username} (shown once, store it now):")
        typer.echo(secret)

    @token_app.command("list")
    @guard
    @authenticated
    def token_list(
        ctx: typer.Context,
        user: Annotated[
            str | None,
            typer.Option(metavar="USER", help="Only this user's tokens (administrators)."),
        ] = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """List tokens (yours, or all/any user's as an administrator)."""
        service, who = acting(ctx, cred)
        for t in service.accounts.list_tokens(who, user):
            if t["revoked_at"]:
                state = f"revoked {fmt_time(t['revoked_at'])}"
            elif t["expires_at"]:
                state = f"expires {fmt_time(t['expires_at'])}"
            else:
                state = "no expiry"
            typer.echo(
                f"{t['id']:>5} {t['prefix']}... {t['user']:<20} {t['name']:<24} "
                f"created {fmt_time(t['created_at'])}  {state}"
            )

    @token_app.command("revoke")
    @guard
    @authenticated
    def token_revoke(ctx: typer.Context, token_id: int, cred: Credential = NO_CREDENTIAL) -> None:
        """Revoke a token by id."""
        service, who = acting(ctx, cred)
        service.accounts.revoke_token(who, token_id)
        typer.echo(f"revoked token {token_id}")

    return {"user": user_app, "token": token_app}
