"""``facesearch originals``: the gallery's kept original photos (figures, backfill)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from facesearch.app.originals import Originals
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


def register(app: typer.Typer, service_for: Callable[..., Service]) -> None:
    originals = typer.Typer(
        help="The original photos kept in the gallery: how much they take, and the backfill.",
        no_args_is_help=True,
    )

    @originals.command("backfill")
    @authenticated
    def backfill(
        ctx: typer.Context,
        retry_lost: Annotated[
            bool,
            typer.Option(
                "--retry-lost", help="Try again the originals marked lost (e.g. a folder put back)."
            ),
        ] = False,
        json_out: Annotated[bool, typer.Option("--json", help="JSON report.")] = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Keep the original of every image ingested without one (administrators; audited).

        Reads each from where it was ingested (checked against its SHA-256) into the blob
        store, encrypted when a key is set; marks those no longer readable, so the viewer
        says so. Resumable: run it again after an interruption."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            who = principal_for(service, cred)
            with stage_bars(json_out, {"originals": "originals"}) as bars:

                def on_progress(done: int, total: int) -> None:
                    bars("originals", done, total)

                report = Originals(service.ctx).backfill(
                    who, retry_lost=retry_lost, on_progress=on_progress
                )
        if json_out:
            out = {**report.counts(), "lost_examples": report.lost_examples}
            sys.stdout.write(json.dumps(out, indent=2) + "\n")
        else:
            console.print(
                f"originals stored: {report.stored} ({report.stored_bytes:,} bytes); "
                f"no longer readable: {report.lost}; too large to keep: {report.too_large}"
            )
            for path in report.lost_examples:
                console.print(f"  lost: {shown(path)}")
        if report.interrupted:
            raise typer.Exit(130)

    @originals.command("stats")
    def stats(
        ctx: typer.Context,
        json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
    ) -> None:
        """How many originals are kept and the bytes they take; images without one, and why."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            info = Originals(service.ctx).summary(service.accounts.local_operator())
        if json_out:
            sys.stdout.write(json.dumps(info, indent=2) + "\n")
            return
        console.print(
            f"kept: {info['kept']} ({info['bytes']:,} bytes); without one: "
            f"{info['not_yet_stored']} not yet stored (run 'facesearch originals backfill'), "
            f"{info['lost']} lost, {info['too_large']} too large"
        )

    app.add_typer(originals, name="originals")
