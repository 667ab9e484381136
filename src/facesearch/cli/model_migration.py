"""``facesearch models migrate NEW`` and ``facesearch models status``: the migration pass that
re-embeds the gallery with another recognizer while searches go on (``app/model_migration.py``).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from facesearch.app.types import MigrationProgress, MigrationStatus
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
from facesearch.cli.progress import stage_bars

if TYPE_CHECKING:
    from facesearch.app import Service

LABELS = {"faces": "faces re-embedded"}  # then one bar per kind of standing data


def _rows(table: Table, status: MigrationStatus) -> None:
    table.add_row("migration", str(status.id))
    table.add_row("target", f"{status.target} ({status.target_model_key})")
    table.add_row("from", status.source_model_key)
    table.add_row("state", status.state)
    table.add_row("faces", f"{status.done:,} of {status.total:,} have a vector of the target")
    table.add_row("from the crop", f"{status.from_crop:,} (their original was gone)")
    table.add_row("failed", f"{status.failed:,}")
    table.add_row("started", f"{status.started_at:%Y-%m-%d %H:%M:%S} by {status.started_by}")


def register(models_app: typer.Typer, service_for: Callable[..., Service]) -> None:
    @models_app.command("migrate")
    @authenticated
    def migrate(
        ctx: typer.Context,
        target: Annotated[str, typer.Argument(help="The model to move to (see 'models list').")],
        workers: Annotated[
            int | None,
            typer.Option(help="Worker processes (default: one per core; 0 = in-process)."),
        ] = None,
        json_out: Annotated[
            bool, typer.Option("--json", help="Print the summary as JSON.")
        ] = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Re-embed every face with another recognizer while searches go on (administrators).

        From each stored original (or the face's crop where the original is gone, counted);
        resumable: run it again to go on. Searches keep the current model until the switch."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            who = principal_for(service, cred)
            with stage_bars(json_out, LABELS) as bars:

                def on_progress(p: MigrationProgress) -> None:
                    bars("faces", p.done, p.total)

                status = service.migrations.start_or_resume(
                    who, target, workers=workers, on_progress=on_progress, on_standing=bars
                )
            report = service.migrations.last_report
        if json_out:
            out = status.as_dict()
            if report is not None:
                out["run"] = report.counts()
            out["standing"] = [
                {"kind": m.kind, "moved": m.moved, "already": m.already, "failed": m.failed}
                for m in service.migrations.last_moves
            ]
            sys.stdout.write(json.dumps(out, indent=2) + "\n")
        else:
            table = Table(title="Model migration", show_header=False)
            _rows(table, status)
            if report is not None:
                where = report.executor or "nothing to do"
                table.add_row(
                    "this run",
                    f"{report.made:,} faces in {report.seconds:.1f} s "
                    f"({report.faces_per_second:.1f} faces/s, {where})",
                )
            console.print(table)
            for face_id, reason in status.errors.items():
                console.print(f"  [red]failed[/] face {face_id}: {shown(reason)}")
            for move in service.migrations.last_moves:
                console.print(
                    f"{move.kind}: {move.moved} moved now, {move.already} already, "
                    f"{len(move.failed)} could not move"
                )
                for item, why in list(move.failed.items())[:20]:
                    console.print(f"  [yellow]not moved[/] {item}: {shown(why)}")
            if status.state == "ready":
                console.print(f"ready: every searchable face has a vector of {status.target}")
        if status.state == "interrupted":
            raise typer.Exit(130)
        if status.state == "failed":
            raise typer.Exit(1)

    @models_app.command("status")
    @authenticated
    def status(
        ctx: typer.Context,
        json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """The recognizer searched, the migration's progress, whether to switch (admins, auditors).

        Also the previous recognizer and whether the gallery can switch back to it."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            who = principal_for(service, cred)
            now = service.model_switch.status(who)
        found = now.migration
        if json_out:
            out = dataclasses.asdict(now)
            out["migration"] = found.as_dict() if found else None
            sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
            return
        console.print(f"searching with {now.active} ({now.active_model_key})")
        if now.previous:
            back = "yes" if now.can_switch_back else "; ".join(now.switch_back_blockers)
            console.print(f"previous: {now.previous} ({now.previous_model_key}); back: {back}")
        if found is None:
            console.print("no model migration was started in this gallery")
            return
        table = Table(title="Model migration", show_header=False)
        _rows(table, found)
        console.print(table)
        for face_id, reason in found.errors.items():
            console.print(f"  [red]failed[/] face {face_id}: {shown(reason)}")
        for blocker in now.switch_blockers:
            console.print(f"  [yellow]switch waits:[/] {shown(blocker)}")
