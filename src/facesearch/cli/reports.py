"""``facesearch outcomes``, ``facesearch reports`` and ``facesearch disclosure``: the outcomes
of cases, and the reports that leave the system (annual report, public-records export of the
search log, accountability report, the signed disclosure bundle of a case)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from facesearch.app.types import KINDS, OutcomeView, checkpoint, verify_bundle, year_span
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
YearOption = Annotated[
    int | None, typer.Option("--year", help="A calendar year (UTC).", show_default=False)
]
StartOption = Annotated[
    str | None, typer.Option("--from", help="First day (YYYY-MM-DD).", show_default=False)
]
EndOption = Annotated[
    str | None,
    typer.Option("--to", help="The day after the last (YYYY-MM-DD).", show_default=False),
]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Write to this file (default: standard output).")
]


def _json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _period(year: int | None, start: str | None, end: str | None) -> tuple[datetime, datetime]:
    if year is not None:
        if start or end:
            raise typer.BadParameter("give --year, or --from and --to, not both")
        return year_span(year)
    if not start or not end:
        raise typer.BadParameter("give --year, or --from and --to (the day after the last)")
    try:
        a, b = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        raise typer.BadParameter("--from and --to are dates: YYYY-MM-DD") from None
    if b <= a:
        raise typer.BadParameter("--to must be after --from")
    return datetime.combine(a, time(), UTC), datetime.combine(b, time(), UTC)


def _write(data: bytes, out: Path | None, what: str) -> None:
    if out is None:
        if sys.stdout.isatty() and not data.isascii():
            raise typer.BadParameter(f"the {what} is binary: give --out FILE")
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    out.write_bytes(data)
    console.print(f"{what} written to {shown(str(out))} ({len(data)} bytes)")


def _outcome_line(o: OutcomeView) -> str:
    note = f" — {o.note}" if o.note else ""
    return shown(f"{o.case}: {o.label} ({o.at:%Y-%m-%d %H:%M} by {o.recorded_by}){note}")


def register(app: typer.Typer, service_for: Callable[..., Service]) -> None:
    outcomes = typer.Typer(
        help="Outcomes of cases (victim identified or safeguarded, arrest, charge, ...).",
        no_args_is_help=True,
    )

    @outcomes.command("record")
    @authenticated
    def record(
        ctx: typer.Context,
        case: Annotated[str, typer.Argument(help="The case number.")],
        kind: Annotated[str, typer.Option("--kind", help=f"One of: {', '.join(KINDS)}.")],
        note: Annotated[str, typer.Option(help="A note (no names needed).")] = "",
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Record an outcome of a case (its requester or a supervisor; audited)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.reports.record_outcome(principal_for(service, cred), case, kind, note)
        console.print(_outcome_line(found))

    @outcomes.command("list")
    @authenticated
    def list_outcomes(
        ctx: typer.Context,
        case: Annotated[str, typer.Argument(help="The case number.")],
        json_out: JsonOption = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """The outcomes recorded for a case (its readers)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.reports.outcomes(principal_for(service, cred), case)
        if json_out:
            _json([asdict(o) for o in found])
            return
        for o in found:
            console.print(_outcome_line(o))
        if not found:
            console.print("no outcome recorded")

    reports = typer.Typer(
        help="Reports that leave the system: annual, public records, accountability.",
        no_args_is_help=True,
    )

    @reports.command("annual")
    @authenticated
    def annual(
        ctx: typer.Context,
        year: YearOption = None,
        start: StartOption = None,
        end: EndOption = None,
        fmt: Annotated[str, typer.Option("--format", help="json, csv or pdf.")] = "json",
        out: OutOption = None,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """The annual report: counts by offence category, no names (audited).

        Cases opened, searches, refusals, reviews, confirmed identifications and outcomes,
        from the audit log; the offence category is the case's purpose. Administrators,
        auditors and supervisors."""
        if fmt not in ("json", "csv", "pdf"):
            raise typer.BadParameter("--format must be json, csv or pdf")
        a, b = _period(year, start, end)
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            who = principal_for(service, cred)
            if fmt == "json":
                report = service.reports.annual(who, a, b, "json")
                data = (json.dumps(report.as_dict(), indent=2) + "\n").encode("utf-8")
            else:
                data = service.reports.annual_file(who, a, b, fmt).data
        _write(data, out, "annual report")

    @reports.command("public-records")
    @authenticated
    def public_records(
        ctx: typer.Context,
        year: YearOption = None,
        start: StartOption = None,
        end: EndOption = None,
        out: OutOption = None,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """The search log as CSV, only the fields FACESEARCH_REPORTS_PUBLIC_FIELDS allows.

        Administrators, auditors and supervisors; audited."""
        a, b = _period(year, start, end)
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.reports.public_records(principal_for(service, cred), a, b)
        _write(found.data, out, "public-records export")

    @reports.command("accountability")
    @authenticated
    def accountability(
        ctx: typer.Context,
        fmt: Annotated[str, typer.Option("--format", help="json, html or pdf.")] = "json",
        out: OutOption = None,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """The installation's accountability report (audited).

        Service, version, models with their measured accuracy, limits, data sources, the
        policy, incidents and suspensions. Administrators, auditors and supervisors."""
        if fmt not in ("json", "html", "pdf"):
            raise typer.BadParameter("--format must be json, html or pdf")
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            who = principal_for(service, cred)
            report = service.reports.accountability(who)
            if fmt == "json":
                data = (json.dumps(report.data, indent=2) + "\n").encode("utf-8")
            elif fmt == "html":
                data = report.to_html().encode("utf-8")
            else:
                data = report.to_pdf(who.username)
        _write(data, out, "accountability report")

    disclosure = typer.Typer(
        help="The signed disclosure bundle of a case, for the defence.", no_args_is_help=True
    )

    @disclosure.command("export")
    @authenticated
    def export(
        ctx: typer.Context,
        case: Annotated[str, typer.Argument(help="The case number.")],
        out: Annotated[Path, typer.Option("--out", help="The zip file to write.")],
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Write a case's disclosure bundle, signed with the audit key (audited).

        Supervisors and auditors. The key is FACESEARCH_AUDIT_KEY (or _PEM)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            bundle = service.reports.disclosure(principal_for(service, cred), case)
        out.write_bytes(bundle.data)
        console.print(
            f"disclosure bundle of {shown(case)} written to {shown(str(out))}: "
            f"{bundle.files} files, manifest sha256 {bundle.manifest_sha256}"
        )

    @disclosure.command("verify")
    def verify(
        bundle: Annotated[Path, typer.Argument(help="The bundle (zip).")],
        public_key: Annotated[
            Path, typer.Option("--public-key", help="The trusted public key (KEY.pub).")
        ],
    ) -> None:
        """Check a disclosure bundle's signature and every file it lists (exit 1 if not)."""
        with friendly_errors():
            key = checkpoint.load_public_key(public_key)
        try:
            data = bundle.read_bytes()
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {bundle}: {exc.strerror}") from None
        problems = verify_bundle(data, key)
        if problems:
            for p in problems:
                console.print(shown(f"PROBLEM: {p}"))
            raise typer.Exit(1)
        console.print("the bundle verifies: signature good, every file as listed")

    app.add_typer(outcomes, name="outcomes")
    app.add_typer(reports, name="reports")
    app.add_typer(disclosure, name="disclosure")
