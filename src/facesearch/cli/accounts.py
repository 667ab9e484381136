"""``facesearch user``, ``token`` and ``change``: accounts, roles, API tokens, and the changes
that wait for a second administrator (the two-person rule)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from facesearch.app.accounts import ChangeView
from facesearch.app.types import Role, fmt_time
from facesearch.cli.common import NO_CREDENTIAL, Credential, authenticated, shown
from facesearch.cli.groups import ServiceFactory, acting_with, guard, principal_for, read_secret


class OnOff(StrEnum):
    ON = "on"
    OFF = "off"


def _pending(change: ChangeView) -> None:
    typer.echo(f"pending: {shown(change.message, markup=False)}")


def _read_passwords(own: bool, from_stdin: bool) -> tuple[str | None, str]:
    """``(current, new)``: your own password change needs the current one (with
    ``--password-stdin``: the current one on the first line, the new one on the second); an
    administrator's reset of another user's password reads the new one only."""
    if from_stdin:
        current = sys.stdin.readline().rstrip("\n") if own else None
        return current, sys.stdin.readline().rstrip("\n")
    current = str(typer.prompt("Current password", hide_input=True)) if own else None
    return current, read_secret("New password", False)


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
        """Add a user (administrators; the first administrators are made by init).

        An administrator or supervisor waits for a second administrator's approval."""
        service = factory(ctx)
        who = principal_for(service, cred)
        password = None if no_password else read_secret("Password", password_stdin)
        added = service.accounts.add_user(who, username, role, password, name)
        if isinstance(added, ChangeView):
            _pending(added)
            return
        typer.echo(f"added user {username.lower()} ({', '.join(sorted(r.value for r in role))})")

    @user_app.command("roles")
    @guard
    @authenticated
    def user_roles(
        ctx: typer.Context,
        username: str,
        role: Annotated[
            list[Role],
            typer.Option("--role", "-r", metavar="ROLE", help="A role (repeatable)."),
        ],
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Set a user's roles (administrators).

        Granting administrator or supervisor waits for a second administrator's approval."""
        service, who = acting(ctx, cred)
        user = service.accounts.update_user(who, username, roles=[r.value for r in role])
        if user["pending_changes"]:
            typer.echo(f"pending: {shown(user['pending_changes'][0]['message'], markup=False)}")
            return
        typer.echo(f"roles of {user['username']}: {', '.join(user['roles'])}")

    @user_app.command("rename")
    @guard
    @authenticated
    def user_rename(
        ctx: typer.Context, username: str, name: str, cred: Credential = NO_CREDENTIAL
    ) -> None:
        """Set a user's display name (administrators)."""
        service, who = acting(ctx, cred)
        user = service.accounts.update_user(who, username, display_name=name)
        typer.echo(
            shown(f"display name of {user['username']}: {user['display_name']}", markup=False)
        )

    @user_app.command("wellbeing")
    @guard
    @authenticated
    def user_wellbeing(
        ctx: typer.Context,
        greyscale: Annotated[
            OnOff | None,
            typer.Option(help="Show the pictures in greyscale (on) or in colour (off)."),
        ] = None,
        blur: Annotated[
            OnOff | None,
            typer.Option(help="Blur the pictures outside the face (the policy may force it)."),
        ] = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Show or change your own wellbeing setting (results, full images and media).

        Applied alike in the web app and the API's pictures."""
        service, who = acting(ctx, cred)
        now = service.accounts.wellbeing(who)
        if greyscale is not None or blur is not None:
            now = service.accounts.set_wellbeing(
                who,
                now["greyscale"] if greyscale is None else greyscale == OnOff.ON,
                now["blur_outside_face"] if blur is None else blur == OnOff.ON,
            )
        forced = " (forced by the policy)" if now["blur_forced"] else ""
        typer.echo(
            f"greyscale: {'on' if now['greyscale'] else 'off'}; blur outside the face: "
            f"{'on' if now['blur_outside_face'] else 'off'}{forced}"
        )

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
            typer.Option(
                "--password-stdin",
                help="Read the passwords from standard input: your current one, then the new "
                "one, one per line (an administrator resetting another user's: the new one).",
            ),
        ] = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Change your own password, or reset another user's as an administrator.

        Your own: the current one is asked. A reset: the user must change it at next login.
        Either way the user's other sessions end."""
        service, who = acting(ctx, cred)
        own = who.username == username.strip().lower()
        current, new = _read_passwords(own, password_stdin)
        if service.accounts.set_password(who, username, new, current):
            typer.echo(f"password reset for {username}: they must change it at next login")
        else:
            typer.echo(f"password changed for {username}")

    @user_app.command("disable")
    @guard
    @authenticated
    def user_disable(ctx: typer.Context, username: str, cred: Credential = NO_CREDENTIAL) -> None:
        """Disable a user: they are refused from now on, and their tokens revoked for good."""
        service, who = acting(ctx, cred)
        service.accounts.update_user(who, username, active=False)
        typer.echo(f"disabled {username}")

    @user_app.command("enable")
    @guard
    @authenticated
    def user_enable(ctx: typer.Context, username: str, cred: Credential = NO_CREDENTIAL) -> None:
        """Ask to re-enable a disabled user (a second administrator must approve it).

        Their revoked tokens stay revoked."""
        service, who = acting(ctx, cred)
        user = service.accounts.update_user(who, username, active=True)
        typer.echo(f"pending: {shown(user['pending_changes'][0]['message'], markup=False)}")

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

    # --- change -------------------------------------------------------------------------------
    change_app = typer.Typer(
        help="Changes waiting for a second administrator (the two-person rule).",
        no_args_is_help=True,
    )

    @change_app.command("list")
    @guard
    @authenticated
    def change_list(
        ctx: typer.Context,
        every: Annotated[bool, typer.Option("--all", help="Decided changes too.")] = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """List pending changes (administrators)."""
        service, who = acting(ctx, cred)
        found = service.accounts.list_changes(who, None if every else "pending")
        for c in found:
            decided = f" by {c.decided_by} {fmt_time(c.decided_at)}" if c.decided_by else ""
            typer.echo(
                shown(
                    f"{c.id:>5} {c.status:<10} {c.summary}  (asked by {c.requested_by} "
                    f"{fmt_time(c.requested_at)}){decided}",
                    markup=False,
                )
            )
        if not found:
            typer.echo("no pending changes" if not every else "no changes")

    @change_app.command("policy")
    @guard
    @authenticated
    def change_policy(ctx: typer.Context, file: Path, cred: Credential = NO_CREDENTIAL) -> None:
        """Ask to put a policy file in force (administrators).

        It is checked whole, then waits for a second administrator's approval
        ('change approve ID')."""
        service, who = acting(ctx, cred)
        text = file.read_text(encoding="utf-8")
        view = service.accounts.request_policy(who, text)
        _pending(view)

    @change_app.command("approve")
    @guard
    @authenticated
    def change_approve(
        ctx: typer.Context,
        change_id: int,
        note: Annotated[str, typer.Option(metavar="TEXT", help="Why (logged).")] = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Approve a change another administrator asked for: it takes effect now."""
        service, who = acting(ctx, cred)
        view = service.accounts.approve_change(who, change_id, note)
        typer.echo(shown(view.message, markup=False))

    @change_app.command("reject")
    @guard
    @authenticated
    def change_reject(
        ctx: typer.Context,
        change_id: int,
        note: Annotated[str, typer.Option(metavar="TEXT", help="Why (logged).")] = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Reject (or withdraw your own) pending change: it never takes effect."""
        service, who = acting(ctx, cred)
        view = service.accounts.reject_change(who, change_id, note)
        typer.echo(shown(view.message, markup=False))

    return {"user": user_app, "token": token_app, "change": change_app}
