"""``facesearch suspension`` and ``facesearch incidents``: stopping all searching at once, and
the incident register (EU AI Act Art. 26(5))."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from facesearch.app.types import IncidentView, NewIncident, SuspensionView
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


def _json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _when(text: str | None, what: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{what} must be an ISO date or time, got {text!r}") from None


def _suspension_line(s: SuspensionView) -> str:
    if s.in_force:
        return shown(s.words())
    return shown(
        f"#{s.id} {s.started_at:%Y-%m-%d %H:%M} by {s.started_by}: {s.reason} — resumed "
        f"{s.ended_at:%Y-%m-%d %H:%M} by {s.ended_by}: {s.end_note}"
    )


def _incident_line(i: IncidentView) -> str:
    bits = [f"#{i.id}", i.status, "SERIOUS" if i.serious else "", i.title]
    if i.case:
        bits.append(f"(case {i.case})")
    if i.reported_to:
        bits.append(f"reported to {i.reported_to} {i.reported_at:%Y-%m-%d}")
    bits.append(f"recorded {i.recorded_at:%Y-%m-%d %H:%M} by {i.recorded_by}")
    return shown(" ".join(b for b in bits if b))


def register(app: typer.Typer, service_for: Callable[..., Service]) -> None:
    suspension = typer.Typer(
        help="Suspend all searching at once (administrators), resume it, list suspensions.",
        no_args_is_help=True,
    )

    @suspension.command("status")
    def status(
        ctx: typer.Context,
        json_out: JsonOption = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
    ) -> None:
        """Whether searching is suspended now, why and since when."""
        with friendly_errors():
            found = service_for(ctx, data_dir, database_url).incidents.suspension()
        if json_out:
            _json({"suspended": found is not None, "suspension": asdict(found) if found else None})
        else:
            console.print(_suspension_line(found) if found else "searching is not suspended")

    @suspension.command("start")
    @authenticated
    def start(
        ctx: typer.Context,
        reason: Annotated[str, typer.Option("--reason", help="Why (shown to every user).")],
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Suspend every search now (administrators; audited).

        Reviews and reports go on."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.incidents.suspend(principal_for(service, cred), reason)
        console.print(_suspension_line(found))

    @suspension.command("end")
    @authenticated
    def end(
        ctx: typer.Context,
        note: Annotated[str, typer.Option("--note", help="Why searching may resume.")],
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Resume searching (administrators; audited)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.incidents.resume(principal_for(service, cred), note)
        console.print(_suspension_line(found))

    @suspension.command("list")
    @authenticated
    def list_suspensions(
        ctx: typer.Context,
        json_out: JsonOption = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Every suspension, newest first (administrators, auditors, supervisors)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.incidents.suspensions(principal_for(service, cred))
        if json_out:
            _json([asdict(s) for s in found])
            return
        for s in found:
            console.print(_suspension_line(s))
        if not found:
            console.print("no suspension recorded")

    incidents = typer.Typer(help="The incident register.", no_args_is_help=True)

    @incidents.command("add")
    @authenticated
    def add(
        ctx: typer.Context,
        title: Annotated[str, typer.Option("--title", help="What happened, in a line.")],
        description: Annotated[str, typer.Option(help="The details.")] = "",
        serious: Annotated[bool, typer.Option("--serious", help="A serious incident.")] = False,
        case: Annotated[str | None, typer.Option(help="The case concerned.")] = None,
        occurred: Annotated[
            str | None, typer.Option(help="When it happened (ISO time).", show_default=False)
        ] = None,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Record an incident (any user; audited)."""
        new = NewIncident(title, description, serious, case, _when(occurred, "--occurred"))
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.incidents.record(principal_for(service, cred), new)
        console.print(_incident_line(found))

    @incidents.command("reported")
    @authenticated
    def reported(
        ctx: typer.Context,
        incident: Annotated[int, typer.Argument(help="The incident's number.")],
        to: Annotated[str, typer.Option("--to", help="The authority told.")],
        at: Annotated[
            str | None, typer.Option(help="When (ISO time; default now).", show_default=False)
        ] = None,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Record that an incident was reported to an authority (administrators)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.incidents.reported(
                principal_for(service, cred), incident, to, _when(at, "--at")
            )
        console.print(_incident_line(found))

    @incidents.command("close")
    @authenticated
    def close(
        ctx: typer.Context,
        incident: Annotated[int, typer.Argument(help="The incident's number.")],
        resolution: Annotated[str, typer.Option("--resolution", help="How it was resolved.")],
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Close an incident with its resolution (administrators; audited)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.incidents.close(principal_for(service, cred), incident, resolution)
        console.print(_incident_line(found))

    @incidents.command("list")
    @authenticated
    def list_incidents(
        ctx: typer.Context,
        open_only: Annotated[bool, typer.Option("--open", help="Open incidents only.")] = False,
        json_out: JsonOption = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """The incident register, newest first (administrators, auditors, supervisors)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.incidents.list(principal_for(service, cred), open_only=open_only)
        if json_out:
            _json([{**asdict(i), "status": i.status} for i in found])
            return
        for i in found:
            console.print(_incident_line(i))
        if not found:
            console.print("no incident recorded")

    app.add_typer(suspension, name="suspension")
    app.add_typer(incidents, name="incidents")
