"""``facesearch standing`` and ``facesearch alerts``: a search kept searching every later
ingest, and the alerts it raises (facesearch.app.standing)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from facesearch.app.types import AlertView, StandingView
from facesearch.cli.common import (
    NO_CREDENTIAL,
    Credential,
    DatabaseUrlOption,
    DataDirOption,
    authenticated,
    console,
    friendly_errors,
    shown,
)
from facesearch.cli.groups import principal_for

if TYPE_CHECKING:
    from facesearch.app import Service

JsonOption = Annotated[bool, typer.Option("--json", help="JSON output.")]
ExpiresOption = Annotated[
    str | None,
    typer.Option(
        "--expires", metavar="ISO-TIME", help="Expiry (default and cap: the policy's max_days)."
    ),
]
ReviewOption = Annotated[
    str | None,
    typer.Option("--review", metavar="ISO-TIME", help="Review date (default: review_days)."),
]


def _json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{option} must be an ISO date or time, got {text!r}") from None


def _query_line(q: StandingView) -> str:
    life = (
        f"expires {q.expires_at:%Y-%m-%d}, review {q.review_at:%Y-%m-%d}"
        if q.status == "active"
        else f"{q.end_note}"
    )
    return shown(
        f"#{q.id} {q.status} case {q.case} (search {q.search_id}, owner {q.owner}): "
        f"{q.objective} — {life}; {q.alerts} alert(s)"
    )


def _alert_line(a: AlertView) -> str:
    seen = f"seen by {a.seen_by}" if a.seen_by else "NEW"
    return shown(
        f"alert #{a.id} {seen}: case {a.case}, standing query {a.query_id} ({a.objective}): "
        f"{a.candidates} candidate(s), best score {a.best_score:.3f} — "
        f"search {a.search_id} (facesearch case show {a.case})"
    )


def register(app: typer.Typer, service_for: Callable[..., Service]) -> None:
    standing = typer.Typer(
        help="Standing queries: a search kept searching the faces every later ingest adds.",
        no_args_is_help=True,
    )

    @standing.command("add")
    @authenticated
    def add(
        ctx: typer.Context,
        search: Annotated[int, typer.Argument(help="The one-photo search to keep searching.")],
        objective: Annotated[str, typer.Option("--objective", help="What it is for.")],
        expires: ExpiresOption = None,
        review: ReviewOption = None,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Keep a search's probe face searching every later ingest (audited).

        An investigator assigned to the search's open case."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            made = service.standing.create(
                principal_for(service, cred),
                search,
                objective,
                expires_at=_when(expires, "--expires"),
                review_at=_when(review, "--review"),
            )
        console.print(_query_line(made))

    @standing.command("list")
    @authenticated
    def list_queries(
        ctx: typer.Context,
        case: Annotated[str | None, typer.Option(help="One case's queries.")] = None,
        active: Annotated[bool, typer.Option("--active", help="Active ones only.")] = False,
        json_out: JsonOption = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """The standing queries of the cases you may read, newest first."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.standing.queries(principal_for(service, cred), case, active_only=active)
        if json_out:
            _json([asdict(q) for q in found])
            return
        for q in found:
            console.print(_query_line(q))
        if not found:
            console.print("no standing query")

    @standing.command("renew")
    @authenticated
    def renew(
        ctx: typer.Context,
        query: Annotated[int, typer.Argument(help="The standing query's number.")],
        expires: ExpiresOption = None,
        review: ReviewOption = None,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Renew an active standing query (supervisors; audited)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.standing.renew(
                principal_for(service, cred),
                query,
                expires_at=_when(expires, "--expires"),
                review_at=_when(review, "--review"),
            )
        console.print(_query_line(found))

    @standing.command("end")
    @authenticated
    def end(
        ctx: typer.Context,
        query: Annotated[int, typer.Argument(help="The standing query's number.")],
        note: Annotated[str, typer.Option(help="Why it ends.")] = "",
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """End a standing query: its kept probe and vectors are deleted (audited).

        Its owner or a supervisor."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.standing.end(principal_for(service, cred), query, note)
        console.print(_query_line(found))

    @standing.command("run")
    @authenticated
    def run(
        ctx: typer.Context,
        json_out: JsonOption = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Compare the faces added since each query last ran (administrators).

        Every ingest does it by itself: this is for a run an error interrupted."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            out = service.standing.run(principal_for(service, cred))
        if json_out:
            _json(asdict(out))
            return
        console.print(
            f"{out.queries} standing queries, {out.new_faces} new faces compared, "
            f"{len(out.alerts)} alert(s) in {out.seconds:.2f} s"
        )

    @app.command("alerts")
    @authenticated
    def alerts(
        ctx: typer.Context,
        all_alerts: Annotated[bool, typer.Option("--all", help="Seen ones too.")] = False,
        case: Annotated[str | None, typer.Option(help="One case's alerts.")] = None,
        seen: Annotated[
            int | None,
            typer.Option("--seen", metavar="ALERT", help="Mark this alert as seen."),
        ] = None,
        json_out: JsonOption = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """The alerts of your cases' standing queries, new ones unless --all.

        Investigators see the cases they are assigned to, supervisors all;
        --seen ALERT marks one seen."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            who = principal_for(service, cred)
            if seen is not None:
                console.print(_alert_line(service.standing.seen(who, seen)))
                return
            found = service.standing.alerts(who, unseen_only=not all_alerts, case=case)
        if json_out:
            _json([asdict(a) for a in found])
            return
        for a in found:
            console.print(_alert_line(a))
        if not found:
            console.print("no new alert" if not all_alerts else "no alert")

    app.add_typer(standing, name="standing")
