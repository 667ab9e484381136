"""``facesearch stats``, ``runs`` and ``reindex``: the gallery's figures and upkeep."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from facesearch.cli.common import (
    NO_CREDENTIAL,
    Credential,
    DatabaseUrlOption,
    DataDirOption,
    authenticated,
    console,
    err_console,
    friendly_errors,
    shown,
)
from facesearch.cli.groups import principal_for
from facesearch.cli.state import service_for


def stats(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Images, faces, flags, collections and the index of the gallery."""
    with friendly_errors():
        service = service_for(ctx, data_dir, database_url)
        who = service.accounts.local_operator()
        info = service.library.stats(who)
        info["collections"] = service.library.collections(who)
    for warning in info.get("warnings", []):
        err_console.print(f"[bold yellow]warning:[/] {warning}", markup=True, highlight=False)
    if json_out:
        sys.stdout.write(json.dumps(info, indent=2, default=str) + "\n")
        return
    info.pop("warnings", None)
    if not info.get("still_plain"):  # said by the warning above when there are any
        for key in ("still_plain", "still_plain_items", "seal_with"):
            info.pop(key, None)
    second = info.pop("second_vectors", None)
    table = Table(show_header=False, title="Gallery")
    for key, value in info.items():
        table.add_row(
            key, json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
        )
    if second is not None:
        sources = ", ".join(
            f"{n} {label}"
            for label, n in (
                ("from the photo", second["from_photo"]),
                ("from the stored crop", second["from_crop"]),
                ("made before 0004", second["made_before_0004"]),
            )
            if n
        )
        table.add_row(
            "faces with a second vector",
            f"{second['with']}" + (f"  ({sources})" if sources else ""),
        )
        table.add_row(
            "faces without one (scored by SFace alone)",
            f"{second['without']}  (pending {second['pending']}, failed {second['failed']})",
        )
        if second.get("other_model"):
            table.add_row(
                "second vectors of an older model (scored by SFace alone)",
                f"{second['other_model']}  (run 'facesearch second-pass' to remake them)",
            )
    console.print(table)


def runs(
    ctx: typer.Context,
    run_id: Annotated[int | None, typer.Argument(help="Show failures of this run.")] = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """List ingest runs, or the failures of one run."""
    with friendly_errors():
        service = service_for(ctx, data_dir, database_url)
        who = service.accounts.local_operator()
        if run_id is not None:
            for path, reason in service.library.run_failures(who, run_id):
                console.print(f"{shown(path)}: {shown(reason)}")
            return
        table = Table(title="Ingest runs")
        for col in ("id", "started", "status", "sources", "counts"):
            table.add_column(col, overflow="fold")
        for r in service.library.runs(who, limit=20):
            table.add_row(
                str(r["id"]),
                str(r["started_at"])[:19],
                r["status"],
                "\n".join(shown(s) for s in r["sources"]),
                json.dumps(r["counts"]),
            )
        console.print(table)


@authenticated
def reindex(
    ctx: typer.Context,
    cred: Credential = NO_CREDENTIAL,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Rebuild the vector index from the catalog, the source of truth (administrators)."""
    with friendly_errors():
        service = service_for(ctx, data_dir, database_url)
        n = service.library.reindex(principal_for(service, cred))
    console.print(f"index rebuilt: {n} faces")
