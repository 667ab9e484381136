"""``facesearch case`` and ``facesearch review``: cases, and the review of their candidates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facesearch.app.types import LEADS_STATEMENT, fmt_time
from facesearch.cli.common import Actor, TokenOpt
from facesearch.cli.groups import (
    CaseStatusChoice,
    DecisionChoice,
    ServiceFactory,
    acting_with,
    guard,
    print_case,
    print_outcome,
)


def build_case_apps(factory: ServiceFactory) -> dict[str, typer.Typer]:
    """The ``case`` and ``review`` command groups."""
    acting = acting_with(factory)

    def decide(
        ctx: typer.Context, actor: str | None, token: str | None, act: str, number: str, arg: str
    ) -> None:
        service, who = acting(ctx, actor, token)
        print_case(service.cases.decide(who, number, act, arg))

    # --- case ---------------------------------------------------------------------------------
    case_app = typer.Typer(help="Cases: the only context searches run in.", no_args_is_help=True)

    @case_app.command("open")
    @guard
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
        print_case(service.cases.open(who, number, purpose, authority, justification))

    @case_app.command("approve")
    @guard
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
    @guard
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
    @guard
    def case_assign(
        ctx: typer.Context, number: str, user: str, actor: Actor = None, token: TokenOpt = None
    ) -> None:
        """Assign an investigator to a case."""
        decide(ctx, actor, token, "assign", number, user)

    @case_app.command("unassign")
    @guard
    def case_unassign(
        ctx: typer.Context, number: str, user: str, actor: Actor = None, token: TokenOpt = None
    ) -> None:
        """Remove an investigator from a case."""
        decide(ctx, actor, token, "unassign", number, user)

    @case_app.command("close")
    @guard
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
    @guard
    def case_show(
        ctx: typer.Context, number: str, actor: Actor = None, token: TokenOpt = None
    ) -> None:
        """Show a case and its searches."""
        service, who = acting(ctx, actor, token)
        summary, outcomes = service.cases.show(who, number)
        print_case(summary)
        for o in outcomes:
            typer.echo("")
            print_outcome(o)

    @case_app.command("list")
    @guard
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
    @guard
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
    @guard
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

    return {"case": case_app, "review": review_app}
