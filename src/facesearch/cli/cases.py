"""``facesearch case`` and ``facesearch review``: cases, and the review of their candidates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facesearch.app.types import LEADS_STATEMENT, CaseSummary, fmt_time
from facesearch.cli.common import NO_CREDENTIAL, Credential, authenticated
from facesearch.cli.groups import (
    CaseStatusChoice,
    DecisionChoice,
    ServiceFactory,
    acting_with,
    guard,
    print_case,
    print_outcome,
)


def print_history(c: CaseSummary) -> None:
    """The case's history: every act on it, with the reasons and amendments."""
    if not c.history:
        return
    typer.echo("  history:")
    for e in c.history:
        who = f" {e.user}" if e.user else ""
        note = f" - {e.note}" if e.note else ""
        typer.echo(f"    {fmt_time(e.at)}  {e.event}{who} by {e.actor}{note}")
        for change in e.changes:
            typer.echo(f"      {change.field}: {change.before!r} -> {change.after!r}")


def build_case_apps(factory: ServiceFactory) -> dict[str, typer.Typer]:
    """The ``case`` and ``review`` command groups."""
    acting = acting_with(factory)

    def decide(ctx: typer.Context, cred: Credential, act: str, number: str, arg: str) -> None:
        service, who = acting(ctx, cred)
        print_case(service.cases.decide(who, number, act, arg))

    # --- case ---------------------------------------------------------------------------------
    case_app = typer.Typer(help="Cases: the only context searches run in.", no_args_is_help=True)

    @case_app.command("open")
    @guard
    @authenticated
    def case_open(
        ctx: typer.Context,
        number: str,
        purpose: Annotated[str, typer.Option(metavar="KEY", help="A purpose key from the policy.")],
        authority: Annotated[str, typer.Option(metavar="TEXT", help="Legal authority reference.")],
        justification: Annotated[
            str, typer.Option(metavar="TEXT", help="Why a face search is needed.")
        ],
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Open (request) a case."""
        service, who = acting(ctx, cred)
        print_case(service.cases.open(who, number, purpose, authority, justification))

    @case_app.command("approve")
    @guard
    @authenticated
    def case_approve(
        ctx: typer.Context,
        number: str,
        note: Annotated[str, typer.Option(metavar="TEXT", help="A note kept with the act.")] = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Approve a case (a supervisor who did not request it)."""
        decide(ctx, cred, "approve", number, note)

    @case_app.command("reject")
    @guard
    @authenticated
    def case_reject(
        ctx: typer.Context,
        number: str,
        note: Annotated[str, typer.Option(metavar="TEXT", help="Why.")],
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Reject a case request."""
        decide(ctx, cred, "reject", number, note)

    @case_app.command("resubmit")
    @guard
    @authenticated
    def case_resubmit(
        ctx: typer.Context,
        number: str,
        purpose: Annotated[
            str | None, typer.Option(metavar="KEY", help="A purpose key (default: unchanged).")
        ] = None,
        authority: Annotated[
            str | None, typer.Option(metavar="TEXT", help="Legal authority (default: unchanged).")
        ] = None,
        justification: Annotated[
            str | None, typer.Option(metavar="TEXT", help="Justification (default: unchanged).")
        ] = None,
        note: Annotated[
            str, typer.Option(metavar="TEXT", help="Your answer to the rejection.")
        ] = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Amend your rejected case and submit it for approval again."""
        service, who = acting(ctx, cred)
        current, _ = service.cases.show(who, number)
        summary = service.cases.resubmit(
            who,
            number,
            purpose if purpose is not None else current.purpose_key,
            authority if authority is not None else current.legal_authority,
            justification if justification is not None else current.justification,
            note,
        )
        print_case(summary)
        print_history(summary)

    @case_app.command("assign")
    @guard
    @authenticated
    def case_assign(
        ctx: typer.Context, number: str, user: str, cred: Credential = NO_CREDENTIAL
    ) -> None:
        """Assign an investigator to a case."""
        decide(ctx, cred, "assign", number, user)

    @case_app.command("unassign")
    @guard
    @authenticated
    def case_unassign(
        ctx: typer.Context, number: str, user: str, cred: Credential = NO_CREDENTIAL
    ) -> None:
        """Remove an investigator from a case."""
        decide(ctx, cred, "unassign", number, user)

    @case_app.command("close")
    @guard
    @authenticated
    def case_close(
        ctx: typer.Context,
        number: str,
        note: Annotated[str, typer.Option(metavar="TEXT", help="A note kept with the act.")] = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Close a case: no more searches; the retention clock starts."""
        decide(ctx, cred, "close", number, note)

    @case_app.command("show")
    @guard
    @authenticated
    def case_show(ctx: typer.Context, number: str, cred: Credential = NO_CREDENTIAL) -> None:
        """Show a case and its searches."""
        service, who = acting(ctx, cred)
        summary, outcomes = service.cases.show(who, number)
        print_case(summary)
        print_history(summary)
        for o in outcomes:
            typer.echo("")
            print_outcome(o)

    @case_app.command("list")
    @guard
    @authenticated
    def case_list(
        ctx: typer.Context,
        status: Annotated[
            CaseStatusChoice | None, typer.Option(help="Only cases in this state.")
        ] = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """List the cases you may read."""
        service, who = acting(ctx, cred)
        for c in service.cases.summaries(who, status.value if status else None):
            typer.echo(
                f"{c.number:<24} {c.status:<9} {c.purpose_key:<20} by {c.requested_by:<16} "
                f"{fmt_time(c.requested_at)}  searches {c.searches}"
            )

    @case_app.command("report")
    @guard
    @authenticated
    def case_report(
        ctx: typer.Context,
        number: str,
        html: Annotated[
            Path | None, typer.Option("--html", metavar="FILE", help="Write HTML here.")
        ] = None,
        pdf: Annotated[
            Path | None, typer.Option("--pdf", metavar="FILE", help="Write PDF here.")
        ] = None,
        all_candidates: Annotated[
            bool,
            typer.Option(
                "--all-candidates",
                help="List every candidate shown, not only those reviewed (which are counted).",
            ),
        ] = False,
        shielded: Annotated[
            bool,
            typer.Option(
                "--shielded",
                help="Wellbeing: greyscale pictures, the probe blurred outside the searched face.",
            ),
        ] = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Write the case report (chain of custody, with pictures) as HTML and/or PDF."""
        if html is None and pdf is None:
            raise typer.BadParameter("give --html PATH and/or --pdf PATH")
        service, who = acting(ctx, cred)
        for fmt, path in (("html", html), ("pdf", pdf)):
            if path is not None:
                media = service.cases.report(
                    who, number, fmt, all_candidates=all_candidates, shielded=shielded
                )
                path.write_bytes(media.data)
                typer.echo(f"wrote {path}")

    # --- review -------------------------------------------------------------------------------
    review_app = typer.Typer(help="Review candidates.", no_args_is_help=True)

    @review_app.command("mark")
    @guard
    @authenticated
    def review_mark(
        ctx: typer.Context,
        search_id: int,
        face_id: int,
        decision: Annotated[DecisionChoice, typer.Argument(help="Your decision.")],
        note: Annotated[str, typer.Option(metavar="TEXT", help="A note kept with the act.")] = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Record your decision on a candidate shown in a search."""
        service, who = acting(ctx, cred)
        r = service.searches.review(who, search_id, face_id, decision.value, note)
        typer.echo(f"search {search_id} face {face_id}: {r.decision} by {r.reviewer}")
        typer.echo(LEADS_STATEMENT)

    return {"case": case_app, "review": review_app}
