"""Governance commands: user, token, case, review, audit, purge, policy, suppress.

A thin layer over the application service (:class:`facesearch.app.Service`), the same one the
HTTP API calls. The main CLI registers them with::

    from facesearch.cli.govern import register
    register(app, service_factory)

``service_factory(ctx)`` returns this invocation's service (the context lets it read global
options).

Every command names its acting user with ``--as USER`` (or ``FACESEARCH_USER``); with
``--token`` (or ``FACESEARCH_TOKEN``) the user is the token's owner, checked. Refusals print
the reason and exit with status 2; other errors exit with status 1.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import numpy as np
import typer

from facesearch.app.types import (
    LEADS_STATEMENT,
    CaseSummary,
    PolicyError,
    RefusedError,
    Role,
    SearchOutcome,
    fmt_time,
    load_policy,
)
from facesearch.app.types import checkpoint as ckpt
from facesearch.cli.common import Actor, TokenOpt
from facesearch.errors import FacesearchError

if TYPE_CHECKING:
    from facesearch.app import Principal, Service

ServiceFactory = Callable[[typer.Context], "Service"]
P = ParamSpec("P")
R = TypeVar("R")


class CaseStatusChoice(StrEnum):
    """Case states, for ``case list --status``."""

    PENDING = "pending"
    OPEN = "open"
    REJECTED = "rejected"
    CLOSED = "closed"


class DecisionChoice(StrEnum):
    """Review decisions, for ``review mark``."""

    POSSIBLE_MATCH = "possible_match"
    NOT_A_MATCH = "not_a_match"
    INSUFFICIENT_QUALITY = "insufficient_quality"


class PeriodChoice(StrEnum):
    """Reporting periods, for ``audit report --period``."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def _fail(message: str, code: int) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _guard(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn governance errors into a message and an exit status."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except RefusedError as exc:
            _fail(f"refused: {exc.reason}", 2)
        except (FacesearchError, ValueError, OSError) as exc:
            _fail(f"error: {exc}", 1)
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date/time: {text!r}") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _read_secret(prompt: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True))


def _print_case(c: CaseSummary) -> None:
    typer.echo(f"case {c.number}: {c.status}")
    typer.echo(f"  purpose:         {c.purpose_name} ({c.purpose_key})")
    typer.echo(f"  legal authority: {c.legal_authority}")
    typer.echo(f"  justification:   {c.justification}")
    typer.echo(f"  requested:       {c.requested_by}, {fmt_time(c.requested_at)}")
    if c.decided_by:
        note = f" - {c.decision_note}" if c.decision_note else ""
        typer.echo(f"  decided:         {c.decided_by}, {fmt_time(c.decided_at)}{note}")
    typer.echo(f"  opened:          {fmt_time(c.opened_at)}")
    if c.closed_by:
        typer.echo(f"  closed:          {c.closed_by}, {fmt_time(c.closed_at)}")
    typer.echo(f"  assigned:        {', '.join(c.assigned) or '-'}")
    typer.echo(f"  searches:        {c.searches}")


def print_outcome(o: SearchOutcome) -> None:
    """Print a search outcome (also for the lead's ``search`` command)."""
    typer.echo(LEADS_STATEMENT)
    typer.echo(
        f"search {o.search_id} in case {o.case} by {o.user} at {fmt_time(o.at)}; probe "
        f"{o.probe_sha256}; model {o.model} ({o.model_sha256}); thresholds {o.thresholds}"
    )
    if o.results_purged_at:
        typer.echo(f"  results purged {fmt_time(o.results_purged_at)}")
        return
    hidden = o.hidden_below_band + o.hidden_suppressed
    if hidden:
        typer.echo(
            f"  {o.hidden_below_band} below band '{o.min_band_shown}' and "
            f"{o.hidden_suppressed} suppressed candidates not shown"
        )
    for c in o.candidates:
        decision = c.decision or "not reviewed"
        typer.echo(
            f"  {c.rank:>3}. face {c.face_id:<8} score {c.score:.4f} {c.band:<10} "
            f"image {c.image_sha256 or '-'}  [{decision}]"
        )
        for p in c.provenance:
            where = p.get("source_url") or p.get("path") or ""
            typer.echo(f"        from {p.get('collection', '?')}: {where}")
    if not o.candidates:
        typer.echo("  no candidates shown")


def build_apps(factory: ServiceFactory) -> dict[str, typer.Typer]:
    """The sub-apps by name: user, token, case, review, audit, policy, suppress."""

    def acting(
        ctx: typer.Context, actor: str | None, token: str | None
    ) -> tuple[Service, Principal]:
        service = factory(ctx)
        return service, service.accounts.for_cli(actor, token)

    def decide(
        ctx: typer.Context, actor: str | None, token: str | None, act: str, number: str, arg: str
    ) -> None:
        service, who = acting(ctx, actor, token)
        _print_case(service.cases.decide(who, number, act, arg))

    # --- user ---------------------------------------------------------------------------------
    user_app = typer.Typer(help="Users and roles.", no_args_is_help=True)

    @user_app.command("add")
    @_guard
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
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """Add a user (the first user must be an administrator; --as names them)."""
        service = factory(ctx)
        who = service.accounts.for_cli(actor or username, token)
        password = None if no_password else _read_secret("Password", password_stdin)
        service.accounts.add_user(who, username, role, password, name)
        typer.echo(f"added user {username.lower()} ({', '.join(sorted(r.value for r in role))})")

    @user_app.command("list")
    @_guard
    def user_list(ctx: typer.Context, actor: Actor = None, token: TokenOpt = None) -> None:
        """List users."""
        service, who = acting(ctx, actor, token)
        for u in service.accounts.list_users(who):
            state = "active" if u["active"] else f"disabled {fmt_time(u['disabled_at'])}"
            typer.echo(f"{u['username']:<24} {','.join(u['roles']):<36} {state}")

    @user_app.command("passwd")
    @_guard
    def user_passwd(
        ctx: typer.Context,
        username: str,
        password_stdin: Annotated[
            bool,
            typer.Option("--password-stdin", help="Read the new password from standard input."),
        ] = False,
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """Set a password (your own, or anyone's as an administrator)."""
        service, who = acting(ctx, actor, token)
        service.accounts.update_user(
            who, username, password=_read_secret("New password", password_stdin)
        )
        typer.echo(f"password set for {username}")

    @user_app.command("disable")
    @_guard
    def user_disable(
        ctx: typer.Context, username: str, actor: Actor = None, token: TokenOpt = None
    ) -> None:
        """Disable a user: they, and their tokens, are refused from now on."""
        service, who = acting(ctx, actor, token)
        service.accounts.update_user(who, username, active=False)
        typer.echo(f"disabled {username}")

    @user_app.command("enable")
    @_guard
    def user_enable(
        ctx: typer.Context, username: str, actor: Actor = None, token: TokenOpt = None
    ) -> None:
        """Enable a disabled user."""
        service, who = acting(ctx, actor, token)
        service.accounts.update_user(who, username, active=True)
        typer.echo(f"enabled {username}")

    # --- token --------------------------------------------------------------------------------
    token_app = typer.Typer(help="API tokens (only their hash is stored).", no_args_is_help=True)

    @token_app.command("create")
    @_guard
    def token_create(
        ctx: typer.Context,
        user: Annotated[
            str | None, typer.Option(metavar="USER", help="Owner (default: you).")
        ] = None,
        name: Annotated[str, typer.Option(metavar="TEXT", help="What the token is for.")] = "",
        expires_days: Annotated[
            int | None,
            typer.Option(
                min=1, metavar="DAYS", help="Expire after this many days (default: never)."
            ),
        ] = None,
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """Create a token. It is shown once, now."""
        service, who = acting(ctx, actor, token)
        secret, token_id = service.accounts.create_token(who, user, name, expires_days)
        typer.echo(f"token {token_id} for {user or who.username} (shown once, store it now):")
        typer.echo(secret)

    @token_app.command("list")
    @_guard
    def token_list(
        ctx: typer.Context,
        user: Annotated[
            str | None,
            typer.Option(metavar="USER", help="Only this user's tokens (administrators)."),
        ] = None,
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """List tokens (yours, or all/any user's as an administrator)."""
        service, who = acting(ctx, actor, token)
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
    @_guard
    def token_revoke(
        ctx: typer.Context, token_id: int, actor: Actor = None, token: TokenOpt = None
    ) -> None:
        """Revoke a token by id."""
        service, who = acting(ctx, actor, token)
        service.accounts.revoke_token(who, token_id)
        typer.echo(f"revoked token {token_id}")

    # --- case ---------------------------------------------------------------------------------
    case_app = typer.Typer(help="Cases: the only context searches run in.", no_args_is_help=True)

    @case_app.command("open")
    @_guard
    def case_open(
        ctx: typer.Context,
        number: str,
        purpose: Annotated[str, typer.Option(metavar="KEY", help="A purpose key from the policy.")],
        authority: Annotated[str, typer.Option(metavar="TEXT", help="Legal authority reference.")],
        justification: Annotated[
            str, typer.Option(metavar="TEXT", help="Why a face search is needed.")
        ],
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """Open (request) a case."""
        service, who = acting(ctx, actor, token)
        _print_case(service.cases.open(who, number, purpose, authority, justification))

    @case_app.command("approve")
    @_guard
    def case_approve(
        ctx: typer.Context,
        number: str,
        note: Annotated[str, typer.Option(metavar="TEXT", help="A note kept with the act.")] = "",
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """Approve a case (a supervisor who did not request it)."""
        decide(ctx, actor, token, "approve", number, note)

    @case_app.command("reject")
    @_guard
    def case_reject(
        ctx: typer.Context,
        number: str,
        note: Annotated[str, typer.Option(metavar="TEXT", help="Why.")],
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """Reject a case request."""
        decide(ctx, actor, token, "reject", number, note)

    @case_app.command("assign")
    @_guard
    def case_assign(
        ctx: typer.Context, number: str, user: str, actor: Actor = None, token: TokenOpt = None
    ) -> None:
        """Assign an investigator to a case."""
        decide(ctx, actor, token, "assign", number, user)

    @case_app.command("unassign")
    @_guard
    def case_unassign(
        ctx: typer.Context, number: str, user: str, actor: Actor = None, token: TokenOpt = None
    ) -> None:
        """Remove an investigator from a case."""
        decide(ctx, actor, token, "unassign", number, user)

    @case_app.command("close")
    @_guard
    def case_close(
        ctx: typer.Context,
        number: str,
        note: Annotated[str, typer.Option(metavar="TEXT", help="A note kept with the act.")] = "",
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """Close a case: no more searches; the retention clock starts."""
        decide(ctx, actor, token, "close", number, note)

    @case_app.command("show")
    @_guard
    def case_show(
        ctx: typer.Context, number: str, actor: Actor = None, token: TokenOpt = None
    ) -> None:
        """Show a case and its searches."""
        service, who = acting(ctx, actor, token)
        summary, outcomes = service.cases.show(who, number)
        _print_case(summary)
        for o in outcomes:
            typer.echo("")
            print_outcome(o)

    @case_app.command("list")
    @_guard
    def case_list(
        ctx: typer.Context,
        status: Annotated[
            CaseStatusChoice | None, typer.Option(help="Only cases in this state.")
        ] = None,
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """List the cases you may read."""
        service, who = acting(ctx, actor, token)
        for c in service.cases.summaries(who, status.value if status else None):
            typer.echo(
                f"{c.number:<24} {c.status:<9} {c.purpose_key:<20} by {c.requested_by:<16} "
                f"{fmt_time(c.requested_at)}  searches {c.searches}"
            )

    @case_app.command("report")
    @_guard
    def case_report(
        ctx: typer.Context,
        number: str,
        html: Annotated[
            Path | None, typer.Option("--html", metavar="FILE", help="Write HTML here.")
        ] = None,
        pdf: Annotated[
            Path | None, typer.Option("--pdf", metavar="FILE", help="Write PDF here.")
        ] = None,
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """Write the case report (chain of custody) as HTML and/or PDF."""
        if html is None and pdf is None:
            raise typer.BadParameter("give --html PATH and/or --pdf PATH")
        service, who = acting(ctx, actor, token)
        for fmt, path in (("html", html), ("pdf", pdf)):
            if path is not None:
                path.write_bytes(service.cases.report(who, number, fmt).data)
                typer.echo(f"wrote {path}")

    # --- review -------------------------------------------------------------------------------
    review_app = typer.Typer(help="Review candidates.", no_args_is_help=True)

    @review_app.command("mark")
    @_guard
    def review_mark(
        ctx: typer.Context,
        search_id: int,
        face_id: int,
        decision: Annotated[DecisionChoice, typer.Argument(help="Your decision.")],
        note: Annotated[str, typer.Option(metavar="TEXT", help="A note kept with the act.")] = "",
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """Record your decision on a candidate shown in a search."""
        service, who = acting(ctx, actor, token)
        r = service.searches.review(who, search_id, face_id, decision.value, note)
        typer.echo(f"search {search_id} face {face_id}: {r.decision} by {r.reviewer}")
        typer.echo(LEADS_STATEMENT)

    # --- audit --------------------------------------------------------------------------------
    audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)

    @audit_app.command("verify")
    @_guard
    def audit_verify(
        ctx: typer.Context,
        anchor: Annotated[
            list[str] | None,
            typer.Option(
                metavar="SEQ:HASH",
                help="A head kept outside the database (repeatable).",
                show_default=False,
            ),
        ] = None,
        checkpoint: Annotated[
            list[Path] | None,
            typer.Option(
                "--checkpoint",
                metavar="FILE",
                help="A signed checkpoint the log must still hold (repeatable).",
                show_default=False,
            ),
        ] = None,
        public_key: Annotated[
            Path | None,
            typer.Option(
                "--public-key",
                envvar=ckpt.PUBLIC_KEY_ENV,
                metavar="FILE",
                help="The trusted public key the checkpoints must be signed with (KEY.pub "
                f"from keygen; or {ckpt.PUBLIC_KEY_ENV}).",
                show_default=False,
            ),
        ] = None,
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """Verify the hash chain and any signed checkpoints.

        Exit status 3 if the log is broken or fails a checkpoint (entries deleted, altered),
        1 if a checkpoint itself cannot be trusted (unreadable, another key, altered).
        """
        anchors: dict[int, str] = {}
        for a in anchor or []:
            seq, _, h = a.partition(":")
            if not seq.isdigit() or len(h) != 64:
                raise typer.BadParameter(f"anchor must be SEQ:HASH, got {a!r}")
            anchors[int(seq)] = h.lower()
        trusted = ckpt.load_public_key(public_key) if public_key is not None else None
        service, who = acting(ctx, actor, token)
        result = service.admin.verify_audit(who, anchors, list(checkpoint or []), trusted)
        typer.echo(result.summary())
        for bad_seq, problem in result.problems[1:]:
            typer.echo(f"  also #{bad_seq}: {problem}")
        for p in result.checkpoint_problems:
            what = "refused" if p.forged else "FAILED"
            typer.echo(f"  checkpoint {p.source} {what}: {p.problem}")
        for source in result.checkpoints_verified:
            typer.echo(f"  checkpoint {source}: held")
        if result.problems or any(not p.forged for p in result.checkpoint_problems):
            raise typer.Exit(3)
        if result.checkpoint_problems:
            raise typer.Exit(1)

    @audit_app.command("keygen")
    @_guard
    def audit_keygen(
        out: Annotated[
            Path,
            typer.Option(
                "--out",
                metavar="KEYFILE",
                help="Private key to write (mode 0600; keep it outside the data directory); "
                "the public key goes to KEYFILE.pub.",
            ),
        ],
    ) -> None:
        """Make an Ed25519 key pair for signing audit checkpoints."""
        private_path, public_path, fp = ckpt.generate_key_files(out)
        typer.echo(f"wrote private key {private_path} (mode 0600) and public key {public_path}")
        typer.echo(f"key fingerprint {fp[:16]} (sha256 {fp})")
        typer.echo(public_path.read_text(encoding="ascii").rstrip())

    @audit_app.command("checkpoint")
    @_guard
    def audit_checkpoint(
        ctx: typer.Context,
        out: Annotated[
            Path,
            typer.Option("--out", metavar="FILE", help="Checkpoint file to write (JSON)."),
        ],
        key: Annotated[
            Path | None,
            typer.Option(
                "--key",
                metavar="KEYFILE",
                help=f"Signing key (default: ${ckpt.KEY_ENV}, a file, or ${ckpt.KEY_PEM_ENV}).",
                show_default=False,
            ),
        ] = None,
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """Sign the audit log's head (after verifying the chain) and write it to FILE."""
        service, who = acting(ctx, actor, token)
        cp, path = service.admin.checkpoint(who, out, key)
        typer.echo(
            f"checkpoint {path}: entry #{cp.seq} {cp.entry_hash}, signed {cp.signed_at}, "
            f"key {cp.fingerprint[:16]}"
        )

    @audit_app.command("report")
    @_guard
    def audit_report(
        ctx: typer.Context,
        since: Annotated[
            str | None,
            typer.Option(metavar="ISO-TIME", help="ISO date/time (UTC), inclusive."),
        ] = None,
        until: Annotated[
            str | None,
            typer.Option(metavar="ISO-TIME", help="ISO date/time (UTC), exclusive."),
        ] = None,
        period: Annotated[
            PeriodChoice, typer.Option(help="Figures per period.")
        ] = PeriodChoice.MONTH,
        as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """Oversight figures by user, case, purpose and period, with anomalies."""
        service, who = acting(ctx, actor, token)
        rep = service.admin.oversight_report(who, _when(since), _when(until), period.value)
        if as_json:
            typer.echo(json.dumps(rep.as_dict(), indent=2, sort_keys=True))
        else:
            typer.echo(rep.to_text())

    # --- policy -------------------------------------------------------------------------------
    policy_app = typer.Typer(help="The governance policy.", no_args_is_help=True)

    @policy_app.command("show")
    @_guard
    def policy_show(ctx: typer.Context) -> None:
        """Show the policy in force."""
        service = factory(ctx)
        typer.echo(service.admin.show_policy(service.accounts.local_operator()).describe())

    @policy_app.command("check")
    def policy_check(file: Path) -> None:
        """Validate a policy file without using it; lists every problem by field."""
        try:
            policy = load_policy(file)
        except PolicyError as exc:
            _fail(str(exc), 1)
            return
        typer.echo(f"policy OK: {file} (sha256 {policy.sha256})")
        typer.echo(policy.describe())

    # --- suppress -----------------------------------------------------------------------------
    suppress_app = typer.Typer(
        help="Removal on request, and suppression from ingest and results.", no_args_is_help=True
    )

    @suppress_app.command("preview")
    @_guard
    def suppress_preview(
        ctx: typer.Context,
        requester: Annotated[
            str, typer.Option(metavar="TEXT", help="Who asked (person, counsel, authority).")
        ],
        reason: Annotated[str, typer.Option(metavar="TEXT", help="Why (e.g. request reference).")],
        image: Annotated[
            list[Path] | None,
            typer.Option(
                metavar="PHOTO", help="Photo of the person (repeatable).", show_default=False
            ),
        ] = None,
        embeddings: Annotated[
            Path | None,
            typer.Option(
                metavar="FILE.npy", help=".npy file of (n, d) embeddings, instead of images."
            ),
        ] = None,
        model: Annotated[
            str | None, typer.Option(metavar="MODEL", help="Model key of --embeddings.")
        ] = None,
        threshold: Annotated[
            float | None,
            typer.Option(metavar="SCORE", help="Similarity threshold (default: the policy's)."),
        ] = None,
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """List the gallery faces matching a person, for a human to check before apply."""
        if not image and (embeddings is None or not model):
            raise typer.BadParameter("give --image PATH, or --embeddings FILE.npy and --model")
        service, who = acting(ctx, actor, token)
        if image:
            photos = [p.read_bytes() for p in image]
            request_id, matches = service.admin.preview_removal(
                who, photos, requester, reason, names=[str(p) for p in image], threshold=threshold
            )
        else:
            assert embeddings is not None and model
            vecs = np.load(embeddings, allow_pickle=False)
            request_id, matches = service.admin.preview_removal_embeddings(
                who, vecs, model, requester, reason, threshold=threshold
            )
        typer.echo(f"removal request {request_id}: {len(matches)} matching faces")
        for m in matches:
            typer.echo(
                f"  face {m.face_id:<8} score {m.score:.4f} image {m.image_sha256 or '-'} "
                f"{m.image_path or ''}"
            )
        typer.echo(
            f"check them, then: suppress apply {request_id} [--face ID ...] "
            f"(or suppress cancel {request_id})"
        )

    @suppress_app.command("apply")
    @_guard
    def suppress_apply(
        ctx: typer.Context,
        request_id: int,
        face: Annotated[
            list[int] | None,
            typer.Option(
                metavar="FACE_ID",
                help="Only this previewed face (repeatable; default: all).",
                show_default=False,
            ),
        ] = None,
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """Suppress the person and remove the confirmed faces."""
        service, who = acting(ctx, actor, token)
        removed = service.admin.apply_removal(who, request_id, face or None)
        typer.echo(f"request {request_id}: suppressed; removed {len(removed)} faces {removed}")

    @suppress_app.command("cancel")
    @_guard
    def suppress_cancel(
        ctx: typer.Context,
        request_id: int,
        note: Annotated[str, typer.Option(metavar="TEXT", help="A note kept with the act.")] = "",
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """Cancel a previewed request (nothing removed or suppressed)."""
        service, who = acting(ctx, actor, token)
        service.admin.cancel_removal(who, request_id, note)
        typer.echo(f"request {request_id} cancelled")

    return {
        "user": user_app,
        "token": token_app,
        "case": case_app,
        "review": review_app,
        "audit": audit_app,
        "policy": policy_app,
        "suppress": suppress_app,
    }


def make_purge_command(factory: ServiceFactory) -> Callable[..., None]:
    @_guard
    def purge(
        ctx: typer.Context,
        now: Annotated[
            str | None,
            typer.Option(metavar="ISO-TIME", help="Purge as of this ISO time (default: now)."),
        ] = None,
        actor: Actor = None,
        token: TokenOpt = None,
    ) -> None:
        """Delete probe images and search results whose retention period has ended."""
        service = factory(ctx)
        r = service.admin.purge(service.accounts.for_cli(actor, token), _when(now))
        typer.echo(
            f"purged {r.probes_purged} probe images and the results of {r.searches_purged} "
            f"searches ({r.candidates_deleted} candidates, {r.reviews_deleted} reviews) in "
            f"{len(r.cases)} cases; audit entry #{r.audit_seq}"
        )

    return purge


def register(app: typer.Typer, factory: ServiceFactory) -> None:
    """Add the governance sub-apps and the ``purge`` command to ``app``."""
    for name, sub in build_apps(factory).items():
        app.add_typer(sub, name=name)
    app.command("purge")(make_purge_command(factory))
